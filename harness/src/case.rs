//! A case: everything one run needs, as a plain value that can be written out and read back.
//!
//! Cases are drawn from a seed with swarm-style variety (VOPR / FoundationDB style): each seed
//! picks its own mix — some cases are fault-free, some have many faults; snapshot sizes and
//! chunkings vary; the schedule policy varies. A case file holds the decoded case (not only the
//! seed), so it replays even after the generator changes.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
use restore_core::strategy::{CommitMode, CommitStrategy};
use restore_core::{Chunk, HashScheme, Snapshot, Version};
use serde::{Deserialize, Serialize};

use crate::fault::{Corruption, Crash, CrashKind, Effect, Fault, FaultPlan, TamperKind, Target};
use crate::sim::PolicyKind;

/// Case file format version; bump on incompatible changes.
pub const CASE_FORMAT: &str = "restore-sim/case/v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "layout", rename_all = "kebab-case")]
pub enum LayoutCase {
    Random,
    SharedPrefix { nibbles: usize },
    Clustered { clusters: usize, nibbles: usize },
    Adjacent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCase {
    pub seed: u64,
    pub keys: usize,
    pub value_len: (usize, usize),
    pub key_len: (usize, usize),
    pub layout: LayoutCase,
    pub version: u64,
}

/// Chunk sizes, explicitly (a shrinker edits this list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkingCase {
    pub sizes: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Drop the restore, reopen the store, resume from the previous key (backup controller).
    Restart,
    /// Retry the failed chunk on the same object (state-sync-like), then restart.
    RetrySameObject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverPolicy {
    pub on_error: OnError,
    /// Retries of one chunk on the same object before giving up on the object.
    pub retries: u32,
    /// Processes (lives) before the faulty phase gives up.
    pub max_lives: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    Mem,
    Rocksdb,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub format: String,
    /// The seed the case was drawn from (informational once decoded).
    pub seed: u64,
    #[serde(with = "strategy_name")]
    pub strategy: CommitStrategy,
    #[serde(with = "commit_name")]
    pub commit: Option<CommitMode>,
    pub store: StoreKind,
    pub snapshot: SnapshotCase,
    pub chunking: ChunkingCase,
    pub faults: FaultPlan,
    pub schedule: PolicyKind,
    pub driver: DriverPolicy,
}

mod strategy_name {
    use restore_core::strategy::CommitStrategy;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &CommitStrategy, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<CommitStrategy, D::Error> {
        let s = String::deserialize(de)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

mod commit_name {
    use restore_core::strategy::CommitMode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(c: &Option<CommitMode>, ser: S) -> Result<S::Ok, S::Error> {
        match c {
            Some(c) => ser.serialize_some(c.name()),
            None => ser.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<CommitMode>, D::Error> {
        match Option::<String>::deserialize(de)? {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// Bounds of generated cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConfig {
    pub max_keys: usize,
    pub store: StoreKind,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_keys: 200,
            store: StoreKind::Mem,
        }
    }
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

fn chance(rng: &mut ChaCha8Rng, percent: u64) -> bool {
    below(rng, 100) < percent
}

impl Case {
    /// Draws a case from `seed` for `strategy`. The same seed gives the same workload, faults and
    /// schedule for every strategy, so strategies are compared on identical inputs.
    pub fn generate(seed: u64, strategy: CommitStrategy, cfg: &GenConfig) -> Case {
        // Separate streams per decision source, so changing one part of the generator does not
        // reshuffle the others.
        let mut wl = ChaCha8Rng::seed_from_u64(seed ^ 0x5753_4e41_5053_484f);
        let mut fl = ChaCha8Rng::seed_from_u64(seed ^ 0x4641_554c_5453_2121);
        let mut sc = ChaCha8Rng::seed_from_u64(seed ^ 0x5343_4845_4455_4c45);

        // Workload: mostly small, sometimes tiny or empty.
        let keys = match below(&mut wl, 10) {
            0 => below(&mut wl, 3) as usize,
            1..=3 => 1 + below(&mut wl, 12) as usize,
            _ => 1 + below(&mut wl, cfg.max_keys as u64) as usize,
        };
        let layout = match below(&mut wl, 6) {
            0 => LayoutCase::SharedPrefix {
                nibbles: 1 + below(&mut wl, 12) as usize,
            },
            1 => LayoutCase::Clustered {
                clusters: 2 + below(&mut wl, 3) as usize,
                nibbles: 2 + below(&mut wl, 8) as usize,
            },
            2 => LayoutCase::Adjacent,
            _ => LayoutCase::Random,
        };
        let max_chunk = match below(&mut wl, 4) {
            0 => 1,
            1 => 4,
            2 => 16,
            _ => 48,
        } as u64;
        let mut sizes = Vec::new();
        let mut left = keys;
        while left > 0 {
            let s = (1 + below(&mut wl, max_chunk) as usize).min(left);
            sizes.push(s);
            left -= s;
        }
        let chunks = sizes.len() as u64;
        let snapshot = SnapshotCase {
            seed: wl.next_u64(),
            keys,
            value_len: (0, 64),
            key_len: (4, 24),
            layout,
            version: 1 + below(&mut wl, 5),
        };

        // Faults: swarm style — about a third of cases are fault-free.
        let mut faults = FaultPlan::default();
        let intensity = below(&mut fl, 3);
        let n_faults = match intensity {
            0 => 0,
            1 => 1,
            _ => 1 + below(&mut fl, 4),
        };
        for _ in 0..n_faults {
            let target = match below(&mut fl, 8) {
                0..=2 => Target::ChunkBatch {
                    chunk: below(&mut fl, chunks.max(1)) as u32,
                },
                3 => Target::NodeBatch {
                    nth: below(&mut fl, chunks.max(1) + 1) as u32,
                },
                4 => Target::KvWrite {
                    nth: below(&mut fl, chunks.max(1) + 1) as u32,
                },
                5 => Target::ProgressRead {
                    nth: below(&mut fl, chunks.max(1) + 1) as u32,
                },
                6 => Target::NodeRead {
                    nth: below(&mut fl, 8) as u32,
                },
                _ => Target::RightmostLeaf {
                    nth: below(&mut fl, 3) as u32,
                },
            };
            let effect = match below(&mut fl, 10) {
                0..=2 => Effect::IoError,
                3 => Effect::DiskFull,
                4 => Effect::Torn {
                    shards: below(&mut fl, 4) as u32,
                },
                5 => Effect::FailedButPersisted,
                6 => Effect::AckThenLost,
                _ => Effect::Slow {
                    points: 1 + below(&mut fl, 40) as u32,
                },
            };
            faults.faults.push(Fault { target, effect });
        }
        if intensity > 0 && chance(&mut fl, 35) {
            let kind = if chance(&mut fl, 50) {
                CrashKind::Process
            } else {
                CrashKind::PowerLoss {
                    lost_writes: 1 + below(&mut fl, 4) as u32,
                }
            };
            faults.crashes.push(Crash {
                life: 0,
                step: 1 + below(&mut fl, 12 * chunks.max(1)),
                kind,
            });
        }
        if intensity > 0 && chunks > 0 && chance(&mut fl, 25) {
            let chunk = below(&mut fl, chunks) as u32;
            let len = sizes[chunk as usize];
            let tamper = match below(&mut fl, 6) {
                0 => TamperKind::ChangeValue {
                    item: below(&mut fl, len as u64) as usize,
                },
                1 => TamperKind::DropKey {
                    item: below(&mut fl, len as u64) as usize,
                },
                2 => TamperKind::WrongSibling { sibling: 0 },
                3 => TamperKind::SwapOrder {
                    item: below(&mut fl, len as u64) as usize,
                },
                4 => TamperKind::TruncateProof,
                _ => TamperKind::ExtraSibling,
            };
            // Mostly the first delivery; sometimes only a re-delivery after a restart (a bad
            // backup file or peer met later), which only a restart can reach.
            let first = match below(&mut fl, 10) {
                0..=5 => 0,
                6..=8 => 1,
                _ => 2,
            };
            faults.corruptions.push(Corruption {
                chunk,
                tamper,
                deliveries: 1,
                first,
            });
        }

        let schedule = match below(&mut sc, 3) {
            0 => PolicyKind::Pct {
                seed: sc.next_u64(),
                depth: 2 + below(&mut sc, 3) as u32,
                horizon: 16 * chunks.max(1) + 16,
            },
            _ => PolicyKind::RandomWalk {
                seed: sc.next_u64(),
            },
        };
        let driver = DriverPolicy {
            on_error: if chance(&mut sc, 25) {
                OnError::RetrySameObject
            } else {
                OnError::Restart
            },
            retries: 1 + below(&mut sc, 2) as u32,
            max_lives: 4,
        };
        Case {
            format: CASE_FORMAT.to_string(),
            seed,
            strategy,
            commit: None,
            store: cfg.store,
            snapshot,
            chunking: ChunkingCase { sizes },
            faults,
            schedule,
            driver,
        }
    }

    /// A small hand-written case: a random-layout snapshot of `keys` keys cut into `sizes` (the
    /// list repeats if it runs out), no faults, the natural schedule (first runnable task), and
    /// the backup controller's driver (drop and restart on any error, up to four processes).
    /// Tests and the scenario catalog start from it and set what they need.
    pub fn small(strategy: CommitStrategy, keys: usize, sizes: &[usize]) -> Case {
        Case {
            format: CASE_FORMAT.to_string(),
            seed: 0,
            strategy,
            commit: None,
            store: StoreKind::Mem,
            snapshot: SnapshotCase {
                seed: 0x5eed,
                keys,
                value_len: (1, 32),
                key_len: (4, 16),
                layout: LayoutCase::Random,
                version: 3,
            },
            chunking: ChunkingCase {
                sizes: sizes.to_vec(),
            },
            faults: FaultPlan::default(),
            schedule: PolicyKind::FirstRunnable,
            driver: DriverPolicy {
                on_error: OnError::Restart,
                retries: 0,
                max_lives: 4,
            },
        }
    }

    /// The snapshot and its chunks (deterministic from the case).
    pub fn materialize(&self) -> (Snapshot, Vec<Chunk>) {
        let layout = match self.snapshot.layout {
            LayoutCase::Random => KeyLayout::Random,
            LayoutCase::SharedPrefix { nibbles } => KeyLayout::SharedPrefix { nibbles },
            LayoutCase::Clustered { clusters, nibbles } => {
                KeyLayout::Clustered { clusters, nibbles }
            }
            LayoutCase::Adjacent => KeyLayout::Adjacent,
        };
        let spec = SnapshotSpec {
            seed: self.snapshot.seed,
            keys: self.snapshot.keys,
            value_len: self.snapshot.value_len,
            key_len: self.snapshot.key_len,
            layout,
        };
        let snap = Snapshot::generate(&spec, Version(self.snapshot.version), HashScheme::Aptos);
        let chunks = snap.chunks(&Chunking::Sizes(self.chunking.sizes.clone()));
        (snap, chunks)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a case always serializes")
    }

    /// Parses a case file, naming the field when something is wrong.
    pub fn from_json(text: &str) -> Result<Case, CaseError> {
        let case: Case = serde_json::from_str(text).map_err(|e| CaseError::Parse {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if case.format != CASE_FORMAT {
            return Err(CaseError::Format(case.format));
        }
        // The gate for input: a file's numbers decide how much a run allocates and how long it
        // takes, so nothing outside the documented limits gets as far as `materialize`.
        case.validate()?;
        Ok(case)
    }

    /// Checks every field against the limits of [`crate::case_limits`] (sizes, counts, indices,
    /// budgets), so that running the case is bounded in memory and time. Every case the
    /// generator draws (with `max_keys` up to [`crate::case_limits::MAX_KEYS`]) passes;
    /// [`Case::from_json`] rejects any case that does not.
    pub fn validate(&self) -> Result<(), CaseError> {
        crate::case_limits::check(self)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaseError {
    #[error("case file is not valid (line {line}, column {column}): {message}")]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("unsupported case format `{0}` (this build reads `{CASE_FORMAT}`)")]
    Format(String),
    /// A field is outside its documented limit (`docs/case-limits.md`). `field` is the path in
    /// the case file, e.g. `snapshot.value_len` or `faults.faults[0].effect.points`.
    #[error(
        "case field `{field}` is {value}, outside its limit: {limit} (see docs/case-limits.md)"
    )]
    Limit {
        field: String,
        value: String,
        limit: String,
    },
}
