//! Range proofs: the right siblings of the path to a chunk's last key.
//!
//! A chunk proof authenticates *everything from the smallest key up to the chunk's last key*:
//! the left siblings are rebuilt by the verifier from what it has restored so far, and only the
//! right side (not yet seen) comes with the proof.

use crate::error::ProofError;
use crate::hash::{HashScheme, HashValue};
use crate::types::KeyHash;

/// Siblings on the right of the root→key path, deepest first; only depths where the key's bit
/// is 0 contribute one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct RangeProof {
    pub right_siblings: Vec<HashValue>,
}

impl RangeProof {
    /// Recomputes the root from the leaf `H_leaf(key, value_hash)`, the given left siblings
    /// (deepest first) and this proof's right siblings, and compares it with `expected_root`.
    pub fn verify(
        &self,
        scheme: HashScheme,
        expected_root: &HashValue,
        key: &KeyHash,
        value_hash: &HashValue,
        left_siblings: &[HashValue],
    ) -> Result<(), ProofError> {
        let depth = left_siblings.len() + self.right_siblings.len();
        if depth > 256 {
            return Err(ProofError::MissingSibling(256));
        }
        let mut left = left_siblings.iter();
        let mut right = self.right_siblings.iter();
        let mut cur = scheme.leaf(key, value_hash);
        for bit in (0..depth).rev() {
            cur = if key.bit(bit) {
                let sibling = left.next().ok_or(ProofError::MissingSibling(bit))?;
                scheme.internal(sibling, &cur)
            } else {
                let sibling = right.next().ok_or(ProofError::MissingSibling(bit))?;
                scheme.internal(&cur, sibling)
            };
        }
        if left.next().is_some() || right.next().is_some() {
            // Leftovers mean the path shape and the sibling counts disagree.
            return Err(ProofError::MissingSibling(depth));
        }
        if cur != *expected_root {
            return Err(ProofError::RootMismatch {
                computed: cur,
                expected: *expected_root,
            });
        }
        Ok(())
    }
}
