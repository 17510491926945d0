//! Limits on every field of a case file, and the check that enforces them.
//!
//! A case file is input: it comes from a sweep, a shrinker, a person or a fuzzer. Without limits
//! one number decides how much the tool allocates and how long it runs — `"keys": 2147483648`
//! asks for 160 GB, `"value_len": [1, 2147483648]` for up to 2 GB per value, a PCT `depth` of
//! 4 billion for a 32 GB list of change points — and the tool aborts or hangs instead of saying
//! what is wrong. [`Case::from_json`](crate::case::Case::from_json) therefore calls
//! [`Case::validate`](crate::case::Case::validate) right after parsing and before anything is
//! materialized, and every value outside these limits is a
//! [`CaseError::Limit`](crate::case::CaseError::Limit) naming the field path (e.g.
//! `chunking.sizes[3]`), the value and the limit. `docs/case-limits.md` lists them for users.
//!
//! How the values were chosen, in order of priority:
//! 1. Nothing the tools write is rejected: every case [`Case::generate`] draws with
//!    `max_keys ≤ MAX_KEYS` passes (the const assertions below tie the limits to the
//!    generator's formulas, and the tests below check 10,000 drawn cases), and so does every
//!    corpus entry (`tests/case_fuzz.rs`), catalog scenario and shrinker output (the shrinker
//!    only makes cases smaller).
//! 2. The largest valid case finishes well under 5 s in the dev profile (opt-level 3 for the
//!    harness) on the 2-core CI machine. Work is bounded by `keys` (materialising and proving
//!    the snapshot) and by the step budget (`(MAX_LIVES + 1) × STEP_BUDGET` scheduling points
//!    at most, however the faults are arranged); see [`MAX_KEYS`] and [`MAX_LIVES`] for what
//!    was measured.
//! 3. Where the run would silently reinterpret a value (a zero-size chunk is skipped, zero
//!    clusters or zero lives count as one, more than 64 nibbles are clamped), the value is
//!    rejected instead, so a file means what it says.
//!
//! [`Case::generate`]: crate::case::Case::generate

use std::fmt::Display;

use crate::case::{Case, CaseError, ChunkingCase, DriverPolicy, LayoutCase, SnapshotCase};
use crate::fault::{CrashKind, Effect, FaultPlan, TamperKind, Target};
use crate::run::STEP_BUDGET;
use crate::sim::PolicyKind;

/// Largest `snapshot.keys` (also the largest `--max-keys` of `sweep`, `replay` and `shrink`).
///
/// Set by the time budget. Measured with `restore-sim replay --quiet` (dev profile, the 2-core
/// machine, other builds running, load average ~5.7): 2,000 keys of the longest keys and values
/// in one-key chunks (the worst chunking: a proof, a tree batch and ~8–11 scheduling steps per
/// key) take 0.5–0.7 s per strategy on RocksDB for the whole case; the worst multi-process case
/// found (every one of `MAX_LIVES` processes crashing by power loss just before the end and
/// losing all its writes, so each redoes the whole restore) takes 1.2–1.4 s in memory and
/// 1.5–1.8 s on RocksDB. At 10,000 keys (with 1 KiB keys and 4 KiB values) one clean pass alone
/// took 2.5–3.3 s, too close to 5 s. The generator ties two more limits to it (a crash step up
/// to `12 × chunks`, a PCT horizon of `16 × chunks + 16`), both well within one process's step
/// budget here.
pub const MAX_KEYS: usize = 2_000;

/// Longest key, in bytes (`snapshot.key_len`). Aptos access paths (an address and a type path)
/// are typically well under 256 bytes, and the generator draws at most 24. Key bytes are hashed
/// and copied per item, so length is a per-key cost: with 1 KiB keys and 4 KiB values the worst
/// case measured for [`MAX_KEYS`] took 3.1 s instead of 1.8 s.
pub const MAX_KEY_LEN: usize = 256;

/// Longest value, in bytes (`snapshot.value_len`). Longer values add nothing the restore treats
/// differently (a value is hashed and stored as bytes) but cost time per step and memory per
/// copy; the generator draws at most 64.
pub const MAX_VALUE_LEN: usize = 1_024;

/// Most entries in `chunking.sizes`. The generator writes one entry per chunk, and a case has at
/// most one chunk per key, so a longer list is never needed (the list repeats when it is short).
pub const MAX_CHUNKS: usize = MAX_KEYS;

/// Largest entry of `chunking.sizes`; the smallest is 1 (a zero would silently be skipped). A
/// size above the remaining keys is cut to them, so nothing larger than `MAX_KEYS` means
/// anything. Sizes need not add up to `keys`: materialising cuts the last chunk and repeats a
/// short list (`Chunking::Sizes`), and hand-written cases such as the catalog's rely on that.
pub const MAX_CHUNK_SIZE: usize = MAX_KEYS;

/// Largest `nibbles` of a shared-prefix or clustered layout: a key hash has 64 nibbles, and the
/// generator clamps anything above.
pub const MAX_NIBBLES: usize = 64;

/// Most `clusters` of a clustered layout (at least 1). Each cluster is a 32-byte prefix drawn
/// up front; 256 clusters already fill the first two nibble levels, beyond which a clustered
/// layout is just a random one.
pub const MAX_CLUSTERS: usize = 256;

/// Largest `snapshot.version`. 2^48 is ~900 years of an Aptos-scale chain at 10,000
/// transactions per second, and leaves 16 bits of headroom for any `version + n` arithmetic.
pub const MAX_VERSION: u64 = 1 << 48;

/// Most entries in `faults.faults`. Every store operation looks the plan up, and sweeps draw at
/// most four; 64 is far more than any shrunk or hand-written case needs.
pub const MAX_FAULTS: usize = 64;

/// Most entries in `faults.crashes`. Only the first crash planned for each process fires, so
/// more than one per possible process is never needed.
pub const MAX_CRASHES: usize = MAX_LIVES as usize;

/// Most entries in `faults.corruptions`, as for faults.
pub const MAX_CORRUPTIONS: usize = 64;

/// Largest `nth` of a fault target. Each counted operation takes at least one scheduling point,
/// so no case makes more than `MAX_CASE_STEPS` of them: a larger `nth` could never fire.
pub const MAX_NTH: u32 = MAX_CASE_STEPS as u32;

/// Largest `chunk` of a `chunk-batch` target or a corruption: the last chunk of the largest
/// snapshot.
pub const MAX_CHUNK_INDEX: u32 = (MAX_CHUNKS - 1) as u32;

/// Largest `shards` of a torn node batch: a batch is at most 16 shard groups and the root, so
/// 17 lands everything (any more would be clamped to the same thing).
pub const MAX_TORN_SHARDS: u32 = 17;

/// Largest `points` of a slow operation. Each point is one cheap scheduling step (~1 µs) but
/// one trace event: 64 slow faults of 10,000 points drove four processes into their step budget
/// (661,000 events, 180 MB, 1.6 s) without testing anything a shorter delay does not. 1,000 is 25
/// times what the generator draws (≤ 40) and outlasts ~100 one-key chunks of the other tasks.
pub const MAX_SLOW_POINTS: u32 = 1_000;

/// Largest `lost_writes` of a power loss. A process writes at most a few per chunk, so 10,000
/// loses everything of the largest case; the unsynced queue never holds more than was written.
pub const MAX_LOST_WRITES: u32 = 10_000;

/// Largest `step` of a planned crash: a process never gets past its step budget.
pub const MAX_CRASH_STEP: u64 = STEP_BUDGET;

/// Most processes in the faulty phase (`driver.max_lives`, at least 1; the generator uses 4).
///
/// Each process can redo the whole restore (a power loss may lose everything it wrote, and the
/// Aptos strategies may resume from the start), so the worst case costs about `MAX_LIVES + 1`
/// passes over the snapshot; with 8 that is the 1.8 s measured for [`MAX_KEYS`]. Eight leaves
/// room for hand-written cases with a crash in each of several processes.
pub const MAX_LIVES: u32 = 8;

/// Largest `driver.retries` (retries of one chunk on the same object). Each retry is one more
/// delivery and restore attempt; the generator uses 1 or 2.
pub const MAX_RETRIES: u32 = 16;

/// Largest `deliveries` of a corruption: a chunk is delivered at most once per attempt, and a
/// case makes at most `MAX_LIVES × (MAX_RETRIES + 1)` attempts at one chunk (plus the
/// faults-off restart, which delivers good chunks).
pub const MAX_DELIVERIES: u32 = MAX_LIVES * (MAX_RETRIES + 1);

/// Largest `item` of a tamper: the last item of the largest chunk. (An index past the chunk's
/// end leaves that delivery untampered.)
pub const MAX_TAMPER_ITEM: usize = MAX_CHUNK_SIZE - 1;

/// Largest `sibling` of a wrong-sibling tamper: a range proof has at most one right sibling per
/// bit of the 256-bit key hash.
pub const MAX_TAMPER_SIBLING: usize = 255;

/// Largest PCT `depth` (at least 1). PCT draws `depth − 1` change points up front; the bug depth
/// PCT finds with good probability is small (the generator uses 2–4), and 64 keeps the draw
/// trivial.
pub const MAX_PCT_DEPTH: u32 = 64;

/// Largest PCT `horizon` (at least 1): change points are drawn within it, and PCT counts steps
/// over the whole case, so one beyond `MAX_CASE_STEPS` can never be reached.
pub const MAX_PCT_HORIZON: u64 = MAX_CASE_STEPS;

/// Most recorded decisions in a `replay` or `dfs` schedule: a case takes at most one decision
/// per step.
pub const MAX_DECISIONS: usize = MAX_CASE_STEPS as usize;

/// Scheduling steps one case can take at most: every process of the faulty phase and the
/// faults-off restart, each within its budget.
pub const MAX_CASE_STEPS: u64 = (MAX_LIVES as u64 + 1) * STEP_BUDGET;

// The generator's own formulas (`Case::generate`), at its largest snapshot: a case drawn with
// `max_keys = MAX_KEYS` must never be rejected.
const _: () = assert!(
    MAX_KEYS >= 12,
    "the generator draws up to 12 keys at any max_keys"
);
const _: () = assert!(
    12 * MAX_KEYS as u64 <= MAX_CRASH_STEP,
    "generated crash steps"
);
const _: () = assert!(
    16 * MAX_KEYS as u64 + 16 <= MAX_PCT_HORIZON,
    "generated PCT horizons"
);
const _: () = assert!(MAX_CASE_STEPS <= u32::MAX as u64, "MAX_NTH fits a u32");

/// Checks every field of `case` against the limits above. Cheap: no allocation unless a field is
/// out of range.
pub(crate) fn check(case: &Case) -> Result<(), CaseError> {
    check_snapshot(&case.snapshot)?;
    check_chunking(&case.chunking)?;
    check_faults(&case.faults)?;
    check_schedule(&case.schedule)?;
    check_driver(&case.driver)?;
    check_others(case)?;
    if let Some(w) = case.durability.window {
        at_most(|| "durability.window".to_string(), w, MAX_UNSYNCED_WINDOW)?;
    }
    Ok(())
}

/// Largest unsynced window per database. Like `MAX_LOST_WRITES`: a queue never holds more than
/// was written, so this only keeps a case file's number meaningful.
pub const MAX_UNSYNCED_WINDOW: u32 = 10_000;

/// Most other versions planted in the store before a case runs.
pub const MAX_OTHER_VERSIONS: usize = 2;

/// Other versions: few, within the key limit, and never the case's own version unless the case
/// is an overwrite (restoring that version again over what was planted there).
fn check_others(case: &Case) -> Result<(), CaseError> {
    list_len("others", case.others.len(), MAX_OTHER_VERSIONS)?;
    for (i, o) in case.others.iter().enumerate() {
        at_most(|| format!("others[{i}].keys"), o.keys, MAX_KEYS)?;
        at_most(|| format!("others[{i}].version"), o.version, MAX_VERSION)?;
        if o.version == case.snapshot.version && !case.overwrite {
            return Err(limit(
                format!("others[{i}].version"),
                o.version,
                "a version other than snapshot.version (unless `overwrite`)",
            ));
        }
    }
    Ok(())
}

fn limit(field: String, value: impl Display, limit: impl Display) -> CaseError {
    CaseError::Limit {
        field,
        value: value.to_string(),
        limit: limit.to_string(),
    }
}

/// `lo ≤ value ≤ hi`, else an error for the field named by `field` (built only on error).
fn within<T: PartialOrd + Display>(
    field: impl FnOnce() -> String,
    value: T,
    lo: T,
    hi: T,
) -> Result<(), CaseError> {
    if value < lo || value > hi {
        Err(limit(field(), value, format!("from {lo} to {hi}")))
    } else {
        Ok(())
    }
}

fn at_most<T: PartialOrd + Display>(
    field: impl FnOnce() -> String,
    value: T,
    hi: T,
) -> Result<(), CaseError> {
    if value > hi {
        Err(limit(field(), value, format!("at most {hi}")))
    } else {
        Ok(())
    }
}

fn list_len(field: &str, len: usize, max: usize) -> Result<(), CaseError> {
    if len > max {
        Err(limit(
            field.to_string(),
            format!("{len} entries"),
            format!("at most {max} entries"),
        ))
    } else {
        Ok(())
    }
}

/// An inclusive `[min, max]` length range: ordered, and the maximum within `max`.
fn length_range(field: &str, (lo, hi): (usize, usize), max: usize) -> Result<(), CaseError> {
    let value = || format!("[{lo}, {hi}]");
    if lo > hi {
        Err(limit(
            field.to_string(),
            value(),
            "[min, max] with min ≤ max",
        ))
    } else if hi > max {
        Err(limit(
            field.to_string(),
            value(),
            format!("lengths of at most {max} bytes"),
        ))
    } else {
        Ok(())
    }
}

fn check_snapshot(s: &SnapshotCase) -> Result<(), CaseError> {
    at_most(|| "snapshot.keys".into(), s.keys, MAX_KEYS)?;
    length_range("snapshot.value_len", s.value_len, MAX_VALUE_LEN)?;
    length_range("snapshot.key_len", s.key_len, MAX_KEY_LEN)?;
    match s.layout {
        LayoutCase::Random | LayoutCase::Adjacent => {}
        LayoutCase::SharedPrefix { nibbles } => {
            at_most(|| "snapshot.layout.nibbles".into(), nibbles, MAX_NIBBLES)?;
        }
        LayoutCase::Clustered { clusters, nibbles } => {
            within(
                || "snapshot.layout.clusters".into(),
                clusters,
                1,
                MAX_CLUSTERS,
            )?;
            at_most(|| "snapshot.layout.nibbles".into(), nibbles, MAX_NIBBLES)?;
        }
    }
    at_most(|| "snapshot.version".into(), s.version, MAX_VERSION)
}

fn check_chunking(c: &ChunkingCase) -> Result<(), CaseError> {
    list_len("chunking.sizes", c.sizes.len(), MAX_CHUNKS)?;
    for (i, &size) in c.sizes.iter().enumerate() {
        within(|| format!("chunking.sizes[{i}]"), size, 1, MAX_CHUNK_SIZE)?;
    }
    Ok(())
}

fn check_faults(plan: &FaultPlan) -> Result<(), CaseError> {
    list_len("faults.faults", plan.faults.len(), MAX_FAULTS)?;
    for (i, f) in plan.faults.iter().enumerate() {
        let at = |what: &str| format!("faults.faults[{i}].{what}");
        match f.target {
            Target::ChunkBatch { chunk } => {
                at_most(|| at("target.chunk"), chunk, MAX_CHUNK_INDEX)?;
            }
            Target::NodeBatch { nth }
            | Target::KvWrite { nth }
            | Target::ProgressRead { nth }
            | Target::NodeRead { nth }
            | Target::RightmostLeaf { nth } => at_most(|| at("target.nth"), nth, MAX_NTH)?,
        }
        match f.effect {
            Effect::Torn { shards } => at_most(|| at("effect.shards"), shards, MAX_TORN_SHARDS)?,
            Effect::Slow { points } => at_most(|| at("effect.points"), points, MAX_SLOW_POINTS)?,
            Effect::IoError
            | Effect::DiskFull
            | Effect::FailedButPersisted
            | Effect::AckThenLost => {}
        }
    }
    list_len("faults.crashes", plan.crashes.len(), MAX_CRASHES)?;
    for (i, c) in plan.crashes.iter().enumerate() {
        let at = |what: &str| format!("faults.crashes[{i}].{what}");
        at_most(|| at("life"), c.life, MAX_LIVES - 1)?;
        at_most(|| at("step"), c.step, MAX_CRASH_STEP)?;
        if let CrashKind::PowerLoss { lost_writes, .. } = c.kind {
            at_most(|| at("kind.lost_writes"), lost_writes, MAX_LOST_WRITES)?;
        }
    }
    list_len(
        "faults.corruptions",
        plan.corruptions.len(),
        MAX_CORRUPTIONS,
    )?;
    for (i, c) in plan.corruptions.iter().enumerate() {
        let at = |what: &str| format!("faults.corruptions[{i}].{what}");
        at_most(|| at("chunk"), c.chunk, MAX_CHUNK_INDEX)?;
        at_most(|| at("deliveries"), c.deliveries, MAX_DELIVERIES)?;
        at_most(|| at("first"), c.first, MAX_DELIVERIES)?;
        match c.tamper {
            TamperKind::ChangeValue { item }
            | TamperKind::DropKey { item }
            | TamperKind::SwapOrder { item } => {
                at_most(|| at("tamper.item"), item, MAX_TAMPER_ITEM)?;
            }
            TamperKind::WrongSibling { sibling } => {
                at_most(|| at("tamper.sibling"), sibling, MAX_TAMPER_SIBLING)?;
            }
            TamperKind::TruncateProof | TamperKind::ExtraSibling => {}
        }
    }
    Ok(())
}

fn check_schedule(p: &PolicyKind) -> Result<(), CaseError> {
    match p {
        PolicyKind::RandomWalk { .. } | PolicyKind::FirstRunnable => Ok(()),
        PolicyKind::Pct { depth, horizon, .. } => {
            within(|| "schedule.depth".into(), *depth, 1, MAX_PCT_DEPTH)?;
            within(|| "schedule.horizon".into(), *horizon, 1, MAX_PCT_HORIZON)
        }
        PolicyKind::Replay { decisions } => {
            list_len("schedule.decisions", decisions.len(), MAX_DECISIONS)
        }
        PolicyKind::Dfs { prefix } => list_len("schedule.prefix", prefix.len(), MAX_DECISIONS),
    }
}

fn check_driver(d: &DriverPolicy) -> Result<(), CaseError> {
    at_most(|| "driver.retries".into(), d.retries, MAX_RETRIES)?;
    within(|| "driver.max_lives".into(), d.max_lives, 1, MAX_LIVES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{GenConfig, StoreKind};
    use crate::fault::{Corruption, Crash, CrashAt, Fault};
    use restore_core::strategy::CommitStrategy;

    fn base() -> Case {
        Case::small(CommitStrategy::Pipelined, 6, &[2, 2, 2])
    }

    /// The field a rejected case names, or `None` when it is accepted.
    fn rejected_field(c: &Case) -> Option<String> {
        match c.validate() {
            Ok(()) => None,
            Err(CaseError::Limit { field, .. }) => Some(field),
            Err(e) => panic!("validate returned a non-limit error: {e}"),
        }
    }

    /// One numeric limit: how to put a value into the field, its path, and its bounds.
    struct Bound {
        field: &'static str,
        lo: u64,
        hi: u64,
        set: fn(&mut Case, u64),
    }

    fn fault_at(c: &mut Case, f: Fault) {
        // Index 1, so the reported path must carry the right index.
        c.faults.faults = vec![
            Fault {
                target: Target::KvWrite { nth: 0 },
                effect: Effect::IoError,
            },
            f,
        ];
    }

    fn crash_at(c: &mut Case, crash: Crash) {
        c.faults.crashes = vec![
            Crash {
                life: 0,
                step: 1,
                kind: CrashKind::Process,
                at: CrashAt::Start,
            },
            crash,
        ];
    }

    fn corruption(chunk: u32, tamper: TamperKind, deliveries: u32) -> Corruption {
        Corruption {
            chunk,
            tamper,
            deliveries,
            first: 0,
        }
    }

    fn corruption_at(c: &mut Case, k: Corruption) {
        c.faults.corruptions = vec![
            Corruption {
                chunk: 0,
                tamper: TamperKind::TruncateProof,
                deliveries: 1,
                first: 0,
            },
            k,
        ];
    }

    fn bounds() -> Vec<Bound> {
        vec![
            Bound {
                field: "snapshot.keys",
                lo: 0,
                hi: MAX_KEYS as u64,
                set: |c, v| c.snapshot.keys = v as usize,
            },
            Bound {
                field: "snapshot.layout.nibbles",
                lo: 0,
                hi: MAX_NIBBLES as u64,
                set: |c, v| {
                    c.snapshot.layout = LayoutCase::SharedPrefix {
                        nibbles: v as usize,
                    }
                },
            },
            Bound {
                field: "snapshot.layout.nibbles",
                lo: 0,
                hi: MAX_NIBBLES as u64,
                set: |c, v| {
                    c.snapshot.layout = LayoutCase::Clustered {
                        clusters: 2,
                        nibbles: v as usize,
                    }
                },
            },
            Bound {
                field: "snapshot.layout.clusters",
                lo: 1,
                hi: MAX_CLUSTERS as u64,
                set: |c, v| {
                    c.snapshot.layout = LayoutCase::Clustered {
                        clusters: v as usize,
                        nibbles: 3,
                    }
                },
            },
            Bound {
                field: "snapshot.version",
                lo: 0,
                hi: MAX_VERSION,
                set: |c, v| c.snapshot.version = v,
            },
            Bound {
                field: "chunking.sizes",
                lo: 0,
                hi: MAX_CHUNKS as u64,
                set: |c, v| c.chunking.sizes = vec![1; v as usize],
            },
            Bound {
                field: "chunking.sizes[3]",
                lo: 1,
                hi: MAX_CHUNK_SIZE as u64,
                set: |c, v| c.chunking.sizes = vec![1, 1, 1, v as usize],
            },
            Bound {
                field: "faults.faults",
                lo: 0,
                hi: MAX_FAULTS as u64,
                set: |c, v| {
                    let f = Fault {
                        target: Target::NodeBatch { nth: 1 },
                        effect: Effect::IoError,
                    };
                    c.faults.faults = vec![f; v as usize];
                },
            },
            Bound {
                field: "faults.faults[1].target.nth",
                lo: 0,
                hi: u64::from(MAX_NTH),
                set: |c, v| {
                    let target = Target::NodeRead { nth: v as u32 };
                    fault_at(
                        c,
                        Fault {
                            target,
                            effect: Effect::IoError,
                        },
                    );
                },
            },
            Bound {
                field: "faults.faults[1].target.chunk",
                lo: 0,
                hi: u64::from(MAX_CHUNK_INDEX),
                set: |c, v| {
                    let target = Target::ChunkBatch { chunk: v as u32 };
                    fault_at(
                        c,
                        Fault {
                            target,
                            effect: Effect::IoError,
                        },
                    );
                },
            },
            Bound {
                field: "faults.faults[1].effect.shards",
                lo: 0,
                hi: u64::from(MAX_TORN_SHARDS),
                set: |c, v| {
                    let effect = Effect::Torn { shards: v as u32 };
                    fault_at(
                        c,
                        Fault {
                            target: Target::NodeBatch { nth: 0 },
                            effect,
                        },
                    );
                },
            },
            Bound {
                field: "faults.faults[1].effect.points",
                lo: 0,
                hi: u64::from(MAX_SLOW_POINTS),
                set: |c, v| {
                    let effect = Effect::Slow { points: v as u32 };
                    fault_at(
                        c,
                        Fault {
                            target: Target::KvWrite { nth: 2 },
                            effect,
                        },
                    );
                },
            },
            Bound {
                field: "faults.crashes",
                lo: 0,
                hi: MAX_CRASHES as u64,
                set: |c, v| {
                    c.faults.crashes = (0..v as u32)
                        .map(|life| Crash {
                            life: life % MAX_LIVES,
                            step: 3,
                            kind: CrashKind::Process,
                            at: CrashAt::Start,
                        })
                        .collect();
                },
            },
            Bound {
                field: "faults.crashes[1].life",
                lo: 0,
                hi: u64::from(MAX_LIVES - 1),
                set: |c, v| {
                    let crash = Crash {
                        life: v as u32,
                        step: 1,
                        kind: CrashKind::Process,
                        at: CrashAt::Start,
                    };
                    crash_at(c, crash);
                },
            },
            Bound {
                field: "faults.crashes[1].step",
                lo: 0,
                hi: MAX_CRASH_STEP,
                set: |c, v| {
                    let crash = Crash {
                        life: 1,
                        step: v,
                        kind: CrashKind::Process,
                        at: CrashAt::Start,
                    };
                    crash_at(c, crash);
                },
            },
            Bound {
                field: "faults.crashes[1].kind.lost_writes",
                lo: 0,
                hi: u64::from(MAX_LOST_WRITES),
                set: |c, v| {
                    let kind = CrashKind::power_loss(v as u32);
                    crash_at(
                        c,
                        Crash {
                            life: 1,
                            step: 1,
                            kind,
                            at: CrashAt::Start,
                        },
                    );
                },
            },
            Bound {
                field: "faults.corruptions",
                lo: 0,
                hi: MAX_CORRUPTIONS as u64,
                set: |c, v| {
                    let k = Corruption {
                        chunk: 1,
                        tamper: TamperKind::ExtraSibling,
                        deliveries: 1,
                        first: 0,
                    };
                    c.faults.corruptions = vec![k; v as usize];
                },
            },
            Bound {
                field: "faults.corruptions[1].chunk",
                lo: 0,
                hi: u64::from(MAX_CHUNK_INDEX),
                set: |c, v| {
                    corruption_at(c, corruption(v as u32, TamperKind::TruncateProof, 1));
                },
            },
            Bound {
                field: "faults.corruptions[1].deliveries",
                lo: 0,
                hi: u64::from(MAX_DELIVERIES),
                set: |c, v| {
                    corruption_at(c, corruption(0, TamperKind::TruncateProof, v as u32));
                },
            },
            Bound {
                field: "faults.corruptions[1].first",
                lo: 0,
                hi: u64::from(MAX_DELIVERIES),
                set: |c, v| {
                    let mut k = corruption(0, TamperKind::TruncateProof, 1);
                    k.first = v as u32;
                    corruption_at(c, k);
                },
            },
            Bound {
                field: "faults.corruptions[1].tamper.item",
                lo: 0,
                hi: MAX_TAMPER_ITEM as u64,
                set: |c, v| {
                    corruption_at(
                        c,
                        corruption(0, TamperKind::SwapOrder { item: v as usize }, 1),
                    );
                },
            },
            Bound {
                field: "faults.corruptions[1].tamper.item",
                lo: 0,
                hi: MAX_TAMPER_ITEM as u64,
                set: |c, v| {
                    corruption_at(
                        c,
                        corruption(0, TamperKind::ChangeValue { item: v as usize }, 1),
                    );
                },
            },
            Bound {
                field: "faults.corruptions[1].tamper.item",
                lo: 0,
                hi: MAX_TAMPER_ITEM as u64,
                set: |c, v| {
                    corruption_at(
                        c,
                        corruption(0, TamperKind::DropKey { item: v as usize }, 1),
                    );
                },
            },
            Bound {
                field: "faults.corruptions[1].tamper.sibling",
                lo: 0,
                hi: MAX_TAMPER_SIBLING as u64,
                set: |c, v| {
                    let k = Corruption {
                        chunk: 0,
                        tamper: TamperKind::WrongSibling {
                            sibling: v as usize,
                        },
                        deliveries: 1,
                        first: 0,
                    };
                    corruption_at(c, k);
                },
            },
            Bound {
                field: "schedule.depth",
                lo: 1,
                hi: u64::from(MAX_PCT_DEPTH),
                set: |c, v| {
                    c.schedule = PolicyKind::Pct {
                        seed: 1,
                        depth: v as u32,
                        horizon: 10,
                    }
                },
            },
            Bound {
                field: "schedule.horizon",
                lo: 1,
                hi: MAX_PCT_HORIZON,
                set: |c, v| {
                    c.schedule = PolicyKind::Pct {
                        seed: 1,
                        depth: 3,
                        horizon: v,
                    }
                },
            },
            Bound {
                field: "schedule.decisions",
                lo: 0,
                hi: MAX_DECISIONS as u64,
                set: |c, v| {
                    c.schedule = PolicyKind::Replay {
                        decisions: vec![1; v as usize],
                    }
                },
            },
            Bound {
                field: "schedule.prefix",
                lo: 0,
                hi: MAX_DECISIONS as u64,
                set: |c, v| {
                    c.schedule = PolicyKind::Dfs {
                        prefix: vec![0; v as usize],
                    }
                },
            },
            Bound {
                field: "driver.retries",
                lo: 0,
                hi: u64::from(MAX_RETRIES),
                set: |c, v| c.driver.retries = v as u32,
            },
            Bound {
                field: "driver.max_lives",
                lo: 1,
                hi: u64::from(MAX_LIVES),
                set: |c, v| c.driver.max_lives = v as u32,
            },
        ]
    }

    #[test]
    fn the_base_case_is_valid() {
        assert_eq!(base().validate(), Ok(()));
    }

    #[test]
    fn every_numeric_limit_accepts_its_bounds_and_rejects_just_past_them() {
        for b in bounds() {
            let with = |v: u64| {
                let mut c = base();
                (b.set)(&mut c, v);
                rejected_field(&c)
            };
            assert_eq!(with(b.hi), None, "{} = {} (the maximum)", b.field, b.hi);
            assert_eq!(
                with(b.hi + 1).as_deref(),
                Some(b.field),
                "{} = {} (one past the maximum)",
                b.field,
                b.hi + 1
            );
            assert_eq!(with(b.lo), None, "{} = {} (the minimum)", b.field, b.lo);
            if b.lo > 0 {
                assert_eq!(
                    with(b.lo - 1).as_deref(),
                    Some(b.field),
                    "{} = {} (one below the minimum)",
                    b.field,
                    b.lo - 1
                );
            }
        }
    }

    #[test]
    fn length_ranges_need_order_and_a_bounded_maximum() {
        type Set = fn(&mut Case, (usize, usize));
        let fields: [(&str, usize, Set); 2] = [
            ("snapshot.value_len", MAX_VALUE_LEN, |c, r| {
                c.snapshot.value_len = r
            }),
            ("snapshot.key_len", MAX_KEY_LEN, |c, r| {
                c.snapshot.key_len = r
            }),
        ];
        for (field, max, set) in fields {
            let with = |r| {
                let mut c = base();
                set(&mut c, r);
                rejected_field(&c)
            };
            assert_eq!(with((0, max)), None, "{field}");
            assert_eq!(with((max, max)), None, "{field}");
            assert_eq!(with((0, 0)), None, "{field}");
            assert_eq!(with((0, max + 1)).as_deref(), Some(field));
            assert_eq!(with((max + 1, max + 1)).as_deref(), Some(field));
            assert_eq!(with((2, 1)).as_deref(), Some(field), "min above max");
            assert_eq!(with((usize::MAX, 32)).as_deref(), Some(field));
        }
    }

    #[test]
    fn the_message_names_the_field_the_value_and_the_limit() {
        let mut c = base();
        c.snapshot.keys = 2_147_483_648;
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("`snapshot.keys`"), "{msg}");
        assert!(msg.contains("2147483648"), "{msg}");
        assert!(msg.contains(&format!("at most {MAX_KEYS}")), "{msg}");

        let mut c = base();
        c.snapshot.value_len = (9_223_372_036_854_775_807, 32);
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains("`snapshot.value_len`"), "{msg}");
        assert!(msg.contains("[9223372036854775807, 32]"), "{msg}");
    }

    #[test]
    fn generated_cases_are_never_rejected() {
        let mut largest = 0;
        for max_keys in [1, 12, 200, MAX_KEYS / 2, MAX_KEYS] {
            for seed in 0..2_000 {
                let c = Case::generate(
                    seed,
                    CommitStrategy::ALL[(seed % 6) as usize],
                    &GenConfig {
                        max_keys,
                        store: StoreKind::Mem,
                        ..GenConfig::default()
                    },
                );
                assert_eq!(c.validate(), Ok(()), "seed {seed}, max_keys {max_keys}");
                largest = largest.max(c.snapshot.keys);
            }
        }
        // Evidence the largest snapshots were drawn, not only small ones.
        assert!(largest > MAX_KEYS * 9 / 10, "largest generated: {largest}");
    }
}
