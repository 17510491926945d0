//! What a backup hands the restore: a snapshot's items cut into sorted chunks, each with the
//! range proof of its last key.

use std::borrow::Borrow;

use crate::hash::{HashScheme, HashValue};
use crate::proof::RangeProof;
use crate::types::{ChunkIndex, KeyHash, StateItem, Version};

/// One chunk of a snapshot: consecutive items in key-hash order and the proof for the last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub index: ChunkIndex,
    pub items: Vec<StateItem>,
    pub proof: RangeProof,
}

impl Chunk {
    /// The last key hash, which the controller compares with the resume point to skip chunks.
    pub fn last_key(&self) -> Option<KeyHash> {
        self.items.last().map(|i| i.key_hash)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A full state snapshot: items sorted by strictly increasing key hash, and its root under a scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub version: Version,
    pub scheme: HashScheme,
    pub items: Vec<StateItem>,
    pub root: HashValue,
}

/// The backup controller's skip rule: the index of the first chunk to feed when resuming from
/// `resume` (every leading chunk whose last key is at or below it is already restored).
pub fn first_chunk_to_feed<C: Borrow<Chunk>>(chunks: &[C], resume: Option<KeyHash>) -> usize {
    match resume {
        None => 0,
        Some(r) => chunks
            .iter()
            .position(|c| c.borrow().last_key().is_none_or(|k| k > r))
            .unwrap_or(chunks.len()),
    }
}
