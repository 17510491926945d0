//! A picture of a run: durable KV progress (K) and tree progress (T) over the trace, with the
//! allowed band, faults, crashes, restarts and the first violation marked. Plain SVG, so it opens
//! in any browser; the replay page (`story::page`) embeds it. Time runs on the folded axis
//! (`story::Axis`): a run of probes takes a few units, so the action is not squeezed into a
//! sliver, and every row is a link to its event (`#eN`) with the event's line as its tooltip.

use std::fmt::Write;

use crate::run::Outcome;
use crate::story::{Axis, fold};
use crate::trace::Point;

const W: f64 = 1100.0;
const H: f64 = 420.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Room a label of `chars` characters needs at font size 11 (monospace: ~6.6 px a character).
fn label_width(chars: usize) -> f64 {
    chars as f64 * 6.7 + 6.0
}

/// Where a label starting next to `x` goes: to its right, or to its left (anchored at its end)
/// when it would run past the right edge.
fn label_at(x: f64, text: &str) -> (f64, &'static str) {
    if x + 3.0 + label_width(text.chars().count()) > W - 2.0 {
        (x - 3.0, "end")
    } else {
        (x + 3.0, "start")
    }
}

/// The SVG drawing of `outcome`, on the folded axis.
pub fn timeline_svg(outcome: &Outcome, title: &str) -> String {
    let rows = fold::fold(&outcome.trace, &crate::story::violation_events(outcome));
    chart_svg(outcome, title, &rows)
}

/// The SVG drawing of `outcome`, time laid out by `rows` (folded runs compressed).
pub fn chart_svg(outcome: &Outcome, title: &str, rows: &[fold::Row]) -> String {
    let ev = &outcome.trace.events;
    let axis = Axis::new(ev.len(), rows);
    // The top of the allowed band at each event: the chunk-exact bound, or K itself where the
    // tree is complete and nothing bounds K from above.
    let top = |e: &crate::trace::Event| outcome.chunk_ends.upper_bound(e.t).unwrap_or(e.k.max(e.t));
    let ymax = ev
        .iter()
        .map(|e| e.k.max(e.t).max(top(e)))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * axis.at(i);
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v / ymax);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="14">{}</text>"#,
        esc(title)
    );
    // Axes and grid.
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#333"/>"##,
        y(0.0),
        W - RIGHT,
        y(0.0),
        y(0.0)
    );
    // Whole keys only: a tick's label is the value it stands at.
    let mut ticks: Vec<f64> = (0..=4)
        .map(|k| (ymax * f64::from(k) / 4.0).round())
        .collect();
    ticks.dedup();
    for v in ticks {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end">{:.0}</text><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#eee"/>"##,
            LEFT - 6.0,
            y(v) + 4.0,
            v,
            y(v),
            W - RIGHT,
            y(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">trace event (scheduling point; grey bands: folded probe runs)</text><text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">keys covered</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 28.0,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0
    );
    // Allowed band: T <= K <= end of the chunk after the one holding the first missing leaf.
    if !ev.is_empty() {
        let mut band = String::new();
        for (i, e) in ev.iter().enumerate() {
            let _ = write!(band, "{:.1},{:.1} ", x(i), y(f64::from(top(e))));
        }
        for (i, e) in ev.iter().enumerate().rev() {
            let _ = write!(band, "{:.1},{:.1} ", x(i), y(f64::from(e.t)));
        }
        let _ = writeln!(
            s,
            r##"<polygon points="{band}" fill="#dfe9f7" stroke="none"><title>allowed: T ≤ K ≤ end of the chunk after the tree's first missing leaf</title></polygon>"##
        );
    }
    // Process boundaries and crashes.
    for (i, e) in ev.iter().enumerate() {
        if i > 0 && e.life != ev[i - 1].life {
            let label = format!("process {}", e.life);
            let (lx, anchor) = label_at(x(i), &label);
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#999" stroke-dasharray="4 3"/><text x="{2:.1}" y="{3}" fill="#666" text-anchor="{anchor}">{label}</text>"##,
                x(i),
                y(0.0),
                lx,
                TOP + 10.0,
            );
        }
        if let Point::Crash {
            power_loss,
            lost_writes,
            ..
        } = &e.what
        {
            let label = if *power_loss {
                format!("power loss (-{lost_writes})")
            } else {
                "crash".into()
            };
            let (lx, anchor) = label_at(x(i), &label);
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#c00" stroke-width="2"/><text x="{2:.1}" y="{3}" fill="#c00" text-anchor="{anchor}">{4}</text>"##,
                x(i),
                y(0.0),
                lx,
                TOP + 22.0,
                esc(&label)
            );
        }
    }
    // K and T as step lines.
    for (name, color, get) in [
        (
            "T (tree)",
            "#2a8a3a",
            (|e: &crate::trace::Event| e.t) as fn(&crate::trace::Event) -> u32,
        ),
        ("K (KV)", "#1f5fbf", |e: &crate::trace::Event| e.k),
    ] {
        let mut d = String::new();
        for (i, e) in ev.iter().enumerate() {
            let v = f64::from(get(e));
            if i == 0 {
                let _ = write!(d, "M{:.1},{:.1}", x(i), y(v));
            } else {
                let _ = write!(d, " H{:.1} V{:.1}", x(i), y(v));
            }
        }
        let _ = writeln!(
            s,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="2"><title>{name}</title></path>"#
        );
    }
    // Faults.
    for (i, e) in ev.iter().enumerate() {
        let fault = match &e.what {
            Point::Before(op, Some(f)) => Some(format!("{op}: {f:?}")),
            _ => None,
        };
        if let Some(f) = fault {
            let _ = writeln!(
                s,
                r##"<path d="M{0:.1},{1:.1} l5,9 h-10 z" fill="#e08a00"><title>event {2}: fault {3}</title></path>"##,
                x(i),
                y(0.0) + 4.0,
                i,
                esc(&f)
            );
        }
    }
    // Folded runs as grey bands, and every row a link to its event (hover: the event's line).
    for (r, row) in rows.iter().enumerate() {
        let first = *row.events().start();
        let x0 = x(first);
        let x1 = rows
            .get(r + 1)
            .map_or(W - RIGHT, |next| x(*next.events().start()));
        let tip = match row {
            fold::Row::Event(i) => format!("event {i}: {}", ev[*i]),
            fold::Row::Fold(run) => format!(
                "events {}–{}: {}",
                run.first,
                run.last,
                fold::fold_line(ev, run)
            ),
        };
        if matches!(row, fold::Row::Fold(_)) {
            let _ = writeln!(
                s,
                r##"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#000" fill-opacity="0.06"/>"##,
                (x1 - x0).max(1.0),
                y(0.0) - TOP
            );
        }
        let _ = writeln!(
            s,
            r##"<a href="#e{first}"><rect class="hit" data-e="{first}" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#fff" fill-opacity="0"><title>{}</title></rect></a>"##,
            (x1 - x0).max(1.0),
            y(0.0) - TOP,
            esc(&tip)
        );
    }
    // The first violation.
    if let Some(v) = outcome.first_violation()
        && !ev.is_empty()
    {
        let e = &ev[v.event.min(ev.len() - 1)];
        let label = format!("{} at event {}", v.oracle, v.event);
        let lx = (x(v.event) + 10.0).min(W - 2.0 - label_width(label.chars().count()));
        let _ = writeln!(
            s,
            r##"<a href="#e{}" class="violation-mark"><circle cx="{:.1}" cy="{:.1}" r="7" fill="none" stroke="#c00" stroke-width="3"><title>{}</title></circle><text x="{:.1}" y="{:.1}" fill="#c00" font-weight="bold">{}</text></a>"##,
            v.event,
            x(v.event),
            y(f64::from(e.k)),
            esc(&v.detail),
            lx,
            (y(f64::from(e.k)) - 10.0).max(TOP + 34.0),
            esc(&label)
        );
    }
    // Legend.
    let ly = H - 12.0;
    let _ = writeln!(
        s,
        r##"<g font-size="11"><rect x="{LEFT}" y="{0}" width="12" height="4" fill="#1f5fbf"/><text x="{1}" y="{2}">K: keys at or below durable KV progress</text><rect x="{3}" y="{0}" width="12" height="4" fill="#2a8a3a"/><text x="{4}" y="{2}">T: keys at or below durable rightmost leaf</text><rect x="{5}" y="{6}" width="12" height="10" fill="#dfe9f7"/><text x="{7}" y="{2}">allowed band</text><path d="M{8},{6} l5,9 h-10 z" fill="#e08a00"/><text x="{9}" y="{2}">fault</text></g>"##,
        ly - 4.0,
        LEFT + 16.0,
        ly,
        LEFT + 300.0,
        LEFT + 316.0,
        LEFT + 600.0,
        ly - 9.0,
        LEFT + 616.0,
        LEFT + 720.0,
        LEFT + 732.0
    );
    s.push_str("</svg>\n");
    s
}
