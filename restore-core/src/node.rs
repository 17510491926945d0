//! JMT nodes: keys (version + nibble path), leaves, 16-way internal nodes and the empty tree.
//!
//! An internal node hashes as a 4-level binary Merkle tree over its 16 slots, where a lone *leaf*
//! in a range floats up (it is the range's hash) and a lone *internal* child does not. That rule
//! is what makes the physical 16-ary tree hash like the logical 256-level sparse Merkle tree.

use std::fmt;

use thiserror::Error;

use crate::hash::{HashScheme, HashValue};
use crate::nibble::NibblePath;
use crate::types::{KeyHash, Version};

/// Where a node lives: the snapshot version and its path from the root.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeKey {
    pub version: Version,
    pub path: NibblePath,
}

impl NodeKey {
    pub fn new(version: Version, path: NibblePath) -> NodeKey {
        NodeKey { version, path }
    }

    pub fn root(version: Version) -> NodeKey {
        NodeKey::new(version, NibblePath::EMPTY)
    }

    pub fn child(&self, nibble: u8) -> NodeKey {
        NodeKey::new(self.version, self.path.child(nibble))
    }

    /// The storage shard a node is written to: its first nibble; the root goes last, on its own.
    pub fn shard(&self) -> NodeShard {
        match self.path.first_nibble() {
            Some(n) => NodeShard::Nibble(n),
            None => NodeShard::Top,
        }
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.version, self.path)
    }
}

/// One of the 17 write groups of a node batch: 16 shards by first nibble, then the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeShard {
    Nibble(u8),
    Top,
}

impl NodeShard {
    /// Write order: shards 0..15, then the top level (root). A failure part-way therefore leaves
    /// a key-order prefix durable, which recovery relies on.
    pub fn ordered() -> impl Iterator<Item = NodeShard> {
        (0u8..16)
            .map(NodeShard::Nibble)
            .chain(std::iter::once(NodeShard::Top))
    }
}

/// A leaf: the key hash, the value hash and the version of its KV row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeafNode {
    pub account_key: KeyHash,
    pub value_hash: HashValue,
    pub version: Version,
}

impl LeafNode {
    pub fn hash(&self, scheme: HashScheme) -> HashValue {
        scheme.leaf(&self.account_key, &self.value_hash)
    }
}

/// What kind of node a child slot points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildKind {
    Leaf,
    Internal { leaf_count: u64 },
}

/// A present child slot of an internal node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Child {
    pub hash: HashValue,
    pub version: Version,
    pub kind: ChildKind,
}

impl Child {
    pub fn leaf_count(&self) -> u64 {
        match self.kind {
            ChildKind::Leaf => 1,
            ChildKind::Internal { leaf_count } => leaf_count,
        }
    }

    pub fn is_leaf(&self) -> bool {
        matches!(self.kind, ChildKind::Leaf)
    }
}

/// Why a set of children cannot form an internal node.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NodeError {
    #[error("internal node has no children")]
    NoChildren,
    #[error("internal node has a single leaf child (it should be that leaf)")]
    SingleLeafChild,
    #[error("leaf count overflows u64")]
    LeafCountOverflow,
}

/// A 16-way internal node.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InternalNode {
    /// Boxed so a `Node` (and a batch entry) stays leaf-sized.
    children: Box<[Option<Child>; 16]>,
    leaf_count: u64,
}

impl InternalNode {
    /// Rejects shapes the tree never produces: no children, or one leaf child (that leaf would
    /// have floated up to this position instead).
    pub fn new(children: [Option<Child>; 16]) -> Result<InternalNode, NodeError> {
        let present: Vec<&Child> = children.iter().flatten().collect();
        match present.as_slice() {
            [] => return Err(NodeError::NoChildren),
            [only] if only.is_leaf() => return Err(NodeError::SingleLeafChild),
            _ => {}
        }
        let leaf_count = present
            .iter()
            .try_fold(0u64, |acc, c| acc.checked_add(c.leaf_count()))
            .ok_or(NodeError::LeafCountOverflow)?;
        Ok(InternalNode {
            children: Box::new(children),
            leaf_count,
        })
    }

    pub fn children(&self) -> &[Option<Child>; 16] {
        &self.children
    }

    pub fn child(&self, nibble: u8) -> Option<&Child> {
        self.children[nibble as usize].as_ref()
    }

    pub fn leaf_count(&self) -> u64 {
        self.leaf_count
    }

    /// Bit i set when child i exists.
    pub fn existence_bitmap(&self) -> u16 {
        self.children
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .fold(0, |acc, (i, _)| acc | (1 << i))
    }

    /// Bit i set when child i is a leaf.
    pub fn leaf_bitmap(&self) -> u16 {
        self.children
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some_and(|c| c.is_leaf()))
            .fold(0, |acc, (i, _)| acc | (1 << i))
    }

    pub fn hash(&self, scheme: HashScheme) -> HashValue {
        let slots: [SlotHash; 16] = std::array::from_fn(|i| match &self.children[i] {
            None => SlotHash::Empty,
            Some(c) if c.is_leaf() => SlotHash::Leaf(c.hash),
            Some(c) => SlotHash::Internal(c.hash),
        });
        merkle_range(scheme, &slots, 0, 16).0
    }
}

impl fmt::Debug for InternalNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Internal{{")?;
        for (i, c) in self.children.iter().enumerate() {
            if let Some(c) = c {
                let tag = if c.is_leaf() { "L" } else { "I" };
                write!(f, "{i:x}:{tag}{:?} ", c.hash)?;
            }
        }
        write!(f, "}}")
    }
}

/// A slot as the in-node Merkle computation sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotHash {
    Empty,
    Leaf(HashValue),
    Internal(HashValue),
}

/// Hash of the aligned slot range `[start, start + width)` and whether it is "leaf-like"
/// (empty or a single floating leaf), which decides whether it may float further up.
///
/// Shared by node hashing and by proof verification, which needs the same rule for the
/// left siblings inside partially built nodes.
pub fn merkle_range(
    scheme: HashScheme,
    slots: &[SlotHash; 16],
    start: usize,
    width: usize,
) -> (HashValue, bool) {
    debug_assert!(width.is_power_of_two() && start.is_multiple_of(width) && start + width <= 16);
    if width == 1 {
        return match slots[start] {
            SlotHash::Empty => (scheme.placeholder(), true),
            SlotHash::Leaf(h) => (h, true),
            SlotHash::Internal(h) => (h, false),
        };
    }
    let half = width / 2;
    let (left, left_floats) = merkle_range(scheme, slots, start, half);
    let (right, right_floats) = merkle_range(scheme, slots, start + half, half);
    let placeholder = scheme.placeholder();
    let left_empty = left_floats && left == placeholder;
    let right_empty = right_floats && right == placeholder;
    if left_empty && right_floats {
        (right, right_floats)
    } else if right_empty && left_floats {
        (left, left_floats)
    } else {
        (scheme.internal(&left, &right), false)
    }
}

/// A stored node.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Node {
    Leaf(LeafNode),
    Internal(InternalNode),
    /// The empty tree; only ever stored at the root.
    Null,
}

impl Node {
    pub fn hash(&self, scheme: HashScheme) -> HashValue {
        match self {
            Node::Leaf(l) => l.hash(scheme),
            Node::Internal(n) => n.hash(scheme),
            Node::Null => scheme.placeholder(),
        }
    }

    pub fn leaf_count(&self) -> u64 {
        match self {
            Node::Leaf(_) => 1,
            Node::Internal(n) => n.leaf_count(),
            Node::Null => 0,
        }
    }

    pub fn as_leaf(&self) -> Option<&LeafNode> {
        match self {
            Node::Leaf(l) => Some(l),
            _ => None,
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Leaf(l) => write!(f, "Leaf({:?})", l.account_key),
            Node::Internal(n) => n.fmt(f),
            Node::Null => write!(f, "Null"),
        }
    }
}

/// Nodes frozen by the restore and written together.
pub type NodeBatch = Vec<(NodeKey, Node)>;

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_child(h: HashValue) -> Option<Child> {
        Some(Child {
            hash: h,
            version: Version(0),
            kind: ChildKind::Leaf,
        })
    }

    fn internal_child(h: HashValue) -> Option<Child> {
        Some(Child {
            hash: h,
            version: Version(0),
            kind: ChildKind::Internal { leaf_count: 2 },
        })
    }

    #[test]
    fn invalid_shapes_are_rejected() {
        assert_eq!(
            InternalNode::new(Default::default()).unwrap_err(),
            NodeError::NoChildren
        );
        let mut c: [Option<Child>; 16] = Default::default();
        c[3] = leaf_child(HashValue([1; 32]));
        assert_eq!(
            InternalNode::new(c).unwrap_err(),
            NodeError::SingleLeafChild
        );
    }

    /// Shapes from Aptos's node tests, written as formulas over the hash primitives.
    #[test]
    fn internal_hash_shapes() {
        let s = HashScheme::Aptos;
        let p = s.placeholder();
        let (h1, h2) = (HashValue([1; 32]), HashValue([2; 32]));
        let hi = |a: &HashValue, b: &HashValue| s.internal(a, b);

        // Two leaves at 4 and 15: left half holds only 4 (floats to the top of its half).
        let mut c: [Option<Child>; 16] = Default::default();
        c[4] = leaf_child(h1);
        c[15] = leaf_child(h2);
        assert_eq!(InternalNode::new(c).unwrap().hash(s), hi(&h1, &h2));

        // Two leaves at 0 and 1 share every range except the last: H(H(H(H(h1,h2),@),@),@).
        let mut c: [Option<Child>; 16] = Default::default();
        c[0] = leaf_child(h1);
        c[1] = leaf_child(h2);
        let expected = hi(&hi(&hi(&hi(&h1, &h2), &p), &p), &p);
        assert_eq!(InternalNode::new(c).unwrap().hash(s), expected);

        // A lone internal child at 2 does not float: H(H(H(@, H(internal, @)), @), @).
        let mut c: [Option<Child>; 16] = Default::default();
        c[2] = internal_child(h1);
        let expected = hi(&hi(&hi(&p, &hi(&h1, &p)), &p), &p);
        assert_eq!(InternalNode::new(c).unwrap().hash(s), expected);

        // Leaves at 5 and 6 with an internal at 7: 5 floats through [4,6), so the node is
        // H(H(@, H(h1, H(h2, i))), @).
        let mut c: [Option<Child>; 16] = Default::default();
        c[5] = leaf_child(h1);
        c[6] = leaf_child(h2);
        let h3 = HashValue([3; 32]);
        c[7] = internal_child(h3);
        let expected = hi(&hi(&p, &hi(&h1, &hi(&h2, &h3))), &p);
        assert_eq!(InternalNode::new(c).unwrap().hash(s), expected);
    }
}
