//! Partial nodes: the not-yet-final internal nodes along the path of the last inserted key.

use crate::hash::{HashScheme, HashValue};
use crate::nibble::NibblePath;
use crate::node::{Child, ChildKind, InternalNode, LeafNode, NodeError, SlotHash};
use crate::types::Version;

/// A leaf with its hash, computed once when the key arrives: verification and freezing read
/// it many times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashedLeaf {
    pub leaf: LeafNode,
    pub hash: HashValue,
}

impl HashedLeaf {
    pub fn new(leaf: LeafNode, scheme: HashScheme) -> HashedLeaf {
        HashedLeaf {
            leaf,
            hash: leaf.hash(scheme),
        }
    }
}

/// One child slot of a partial node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Empty,
    /// A leaf; the rightmost one of the deepest node is the last key added and is not frozen yet.
    Leaf(HashedLeaf),
    /// A finished internal child: its node is frozen (or durable after a restart).
    Internal {
        hash: HashValue,
        leaf_count: u64,
    },
    /// The internal child still being built: always the next entry of the partial stack.
    PartialInternal,
}

/// An internal node under construction at `path`; `stack[i].path.len() == i` always holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialNode {
    pub path: NibblePath,
    pub slots: [Slot; 16],
}

impl PartialNode {
    pub fn empty(path: NibblePath) -> PartialNode {
        PartialNode {
            path,
            slots: [Slot::Empty; 16],
        }
    }

    /// Index and content of the rightmost non-empty slot.
    pub fn rightmost(&self) -> Option<(u8, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| !matches!(s, Slot::Empty))
            .map(|(i, s)| (i as u8, s))
    }

    pub fn child_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !matches!(s, Slot::Empty))
            .count()
    }

    /// Slot hashes for the in-node Merkle rule. A partial child has no hash yet; callers only
    /// read ranges strictly left of it, so it is shown as empty.
    pub fn slot_hashes(&self) -> [SlotHash; 16] {
        std::array::from_fn(|i| match &self.slots[i] {
            Slot::Empty | Slot::PartialInternal => SlotHash::Empty,
            Slot::Leaf(l) => SlotHash::Leaf(l.hash),
            Slot::Internal { hash, .. } => SlotHash::Internal(*hash),
        })
    }

    /// Turns a complete partial node into a stored internal node.
    ///
    /// # Panics
    /// If a slot is still partial: the deeper node must have been frozen first (internal
    /// invariant of the freezing order, not reachable from input).
    pub fn finish(&self, version: Version) -> Result<InternalNode, NodeError> {
        let children = std::array::from_fn(|i| match &self.slots[i] {
            Slot::Empty => None,
            Slot::Leaf(l) => Some(Child {
                hash: l.hash,
                version,
                kind: ChildKind::Leaf,
            }),
            Slot::Internal { hash, leaf_count } => Some(Child {
                hash: *hash,
                version,
                kind: ChildKind::Internal {
                    leaf_count: *leaf_count,
                },
            }),
            Slot::PartialInternal => {
                panic!(
                    "freezing {:?} while child {i:x} is still partial",
                    self.path
                )
            }
        });
        InternalNode::new(children)
    }
}
