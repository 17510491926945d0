//! An in-memory store for both sides: the fast, deterministic backend of the simulation.
//!
//! Ordered `BTreeMap`s (never hash maps) keep iteration order a pure function of the contents,
//! and one mutex around everything makes each trait call atomic, which is exactly the atomicity
//! the store contract promises and no more.

use std::collections::{BTreeMap, BTreeSet};

use parking_lot::Mutex;

use super::{KvStore, StoreError, StoreResult, TreeStore};
use crate::hash::HashValue;
use crate::nibble::{NibblePath, ROOT_NIBBLE_HEIGHT};
use crate::node::{LeafNode, Node, NodeKey, NodeShard};
use crate::types::{KeyHash, Progress, StateItem, Usage, Version};

/// Everything a [`MemStore`] holds. Cloning it is a deep, independent copy, which is how the
/// harness freezes "what was durable" at a simulated crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemContents {
    nodes: BTreeMap<NodeKey, Node>,
    kv: BTreeMap<(Version, KeyHash), StateItem>,
    progress: BTreeMap<Version, Progress>,
    usage: BTreeMap<Version, Usage>,
}

impl MemContents {
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn kv_count(&self) -> usize {
        self.kv.len()
    }
}

/// In-memory [`TreeStore`] + [`KvStore`].
#[derive(Debug, Default)]
pub struct MemStore {
    contents: Mutex<MemContents>,
    /// When set, writing an existing node key fails. Aptos's mock tree store forbids overwrites;
    /// tests turn this on to prove restore never rewrites a node it already persisted.
    overwrite_check: bool,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A store that rejects any write to a node key that already exists.
    pub fn with_overwrite_check() -> MemStore {
        MemStore {
            overwrite_check: true,
            ..MemStore::default()
        }
    }

    /// A store starting from `contents` (e.g. a copy taken at a simulated crash).
    pub fn from_contents(contents: MemContents) -> MemStore {
        MemStore {
            contents: Mutex::new(contents),
            overwrite_check: false,
        }
    }

    /// Same as [`from_contents`](Self::from_contents) but with the overwrite check on.
    pub fn from_contents_with_overwrite_check(contents: MemContents) -> MemStore {
        MemStore {
            contents: Mutex::new(contents),
            overwrite_check: true,
        }
    }

    /// A deep copy of the current contents, taken under the lock so it is a consistent cut.
    pub fn clone_contents(&self) -> MemContents {
        self.contents.lock().clone()
    }

    /// Replaces all contents in place (the store may be shared behind an `Arc`).
    pub fn replace_contents(&self, contents: MemContents) {
        *self.contents.lock() = contents;
    }

    /// An independent store with a copy of the contents and the same overwrite setting.
    pub fn deep_clone(&self) -> MemStore {
        MemStore {
            contents: Mutex::new(self.clone_contents()),
            overwrite_check: self.overwrite_check,
        }
    }

    pub fn node_count(&self) -> usize {
        self.contents.lock().nodes.len()
    }

    pub fn kv_count(&self) -> usize {
        self.contents.lock().kv.len()
    }

    pub fn overwrite_check(&self) -> bool {
        self.overwrite_check
    }
}

/// Rejects a shard write whose nodes do not all belong to `shard`. Shared with the RocksDB store:
/// a mislabelled write would make the "durable prefix in shard order" contract silently false.
pub(super) fn check_shard(shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()> {
    match nodes.iter().find(|(key, _)| key.shard() != shard) {
        Some((key, _)) => Err(StoreError::Backend(format!(
            "node {key:?} written with shard {shard:?}, belongs to {:?}",
            key.shard()
        ))),
        None => Ok(()),
    }
}

/// With the overwrite check on, rejects the whole write (nothing applied) if any key already
/// exists in the store or appears twice in the write itself.
fn check_no_overwrite(
    existing: &BTreeMap<NodeKey, Node>,
    nodes: &[(NodeKey, Node)],
) -> StoreResult<()> {
    let mut seen = BTreeSet::new();
    for (key, _) in nodes {
        if existing.contains_key(key) || !seen.insert(*key) {
            return Err(StoreError::Backend(format!("node {key:?} overwritten")));
        }
    }
    Ok(())
}

/// The last node at `(version, depth)`: the greatest key between the all-zero and the all-ones
/// path of that depth, i.e. just before the first key of depth + 1.
fn last_at_depth(
    nodes: &BTreeMap<NodeKey, Node>,
    version: Version,
    depth: usize,
) -> Option<(&NodeKey, &Node)> {
    let lo = NodeKey::new(version, NibblePath::prefix_of(&HashValue::ZERO, depth));
    let hi = NodeKey::new(version, NibblePath::prefix_of(&HashValue::MAX, depth));
    nodes.range(lo..=hi).next_back()
}

impl TreeStore for MemStore {
    fn write_node_shard(&self, shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()> {
        let mut contents = self.contents.lock();
        check_shard(shard, nodes)?;
        if self.overwrite_check {
            check_no_overwrite(&contents.nodes, nodes)?;
        }
        for (key, node) in nodes {
            contents.nodes.insert(*key, node.clone());
        }
        Ok(())
    }

    fn get_node(&self, key: &NodeKey) -> StoreResult<Option<Node>> {
        Ok(self.contents.lock().nodes.get(key).cloned())
    }

    /// Per depth, only the last node can be the rightmost leaf: a leaf there beats every leaf to
    /// its left at that depth, and an internal node there has all its leaves further right. So
    /// 65 range lookups replace a scan of the version.
    fn rightmost_leaf(&self, version: Version) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        let contents = self.contents.lock();
        let best = (0..=ROOT_NIBBLE_HEIGHT)
            .filter_map(|depth| last_at_depth(&contents.nodes, version, depth))
            .filter_map(|(key, node)| node.as_leaf().map(|leaf| (*key, *leaf)))
            .max_by_key(|(_, leaf)| leaf.account_key);
        Ok(best)
    }

    fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>> {
        let contents = self.contents.lock();
        let lo = NodeKey::root(version);
        Ok(contents
            .nodes
            .range(lo..)
            .take_while(|(k, _)| k.version == version)
            .map(|(k, n)| (*k, n.clone()))
            .collect())
    }

    fn clear_nodes(&self, version: Version) -> StoreResult<()> {
        self.contents
            .lock()
            .nodes
            .retain(|k, _| k.version != version);
        Ok(())
    }
}

impl KvStore for MemStore {
    fn write_kv_batch(
        &self,
        version: Version,
        rows: &[StateItem],
        progress: Option<&Progress>,
    ) -> StoreResult<()> {
        let mut contents = self.contents.lock();
        for row in rows {
            contents.kv.insert((version, row.key_hash), row.clone());
        }
        if let Some(p) = progress {
            contents.progress.insert(version, *p);
        }
        Ok(())
    }

    fn get_progress(&self, version: Version) -> StoreResult<Option<Progress>> {
        Ok(self.contents.lock().progress.get(&version).copied())
    }

    fn get_value(&self, version: Version, key_hash: &KeyHash) -> StoreResult<Option<StateItem>> {
        Ok(self.contents.lock().kv.get(&(version, *key_hash)).cloned())
    }

    fn kv_rows(&self, version: Version) -> StoreResult<Vec<StateItem>> {
        let contents = self.contents.lock();
        let range = (version, HashValue::ZERO)..=(version, HashValue::MAX);
        Ok(contents.kv.range(range).map(|(_, v)| v.clone()).collect())
    }

    fn write_usage(&self, version: Version, usage: &Usage) -> StoreResult<()> {
        self.contents.lock().usage.insert(version, *usage);
        Ok(())
    }

    fn get_usage(&self, version: Version) -> StoreResult<Option<Usage>> {
        Ok(self.contents.lock().usage.get(&version).copied())
    }

    fn clear_kv(&self, version: Version) -> StoreResult<()> {
        let mut contents = self.contents.lock();
        contents.kv.retain(|(v, _), _| *v != version);
        contents.progress.remove(&version);
        contents.usage.remove(&version);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_at(version: u64, key: HashValue, depth: usize) -> (NodeKey, Node) {
        (
            NodeKey::new(Version(version), NibblePath::prefix_of(&key, depth)),
            Node::Leaf(LeafNode {
                account_key: key,
                value_hash: HashValue::ZERO,
                version: Version(version),
            }),
        )
    }

    #[test]
    fn shard_write_is_all_or_nothing_under_overwrite_check() {
        let store = MemStore::with_overwrite_check();
        let a = leaf_at(1, HashValue([0x11; 32]), 2);
        let b = leaf_at(1, HashValue([0x12; 32]), 2);
        store
            .write_node_shard(NodeShard::Nibble(1), std::slice::from_ref(&a))
            .unwrap();
        let err = store
            .write_node_shard(NodeShard::Nibble(1), &[b.clone(), a.clone()])
            .unwrap_err();
        assert!(matches!(&err, StoreError::Backend(m) if m.contains("overwritten")));
        assert_eq!(store.node_count(), 1, "b must not have been written");
        // Duplicates inside one write count as an overwrite too.
        assert!(
            store
                .write_node_shard(NodeShard::Nibble(1), &[b.clone(), b])
                .is_err()
        );
        assert_eq!(store.node_count(), 1);
    }

    #[test]
    fn wrong_shard_is_rejected() {
        let store = MemStore::new();
        let a = leaf_at(1, HashValue([0x11; 32]), 2);
        assert!(
            store
                .write_node_shard(NodeShard::Nibble(2), std::slice::from_ref(&a))
                .is_err()
        );
        assert!(store.write_node_shard(NodeShard::Top, &[a]).is_err());
        assert_eq!(store.node_count(), 0);
    }

    #[test]
    fn deep_clone_is_independent() {
        let store = MemStore::new();
        store
            .write_node_shard(
                NodeShard::Nibble(1),
                &[leaf_at(1, HashValue([0x11; 32]), 1)],
            )
            .unwrap();
        let copy = store.deep_clone();
        let frozen = store.clone_contents();
        store
            .write_node_shard(
                NodeShard::Nibble(2),
                &[leaf_at(1, HashValue([0x22; 32]), 1)],
            )
            .unwrap();
        assert_eq!(
            (store.node_count(), copy.node_count(), frozen.node_count()),
            (2, 1, 1)
        );
        store.replace_contents(frozen);
        assert_eq!(store.node_count(), 1);
    }
}
