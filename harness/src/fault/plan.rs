//! Fault plans: which operations fail and how, where the process crashes, which chunks the
//! source corrupts. Plain data, drawn from a seed or written by hand, stored in case files.

use restore_core::store::{Layout, SyncPolicy};
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
    /// Each database loses up to `lost_writes` of its most recent unsynced writes (one database:
    /// the last `lost_writes` writes in order). `spread` says how the loss falls across the
    /// databases of a `split` or `aptos` store and what becomes of writes in flight.
    PowerLoss {
        lost_writes: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spread: Option<Spread>,
    },
}

impl CrashKind {
    /// A power loss of the last `lost_writes` unsynced writes of every database, in-flight
    /// writes lost (the model before databases were told apart).
    pub fn power_loss(lost_writes: u32) -> CrashKind {
        CrashKind::PowerLoss {
            lost_writes,
            spread: None,
        }
    }
}

/// How a power loss falls across the databases of a store, and whether writes that were issued
/// but had not returned (in flight) land. Without a spread every database loses `lost_writes`
/// and no write in flight lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "spread", rename_all = "kebab-case")]
pub enum Spread {
    /// Each database, in order, loses a number of writes drawn from `seed` in 0..=lost_writes;
    /// then each write in flight lands on a coin from the same stream, if its database lost
    /// nothing (a log never keeps a later write and drops an earlier one).
    Seeded { seed: u64 },
    /// Only the databases of one side lose writes (`lost_writes` each); writes in flight land
    /// in every database of the other side.
    OneSide { loses: Side },
    /// Exactly one of the states a power loss allows (the model checker's crash states):
    /// database `i` loses `(lose >> 3i) & 7` of its newest unsynced writes (at most what it has),
    /// and the write in flight numbered `j` in issue order lands iff bit `j` of `land` is set and
    /// its database lost nothing.
    Exact { lose: u128, land: u64 },
}

impl Spread {
    /// How many writes database `i` loses under an exact spread.
    pub fn exact_loss(lose: u128, i: usize) -> usize {
        ((lose >> (3 * i)) & 7) as usize
    }
}

/// A side of the store, for [`Spread::OneSide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Kv,
    Tree,
}

/// Where the store's data lives and when a returned write is durable: the store's layout and
/// sync policy, and, for a policy that leaves writes unsynced, how many of each database's most
/// recent writes are unsynced at any moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durability {
    #[serde(with = "layout_name")]
    pub layout: Layout,
    #[serde(with = "sync_name")]
    pub sync: SyncPolicy,
    /// Under `relaxed` and `barrier`: the unsynced writes per database, in every process.
    /// `None` (with layout `one` and `relaxed`): the model before databases were told apart,
    /// where only a process that ends in a power loss has unsynced writes, as many as it loses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
}

impl Durability {
    /// One database, unsynced writes only before a power loss, nothing in flight lands: every
    /// case written before layouts existed means this, and still runs exactly as it did.
    pub fn is_legacy(&self) -> bool {
        *self == Durability::default()
    }

    pub fn new(layout: Layout, sync: SyncPolicy, window: u32) -> Durability {
        Durability {
            layout,
            sync,
            window: Some(window),
        }
    }

    /// Writes per database that stay unsynced in a process that ends with `crash`.
    pub fn unsynced_window(&self, crash: Option<CrashKind>) -> u32 {
        match (self.sync, self.window) {
            (SyncPolicy::Always, _) => 0,
            (_, Some(w)) => w,
            (_, None) => match crash {
                Some(CrashKind::PowerLoss { lost_writes, .. }) => lost_writes,
                _ => 0,
            },
        }
    }

    /// Short form for tables and timelines, e.g. `aptos/barrier/w3`.
    pub fn label(&self) -> String {
        match self.window {
            Some(w) => format!("{}/{}/w{w}", self.layout, self.sync),
            None => format!("{}/{}", self.layout, self.sync),
        }
    }
}

macro_rules! by_name {
    ($module:ident, $ty:ty) => {
        mod $module {
            use super::*;
            pub fn serialize<S: serde::Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(v.name())
            }
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let name = String::deserialize(d)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
by_name!(layout_name, Layout);
by_name!(sync_name, SyncPolicy);

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
