//! Store operations as spans: each from the event where it started to the event where it
//! completed (Jepsen's invocation and completion), with how it ended. The lanes of the replay
//! page draw these.

use std::collections::BTreeMap;

use crate::trace::{FaultMark, Op, Point, Res, Trace};

/// How a store operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Ok,
    /// Returned an error the store did not inject (e.g. a write refused after an earlier one).
    Error(String),
    /// An injected fault fired on it (whatever it then returned).
    Fault(FaultMark, Res),
    /// Still in flight when its process crashed, or when the trace ended.
    Lost,
}

impl Ending {
    /// The CSS class (and legend entry) of the ending.
    pub fn class(&self) -> &'static str {
        match self {
            Ending::Ok => "ok",
            Ending::Error(_) => "error",
            Ending::Fault(..) => "fault",
            Ending::Lost => "lost",
        }
    }

    /// Its colour in the lanes: green ok, red error, orange injected fault, purple lost.
    pub fn color(&self) -> &'static str {
        match self {
            Ending::Ok => "#7fb77e",
            Ending::Error(_) => "#d9534f",
            Ending::Fault(..) => "#f0a030",
            Ending::Lost => "#8a5fbf",
        }
    }
}

/// One store operation of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub life: u32,
    pub task_name: &'static str,
    pub task: u16,
    pub op: Op,
    /// The events of its start and completion (for a lost one: the crash, or the last event of
    /// its process).
    pub start: usize,
    pub end: usize,
    pub ending: Ending,
    /// Operations of the same task open around it (a node shard inside its batch: 1).
    pub depth: u32,
}

/// Operations that report only their completion, as parts of the operation around them.
fn is_part(op: &Op) -> bool {
    matches!(op, Op::NodeShard { .. } | Op::KvShard { .. })
}

fn ending_of(fault: Option<FaultMark>, res: &Res) -> Ending {
    match (fault, res) {
        (Some(f), r) => Ending::Fault(f, r.clone()),
        (None, Res::Ok) => Ending::Ok,
        (None, Res::Err(m)) => Ending::Error(m.clone()),
    }
}

/// Every store operation of `trace`, in order of start.
///
/// How the faulty store reports an operation (`fault/store.rs`), and so how events pair:
/// - `Before(op)` … `After(op)` for most operations;
/// - a slow one repeats `Before(op, Slow)` once per extra point before its `After`: one span;
/// - the shard groups of a node batch and the shard parts of a sharded KV write report only
///   their completion (`After(NodeShard)`, `After(KvShard)`): each part runs from the previous
///   part's completion, or its batch's start, to its own;
/// - the progress record of a sharded KV write reports only its issue (`Before(KvProgress)`)
///   and completes with the write's `After`, like anything still open inside an operation
///   that completes.
pub fn spans(trace: &Trace) -> Vec<Span> {
    let ev = &trace.events;
    let mut out: Vec<Span> = Vec::new();
    // Where the next part of each span starts (its start, then each part's completion).
    let mut part_from: Vec<usize> = Vec::new();
    // Open operations per (process, task): indices into `out`, innermost last.
    let mut open: BTreeMap<(u32, u16), Vec<usize>> = BTreeMap::new();
    let close_life =
        |open: &mut BTreeMap<(u32, u16), Vec<usize>>, out: &mut Vec<Span>, life: u32, at: usize| {
            for ((l, _), stack) in open.iter_mut() {
                if *l == life {
                    for s in stack.drain(..) {
                        out[s].end = at;
                        out[s].ending = Ending::Lost;
                    }
                }
            }
        };
    for (i, e) in ev.iter().enumerate() {
        if i > 0 && ev[i - 1].life != e.life {
            close_life(&mut open, &mut out, ev[i - 1].life, i - 1);
        }
        let stack = open.entry((e.life, e.task.0)).or_default();
        let span = |op: Op, start: usize, ending: Ending, depth: usize| Span {
            life: e.life,
            task_name: e.task_name,
            task: e.task.0,
            op,
            start,
            end: start,
            ending,
            depth: depth as u32,
        };
        match &e.what {
            Point::Before(op, Some(FaultMark::Slow))
                if stack.last().is_some_and(|&t| out[t].op == *op) => {}
            Point::Before(op, fault) => {
                // Provisional: an injected fault shows from the start; otherwise lost until
                // it completes.
                let ending = fault.map_or(Ending::Lost, |f| Ending::Fault(f, Res::Ok));
                out.push(span(*op, i, ending, stack.len()));
                part_from.push(i);
                stack.push(out.len() - 1);
            }
            Point::After(op, None, res) if is_part(op) => {
                let from = stack.last().map_or(i, |&t| part_from[t]);
                let mut part = span(*op, from, ending_of(None, res), stack.len());
                part.end = i;
                if let Some(&t) = stack.last() {
                    part_from[t] = i;
                }
                out.push(part);
                part_from.push(i);
            }
            Point::After(op, fault, res) => {
                // The innermost open operation of the same kind; whatever is still open inside
                // it (a progress record) completes with it.
                let Some(pos) = stack.iter().rposition(|&s| out[s].op == *op) else {
                    continue;
                };
                for s in stack.drain(pos..) {
                    let fault = if out[s].op == *op {
                        fault.or(match out[s].ending {
                            Ending::Fault(f, _) => Some(f),
                            _ => None,
                        })
                    } else {
                        None
                    };
                    out[s].end = i;
                    out[s].ending = ending_of(fault, res);
                }
            }
            Point::Crash { .. } => close_life(&mut open, &mut out, e.life, i),
            _ => {}
        }
    }
    if let Some(last) = ev.last() {
        close_life(&mut open, &mut out, last.life, ev.len() - 1);
    }
    out.sort_by_key(|s| (s.start, s.depth));
    debug_assert!(out.iter().all(|s| s.start <= s.end));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;

    fn ev(life: u32, task: u16, what: Point) -> Event {
        crate::story::test_event(life, task, "tree", what)
    }

    /// The store's own protocol: a batch whose shard groups report only their completion, a
    /// slow KV write that repeats its start, a sharded write's progress record that completes
    /// with the write, a read cut off by a crash.
    #[test]
    fn pairs_operations_as_the_store_reports_them() {
        let batch = Op::NodeBatch { nodes: 3 };
        let shard = |shard| Op::NodeShard { shard, nodes: 1 };
        let kv = Op::KvWrite {
            rows: 2,
            progress: true,
        };
        let crash = Point::Crash {
            power_loss: false,
            lost_writes: 0,
            in_flight_landed: 0,
            in_flight_dropped: 0,
        };
        let events = vec![
            ev(0, 1, Point::Before(batch, None)),               // 0
            ev(0, 1, Point::After(shard(0), None, Res::Ok)),    // 1
            ev(0, 2, Point::Before(kv, Some(FaultMark::Slow))), // 2
            ev(0, 2, Point::Before(kv, Some(FaultMark::Slow))), // 3: slow
            ev(0, 1, Point::After(shard(1), None, Res::Err("io".into()))), // 4
            ev(0, 1, Point::After(batch, None, Res::Err("io".into()))), // 5
            ev(0, 2, Point::Before(Op::KvProgress, None)),      // 6
            ev(0, 2, Point::After(kv, Some(FaultMark::Slow), Res::Ok)), // 7
            ev(0, 2, Point::Before(Op::ProgressRead, None)),    // 8
            ev(0, 0, crash),                                    // 9
        ];
        let got: Vec<(usize, usize, &str, u32)> = spans(&Trace { events })
            .iter()
            .map(|x| (x.start, x.end, x.ending.class(), x.depth))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 5, "error", 0), // the batch failed
                (0, 1, "ok", 1),    // its first shard group, from the batch's start
                (1, 4, "error", 1), // the second, from the first one's completion
                (2, 7, "fault", 0), // the slow write: one span, not three
                (6, 7, "ok", 1),    // its progress record, done with it
                (8, 9, "lost", 0),  // the read the crash cut off
            ]
        );
    }
}
