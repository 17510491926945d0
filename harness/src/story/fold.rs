//! Folding the trace: runs of the same probe by one task become one row, so a replay shows what
//! happened instead of a wall of `node-read -> ok` lines (a recovery reads every node of the
//! tree, one scheduling point before and one after each read).
//!
//! What folds, and why only that:
//! - a run of consecutive events of one process and one task, each the start or the successful,
//!   fault-free end of the same kind of *read*. Reads change nothing durable, and a run of them
//!   has one story ("recovery read 497 nodes, all ok");
//! - a run of at least [`MIN_CHUNKS`] whole chunk cycles (from a chunk's `AddChunk` to the next
//!   chunk's) in which every step is clean: no fault, no error, no other driver step. A restore
//!   of 145 one-key chunks is 1,600 such events with one story ("chunks #5–#140 added, every
//!   write ok"), and K and T at the row's end tell how far each side got.
//!
//! A fault, an error, a crash, a panic, a driver step other than adding a chunk and finishing it
//! well, and an event an oracle points at never fold.

use std::collections::BTreeSet;

use crate::trace::{DriverStep, Event, Op, Point, Res, Trace};

/// Fewest events a run of probes must have to fold (three probes: a shorter run reads fine as
/// it is).
pub const MIN_FOLD: usize = 6;

/// Fewest whole chunk cycles a quiet run must hold to fold.
pub const MIN_CHUNKS: usize = 3;

/// Chunk cycles fold only when the timeline, its probes folded, is longer than this: a short
/// timeline reads best whole, every write in place.
pub const CHUNK_FOLD_ABOVE: usize = 150;

/// One row of the folded timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// One event, shown as it is.
    Event(usize),
    /// A run of probes, shown as one line.
    Fold(Run),
}

/// A folded run: events `first..=last` of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub first: usize,
    pub last: usize,
    pub kind: RunKind,
    /// What the run was part of: "recovery of process 2" while the driver opens the restore,
    /// otherwise "process 2".
    pub context: String,
}

/// What a folded run is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// Clean reads of `op` by one task; `calls` of them returned (each has a start and an end
    /// event in the run, or only one of them at the run's edges).
    Probes { op: Op, calls: u32 },
    /// `count` whole, clean chunk cycles, of chunks `from` to `to`.
    Chunks { from: u32, to: u32, count: u32 },
}

impl Run {
    /// The short name of the run: `node-read ×497`, `chunks #5–#140 ×136`.
    pub fn label(&self) -> String {
        match &self.kind {
            RunKind::Probes { op, calls } => format!("{op} ×{calls}"),
            RunKind::Chunks { from, to, count } => format!("chunks #{from}–#{to} ×{count}"),
        }
    }
}

impl Row {
    /// The events the row covers.
    pub fn events(&self) -> std::ops::RangeInclusive<usize> {
        match self {
            Row::Event(i) => *i..=*i,
            Row::Fold(r) => r.first..=r.last,
        }
    }
}

/// The read an event is a clean part of, if it is one: a start without a fault, or an end that
/// returned Ok without a fault.
fn probe_of(e: &Event) -> Option<Op> {
    let op = match &e.what {
        Point::Before(op, None) | Point::After(op, None, Res::Ok) => *op,
        _ => return None,
    };
    matches!(op, Op::NodeRead | Op::ProgressRead | Op::RightmostLeaf).then_some(op)
}

/// Folds `trace`: probe runs always, quiet chunk cycles when the timeline would otherwise be
/// longer than [`CHUNK_FOLD_ABOVE`] rows. The events in `keep` (the ones oracles point at) always
/// stay rows of their own.
pub fn fold(trace: &Trace, keep: &BTreeSet<usize>) -> Vec<Row> {
    let rows = fold_with(trace, keep, false);
    if rows.len() > CHUNK_FOLD_ABOVE {
        fold_with(trace, keep, true)
    } else {
        rows
    }
}

/// Folds probe runs, and quiet chunk cycles if `chunks`.
pub fn fold_with(trace: &Trace, keep: &BTreeSet<usize>, chunks: bool) -> Vec<Row> {
    let ev = &trace.events;
    let opening = opening_flags(ev);
    let mut rows = Vec::new();
    let mut i = 0;
    while i < ev.len() {
        if let Some(run) = chunk_run(ev, keep, i).filter(|_| chunks) {
            i = run.last + 1;
            rows.push(Row::Fold(run));
            continue;
        }
        let Some(op) = probe_of(&ev[i]).filter(|_| !keep.contains(&i)) else {
            rows.push(Row::Event(i));
            i += 1;
            continue;
        };
        let mut j = i;
        while j + 1 < ev.len()
            && !keep.contains(&(j + 1))
            && probe_of(&ev[j + 1]) == Some(op)
            && ev[j + 1].life == ev[i].life
            && ev[j + 1].task == ev[i].task
            && !starts_chunk(&ev[j + 1])
        {
            j += 1;
        }
        if j + 1 - i < MIN_FOLD {
            rows.extend((i..=j).map(Row::Event));
        } else {
            let calls = ev[i..=j]
                .iter()
                .filter(|e| matches!(e.what, Point::After(..)))
                .count() as u32;
            let life = ev[i].life;
            let context = if opening[i] {
                format!("recovery of process {life}")
            } else {
                format!("process {life}")
            };
            rows.push(Row::Fold(Run {
                first: i,
                last: j,
                kind: RunKind::Probes { op, calls },
                context,
            }));
        }
        i = j + 1;
    }
    debug_assert_eq!(
        rows.iter().map(|r| r.events().count()).sum::<usize>(),
        ev.len(),
        "every event is in exactly one row"
    );
    rows
}

/// A first delivery of a chunk, uncorrupted: where a quiet chunk cycle starts.
fn starts_chunk(e: &Event) -> bool {
    matches!(
        e.what,
        Point::Driver(DriverStep::AddChunk {
            attempt: 0,
            corrupted: false
        })
    )
}

/// Whether an event may sit inside a folded chunk cycle: a clean step of a task, a chunk added
/// or finished well.
fn quiet(e: &Event) -> bool {
    match &e.what {
        Point::Before(_, None) | Point::After(_, None, Res::Ok) => true,
        Point::Join(..) | Point::Spawn(_) | Point::Await(_) => true,
        Point::Driver(DriverStep::ChunkDone(Res::Ok)) => true,
        Point::Driver(_) => starts_chunk(e),
        _ => false,
    }
}

/// The run of whole, quiet chunk cycles starting at event `i`, if at least [`MIN_CHUNKS`] of
/// them follow one another there. It ends just before the `AddChunk` of the last cycle it could
/// not take whole, so that cycle (and whatever broke the quiet) shows as it is.
fn chunk_run(ev: &[Event], keep: &BTreeSet<usize>, i: usize) -> Option<Run> {
    if !starts_chunk(&ev[i]) || keep.contains(&i) {
        return None;
    }
    let life = ev[i].life;
    let mut starts = vec![i];
    let mut j = i;
    while j + 1 < ev.len()
        && ev[j + 1].life == life
        && !keep.contains(&(j + 1))
        && quiet(&ev[j + 1])
    {
        j += 1;
        if starts_chunk(&ev[j]) {
            starts.push(j);
        }
    }
    // The cycles taken whole: each from its AddChunk to the event before the next one.
    let whole = starts.len() - 1;
    if whole < MIN_CHUNKS {
        return None;
    }
    let last = starts[whole] - 1;
    let chunk = |k: usize| ev[starts[k]].chunk.unwrap_or(0);
    Some(Run {
        first: i,
        last,
        kind: RunKind::Chunks {
            from: chunk(0),
            to: chunk(whole - 1),
            count: whole as u32,
        },
        context: format!("process {life}, every step ok"),
    })
}

/// For each event: whether its process's driver is opening the restore then (between `Open`
/// and `Opened`), which is when recovery probes the store.
fn opening_flags(ev: &[Event]) -> Vec<bool> {
    let mut out = Vec::with_capacity(ev.len());
    let mut life = None;
    let mut open = false;
    for e in ev {
        if life != Some(e.life) {
            life = Some(e.life);
            open = false;
        }
        match &e.what {
            Point::Driver(DriverStep::Open) => open = true,
            Point::Driver(_) => open = false,
            _ => {}
        }
        out.push(open);
    }
    out
}

/// The one line of a folded run, in the columns of an event line.
pub fn fold_line(ev: &[Event], run: &Run) -> String {
    let (a, b) = (&ev[run.first], &ev[run.last]);
    let chunk = a.chunk.map_or("-".to_string(), |c| format!("#{c}"));
    let what = match run.kind {
        RunKind::Probes { .. } => format!("{} ({}, all ok)", run.label(), run.context),
        RunKind::Chunks { .. } => format!("{} ({})", run.label(), run.context),
    };
    format!(
        "{:>2}.{:<4} {:<7} {:<5} {:<60} K={:<4} T={:<4} L={}   [events {}–{}, steps {}–{}]",
        a.life,
        a.step,
        a.task_name,
        chunk,
        what,
        b.k,
        b.t,
        b.l,
        run.first,
        run.last,
        a.step,
        b.step
    )
}

/// The folded timeline as text: one line per row, `>>` at the events in `marked`.
pub fn folded_text(trace: &Trace, rows: &[Row], marked: &BTreeSet<usize>) -> String {
    let ev = &trace.events;
    let mut out = String::new();
    for row in rows {
        match row {
            Row::Event(i) => {
                let mark = if marked.contains(i) { ">>" } else { "  " };
                out.push_str(&format!("{mark} {:>5} {}\n", i, ev[*i]));
            }
            Row::Fold(run) => {
                out.push_str(&format!("   {:>5} {}\n", run.first, fold_line(ev, run)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::FaultMark;

    fn ev(life: u32, task: u16, what: Point) -> Event {
        crate::story::test_event(life, task, "driver", what)
    }

    fn reads(n: usize, life: u32, task: u16) -> Vec<Event> {
        (0..n)
            .flat_map(|_| {
                [
                    ev(life, task, Point::Before(Op::NodeRead, None)),
                    ev(life, task, Point::After(Op::NodeRead, None, Res::Ok)),
                ]
            })
            .collect()
    }

    #[test]
    fn a_run_of_reads_during_open_folds_into_one_recovery_row() {
        let mut events = vec![ev(1, 0, Point::Driver(DriverStep::Open))];
        events.extend(reads(10, 1, 0));
        events.push(ev(
            1,
            0,
            Point::Driver(DriverStep::Opened { resume_chunk: 0 }),
        ));
        let rows = fold(&Trace { events }, &BTreeSet::new());
        // Open, one fold of 20 events (10 calls), Opened.
        assert_eq!(rows.len(), 3);
        let Row::Fold(run) = &rows[1] else {
            panic!("the reads fold: {rows:?}")
        };
        assert_eq!((run.first, run.last), (1, 20));
        assert_eq!(
            run.kind,
            RunKind::Probes {
                op: Op::NodeRead,
                calls: 10
            }
        );
        assert_eq!(run.context, "recovery of process 1");
    }

    #[test]
    fn faults_errors_kept_events_and_other_tasks_break_a_run() {
        let mut events = reads(4, 0, 0);
        events.push(ev(
            0,
            0,
            Point::After(
                Op::NodeRead,
                Some(FaultMark::ReadError),
                Res::Err("x".into()),
            ),
        ));
        events.extend(reads(4, 0, 0));
        events.extend(reads(4, 0, 1));
        let keep: BTreeSet<usize> = [12].into();
        let rows = fold(&Trace { events }, &keep);
        let folds: Vec<(usize, usize)> = rows
            .iter()
            .filter_map(|r| match r {
                Row::Fold(x) => Some((x.first, x.last)),
                Row::Event(_) => None,
            })
            .collect();
        // 0..=7 folds; 8 (the fault) stands alone; 9..=11 is too short once 12 is kept;
        // 13..=16 too short with task 1 taking over at 17; 17..=24 (task 1) folds.
        assert_eq!(folds, vec![(0, 7), (17, 24)]);
        assert!(rows.contains(&Row::Event(8)) && rows.contains(&Row::Event(12)));
    }

    /// Four clean chunk cycles, then a faulted write: the first three cycles fold (the fourth is
    /// not whole before the quiet breaks, so it shows, with the fault).
    #[test]
    fn whole_quiet_chunk_cycles_fold_and_the_cycle_that_breaks_the_quiet_shows() {
        let kv = Op::KvWrite {
            rows: 1,
            progress: true,
        };
        let mut events = Vec::new();
        for c in 0..4 {
            for what in [
                Point::Driver(DriverStep::AddChunk {
                    attempt: 0,
                    corrupted: false,
                }),
                Point::Before(kv, None),
                Point::After(kv, None, Res::Ok),
                Point::Driver(DriverStep::ChunkDone(Res::Ok)),
            ] {
                let mut e = ev(0, 0, what);
                e.chunk = Some(c);
                events.push(e);
            }
        }
        events.push(ev(
            0,
            1,
            Point::After(
                Op::NodeBatch { nodes: 1 },
                Some(FaultMark::IoError),
                Res::Err("x".into()),
            ),
        ));
        let trace = Trace { events };
        // Seventeen rows read fine whole: chunk cycles fold only in a long timeline.
        assert_eq!(fold(&trace, &BTreeSet::new()).len(), 17);
        let rows = fold_with(&trace, &BTreeSet::new(), true);
        let Row::Fold(run) = &rows[0] else {
            panic!("the first cycles fold: {rows:?}")
        };
        assert_eq!((run.first, run.last), (0, 11));
        assert_eq!(
            run.kind,
            RunKind::Chunks {
                from: 0,
                to: 2,
                count: 3
            }
        );
        assert_eq!(
            &rows[1..],
            &(12..=16).map(Row::Event).collect::<Vec<_>>()[..]
        );
        // An event an oracle points at (5, in the second cycle) leaves fewer than three whole
        // quiet cycles on either side of it: nothing folds.
        let rows = fold_with(&trace, &[5].into(), true);
        assert_eq!(rows, (0..=16).map(Row::Event).collect::<Vec<_>>());
    }

    #[test]
    fn short_runs_stay_as_events() {
        let events = reads(2, 0, 0);
        let rows = fold(&Trace { events }, &BTreeSet::new());
        assert_eq!(rows, (0..4).map(Row::Event).collect::<Vec<_>>());
    }
}
