//! A picture of a run: durable KV progress (K) and tree progress (T) over the trace, with the
//! allowed band, faults, crashes, restarts and the first violation marked. Plain SVG (and an
//! HTML page around it with the text timeline), so it opens in any browser.

use std::fmt::Write;

use crate::run::Outcome;
use crate::trace::Point;

const W: f64 = 1100.0;
const H: f64 = 420.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG drawing of `outcome`.
pub fn timeline_svg(outcome: &Outcome, title: &str) -> String {
    let ev = &outcome.trace.events;
    let n = ev.len().max(2);
    // The top of the allowed band at each event: the chunk-exact bound, or K itself where the
    // tree is complete and nothing bounds K from above.
    let top = |e: &crate::trace::Event| outcome.chunk_ends.upper_bound(e.t).unwrap_or(e.k.max(e.t));
    let ymax = ev
        .iter()
        .map(|e| e.k.max(e.t).max(top(e)))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * i as f64 / (n - 1) as f64;
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
    for k in 0..=4 {
        let v = ymax * f64::from(k) / 4.0;
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
        r#"<text x="{}" y="{}" text-anchor="middle">trace event (scheduling point)</text><text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">keys covered</text>"#,
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
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#999" stroke-dasharray="4 3"/><text x="{2:.1}" y="{3}" fill="#666">process {4}</text>"##,
                x(i),
                y(0.0),
                x(i) + 3.0,
                TOP + 10.0,
                e.life
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
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#c00" stroke-width="2"/><text x="{2:.1}" y="{3}" fill="#c00">{4}</text>"##,
                x(i),
                y(0.0),
                x(i) + 3.0,
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
    // The first violation.
    if let Some(v) = outcome.first_violation() {
        let e = &ev[v.event.min(ev.len().saturating_sub(1))];
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="7" fill="none" stroke="#c00" stroke-width="3"><title>{}</title></circle><text x="{:.1}" y="{:.1}" fill="#c00" font-weight="bold">{} at event {}</text>"##,
            x(v.event),
            y(f64::from(e.k)),
            esc(&v.detail),
            (x(v.event) + 10.0).min(W - 320.0),
            (y(f64::from(e.k)) - 10.0).max(TOP + 34.0),
            v.oracle,
            v.event
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

/// An HTML page: the drawing, the verdict and the text timeline.
pub fn timeline_html(outcome: &Outcome, title: &str) -> String {
    let verdict = match outcome.first_violation() {
        Some(v) => format!("VIOLATED {} at event {}: {}", v.oracle, v.event, v.detail),
        None => "all oracles held".into(),
    };
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\n<body style=\"font-family: sans-serif\">\n<h1>{t}</h1>\n<p><b>{v}</b> — trace hash <code>{h}</code></p>\n{svg}<pre style=\"font-size: 12px\">{tl}</pre>\n</body></html>\n",
        t = esc(title),
        v = esc(&verdict),
        h = outcome.trace_hash(),
        svg = timeline_svg(outcome, title),
        tl = esc(&outcome.timeline())
    )
}
