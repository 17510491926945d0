//! A replay as a story a developer reads in a minute: the verdict and the case first
//! ([`header`]), then the timeline with the noise folded ([`fold`]), what became durable at the
//! moment that matters ([`durable`]), and the page ([`page`]) with the K/T chart, one lane per
//! task per process ([`spans`], Jepsen's timeline), every event anchored and linked.
//!
//! Only rendering: a story reads an [`Outcome`] (and a [`durable::DurableLog`] recorded by a
//! watcher during the same run) and never changes a run.

pub mod durable;
pub mod fold;
pub mod header;
pub mod lanes;
pub mod page;
pub mod spans;

use std::collections::BTreeSet;

use crate::case::Case;
use crate::run::{Outcome, RunError, run_case_watched};
pub use durable::DurableLog;
pub use header::Commands;

/// Units of the compressed time axis a folded run takes (an event takes one): enough to see
/// and click, not enough to squeeze the action into a sliver.
pub(crate) const FOLD_UNITS: f64 = 3.0;

/// Runs `case` once with the durable-state watcher: the outcome and what became durable.
pub fn replay(case: &Case) -> Result<(Outcome, DurableLog), RunError> {
    let watch = durable::DurableWatch::new();
    let outcome = run_case_watched(case, watch.clone())?;
    let log = watch.borrow_mut().take();
    Ok((outcome, log))
}

/// The events oracles point at: they never fold.
pub fn violation_events(outcome: &Outcome) -> BTreeSet<usize> {
    outcome.violations.iter().map(|v| v.event).collect()
}

/// The x (or y) position of every event on a time axis where a folded run takes
/// [`FOLD_UNITS`]: `at(i)` in `0..=1`.
pub struct Axis {
    pos: Vec<f64>,
    total: f64,
}

impl Axis {
    pub fn new(events: usize, rows: &[fold::Row]) -> Axis {
        let mut pos = vec![0.0; events];
        let mut u = 0.0;
        for row in rows {
            match row {
                fold::Row::Event(i) => {
                    pos[*i] = u;
                    u += 1.0;
                }
                fold::Row::Fold(r) => {
                    let n = (r.last - r.first + 1) as f64;
                    for (k, i) in (r.first..=r.last).enumerate() {
                        pos[i] = u + FOLD_UNITS * k as f64 / n;
                    }
                    u += FOLD_UNITS;
                }
            }
        }
        // The last event sits at the far end, even inside a folded run.
        let total = pos.iter().copied().fold(0.0, f64::max).max(1.0);
        Axis { pos, total }
    }

    /// An axis with no compression (every event one unit).
    pub fn linear(events: usize) -> Axis {
        let rows: Vec<fold::Row> = (0..events).map(fold::Row::Event).collect();
        Axis::new(events, &rows)
    }

    /// Where event `i` sits, from 0 (the first event) to 1 (the last row).
    pub fn at(&self, i: usize) -> f64 {
        self.pos.get(i).map_or(1.0, |p| (p / self.total).min(1.0))
    }
}

/// The text replay: the head, what was durable at each violation (and at the `at` events), and
/// the timeline (folded unless `full`), ending with the headline violation again for whoever
/// reads from the bottom.
pub fn replay_text(
    case: &Case,
    outcome: &Outcome,
    log: &DurableLog,
    cmds: &Commands,
    timeline: Timeline,
    at: &[usize],
) -> String {
    let mut out = header::header_text(case, outcome, cmds);
    let marked = violation_events(outcome);
    let mut shown: BTreeSet<usize> = marked.clone();
    shown.extend(at.iter().copied());
    for e in &shown {
        if let Some(a) = log.at(*e) {
            out.push_str(&a.text());
        }
    }
    match timeline {
        Timeline::None => {}
        Timeline::Folded => out.push_str(&timeline_text(outcome, false, at)),
        Timeline::Full => out.push_str(&timeline_text(outcome, true, at)),
    }
    out
}

/// How much of the timeline a text replay prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeline {
    /// None: the head and the durable blocks only (`--quiet`).
    None,
    /// Probe runs and, in a long timeline, quiet chunk cycles folded (the default).
    Folded,
    /// Every event (`--full`).
    Full,
}

/// The timeline (folded unless `full`, the violation events marked, the events in `keep` never
/// folded away), ending with the headline violation again for whoever reads from the bottom.
pub fn timeline_text(outcome: &Outcome, full: bool, keep: &[usize]) -> String {
    let marked = violation_events(outcome);
    let rows = if full {
        (0..outcome.trace.events.len())
            .map(fold::Row::Event)
            .collect()
    } else {
        let mut kept = marked.clone();
        kept.extend(keep.iter().copied());
        fold::fold(&outcome.trace, &kept)
    };
    let folded = rows.len() != outcome.trace.events.len();
    let mut out = format!(
        "timeline ({} events{}):\n",
        outcome.trace.events.len(),
        if folded {
            format!(
                " in {} rows, probe runs folded; --full shows each",
                rows.len()
            )
        } else {
            String::new()
        }
    );
    out.push_str(&fold::folded_text(&outcome.trace, &rows, &marked));
    if let Some(v) = outcome.first_violation() {
        out.push_str(&format!(
            "VIOLATION {} at event {} (process {}, step {}): {}\n",
            v.oracle, v.event, v.life, v.step, v.detail
        ));
    }
    out
}

/// An event of process `life`, task `task` named `name`, with nothing durable: for the unit
/// tests of folding and spans, which look only at who did what.
#[cfg(test)]
pub(crate) fn test_event(
    life: u32,
    task: u16,
    name: &'static str,
    what: crate::trace::Point,
) -> crate::trace::Event {
    crate::trace::Event {
        life,
        step: 0,
        task: crate::trace::TaskId(task),
        task_name: name,
        chunk: None,
        what,
        k: 0,
        t: 0,
        l: 0,
        bounds: None,
    }
}
