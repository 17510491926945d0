//! Fault points: every store operation of the fault-free run with every effect that applies to
//! it, and every chunk with every way the source can corrupt it.

use restore_core::store::Layout;
use serde::Serialize;

use crate::fault::{Corruption, Effect, Fault, TamperKind, Target};
use crate::trace::{Op, Point, Trace};

/// One thing that can go wrong at one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultPoint {
    Store(Fault),
    Corrupt { chunk: u32, tamper: TamperKind },
}

/// How many operations of each fault target the fault-free run made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub node_batches: u32,
    pub kv_writes: u32,
    pub progress_reads: u32,
    pub node_reads: u32,
    pub rightmost_lookups: u32,
}

impl OpCounts {
    /// Counted from a trace: every operation has one `before` point (slow faults add more, and
    /// a fault-free run has none).
    pub fn of(trace: &Trace) -> OpCounts {
        let mut c = OpCounts::default();
        for e in &trace.events {
            if let Point::Before(op, None) = &e.what {
                match op {
                    Op::NodeBatch { .. } => c.node_batches += 1,
                    Op::KvWrite { .. } => c.kv_writes += 1,
                    Op::ProgressRead => c.progress_reads += 1,
                    Op::NodeRead => c.node_reads += 1,
                    Op::RightmostLeaf => c.rightmost_lookups += 1,
                    _ => {}
                }
            }
        }
        c
    }
}

/// The effects a write may suffer. A torn write lands its first shard group (node batches) or
/// its first shard database's rows (a KV write under `aptos`; elsewhere a KV write is atomic).
fn write_effects(kv: bool, layout: Layout) -> Vec<Effect> {
    let mut e = vec![
        Effect::IoError,
        Effect::FailedButPersisted,
        Effect::AckThenLost,
        Effect::DiskFull,
    ];
    if !kv || layout == Layout::Aptos {
        e.insert(1, Effect::Torn { shards: 1 });
    }
    e
}

/// The ways a source corrupts a chunk (one delivery: the first).
pub const TAMPERS: [TamperKind; 6] = [
    TamperKind::ChangeValue { item: 0 },
    TamperKind::DropKey { item: 0 },
    TamperKind::WrongSibling { sibling: 0 },
    TamperKind::SwapOrder { item: 0 },
    TamperKind::TruncateProof,
    TamperKind::ExtraSibling,
];

/// Every fault point of a run with `counts` operations over `chunks` chunks.
pub fn fault_points(counts: OpCounts, chunks: u32, layout: Layout) -> Vec<FaultPoint> {
    let mut out = Vec::new();
    let mut add = |target: Target, effects: &[Effect]| {
        for &effect in effects {
            out.push(FaultPoint::Store(Fault { target, effect }));
        }
    };
    for nth in 0..counts.node_batches {
        add(Target::NodeBatch { nth }, &write_effects(false, layout));
    }
    for nth in 0..counts.kv_writes {
        add(Target::KvWrite { nth }, &write_effects(true, layout));
    }
    for nth in 0..counts.progress_reads {
        add(Target::ProgressRead { nth }, &[Effect::IoError]);
    }
    for nth in 0..counts.node_reads {
        add(Target::NodeRead { nth }, &[Effect::IoError]);
    }
    for nth in 0..counts.rightmost_lookups {
        add(Target::RightmostLeaf { nth }, &[Effect::IoError]);
    }
    for chunk in 0..chunks {
        for tamper in TAMPERS {
            out.push(FaultPoint::Corrupt { chunk, tamper });
        }
    }
    out
}

/// Every set of at most `max` distinct fault points, the empty set first, then by size.
pub fn fault_sets(points: &[FaultPoint], max: u32) -> Vec<Vec<FaultPoint>> {
    let mut sets: Vec<Vec<FaultPoint>> = vec![Vec::new()];
    let mut frontier: Vec<(usize, Vec<FaultPoint>)> = vec![(0, Vec::new())];
    for _ in 0..max {
        let mut next = Vec::new();
        for (from, set) in &frontier {
            for (i, p) in points.iter().enumerate().skip(*from) {
                let mut s = set.clone();
                s.push(*p);
                next.push((i + 1, s));
            }
        }
        sets.extend(next.iter().map(|(_, s)| s.clone()));
        frontier = next;
    }
    sets
}

/// Puts the fault points of a set into a case's plan.
pub fn apply(plan: &mut crate::fault::FaultPlan, set: &[FaultPoint]) {
    for p in set {
        match *p {
            FaultPoint::Store(f) => plan.faults.push(f),
            FaultPoint::Corrupt { chunk, tamper } => plan.corruptions.push(Corruption {
                chunk,
                tamper,
                deliveries: 1,
                first: 0,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> OpCounts {
        OpCounts {
            node_batches: 2,
            kv_writes: 3,
            progress_reads: 1,
            node_reads: 0,
            rightmost_lookups: 1,
        }
    }

    #[test]
    fn every_operation_gets_every_applicable_effect() {
        let one = fault_points(counts(), 3, Layout::One);
        // 2 batches × 5 effects + 3 KV writes × 4 (atomic: no torn) + 2 reads × 1 + 3 × 6.
        assert_eq!(one.len(), 2 * 5 + 3 * 4 + 2 + 3 * 6);
        let aptos = fault_points(counts(), 3, Layout::Aptos);
        // Under aptos a KV write spans shard databases, so it can tear too.
        assert_eq!(aptos.len(), one.len() + 3);
        assert!(aptos.contains(&FaultPoint::Store(Fault {
            target: Target::KvWrite { nth: 2 },
            effect: Effect::Torn { shards: 1 }
        })));
    }

    #[test]
    fn sets_are_combinations_up_to_the_bound() {
        let pts = fault_points(counts(), 0, Layout::One);
        let n = pts.len();
        assert_eq!(fault_sets(&pts, 0).len(), 1);
        assert_eq!(fault_sets(&pts, 1).len(), 1 + n);
        assert_eq!(fault_sets(&pts, 2).len(), 1 + n + n * (n - 1) / 2);
        assert!(fault_sets(&pts, 2).iter().all(|s| {
            let mut d = s.clone();
            d.dedup();
            d.len() == s.len()
        }));
    }
}
