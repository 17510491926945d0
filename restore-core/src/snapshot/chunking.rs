//! Cutting a snapshot into chunks, each carrying the reference range proof of its last key.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::draw_len;
use crate::chunk::{Chunk, Snapshot};
use crate::types::ChunkIndex;

/// How to cut `n` items into chunks. Every policy yields positive sizes summing to `n` (none
/// at all for `n = 0`), so no policy can produce an empty or overlapping chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunking {
    /// One chunk with everything.
    Whole,
    /// One item per chunk: the most proofs and the most freezing boundaries.
    OneKey,
    /// Chunks of this many items (0 counts as 1); the last one takes the remainder.
    Fixed(usize),
    /// Sizes drawn uniformly from `min..=max` (bounds in either order, 0 counts as 1) by an RNG
    /// seeded with `seed`; the last chunk is cut to the remainder.
    Random { seed: u64, min: usize, max: usize },
    /// Explicit sizes, used in order. Zeros are skipped, a size overshooting the remaining items
    /// is cut to them, and a list that runs out starts over from its beginning (so `[1, 3]` means
    /// 1, 3, 1, 3, …); a list with no positive size means `Whole`. Any list is therefore valid
    /// for any `n`, which lets a shrinker edit lists freely.
    Sizes(Vec<usize>),
}

impl Chunking {
    /// The chunk sizes for `n` items.
    pub fn sizes(&self, n: usize) -> Vec<usize> {
        match self {
            Chunking::Whole => cut(n, std::iter::once(n)),
            Chunking::OneKey => vec![1; n],
            Chunking::Fixed(size) => cut(n, std::iter::repeat((*size).max(1))),
            Chunking::Random { seed, min, max } => {
                let mut rng = ChaCha8Rng::seed_from_u64(*seed);
                let bounds = ((*min).max(1), (*max).max(1));
                cut(
                    n,
                    std::iter::repeat_with(move || draw_len(&mut rng, bounds)),
                )
            }
            Chunking::Sizes(list) => {
                if list.iter().all(|&s| s == 0) {
                    Chunking::Whole.sizes(n)
                } else {
                    cut(n, list.iter().copied().filter(|&s| s > 0).cycle())
                }
            }
        }
    }
}

/// Takes positive sizes from `sizes` until they cover `n`, cutting the last to fit.
fn cut(n: usize, sizes: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = n;
    for size in sizes {
        if left == 0 {
            break;
        }
        let size = size.clamp(1, left);
        out.push(size);
        left -= size;
    }
    out
}

impl Snapshot {
    /// The snapshot's items cut by `chunking`, each chunk with the range proof of its last key
    /// from one [`crate::reference::ReferenceTree`] built for this call.
    pub fn chunks(&self, chunking: &Chunking) -> Vec<Chunk> {
        let tree = self.reference_tree();
        let mut start = 0;
        chunking
            .sizes(self.items.len())
            .into_iter()
            .enumerate()
            .map(|(i, size)| {
                let items = self.items[start..start + size].to_vec();
                start += size;
                let last = items.last().expect("chunk sizes are positive").key_hash;
                let proof = tree
                    .range_proof(&last)
                    .expect("every snapshot key is in its reference tree");
                Chunk {
                    index: ChunkIndex(i),
                    items,
                    proof,
                }
            })
            .collect()
    }
}
