//! A case: everything one run needs, as a plain value that can be written out and read back.
//!
//! Cases are drawn from a seed with swarm-style variety (VOPR / FoundationDB style): each seed
//! picks its own mix — some cases are fault-free, some have many faults; snapshot sizes and
//! chunkings vary; the schedule policy varies. A case file holds the decoded case (not only the
//! seed), so it replays even after the generator changes.

use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
use restore_core::store::{Layout, SyncPolicy};
use restore_core::strategy::{CommitMode, CommitStrategy, RestoreMode};
use restore_core::{Chunk, HashScheme, Snapshot, Version};
use serde::{Deserialize, Serialize};

use crate::fault::{Crash, CrashAt, CrashKind, Durability, FaultPlan};
use crate::others::OtherVersion;
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
    /// Other versions already in the store when the restore begins (none in most cases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<OtherVersion>,
    /// Every process opens with the overwrite constructor (`SnapshotRestore::open_overwrite`):
    /// restoring the version again over what the store holds, e.g. a different snapshot planted
    /// at the same version in `others`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overwrite: bool,
    /// The restore's phases: one Default restore, or Aptos's two-phase restores.
    #[serde(default, skip_serializing_if = "RestorePlan::is_default")]
    pub plan: RestorePlan,
    /// The store's databases and sync policy (absent: one database, the old model).
    #[serde(default, skip_serializing_if = "Durability::is_legacy")]
    pub durability: Durability,
}

/// The restore modes a case runs, in order; the next phase starts when one finishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestorePlan {
    /// Both sides from each chunk (the usual restore).
    #[default]
    Default,
    /// KV alone to the end, then the tree alone: the coordinator's two-phase restore.
    KvThenTree,
    /// The tree alone to the end, then a Default restore over it.
    TreeThenDefault,
}

impl RestorePlan {
    pub fn is_default(&self) -> bool {
        *self == RestorePlan::Default
    }

    pub fn modes(self) -> Vec<RestoreMode> {
        match self {
            RestorePlan::Default => vec![RestoreMode::Default],
            RestorePlan::KvThenTree => vec![RestoreMode::KvOnly, RestoreMode::TreeOnly],
            RestorePlan::TreeThenDefault => vec![RestoreMode::TreeOnly, RestoreMode::Default],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RestorePlan::Default => "default",
            RestorePlan::KvThenTree => "kv-then-tree",
            RestorePlan::TreeThenDefault => "tree-then-default",
        }
    }
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
    /// Every case gets this layout instead of a drawn one (the draw still happens, so the rest
    /// of the case is the same).
    pub layout: Option<Layout>,
    /// Likewise for the sync policy.
    pub sync: Option<SyncPolicy>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_keys: 200,
            store: StoreKind::Mem,
            layout: None,
            sync: None,
        }
    }
}

impl Case {
    /// Draws a case from `seed` for `strategy` (swarm style, see `generate`). The same seed
    /// gives the same workload, faults and schedule for every strategy, so strategies are
    /// compared on identical inputs.
    pub fn generate(seed: u64, strategy: CommitStrategy, cfg: &GenConfig) -> Case {
        crate::generate::case(seed, strategy, cfg)
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
            others: Vec::new(),
            overwrite: false,
            plan: RestorePlan::Default,
            durability: Durability::default(),
        }
    }

    /// The case with one more planned crash: process `life` dies `step` points after `at`.
    /// Tests and the scenario catalog place crashes with it.
    pub fn with_crash(mut self, life: u32, at: CrashAt, step: u64, kind: CrashKind) -> Case {
        self.faults.crashes.push(Crash {
            life,
            step,
            kind,
            at,
        });
        self
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
