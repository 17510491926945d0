//! Insertion of one key into the partial stack, and freezing of nodes whose shape is final.
//!
//! A node's shape is final once a key to its right has arrived: keys come in increasing order,
//! so nothing can be added under it any more. The last leaf added is therefore never frozen
//! until the next key (or `finish`) arrives.

use super::TreeRestore;
use super::partial::{HashedLeaf, PartialNode, Slot};
use crate::error::{RestoreError, RestoreResult};
use crate::nibble::NibblePath;
use crate::node::{LeafNode, Node, NodeKey};

impl TreeRestore {
    /// Adds `leaf`, which must be greater than every key added before (checked by the caller).
    pub(super) fn add_one(&mut self, leaf: LeafNode) -> RestoreResult<()> {
        let key = leaf.account_key;
        let leaf = HashedLeaf::new(leaf, self.scheme);
        let mut depth = 0;
        loop {
            let deepest = self.partial.len() - 1;
            assert!(depth <= deepest, "walked below the partial stack");
            let nibble = key.nibble(depth);
            match self.partial[depth].slots[nibble as usize] {
                Slot::Empty => {
                    if let Some((right, _)) = self.partial[depth].rightmost()
                        && right > nibble
                    {
                        return Err(RestoreError::Inconsistent(format!(
                            "key {key:?} lands left of existing children at depth {depth}"
                        )));
                    }
                    self.freeze(depth + 1)?;
                    self.partial[depth].slots[nibble as usize] = Slot::Leaf(leaf);
                    return Ok(());
                }
                Slot::PartialInternal => {
                    depth += 1;
                }
                Slot::Internal { .. } => {
                    // Only reachable when the chunk disagrees with what was already frozen
                    // (e.g. tampered input after a restart): the subtree is closed.
                    return Err(RestoreError::Inconsistent(format!(
                        "key {key:?} falls into a finished subtree at depth {depth}"
                    )));
                }
                Slot::Leaf(existing) => {
                    if depth != deepest {
                        return Err(RestoreError::Inconsistent(format!(
                            "key {key:?} collides with a finished leaf at depth {depth}"
                        )));
                    }
                    return self.insert_at_leaf(depth, existing, leaf);
                }
            }
        }
    }

    /// Splits the slot holding `existing` into a chain of nodes deep enough to separate it from
    /// `new`, freezes `existing` at its final position, and places `new` beside it.
    fn insert_at_leaf(
        &mut self,
        depth: usize,
        existing: HashedLeaf,
        new: HashedLeaf,
    ) -> RestoreResult<()> {
        let key = new.leaf.account_key;
        let shared = existing.leaf.account_key.common_nibble_prefix(&key);
        if shared <= depth || shared >= 64 {
            return Err(RestoreError::Inconsistent(format!(
                "leaf {:?} and key {key:?} do not share nibble {depth}",
                existing.leaf.account_key
            )));
        }
        self.partial[depth].slots[key.nibble(depth) as usize] = Slot::PartialInternal;
        for d in depth + 1..shared {
            let mut chain = PartialNode::empty(NibblePath::prefix_of(&key, d));
            chain.slots[key.nibble(d) as usize] = Slot::PartialInternal;
            self.partial.push(chain);
        }
        let mut split = PartialNode::empty(NibblePath::prefix_of(&key, shared));
        split.slots[existing.leaf.account_key.nibble(shared) as usize] = Slot::Leaf(existing);
        self.partial.push(split);
        // Freezes `existing` at its new, deeper position; pops nothing.
        let len = self.partial.len();
        self.freeze(len)?;
        let new_nibble = key.nibble(shared);
        assert!(new_nibble > existing.leaf.account_key.nibble(shared));
        self.partial[len - 1].slots[new_nibble as usize] = Slot::Leaf(new);
        Ok(())
    }

    /// Freezes the previous leaf and every partial node deeper than `keep` entries.
    pub(super) fn freeze(&mut self, keep: usize) -> RestoreResult<()> {
        self.freeze_previous_leaf();
        self.freeze_internal_nodes(keep)
    }

    /// Moves the last added leaf into the frozen batch. Skipped before the first key of this
    /// process: after a restart the previous leaf is the recovered, already durable one.
    fn freeze_previous_leaf(&mut self) {
        if self.keys_received == 0 {
            return;
        }
        let deepest = self.partial.last().expect("partial stack is never empty");
        let (index, slot) = deepest
            .rightmost()
            .expect("deepest partial node holds the previous leaf");
        let Slot::Leaf(leaf) = *slot else {
            panic!(
                "rightmost slot of the deepest partial node {:?} is not a leaf",
                deepest.path
            );
        };
        let key = NodeKey::new(self.version, deepest.path.child(index));
        self.frozen.push((key, Node::Leaf(leaf.leaf)));
    }

    fn freeze_internal_nodes(&mut self, keep: usize) -> RestoreResult<()> {
        while self.partial.len() > keep {
            let node = self.partial.pop().expect("length checked");
            let internal = node
                .finish(self.version)
                .map_err(|e| RestoreError::Inconsistent(format!("{:?}: {e}", node.path)))?;
            let hash = internal.hash(self.scheme);
            let leaf_count = internal.leaf_count();
            self.frozen.push((
                NodeKey::new(self.version, node.path),
                Node::Internal(internal),
            ));
            if let Some(parent) = self.partial.last_mut() {
                let index = node.path.get(node.path.len() - 1) as usize;
                assert_eq!(
                    parent.rightmost().map(|(i, s)| (i as usize, *s)),
                    Some((index, Slot::PartialInternal)),
                    "parent of a frozen node must hold it as its rightmost, partial child"
                );
                parent.slots[index] = Slot::Internal { hash, leaf_count };
            }
        }
        Ok(())
    }
}
