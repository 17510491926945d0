//! Small domain types shared by every layer: versions, chunk indices, snapshot items, usage and
//! the KV progress record.

use std::fmt;

use crate::hash::HashValue;

/// The hash of a state key: its position in the tree. Restore inserts keys in increasing order
/// of this value, so it doubles as the progress marker of both sides.
pub type KeyHash = HashValue;

/// The snapshot version every restored node and KV row is written at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u64);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Position of a chunk in the backup's chunk list (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ChunkIndex(pub usize);

impl fmt::Display for ChunkIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One `(key, value)` of a snapshot. The key hash is carried explicitly (as Aptos carries
/// `(key_hash, value_hash)` into the tree) so generators can build adversarial hash layouts
/// (long shared prefixes) that no preimage search could produce cheaply.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StateItem {
    pub key_hash: KeyHash,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl StateItem {
    /// The value hash the tree authenticates: plain SHA3-256 of the value bytes (the `jmt` crate
    /// does the same, so roots stay comparable under the JMT scheme).
    pub fn value_hash(&self) -> HashValue {
        HashValue::sha3(&self.value)
    }

    /// What this item adds to storage usage: key bytes + value bytes, as Aptos's `add_item`.
    pub fn usage_bytes(&self) -> u64 {
        (self.key.len() + self.value.len()) as u64
    }
}

impl fmt::Debug for StateItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Item({:?}, key {}B, value {}B)",
            self.key_hash,
            self.key.len(),
            self.value.len()
        )
    }
}

/// Storage usage: item count and byte count, carried forward in the progress record so a
/// resumed restore never double-counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Usage {
    pub items: u64,
    pub bytes: u64,
}

impl Usage {
    pub fn add_item(&mut self, item: &StateItem) {
        self.items += 1;
        self.bytes += item.usage_bytes();
    }

    /// Usage recomputed from scratch over a set of items.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a StateItem>) -> Usage {
        let mut u = Usage::default();
        for item in items {
            u.add_item(item);
        }
        u
    }
}

/// The KV side's durable progress: the last key hash written and the usage up to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Progress {
    pub key_hash: KeyHash,
    pub usage: Usage,
}
