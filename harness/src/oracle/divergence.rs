//! progress-divergence, chunk-exact: how far KV progress (K) may run ahead of the tree's durable
//! rightmost leaf (T), measured in the chunks actually fed rather than in keys.
//!
//! Why chunk-exact. A restore commits whole chunks: the KV side writes chunk i's rows and
//! progress in one go, the tree side writes the nodes that chunk i froze. The tree has *completed*
//! chunk j once every leaf of chunks 0..=j is durable except the very last one, which stays
//! unfrozen until the next chunk arrives: T ≥ end(j) − 1. With at most one chunk in flight
//! between the two sides, KV may have committed at most the chunk after the last completed one:
//! K ≤ end(j + 1). A bound in keys (K − T ≤ largest chunk + 1) lets KV run two small chunks
//! ahead of the tree whenever a larger chunk was fed earlier; the chunk bound does not, and it
//! is never looser: T ≥ end(j) − 1 gives end(j + 1) − T ≤ size(j + 1) + 1.

use crate::oracle::{Oracle, Violation};
use crate::trace::Event;

/// Where chunks end, in snapshot keys: `ends[i]` = keys in chunks `0..=i` (strictly increasing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkEnds(Vec<u32>);

impl ChunkEnds {
    /// From the chunk sizes fed, in order. Empty chunks add no boundary.
    pub fn from_sizes(sizes: impl IntoIterator<Item = usize>) -> ChunkEnds {
        let mut ends = Vec::new();
        let mut total = 0u32;
        for s in sizes {
            if s == 0 {
                continue;
            }
            total = total.saturating_add(u32::try_from(s).unwrap_or(u32::MAX));
            ends.push(total);
        }
        debug_assert!(ends.windows(2).all(|w| w[0] < w[1]));
        ChunkEnds(ends)
    }

    pub fn total(&self) -> u32 {
        self.0.last().copied().unwrap_or(0)
    }

    pub fn ends(&self) -> &[u32] {
        &self.0
    }

    /// The chunk holding key number `key` (0-based), if the chunks reach it.
    pub fn chunk_of_key(&self, key: u32) -> Option<usize> {
        let i = self.0.partition_point(|&end| end <= key);
        (i < self.0.len()).then_some(i)
    }

    /// Chunks the tree has completed when its durable leaves cover `t` keys: those whose every
    /// leaf but the last of all is durable (end − 1 ≤ t).
    pub fn completed(&self, t: u32) -> usize {
        self.0.partition_point(|&end| end <= t.saturating_add(1))
    }

    /// The largest K allowed while the tree's durable leaves cover `t` keys: the end of the
    /// chunk after the last completed one. `None` when every chunk is completed.
    pub fn upper_bound(&self, t: u32) -> Option<u32> {
        self.0.get(self.completed(t)).copied()
    }

    /// The chunk whose keys KV progress `k` has reached (the chunk of its last covered key).
    pub fn chunk_of_progress(&self, k: u32) -> Option<usize> {
        k.checked_sub(1).and_then(|last| self.chunk_of_key(last))
    }
}

/// The first event where KV is behind the tree, or more than one chunk ahead of the chunk that
/// holds the tree's first missing leaf — as visible, or, in a store of several databases, as a
/// power loss at that moment could leave it: the KV side's least durable progress against the
/// tree's most durable leaf (the lower bound), and the other way round (the upper bound). Each
/// database keeps or loses its unsynced writes on its own, so both pairings can happen.
pub fn progress_divergence(events: &[Event], chunks: &ChunkEnds) -> Option<Violation> {
    events.iter().enumerate().find_map(|(i, e)| {
        let why = divergence_at(e.k, e.t, chunks).or_else(|| {
            let b = e.bounds?;
            divergence_at(b.k_lo, b.t_hi, chunks)
                .or_else(|| divergence_at(b.k_hi, b.t_lo, chunks))
                .map(|why| format!("a power loss now could leave {why}"))
        })?;
        Some(Violation {
            oracle: Oracle::ProgressDivergence,
            event: i,
            life: e.life,
            step: e.step,
            detail: why,
        })
    })
}

/// Why (K, T) breaks the bound, or `None` when it holds.
pub fn divergence_at(k: u32, t: u32, chunks: &ChunkEnds) -> Option<String> {
    if k < t {
        return Some(format!("KV behind the tree: K={k} < T={t}"));
    }
    let limit = chunks.upper_bound(t)?;
    if k <= limit {
        return None;
    }
    let allowed = chunks.completed(t);
    let kv_chunk = chunks
        .chunk_of_progress(k)
        .map_or("?".to_string(), |c| c.to_string());
    let tree = match allowed {
        0 => "the tree has completed no chunk".to_string(),
        n => format!("the tree has completed chunk {} (T={t})", n - 1),
    };
    Some(format!(
        "KV ahead of the tree: K={k} reaches chunk {kv_chunk} while {tree}; with one chunk in \
         flight K ≤ {limit} (end of chunk {allowed}); K−T = {} keys",
        k - t
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks [3, 1, 1, 1]: ends 3, 4, 5, 6.
    fn ends() -> ChunkEnds {
        ChunkEnds::from_sizes([3, 1, 1, 1])
    }

    #[test]
    fn chunk_of_key_follows_the_boundaries() {
        let c = ends();
        let got: Vec<Option<usize>> = (0..7).map(|k| c.chunk_of_key(k)).collect();
        assert_eq!(
            got,
            vec![Some(0), Some(0), Some(0), Some(1), Some(2), Some(3), None]
        );
        assert_eq!(c.chunk_of_progress(0), None);
        assert_eq!(c.chunk_of_progress(3), Some(0));
        assert_eq!(c.chunk_of_progress(4), Some(1));
    }

    #[test]
    fn one_chunk_in_flight_is_allowed_two_are_not() {
        let c = ends();
        // No leaf durable, chunk 0 (3 keys) not completed: KV may commit chunk 0 only.
        assert_eq!(divergence_at(3, 0, &c), None);
        assert!(divergence_at(4, 0, &c).is_some());
        // Chunk 0 completed (its leaves but the last, keys 0 and 1): KV may finish chunk 1.
        assert_eq!(c.completed(2), 1);
        assert_eq!(divergence_at(4, 2, &c), None);
        // The join-async seed 2: K=6, T=3. Chunks 0 and 1 are completed (ends 3 and 4
        // are at most T+1), so KV may finish chunk 2 (K ≤ 5) but not chunk 3.
        let why = divergence_at(6, 3, &c).expect("two chunks ahead");
        assert!(
            why.contains("chunk 3") && why.contains("completed chunk 1"),
            "{why}"
        );
        assert_eq!(divergence_at(5, 3, &c), None);
        // A complete tree bounds nothing (K ≥ T still holds).
        assert_eq!(divergence_at(6, 5, &c), None);
        assert!(divergence_at(4, 6, &c).unwrap().contains("behind"));
    }

    #[test]
    fn a_batch_torn_inside_a_chunk_does_not_complete_it() {
        // Chunks [4, 4]: a torn batch 1 landed only chunk 0's last leaf (T=4); chunk 1 is not
        // completed, so KV may be at the end of chunk 1 (8) — but with chunks [4, 4, 4] not at
        // the end of chunk 2, which the key bound K − T ≤ L + 1 = 5 would also refuse.
        let c = ChunkEnds::from_sizes([4, 4, 4]);
        assert_eq!(c.completed(4), 1);
        assert_eq!(divergence_at(8, 4, &c), None);
        assert!(divergence_at(9, 4, &c).is_some());
    }

    #[test]
    fn the_unfrozen_last_leaf_of_a_one_key_chunk_counts_as_completed() {
        // Chunks [2, 1, 2]: after batch 1 lands, T = end(1) − 1 = 2: chunks 0 and 1 completed.
        let c = ChunkEnds::from_sizes([2, 1, 2]);
        assert_eq!(c.completed(2), 2);
        assert_eq!(c.upper_bound(2), Some(5));
    }

    #[test]
    fn the_bound_is_never_looser_than_the_key_bound() {
        // For every T of every chunking of up to 6 keys, end(completed + 1) − T ≤ size + 1 ≤
        // L + 1 where L is the largest chunk.
        for mask in 0u32..32 {
            let mut sizes = vec![1usize];
            for bit in 0..5 {
                if mask & (1 << bit) != 0 {
                    sizes.push(1);
                } else {
                    *sizes.last_mut().unwrap() += 1;
                }
            }
            let c = ChunkEnds::from_sizes(sizes.iter().copied());
            let l = *sizes.iter().max().unwrap() as u32;
            for t in 0..=c.total() {
                if let Some(b) = c.upper_bound(t) {
                    assert!(b >= t && b - t <= l + 1, "{sizes:?} t={t} bound={b}");
                }
            }
        }
    }

    #[test]
    fn the_last_chunk_bounds_itself() {
        let c = ChunkEnds::from_sizes([2, 2]);
        assert_eq!(c.upper_bound(1), Some(4));
        assert_eq!(c.upper_bound(3), None);
        assert_eq!(ChunkEnds::from_sizes([0, 2, 0]).ends(), &[2]);
        assert_eq!(ChunkEnds::default().upper_bound(0), None);
    }

    fn event(k: u32, t: u32, bounds: Option<crate::trace::Bounds>) -> Event {
        Event {
            life: 0,
            step: 1,
            task: crate::trace::TaskId(0),
            task_name: "writer",
            chunk: None,
            what: crate::trace::Point::Spawn(crate::trace::TaskId(1)),
            k,
            t,
            l: 3,
            bounds,
        }
    }

    #[test]
    fn what_a_power_loss_could_leave_is_judged_in_both_pairings() {
        use crate::trace::Bounds;
        let c = ChunkEnds::from_sizes([3, 3, 3]);
        // Visible K=3, T=2 is fine; but KV's write is unsynced and the tree's is not: a power
        // loss could leave K=0 under T=2 (the lower bound).
        let lower = Bounds {
            k_lo: 0,
            k_hi: 3,
            t_lo: 2,
            t_hi: 2,
        };
        let v = progress_divergence(&[event(3, 2, Some(lower))], &c).expect("K could fall");
        assert!(
            v.detail
                .starts_with("a power loss now could leave KV behind"),
            "{}",
            v.detail
        );
        // The upper bound: KV durable at chunk 2's end while the tree could lose everything.
        let upper = Bounds {
            k_lo: 9,
            k_hi: 9,
            t_lo: 0,
            t_hi: 8,
        };
        let v = progress_divergence(&[event(9, 8, Some(upper))], &c).expect("T could fall");
        assert!(v.detail.contains("KV ahead of the tree"), "{}", v.detail);
        // Bounds that keep the band, and no bounds at all, are silent.
        // (K=3, T=3) and (K=6, T=2): chunk 0 is completed at T=2, so KV may reach chunk 1's end.
        let fine = Bounds {
            k_lo: 3,
            k_hi: 6,
            t_lo: 2,
            t_hi: 3,
        };
        assert_eq!(progress_divergence(&[event(3, 2, Some(fine))], &c), None);
        assert_eq!(progress_divergence(&[event(3, 2, None)], &c), None);
    }
}
