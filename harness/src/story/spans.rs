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

/// Every store operation of `trace`, in order of start.
pub fn spans(trace: &Trace) -> Vec<Span> {
    let ev = &trace.events;
    let mut out: Vec<Span> = Vec::new();
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
        match &e.what {
            Point::Before(op, fault) => {
                let stack = open.entry((e.life, e.task.0)).or_default();
                out.push(Span {
                    life: e.life,
                    task_name: e.task_name,
                    task: e.task.0,
                    op: *op,
                    start: i,
                    end: i,
                    ending: match fault {
                        Some(f) => Ending::Fault(*f, Res::Ok),
                        None => Ending::Lost,
                    },
                    depth: stack.len() as u32,
                });
                stack.push(out.len() - 1);
            }
            Point::After(op, fault, res) => {
                let stack = open.entry((e.life, e.task.0)).or_default();
                // The innermost open operation of the same kind (a task runs one at a time;
                // a batch's shard groups nest inside it).
                let Some(pos) = stack.iter().rposition(|&s| out[s].op == *op) else {
                    continue;
                };
                let s = stack.remove(pos);
                let fault = fault.or(match out[s].ending {
                    Ending::Fault(f, _) => Some(f),
                    _ => None,
                });
                out[s].end = i;
                out[s].ending = match (fault, res) {
                    (Some(f), r) => Ending::Fault(f, r.clone()),
                    (None, Res::Ok) => Ending::Ok,
                    (None, Res::Err(m)) => Ending::Error(m.clone()),
                };
            }
            Point::Crash { .. } => close_life(&mut open, &mut out, e.life, i),
            _ => {}
        }
    }
    if let Some(last) = ev.last() {
        close_life(&mut open, &mut out, last.life, ev.len() - 1);
    }
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

    #[test]
    fn pairs_nested_faulted_and_lost_operations() {
        let batch = Op::NodeBatch { nodes: 3 };
        let shard = Op::NodeShard { shard: 0, nodes: 3 };
        let kv = Op::KvWrite {
            rows: 2,
            progress: true,
        };
        let events = vec![
            ev(0, 1, Point::Before(batch, None)),                       // 0
            ev(0, 1, Point::Before(shard, Some(FaultMark::IoError))),   // 1
            ev(0, 2, Point::Before(kv, None)),                          // 2
            ev(0, 1, Point::After(shard, None, Res::Err("io".into()))), // 3
            ev(0, 1, Point::After(batch, None, Res::Err("io".into()))), // 4
            ev(0, 2, Point::Before(Op::ProgressRead, None)),            // 5: kv's second op
            ev(
                0,
                0,
                Point::Crash {
                    power_loss: false,
                    lost_writes: 0,
                    in_flight_landed: 0,
                    in_flight_dropped: 0,
                },
            ), // 6
        ];
        let s = spans(&Trace { events });
        let got: Vec<(usize, usize, &str, u32)> = s
            .iter()
            .map(|x| (x.start, x.end, x.ending.class(), x.depth))
            .collect();
        // The shard carries the fault marked at its start; the batch only failed; the KV write
        // and the read never completed before the crash at 6.
        assert_eq!(
            got,
            vec![
                (0, 4, "error", 0),
                (1, 3, "fault", 1),
                (2, 6, "lost", 0),
                (5, 6, "lost", 1)
            ]
        );
    }
}
