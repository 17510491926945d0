//! The independent reference: the root and range proofs of a sorted leaf set, computed straight
//! from the logical definition (spec §1.4) by recursive splitting.
//!
//! This module is the yardstick the incremental restore is checked against, so it deliberately
//! shares no code with `tree/`: it uses only the hash primitives of [`HashScheme`], the domain
//! types and [`RangeProof`]. The logical definition is
//!
//! ```text
//! root(S, d) = placeholder                           if S is empty
//!            = H_leaf(k, vh)                          if S = {(k, vh)}
//!            = H_int(root(S0, d+1), root(S1, d+1))    otherwise (S0/S1: bit d of k is 0/1)
//! ```
//!
//! Representation. Only *branching* depths (both halves non-empty) get a stored node; the
//! single-bit splits above a branching depth (all keys share that bit, so one half is the
//! placeholder) are folded into the node's memoised hash. Because the slice is sorted, the
//! first bit on which a whole range disagrees is the first bit on which its first and last keys
//! disagree, and the partition point is a binary search for that bit. Building costs one hash per
//! level of the collapsed tree; a proof walks one root→leaf path and reads memoised hashes.

use crate::hash::{HashScheme, HashValue};
use crate::proof::RangeProof;
use crate::types::KeyHash;

/// A child of a branching node: either a leaf (index into the sorted keys) or another branch.
#[derive(Clone, Copy, Debug)]
enum Child {
    Leaf(u32),
    Branch(u32),
}

/// A branching depth of the collapsed tree.
#[derive(Clone, Copy, Debug)]
struct Branch {
    /// The depth at which the node's keys split into two non-empty halves.
    split: u16,
    left: Child,
    right: Child,
    /// The subtree's hash as seen from its parent, i.e. including the single-bit splits between
    /// the parent's split depth (exclusive) and `split`. Memoised so proofs never rehash.
    hash: HashValue,
}

/// Root and range proofs of a fixed, sorted leaf set, by the logical definition.
#[derive(Clone, Debug)]
pub struct ReferenceTree {
    scheme: HashScheme,
    keys: Vec<KeyHash>,
    leaf_hashes: Vec<HashValue>,
    branches: Vec<Branch>,
    /// `None` when there are fewer than two keys (the root is then a leaf or the placeholder).
    top: Option<Child>,
}

impl ReferenceTree {
    /// Builds the tree of `leaves` = `(key_hash, value_hash)` pairs.
    ///
    /// # Panics
    /// If the keys are not strictly increasing. Every caller is ours and sorts first, so a
    /// violation is a bug in the caller; failing loudly beats silently computing the root of a
    /// different set.
    pub fn new(scheme: HashScheme, leaves: &[(KeyHash, HashValue)]) -> ReferenceTree {
        assert!(
            u32::try_from(leaves.len()).is_ok(),
            "reference tree supports at most u32::MAX leaves"
        );
        if let Some(i) = leaves.windows(2).position(|w| w[0].0 >= w[1].0) {
            panic!(
                "reference tree input must be strictly increasing by key hash: \
                 item {} ({:?}) is not before item {} ({:?})",
                i,
                leaves[i].0,
                i + 1,
                leaves[i + 1].0
            );
        }
        let keys: Vec<KeyHash> = leaves.iter().map(|(k, _)| *k).collect();
        let leaf_hashes = leaves.iter().map(|(k, v)| scheme.leaf(k, v)).collect();
        let mut tree = ReferenceTree {
            scheme,
            keys,
            leaf_hashes,
            branches: Vec::with_capacity(leaves.len().saturating_sub(1)),
            top: None,
        };
        if leaves.len() >= 2 {
            tree.top = Some(tree.build(0, leaves.len(), 0));
        }
        tree
    }

    /// The hash scheme the tree was built with.
    pub fn scheme(&self) -> HashScheme {
        self.scheme
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `root(S, 0)`: the placeholder for an empty set, the leaf hash for one key.
    pub fn root(&self) -> HashValue {
        match (self.top, self.leaf_hashes.first()) {
            (Some(top), _) => self.child_hash(top),
            (None, Some(leaf)) => *leaf,
            (None, None) => self.scheme.placeholder(),
        }
    }

    /// The range proof for `key` (spec §3.6): the right siblings of its root→leaf path in the
    /// collapsed tree, i.e. those at depths where the key's bit is 0, deepest first. `None` if
    /// the key is not in the set.
    pub fn range_proof(&self, key: &KeyHash) -> Option<RangeProof> {
        let path = self.path(key)?;
        let right_siblings = path
            .iter()
            .rev()
            .filter(|(bit, _)| !bit)
            .map(|(_, h)| *h)
            .collect();
        Some(RangeProof { right_siblings })
    }

    /// The left siblings of `key`'s path (depths where its bit is 1), deepest first: what a
    /// verifier rebuilds from the keys before `key`, in the order [`RangeProof::verify`] takes.
    /// `None` if the key is not in the set.
    pub fn left_siblings(&self, key: &KeyHash) -> Option<Vec<HashValue>> {
        let path = self.path(key)?;
        Some(
            path.iter()
                .rev()
                .filter(|(bit, _)| *bit)
                .map(|(_, h)| *h)
                .collect(),
        )
    }

    /// Every sibling on `key`'s root→leaf path, root first, tagged with the key's bit at that
    /// depth (`true`: the path goes right, so the sibling is on the left). Its length is the
    /// leaf's depth in the collapsed tree.
    pub fn path(&self, key: &KeyHash) -> Option<Vec<(bool, HashValue)>> {
        let index = self.keys.binary_search(key).ok()?;
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut at = self.top;
        while let Some(Child::Branch(b)) = at {
            let branch = &self.branches[b as usize];
            let split = usize::from(branch.split);
            // Single-bit splits above the branching depth: the other half is empty.
            for d in depth..split {
                out.push((key.bit(d), self.scheme.placeholder()));
            }
            let bit = key.bit(split);
            let (next, sibling) = if bit {
                (branch.right, branch.left)
            } else {
                (branch.left, branch.right)
            };
            out.push((bit, self.child_hash(sibling)));
            depth = split + 1;
            at = Some(next);
        }
        if let Some(Child::Leaf(leaf)) = at {
            debug_assert_eq!(
                leaf as usize, index,
                "descent by key bits reaches the key's leaf"
            );
        }
        Some(out)
    }

    fn child_hash(&self, child: Child) -> HashValue {
        match child {
            Child::Leaf(i) => self.leaf_hashes[i as usize],
            Child::Branch(b) => self.branches[b as usize].hash,
        }
    }

    /// Builds the subtree of `keys[lo..hi]` (at least two keys, all sharing bits `< depth`) and
    /// returns it; its memoised hash is as seen from `depth`.
    fn build(&mut self, lo: usize, hi: usize, depth: usize) -> Child {
        if hi - lo == 1 {
            return Child::Leaf(lo as u32);
        }
        let (first, last) = (self.keys[lo], self.keys[hi - 1]);
        let split = first_differing_bit(&first, &last);
        debug_assert!(split >= depth);
        // Keys in the range share bits < split, so bit `split` is monotone over the range.
        let mid = lo + self.keys[lo..hi].partition_point(|k| !k.bit(split));
        let left = self.build(lo, mid, split + 1);
        let right = self.build(mid, hi, split + 1);
        let mut hash = self
            .scheme
            .internal(&self.child_hash(left), &self.child_hash(right));
        let placeholder = self.scheme.placeholder();
        for d in (depth..split).rev() {
            hash = if first.bit(d) {
                self.scheme.internal(&placeholder, &hash)
            } else {
                self.scheme.internal(&hash, &placeholder)
            };
        }
        self.branches.push(Branch {
            split: split as u16,
            left,
            right,
            hash,
        });
        Child::Branch((self.branches.len() - 1) as u32)
    }
}

/// The root of `leaves` (strictly increasing by key hash) without keeping the tree.
///
/// # Panics
/// As [`ReferenceTree::new`], on unsorted or duplicate keys.
pub fn root_of(scheme: HashScheme, leaves: &[(KeyHash, HashValue)]) -> HashValue {
    ReferenceTree::new(scheme, leaves).root()
}

/// Index of the first bit where `a` and `b` differ. Callers pass distinct keys.
fn first_differing_bit(a: &HashValue, b: &HashValue) -> usize {
    for (i, (x, y)) in a.0.iter().zip(b.0.iter()).enumerate() {
        let diff = x ^ y;
        if diff != 0 {
            return i * 8 + diff.leading_zeros() as usize;
        }
    }
    unreachable!("distinct keys always differ in some bit")
}

#[cfg(test)]
mod tests;
