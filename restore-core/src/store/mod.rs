//! Storage seams of the restore: one trait per side, so the harness can wrap either with faults
//! and the two sides can live in different databases.
//!
//! Atomicity contract (what recovery may assume):
//! * `TreeStore::write_node_shard` is atomic; a whole node batch is **not** — it is written as
//!   ordered shard writes (first nibble 0..15, then the root), so a failure leaves a key-order
//!   prefix of the batch durable, exactly as Aptos's `write_node_batch`.
//! * `KvStore::write_kv_batch` writes the rows and the progress record in **one atomic batch** when
//!   they share a database. Under the `aptos` [`Layout`] the rows go to 16 shard databases in
//!   parallel and the progress after them to the metadata database, as Aptos does: data before
//!   progress, not atomic together.
//! * Durability across databases follows the store's [`SyncPolicy`]; a strategy that needs one
//!   database's writes durable before another's calls `sync_kv` / `sync_tree` (barriers) or
//!   `write_node_batch_ordered`.

mod layout;
mod mem;
mod rocks;

pub use layout::{DbId, DbRole, Layout, SHARDS, SyncPolicy};
pub use mem::{MemContents, MemStore};
pub use rocks::{RocksStore, RocksStoreOptions};

use thiserror::Error;

use crate::node::{LeafNode, Node, NodeBatch, NodeKey, NodeShard};
use crate::types::{KeyHash, Progress, StateItem, Usage, Version};

/// A storage failure. Stores never panic on bad bytes; they report them here.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A fault injected by a test or simulation wrapper.
    #[error("injected fault: {0}")]
    Fault(String),
    /// The store does not offer this operation (test doubles that never need it).
    #[error("the store does not support {0}")]
    Unsupported(&'static str),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Tree side: finished JMT nodes.
pub trait TreeStore: Send + Sync {
    /// Atomically writes the nodes of one shard group of a batch.
    fn write_node_shard(&self, shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()>;

    /// Writes a batch as ordered shard writes (0..15, then the root). Not atomic as a whole.
    fn write_node_batch(&self, batch: &NodeBatch) -> StoreResult<()> {
        write_batch_by_shard(self, batch)
    }

    /// [`Self::write_node_batch`] for a caller that needs the batch's durable part to be a
    /// key-order prefix under any power loss: under the `barrier` sync policy, every earlier
    /// unsynced node write in another database is made durable before the first group is
    /// written, and each group before the next one is written to another database. Elsewhere the same
    /// as `write_node_batch` (under `always` every group is durable when it returns; under
    /// `relaxed` nothing is synced; a single tree database orders the groups by its own log).
    fn write_node_batch_ordered(&self, batch: &NodeBatch) -> StoreResult<()> {
        self.write_node_batch(batch)
    }

    /// Under the `barrier` sync policy, makes every node write that returned durable (an fsync of
    /// each tree database that has unsynced writes). Nothing under the other policies. A strategy
    /// calls it where it needs tree writes ordered before a later write to another database.
    fn sync_tree(&self) -> StoreResult<()> {
        Ok(())
    }

    fn get_node(&self, key: &NodeKey) -> StoreResult<Option<Node>>;

    /// The leaf with the largest key hash among nodes stored at `version` — the tree's durable
    /// progress marker.
    fn rightmost_leaf(&self, version: Version) -> StoreResult<Option<(NodeKey, LeafNode)>>;

    /// Every node stored at `version`, in key order (for checks and oracles, not the hot path).
    fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>>;

    /// Deletes every node stored at `version`, atomically: the safe overwrite starts from an
    /// empty version instead of writing a new tree among the old one's nodes.
    fn clear_nodes(&self, _version: Version) -> StoreResult<()> {
        Err(StoreError::Unsupported("clearing a version's nodes"))
    }
}

/// Splits a batch by shard and writes the groups in order, stopping at the first error.
pub fn write_batch_by_shard<S: TreeStore + ?Sized>(
    store: &S,
    batch: &NodeBatch,
) -> StoreResult<()> {
    for (shard, group) in group_by_shard(batch) {
        store.write_node_shard(shard, &group)?;
    }
    Ok(())
}

/// The non-empty shard groups of a batch in write order, each sorted by key.
pub fn group_by_shard(batch: &NodeBatch) -> Vec<(NodeShard, Vec<(NodeKey, Node)>)> {
    let mut groups: Vec<Vec<(NodeKey, Node)>> = vec![Vec::new(); 17];
    for (key, node) in batch {
        let slot = match key.shard() {
            NodeShard::Nibble(n) => n as usize,
            NodeShard::Top => 16,
        };
        groups[slot].push((*key, node.clone()));
    }
    NodeShard::ordered()
        .zip(groups)
        .filter(|(_, g)| !g.is_empty())
        .map(|(s, mut g)| {
            g.sort_by_key(|(k, _)| *k);
            (s, g)
        })
        .collect()
}

/// KV side: state values, the restore progress record and the final usage.
pub trait KvStore: Send + Sync {
    /// Writes `rows` at `version` and, if given, the progress record — atomically.
    fn write_kv_batch(
        &self,
        version: Version,
        rows: &[StateItem],
        progress: Option<&Progress>,
    ) -> StoreResult<()>;

    fn get_progress(&self, version: Version) -> StoreResult<Option<Progress>>;

    fn get_value(&self, version: Version, key_hash: &KeyHash) -> StoreResult<Option<StateItem>>;

    /// Every row at `version` in key-hash order (for checks and oracles).
    fn kv_rows(&self, version: Version) -> StoreResult<Vec<StateItem>>;

    /// Persists the final usage when the KV side finishes.
    fn write_usage(&self, version: Version, usage: &Usage) -> StoreResult<()>;

    fn get_usage(&self, version: Version) -> StoreResult<Option<Usage>>;

    /// Deletes every row, the progress record and the usage of `version`, atomically (the safe
    /// overwrite's KV half; see [`TreeStore::clear_nodes`]).
    fn clear_kv(&self, _version: Version) -> StoreResult<()> {
        Err(StoreError::Unsupported("clearing a version's KV rows"))
    }

    /// Under the `barrier` sync policy, makes every KV write that returned durable (see
    /// [`TreeStore::sync_tree`]).
    fn sync_kv(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// A store holding both sides (both of ours do; the traits stay separate so they need not).
pub trait RestoreStore: TreeStore + KvStore {}

impl<T: TreeStore + KvStore> RestoreStore for T {}

/// Rightmost leaf by full scan: the slow, obviously-correct oracle for `rightmost_leaf`.
pub fn rightmost_leaf_naive<S: TreeStore + ?Sized>(
    store: &S,
    version: Version,
) -> StoreResult<Option<(NodeKey, LeafNode)>> {
    Ok(store
        .nodes_at(version)?
        .into_iter()
        .filter_map(|(k, n)| n.as_leaf().map(|l| (k, *l)))
        .max_by_key(|(_, l)| l.account_key))
}
