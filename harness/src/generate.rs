//! Drawing a case from a seed, swarm style (VOPR / FoundationDB): each seed picks its own mix —
//! some cases are fault-free, some have many faults; snapshot sizes and chunkings vary; the
//! schedule policy varies. One small draw per dimension, so a new dimension is one new function.
//!
//! Four seeded streams, one per decision source (workload, faults, schedule, the store's past),
//! so that changing
//! how one dimension is drawn does not reshuffle the others. Within a stream the draws happen in
//! a fixed order; a draw added at the end of a stream leaves every earlier one unchanged.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use restore_core::store::{Layout, SyncPolicy};
use restore_core::strategy::{CommitMode, CommitStrategy};

use crate::case::{
    CASE_FORMAT, Case, ChunkingCase, DriverPolicy, GenConfig, LayoutCase, OnError, RestorePlan,
    SnapshotCase,
};
use crate::fault::{
    Corruption, Crash, CrashAt, CrashKind, Durability, Effect, Fault, FaultPlan, Side, Spread,
    TamperKind, Target,
};
use crate::others::OtherVersion;
use crate::sim::PolicyKind;

/// Draws the case of `seed` for `strategy` (see [`Case::generate`]).
pub(crate) fn case(seed: u64, strategy: CommitStrategy, cfg: &GenConfig) -> Case {
    let mut wl = ChaCha8Rng::seed_from_u64(seed ^ 0x5753_4e41_5053_484f);
    let mut fl = ChaCha8Rng::seed_from_u64(seed ^ 0x4641_554c_5453_2121);
    let mut sc = ChaCha8Rng::seed_from_u64(seed ^ 0x5343_4845_4455_4c45);
    let (snapshot, sizes) = workload(&mut wl, cfg.max_keys);
    let chunks = sizes.len() as u64;
    let faults = fault_plan(&mut fl, &sizes);
    let schedule = schedule(&mut sc, chunks);
    let driver = driver(&mut sc);
    let mut st = ChaCha8Rng::seed_from_u64(seed ^ 0x5354_4f52_4550_4153);
    let others = other_versions(&mut st, snapshot.version);
    let commit = commit_mode(&mut st);
    let plan = restore_plan(&mut st);
    let mut du = ChaCha8Rng::seed_from_u64(seed ^ 0x4455_5241_4249_4c45);
    let mut faults = faults;
    let durability = durability(&mut du, cfg, &mut faults);
    Case {
        format: CASE_FORMAT.to_string(),
        seed,
        strategy,
        commit,
        store: cfg.store,
        snapshot,
        chunking: ChunkingCase { sizes },
        faults,
        schedule,
        driver,
        others,
        overwrite: false,
        plan,
        durability,
    }
}

/// The store's layout and sync policy (a fifth stream, so every other draw is unchanged), and
/// how each power loss falls across its databases. Two cases in five keep the model every case
/// had before layouts existed, so what the sweep found before it still finds.
fn durability(du: &mut ChaCha8Rng, cfg: &GenConfig, faults: &mut FaultPlan) -> Durability {
    let legacy = chance(du, 40);
    let layout = match below(du, 10) {
        0..=2 => Layout::One,
        3..=5 => Layout::Split,
        _ => Layout::Aptos,
    };
    let sync = match below(du, 10) {
        0..=3 => SyncPolicy::Always,
        4..=7 => SyncPolicy::Barrier,
        _ => SyncPolicy::Relaxed,
    };
    let window = 1 + below(du, 4) as u32;
    let forced = cfg.layout.is_some() || cfg.sync.is_some();
    let d = if legacy && !forced {
        Durability::default()
    } else {
        Durability::new(
            cfg.layout.unwrap_or(layout),
            cfg.sync.unwrap_or(sync),
            window,
        )
    };
    for c in &mut faults.crashes {
        let draw = below(du, 10);
        let seed = du.next_u64();
        if let (false, CrashKind::PowerLoss { spread, .. }) = (d.is_legacy(), &mut c.kind) {
            *spread = match draw {
                0..=6 => Some(Spread::Seeded { seed }),
                7 | 8 => Some(Spread::OneSide {
                    loses: if seed.is_multiple_of(2) {
                        Side::Kv
                    } else {
                        Side::Tree
                    },
                }),
                _ => None,
            };
        }
    }
    d
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

fn chance(rng: &mut ChaCha8Rng, percent: u64) -> bool {
    below(rng, 100) < percent
}

/// The snapshot and its chunk sizes (the sizes add up to the keys).
fn workload(wl: &mut ChaCha8Rng, max_keys: usize) -> (SnapshotCase, Vec<usize>) {
    let keys = key_count(wl, max_keys);
    let layout = layout(wl);
    let sizes = chunk_sizes(wl, keys);
    debug_assert_eq!(sizes.iter().sum::<usize>(), keys);
    let snapshot = SnapshotCase {
        seed: wl.next_u64(),
        keys,
        value_len: (0, 64),
        key_len: (4, 24),
        layout,
        version: 1 + below(wl, 5),
    };
    (snapshot, sizes)
}

/// Mostly small, sometimes tiny or empty.
fn key_count(wl: &mut ChaCha8Rng, max_keys: usize) -> usize {
    match below(wl, 10) {
        0 => below(wl, 3) as usize,
        1..=3 => 1 + below(wl, 12) as usize,
        _ => 1 + below(wl, max_keys as u64) as usize,
    }
}

fn layout(wl: &mut ChaCha8Rng) -> LayoutCase {
    match below(wl, 6) {
        0 => LayoutCase::SharedPrefix {
            nibbles: 1 + below(wl, 12) as usize,
        },
        1 => LayoutCase::Clustered {
            clusters: 2 + below(wl, 3) as usize,
            nibbles: 2 + below(wl, 8) as usize,
        },
        2 => LayoutCase::Adjacent,
        _ => LayoutCase::Random,
    }
}

/// Chunks of 1..=max, with max drawn per case (1, 4, 16 or 48), the last one cut to fit.
fn chunk_sizes(wl: &mut ChaCha8Rng, keys: usize) -> Vec<usize> {
    let max_chunk = match below(wl, 4) {
        0 => 1,
        1 => 4,
        2 => 16,
        _ => 48,
    };
    let mut sizes = Vec::new();
    let mut left = keys;
    while left > 0 {
        let s = (1 + below(wl, max_chunk) as usize).min(left);
        sizes.push(s);
        left -= s;
    }
    sizes
}

/// Swarm style: about a third of cases are fault-free, a third have one fault, a third up to
/// four; faulty cases sometimes crash and sometimes get a corrupted chunk.
fn fault_plan(fl: &mut ChaCha8Rng, sizes: &[usize]) -> FaultPlan {
    let chunks = sizes.len() as u64;
    let mut plan = FaultPlan::default();
    let intensity = below(fl, 3);
    let n_faults = match intensity {
        0 => 0,
        1 => 1,
        _ => 1 + below(fl, 4),
    };
    for _ in 0..n_faults {
        let target = target(fl, chunks);
        let effect = effect(fl);
        plan.faults.push(Fault { target, effect });
    }
    if intensity > 0 && chance(fl, 35) {
        plan.crashes.push(crash(fl, chunks));
    }
    if intensity > 0 && chunks > 0 && chance(fl, 25) {
        plan.corruptions.push(corruption(fl, sizes));
    }
    // Drawn last, so every earlier draw of this stream (and so every older case) stays as it was.
    if intensity > 0 {
        crash_placement(fl, &mut plan, chunks);
    }
    plan
}

/// Where crashes land beyond the first process's feeding: sometimes the first crash moves to
/// `finish` or just after it, and sometimes later processes crash too — while opening and
/// recovering, feeding, finishing or after finishing. At most one crash per process.
fn crash_placement(fl: &mut ChaCha8Rng, plan: &mut FaultPlan, chunks: u64) {
    if let Some(first) = plan.crashes.first_mut()
        && chance(fl, 30)
    {
        (first.at, first.step) = anchored(fl);
    }
    if chance(fl, 25) {
        let extra = 1 + below(fl, 2);
        for life in 1..=extra {
            let (at, step) = match below(fl, 10) {
                // Early in the process: opening the restore, recovering the partial tree.
                0..=3 => (CrashAt::Start, 1 + below(fl, 8)),
                4..=6 => (CrashAt::Start, 1 + below(fl, 12 * chunks.max(1))),
                _ => anchored(fl),
            };
            plan.crashes.push(Crash {
                life: life as u32,
                step,
                kind: crash_kind(fl),
                at,
            });
        }
    }
}

/// A crash anchored at `finish`: inside it (a few points in: usage, the last batch, the root),
/// or just after it returned.
fn anchored(fl: &mut ChaCha8Rng) -> (CrashAt, u64) {
    if chance(fl, 60) {
        (CrashAt::Finish, below(fl, 12))
    } else {
        (CrashAt::AfterFinish, below(fl, 3))
    }
}

fn crash_kind(fl: &mut ChaCha8Rng) -> CrashKind {
    if chance(fl, 50) {
        CrashKind::Process
    } else {
        CrashKind::power_loss(1 + below(fl, 4) as u32)
    }
}

fn target(fl: &mut ChaCha8Rng, chunks: u64) -> Target {
    match below(fl, 8) {
        0..=2 => Target::ChunkBatch {
            chunk: below(fl, chunks.max(1)) as u32,
        },
        3 => Target::NodeBatch {
            nth: below(fl, chunks.max(1) + 1) as u32,
        },
        4 => Target::KvWrite {
            nth: below(fl, chunks.max(1) + 1) as u32,
        },
        5 => Target::ProgressRead {
            nth: below(fl, chunks.max(1) + 1) as u32,
        },
        6 => Target::NodeRead {
            nth: below(fl, 8) as u32,
        },
        _ => Target::RightmostLeaf {
            nth: below(fl, 3) as u32,
        },
    }
}

fn effect(fl: &mut ChaCha8Rng) -> Effect {
    match below(fl, 10) {
        0..=2 => Effect::IoError,
        3 => Effect::DiskFull,
        4 => Effect::Torn {
            shards: below(fl, 4) as u32,
        },
        5 => Effect::FailedButPersisted,
        6 => Effect::AckThenLost,
        _ => Effect::Slow {
            points: 1 + below(fl, 40) as u32,
        },
    }
}

/// A crash of the first process, at a step within about a dozen points per chunk (moved, now and
/// then, by [`crash_placement`]).
fn crash(fl: &mut ChaCha8Rng, chunks: u64) -> Crash {
    let kind = crash_kind(fl);
    Crash {
        life: 0,
        step: 1 + below(fl, 12 * chunks.max(1)),
        kind,
        at: CrashAt::Start,
    }
}

/// One corrupted delivery of one chunk: mostly the first delivery, sometimes only a
/// re-delivery after a restart (a bad backup file or peer met later), which only a restart can
/// reach.
fn corruption(fl: &mut ChaCha8Rng, sizes: &[usize]) -> Corruption {
    let chunk = below(fl, sizes.len() as u64) as u32;
    let tamper = tamper(fl, sizes[chunk as usize]);
    let first = match below(fl, 10) {
        0..=5 => 0,
        6..=8 => 1,
        _ => 2,
    };
    Corruption {
        chunk,
        tamper,
        deliveries: 1,
        first,
    }
}

fn tamper(fl: &mut ChaCha8Rng, len: usize) -> TamperKind {
    match below(fl, 6) {
        0 => TamperKind::ChangeValue {
            item: below(fl, len as u64) as usize,
        },
        1 => TamperKind::DropKey {
            item: below(fl, len as u64) as usize,
        },
        2 => TamperKind::WrongSibling { sibling: 0 },
        3 => TamperKind::SwapOrder {
            item: below(fl, len as u64) as usize,
        },
        4 => TamperKind::TruncateProof,
        _ => TamperKind::ExtraSibling,
    }
}

/// A third PCT (depth 2..=4), two thirds a random walk.
fn schedule(sc: &mut ChaCha8Rng, chunks: u64) -> PolicyKind {
    match below(sc, 3) {
        0 => PolicyKind::Pct {
            seed: sc.next_u64(),
            depth: 2 + below(sc, 3) as u32,
            horizon: 16 * chunks.max(1) + 16,
        },
        _ => PolicyKind::RandomWalk {
            seed: sc.next_u64(),
        },
    }
}

/// The backup controller (restart on error) three times in four; otherwise retry on the same
/// object first, as state sync does.
fn driver(sc: &mut ChaCha8Rng) -> DriverPolicy {
    DriverPolicy {
        on_error: if chance(sc, 25) {
            OnError::RetrySameObject
        } else {
            OnError::Restart
        },
        retries: 1 + below(sc, 2) as u32,
        max_lives: 4,
    }
}

/// The store's past, on its own stream: one case in five starts with one or two other versions
/// in the store, older or newer, finished or interrupted half-way.
fn other_versions(st: &mut ChaCha8Rng, version: u64) -> Vec<OtherVersion> {
    if !chance(st, 20) {
        return Vec::new();
    }
    let n = 1 + below(st, 2);
    let mut out: Vec<OtherVersion> = Vec::new();
    for _ in 0..n {
        let older = version > 0 && chance(st, 50);
        let v = if older {
            version - 1 - below(st, version)
        } else {
            version + 1 + below(st, 3)
        };
        let other = OtherVersion {
            version: v,
            seed: st.next_u64(),
            keys: 1 + below(st, 40) as usize,
            finished: chance(st, 70),
        };
        if out.iter().all(|o| o.version != v) {
            out.push(other);
        }
    }
    out
}

/// The commit mode, explicitly now and then (one case in five): every strategy also runs with
/// synchronous and with asynchronous node-batch commits, e.g. join-sync committing in the
/// background, verify-kv-tree asynchronously, pipelined synchronously.
fn commit_mode(st: &mut ChaCha8Rng) -> Option<CommitMode> {
    match below(st, 10) {
        0 => Some(CommitMode::Sync),
        1 => Some(CommitMode::Async),
        _ => None,
    }
}

/// Aptos's two-phase restores now and then (one case in ten): KV alone to the end, then the tree
/// alone (the coordinator's plan for a non-empty database), or the tree alone, then a Default
/// restore over it.
fn restore_plan(st: &mut ChaCha8Rng) -> RestorePlan {
    match below(st, 20) {
        0 => RestorePlan::KvThenTree,
        1 => RestorePlan::TreeThenDefault,
        _ => RestorePlan::Default,
    }
}
