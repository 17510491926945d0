//! The lanes: one column per task (driver, kv, tree, writer) with time running down, each store
//! operation a box from its start to its completion coloured by how it ended, crashes and
//! restarts as horizontal rules across every lane — Jepsen's `timeline.html`, drawn in SVG.
//!
//! Tasks of one name that overlap in time (a writer still in flight when the next starts) get a
//! column each, so no box hides another.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Axis;
use super::fold::Row;
use super::spans::{Ending, Span};
use crate::svg::esc;
use crate::trace::{Event, Point};

const COL_W: f64 = 150.0;
const GUTTER: f64 = 150.0;
const TOP: f64 = 40.0;
/// Pixels per unit of the folded axis: one event is a line of text high, so a box that spans
/// two events holds its label.
const UNIT: f64 = 13.0;

/// The column order of task names: the restore's own first, anything else after, by name.
fn rank(name: &'static str) -> (u8, &'static str) {
    let r = match name {
        "driver" => 0,
        "kv" => 1,
        "tree" => 2,
        "writer" => 3,
        _ => 4,
    };
    (r, name)
}

/// One column of a lane: the task (process, task id) holding it, and the last event it is busy.
struct SubColumn {
    task: (u32, u16),
    busy_until: usize,
}

/// Columns: `(name, sub-column)` for every span, and the column list.
fn columns(spans: &[Span]) -> (Vec<usize>, Vec<(&'static str, usize)>) {
    // Per task name (in column order), its sub-columns.
    let mut subs: BTreeMap<(u8, &'static str), Vec<SubColumn>> = BTreeMap::new();
    let mut picked = Vec::with_capacity(spans.len());
    for s in spans {
        let cols = subs.entry(rank(s.task_name)).or_default();
        let me = (s.life, s.task);
        let k = match cols.iter().position(|c| c.task == me) {
            Some(k) => k,
            None => match cols.iter().position(|c| c.busy_until < s.start) {
                Some(k) => k,
                None => {
                    cols.push(SubColumn {
                        task: me,
                        busy_until: 0,
                    });
                    cols.len() - 1
                }
            },
        };
        cols[k].task = me;
        cols[k].busy_until = cols[k].busy_until.max(s.end);
        picked.push((rank(s.task_name), k));
    }
    let mut list: Vec<(&'static str, usize)> = Vec::new();
    let mut first: BTreeMap<(u8, &str), usize> = BTreeMap::new();
    for (key, cols) in &subs {
        first.insert(*key, list.len());
        list.extend((0..cols.len()).map(|k| (key.1, k)));
    }
    let index = picked.iter().map(|(key, k)| first[key] + k).collect();
    (index, list)
}

/// The short label inside a box: the operation and, unless it ended ok, how it ended.
fn box_label(s: &Span) -> String {
    let how = match &s.ending {
        Ending::Ok => "",
        Ending::Error(_) => " ERR",
        Ending::Fault(..) => " FAULT",
        Ending::Lost => " LOST",
    };
    let op = s.op.to_string();
    // 21 characters fit a column at font size 10.
    let room = 21usize.saturating_sub(how.len());
    let op: String = if op.chars().count() > room {
        op.chars()
            .take(room.saturating_sub(1))
            .chain(['…'])
            .collect()
    } else {
        op
    };
    format!("{op}{how}")
}

fn op_label(s: &Span) -> String {
    let how = match &s.ending {
        Ending::Ok => "ok".to_string(),
        Ending::Error(m) => format!("error: {m}"),
        Ending::Fault(f, r) => format!("injected {f:?}, returned {r}"),
        Ending::Lost => "in flight at the crash (or the end)".to_string(),
    };
    format!(
        "events {}–{}: process {} {} (task {}) {} — {}",
        s.start, s.end, s.life, s.task_name, s.task, s.op, how
    )
}

/// The lanes as SVG, time laid out by `rows` like the chart above them; the events in
/// `violations` (event, oracle) get a red rule.
pub fn lanes_svg(
    ev: &[Event],
    rows: &[Row],
    spans: &[Span],
    violations: &[(usize, &str)],
) -> String {
    let axis = Axis::new(ev.len(), rows);
    let units: f64 = rows
        .iter()
        .map(|r| match r {
            Row::Event(_) => 1.0,
            Row::Fold(_) => super::FOLD_UNITS,
        })
        .sum();
    let height = (units * UNIT).max(300.0);
    let y = |i: usize| TOP + height * axis.at(i);
    let (col_of, cols) = columns(spans);
    let w = GUTTER + COL_W * cols.len().max(1) as f64 + 20.0;
    let h = TOP + height + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="lanes-svg" width="{w}" height="{h:.0}" viewBox="0 0 {w} {h:.0}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h:.0}" fill="white"/>"#);
    for (c, (name, k)) in cols.iter().enumerate() {
        let x = GUTTER + COL_W * c as f64;
        let label = if *k == 0 {
            name.to_string()
        } else {
            format!("{name} {}", k + 1)
        };
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-weight="bold">{}</text><line x1="{:.1}" y1="{TOP}" x2="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            x + COL_W / 2.0,
            TOP - 12.0,
            esc(&label),
            x + COL_W / 2.0,
            x + COL_W / 2.0,
            TOP + height
        );
    }
    // Folded runs: grey bands across the lanes.
    for (r, row) in rows.iter().enumerate() {
        if let Row::Fold(run) = row {
            let y0 = y(run.first);
            let y1 = rows
                .get(r + 1)
                .map_or(TOP + height, |n| y(*n.events().start()));
            let _ = writeln!(
                s,
                r##"<rect x="{GUTTER}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="#000" fill-opacity="0.05"><title>events {}–{} folded: {}</title></rect>"##,
                w - GUTTER - 20.0,
                (y1 - y0).max(1.0),
                run.first,
                run.last,
                esc(&run.label())
            );
            // A run of chunk cycles spans every lane: its label goes in the gutter.
            if matches!(run.kind, super::fold::RunKind::Chunks { .. }) {
                let _ = writeln!(
                    s,
                    r#"<text x="4" y="{:.1}" font-size="10">{}</text>"#,
                    y0 + 12.0,
                    esc(&run.label())
                );
            }
        }
    }
    // Restarts and crashes: rules across every lane, labelled in the gutter.
    for (i, e) in ev.iter().enumerate() {
        let new_life = i == 0 || ev[i - 1].life != e.life;
        let (label, color, dash) = match &e.what {
            Point::Crash {
                power_loss: true,
                lost_writes,
                ..
            } => (format!("power loss (−{lost_writes})"), "#c00", ""),
            Point::Crash { .. } => ("process crash".to_string(), "#c00", ""),
            _ if new_life => (format!("process {} starts", e.life), "#888", "4 3"),
            _ => continue,
        };
        let _ = writeln!(
            s,
            r##"<a href="#e{i}"><line x1="4" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/><text x="4" y="{2:.1}" fill="{color}">{3} (event {i})</text></a>"##,
            y(i),
            w - 20.0,
            y(i) - 3.0,
            esc(&label)
        );
    }
    // The operations. Inside a folded run the boxes are many and thin: no outline, and one
    // label for the run over them.
    let folds: Vec<&super::fold::Run> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Fold(run) => Some(run),
            Row::Event(_) => None,
        })
        .collect();
    let fold_of = |e: usize| folds.iter().find(|f| (f.first..=f.last).contains(&e));
    let mut fold_labels: BTreeMap<usize, (f64, f64, String)> = BTreeMap::new();
    for (sp, c) in spans.iter().zip(&col_of) {
        let inset = 8.0 + 6.0 * f64::from(sp.depth.min(3));
        let x = GUTTER + COL_W * *c as f64 + inset;
        let y0 = y(sp.start);
        let y1 = y(sp.end).max(y0 + 3.0);
        let folded = fold_of(sp.start);
        if let Some(f) = folded
            && matches!(f.kind, super::fold::RunKind::Probes { .. })
        {
            fold_labels
                .entry(f.first)
                .or_insert_with(|| (x, y(f.first), f.label()));
        }
        let label = if y1 - y0 >= 11.0 && folded.is_none() {
            format!(
                r#"<text x="{:.1}" y="{:.1}" font-size="10" pointer-events="none">{}</text>"#,
                x + 3.0,
                y0 + 10.0,
                esc(&box_label(sp))
            )
        } else {
            String::new()
        };
        let stroke = if folded.is_some() { "none" } else { "#333" };
        let _ = writeln!(
            s,
            r##"<a href="#e{0}"><rect class="op {1}" fill="{8}" stroke="{10}" stroke-width="0.5" data-start="{0}" data-end="{2}" x="{3:.1}" y="{4:.1}" width="{5:.1}" height="{6:.1}"><title>{7}</title></rect>{9}</a>"##,
            sp.start,
            sp.ending.class(),
            sp.end,
            x,
            y0,
            COL_W - 2.0 * inset,
            y1 - y0,
            esc(&op_label(sp)),
            sp.ending.color(),
            label,
            stroke
        );
    }
    for (x, y0, text) in fold_labels.values() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" pointer-events="none">{}</text>"#,
            x + 3.0,
            y0 + 12.0,
            esc(text)
        );
    }
    // The violations, over everything.
    for (e, oracle) in violations {
        let _ = writeln!(
            s,
            r##"<a href="#e{e}" class="violation-mark"><line x1="4" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#c00" stroke-width="2.5"/><text x="4" y="{2:.1}" fill="#c00" font-weight="bold">{3} (event {e})</text></a>"##,
            y(*e) + 1.5,
            w - 20.0,
            y(*e) + 13.0,
            esc(oracle)
        );
    }
    s.push_str("</svg>\n");
    s
}
