//! Fault plans: which operations fail and how, where the process crashes, which chunks the
//! source corrupts. Plain data, drawn from a seed or written by hand, stored in case files.

use serde::{Deserialize, Serialize};

/// Which operation a fault hits. Counters are global over the whole case (all processes) and
/// count from 0; a fault fires at most once, except `DiskFull`, which persists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Target {
    /// The nth node-batch write.
    NodeBatch { nth: u32 },
    /// The first node-batch write made for chunk `chunk` (the audit's "batch N").
    ChunkBatch { chunk: u32 },
    /// The nth KV write (rows and/or progress).
    KvWrite { nth: u32 },
    /// The nth read of the KV progress record.
    ProgressRead { nth: u32 },
    /// The nth node read (recovery probes and the root check on open).
    NodeRead { nth: u32 },
    /// The nth rightmost-leaf lookup (every open of a tree side does one).
    RightmostLeaf { nth: u32 },
}

/// What happens to the targeted operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    /// Nothing is written (or read); the operation returns an I/O error.
    IoError,
    /// This and every later write fails: the disk is full from here on.
    DiskFull,
    /// Node batches only: the first `shards` shard groups land, then an error.
    Torn { shards: u32 },
    /// Everything is written, but the operation reports an error.
    FailedButPersisted,
    /// Reported successful, but lost at the next crash (with every write after it).
    AckThenLost,
    /// The operation succeeds after `points` extra scheduling points: merely slow, so other
    /// tasks get many chances to run before it lands.
    Slow { points: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fault {
    pub target: Target,
    pub effect: Effect,
}

/// How a process dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CrashKind {
    /// Every completed write survives (the OS has it).
    Process,
    /// The last `lost_writes` writes (in order) were not yet synced and are lost.
    PowerLoss { lost_writes: u32 },
}

/// Where a crash's `step` counts from. A step from the start reaches open and recovery (small
/// steps) and the chunks; `finish` and the moments after it sit at a different step in every
/// case, so they get anchors of their own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashAt {
    /// `step` scheduling points into the process.
    #[default]
    Start,
    /// `step` points after the driver calls `finish` (0: just before it runs).
    Finish,
    /// `step` points after `finish` returned Ok (0: at once). What survives is judged again
    /// (final-state): a restore that reported success must still be there.
    AfterFinish,
}

/// A crash at scheduling point `step` of process `life` (0 = the first process), counted from
/// `at`. At most one crash per process; several processes may each crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crash {
    pub life: u32,
    pub step: u64,
    pub kind: CrashKind,
    #[serde(default)]
    pub at: CrashAt,
}

/// A corruption introduced by the source (a bad backup file or peer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corruption {
    pub chunk: u32,
    pub tamper: TamperKind,
    /// How many deliveries of the chunk are corrupted, counting from delivery `first`; the
    /// others are good.
    pub deliveries: u32,
    /// The first corrupted delivery (0 = the first one). A later one models a bad backup file or
    /// a byzantine peer met only after a restart — when a side that skips what it already has
    /// (the tree) and a side that does not verify (KV) can disagree about what to check.
    #[serde(default)]
    pub first: u32,
}

impl Corruption {
    /// Whether delivery number `n` (0-based) of the chunk is corrupted.
    pub fn corrupts(&self, n: u32) -> bool {
        n >= self.first && n - self.first < self.deliveries
    }
}

/// Serializable mirror of `restore_core::snapshot::Tamper`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "tamper", rename_all = "kebab-case")]
pub enum TamperKind {
    ChangeValue { item: usize },
    DropKey { item: usize },
    WrongSibling { sibling: usize },
    SwapOrder { item: usize },
    TruncateProof,
    ExtraSibling,
}

impl TamperKind {
    pub fn to_core(self) -> restore_core::snapshot::Tamper {
        use restore_core::snapshot::Tamper;
        match self {
            TamperKind::ChangeValue { item } => Tamper::ChangeValue { item },
            TamperKind::DropKey { item } => Tamper::DropKey { item },
            TamperKind::WrongSibling { sibling } => Tamper::WrongSibling { sibling },
            TamperKind::SwapOrder { item } => Tamper::SwapOrder { item },
            TamperKind::TruncateProof => Tamper::TruncateProof,
            TamperKind::ExtraSibling => Tamper::ExtraSibling,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    #[serde(default)]
    pub faults: Vec<Fault>,
    #[serde(default)]
    pub crashes: Vec<Crash>,
    #[serde(default)]
    pub corruptions: Vec<Corruption>,
}

impl FaultPlan {
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty() && self.crashes.is_empty() && self.corruptions.is_empty()
    }

    /// Number of separate things that go wrong (shrinking minimises this).
    pub fn size(&self) -> usize {
        self.faults.len() + self.crashes.len() + self.corruptions.len()
    }
}
