//! Verification of everything restored so far against a chunk's range proof.
//!
//! The proof only carries right siblings; the left siblings along the last key's path are
//! rebuilt from the partial stack (finished slots left of the path). Then the path is cut to the
//! leaf's real depth and the root recomputed.

use super::TreeRestore;
use crate::error::{ProofError, RestoreResult};
use crate::hash::HashValue;
use crate::node::merkle_range;
use crate::proof::RangeProof;

impl TreeRestore {
    pub(super) fn verify(&self, proof: &RangeProof) -> RestoreResult<()> {
        let leaf = self
            .previous_leaf
            .ok_or(crate::error::RestoreError::Proof(ProofError::EmptyChunk))?;
        let key = leaf.account_key;
        let scheme = self.scheme;
        let placeholder = scheme.placeholder();

        // Left siblings top-down, one per 1-bit of the key; count the 0-bits.
        let mut left: Vec<HashValue> = Vec::with_capacity(64);
        let mut zeros = 0usize;
        for level in 0..64 {
            let nibble = key.nibble(level) as usize;
            let hashes = (level < self.partial.len() && nibble != 0)
                .then(|| self.partial[level].slot_hashes());
            for height in (0..4).rev() {
                let width = 1usize << height;
                if nibble & width == 0 {
                    zeros += 1;
                    continue;
                }
                left.push(match &hashes {
                    // Below the partial stack nothing has been restored left of the path.
                    None => placeholder,
                    Some(h) => merkle_range(scheme, h, (nibble & !(width - 1)) ^ width, width).0,
                });
            }
        }

        let right = proof.right_siblings.len();
        if zeros < right {
            return Err(ProofError::TooManyRightSiblings {
                siblings: right,
                zero_bits: zeros,
            }
            .into());
        }
        // Cut the path from the bottom to the leaf's real depth: below it, left siblings are
        // empty and there are more 0-bits than right siblings.
        for bit in (0..256).rev() {
            if key.bit(bit) {
                if left.last() == Some(&placeholder) {
                    left.pop();
                } else {
                    break;
                }
            } else if zeros > right {
                zeros -= 1;
            } else {
                break;
            }
        }
        left.reverse();
        proof.verify(scheme, &self.expected_root, &key, &leaf.value_hash, &left)?;
        Ok(())
    }
}
