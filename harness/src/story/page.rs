//! The replay page: one self-contained HTML file (no network, a few lines of inline script).
//!
//! Top to bottom: the verdict (each violation links to its event), the case, the trace hash and
//! the commands; what was durable at the violation; the K/T chart; the lanes; the folded
//! timeline, every event anchored `#eN` (a folded run is a `<details>`). Clicking the chart, a
//! lane box, a rule or a violation goes to the event; the event is highlighted (`:target`) and a
//! panel shows what was durable there and what changed. Opening the page with a violation's
//! fragment (`page.html#e1112`) opens it there; everything but the panel works without script.

use std::fmt::Write;

use super::durable::DurableLog;
use super::fold::{self, Row};
use super::header::{self, Commands};
use super::{lanes, spans, violation_events};
use crate::case::Case;
use crate::run::Outcome;
use crate::svg::{chart_svg, esc};

const STYLE: &str = r#"
body { font-family: sans-serif; margin: 1.2em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .4em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
.verdict { font-size: 1.15em; font-weight: bold; }
.verdict.bad { color: #b00; } .verdict.good { color: #272; }
ul.violations { margin: .3em 0 .8em; }
ul.violations a { font-weight: bold; color: #b00; }
pre, code, .tl { font-family: monospace; font-size: 12px; }
pre.case, pre.cmds, pre.durable { background: #f6f6f6; padding: .5em .8em; margin: .3em 0; white-space: pre-wrap; }
nav a { margin-right: 1em; }
.tl a.ev, .tl summary { display: block; white-space: pre; color: #222; text-decoration: none; }
.tl a.ev:hover, .tl summary:hover { background: #eef; }
.tl summary { color: #555; cursor: pointer; }
.tl details > a.ev { padding-left: 2em; color: #555; }
.tl .bad { color: #b00; font-weight: bold; }
.tl :target, .tl .here { background: #ffe08a !important; }
.legend span { display: inline-block; width: 12px; height: 10px; margin: 0 4px 0 12px; border: 1px solid #333; }
#panel { position: fixed; right: 12px; bottom: 12px; width: 44em; max-width: 60%; background: #fffbe6; border: 1px solid #c9b458; box-shadow: 0 2px 8px #0003; display: none; }
#panel pre { margin: 0; padding: .5em .8em; white-space: pre-wrap; }
#panel button { float: right; margin: .3em; }
"#;

/// Finds the event in the URL fragment, opens the folded run holding it, marks it, scrolls to it
/// and shows what was durable there. `data-ready` tells a headless check the script ran.
const SCRIPT: &str = r#"
(function () {
  var data = JSON.parse(document.getElementById('durable-data').textContent);
  var panel = document.getElementById('panel');
  var text = document.getElementById('panel-text');
  function durableAt(n) {
    var c = null, batch = null;
    for (var i = 0; i < data.length && data[i].e <= n; i++) {
      c = data[i];
      if (data[i].batch) { batch = data[i]; }
    }
    if (!c) { return 'nothing recorded at or before event ' + n; }
    var s = 'durable at event ' + n + ' (what a process crash then would leave):\n' + c.view;
    if (batch) { s += '  last nodes to land (event ' + batch.e + '): ' + batch.batch + '\n'; }
    s += c.e === n ? '  changed here: ' + c.diff : '  unchanged since event ' + c.e;
    return s;
  }
  function show() {
    var m = /^#e(\d+)$/.exec(location.hash);
    if (!m) { return; }
    var el = document.getElementById('e' + m[1]);
    if (!el) { return; }
    var d = el.closest('details');
    if (d) { d.open = true; }
    var old = document.querySelectorAll('.here');
    for (var i = 0; i < old.length; i++) { old[i].classList.remove('here'); }
    el.classList.add('here');
    el.scrollIntoView({ block: 'center' });
    text.textContent = durableAt(Number(m[1]));
    panel.style.display = 'block';
  }
  document.getElementById('panel-close').addEventListener('click', function () {
    panel.style.display = 'none';
  });
  window.addEventListener('hashchange', show);
  // Step through the trace from the marked event, as rr steps: j forward, k back.
  var last = document.querySelectorAll('.tl [id^="e"]').length - 1;
  document.addEventListener('keydown', function (ev) {
    var m = /^#e(\d+)$/.exec(location.hash);
    if (!m || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var n = Number(m[1]) + (ev.key === 'j' ? 1 : ev.key === 'k' ? -1 : 0);
    if (n !== Number(m[1]) && n >= 0 && n <= last) { location.hash = '#e' + n; }
  });
  show();
  document.body.setAttribute('data-ready', '1');
})();
"#;

/// The durable log as the script's data: per change, the view's lines (the text replay's), the
/// diff, the batch that landed.
fn durable_json(log: &DurableLog) -> String {
    let items: Vec<serde_json::Value> = log
        .changes
        .iter()
        .map(|c| {
            serde_json::json!({
                "e": c.event,
                "view": c.view.lines(),
                "diff": c.diff(),
                "batch": c.batch(),
            })
        })
        .collect();
    // `</` cannot end the script element early once escaped.
    serde_json::Value::Array(items)
        .to_string()
        .replace("</", "<\\/")
}

/// The whole page.
pub fn page(
    case: &Case,
    outcome: &Outcome,
    log: &DurableLog,
    cmds: &Commands,
    title: &str,
) -> String {
    let ev = &outcome.trace.events;
    let marked = violation_events(outcome);
    let rows = fold::fold(&outcome.trace, &marked);
    let ops = spans::spans(&outcome.trace);
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\n<body>\n<h1>{t}</h1>\n",
        t = esc(title)
    );
    // The verdict, each violation linked to its event.
    let (class, verdict) = match outcome.first_violation() {
        Some(v) => ("bad", format!("VIOLATED {} at event {}", v.oracle, v.event)),
        None => ("good", "all oracles held".to_string()),
    };
    let _ = writeln!(
        s,
        "<p class=\"verdict {class}\" id=\"verdict\">{}</p>",
        esc(&verdict)
    );
    if !outcome.violations.is_empty() {
        s.push_str("<ul class=\"violations\">\n");
        for v in &outcome.violations {
            let _ = writeln!(
                s,
                "<li id=\"v-{o}\"><a class=\"violation\" href=\"#e{e}\">{o}</a> at event {e}, process {p}, step {st}: {d}</li>",
                o = esc(v.oracle.name()),
                e = v.event,
                p = v.life,
                st = v.step,
                d = esc(&v.detail)
            );
        }
        s.push_str("</ul>\n");
    }
    let case_text: String = header::case_lines(case)
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    let _ = writeln!(
        s,
        "<pre class=\"case\">{}</pre>\n<p>{} events, {} processes, trace hash <code>{}</code></p>\n<pre class=\"cmds\">reproduce:  {}\nshrink:     {}</pre>",
        esc(&case_text),
        ev.len(),
        outcome.counters.lives,
        outcome.trace_hash(),
        esc(&cmds.reproduce),
        esc(&cmds.shrink)
    );
    for e in &marked {
        if let Some(a) = log.at(*e) {
            let _ = writeln!(
                s,
                "<pre class=\"durable\" id=\"durable-{e}\">{}</pre>",
                esc(&a.text())
            );
        }
    }
    s.push_str("<nav><a href=\"#chart\">chart</a><a href=\"#lanes\">lanes</a><a href=\"#timeline\">timeline</a></nav>\n");
    // The chart.
    let _ = writeln!(
        s,
        "<h2 id=\"chart\">Durable progress: K (KV) and T (tree)</h2>\n<p>Click anywhere on the chart to go to that event.</p>\n{}",
        chart_svg(outcome, title, &rows)
    );
    // The lanes.
    let _ = writeln!(
        s,
        "<h2 id=\"lanes\">Lanes: every store operation, start to completion</h2>\n<p class=\"legend\">One column per task; time runs down on the chart's axis; crashes and restarts are rules across the lanes.<span style=\"background:#7fb77e\"></span>ok<span style=\"background:#d9534f\"></span>error<span style=\"background:#f0a030\"></span>injected fault<span style=\"background:#8a5fbf\"></span>lost at a crash. Click a box to go to its start.</p>\n{}",
        lanes::lanes_svg(
            ev,
            &rows,
            &ops,
            &outcome
                .violations
                .iter()
                .map(|v| (v.event, v.oracle.name()))
                .collect::<Vec<_>>()
        )
    );
    // The timeline.
    let _ = writeln!(
        s,
        "<h2 id=\"timeline\">Timeline ({} events in {} rows; folded probe runs open on click; at a marked event, j and k step forward and back)</h2>\n<div class=\"tl\">",
        ev.len(),
        rows.len()
    );
    let line = |i: usize| {
        let mark = if marked.contains(&i) { ">>" } else { "  " };
        format!("{mark} {i:>5} {}", ev[i])
    };
    for row in &rows {
        match row {
            Row::Event(i) => {
                let bad = if marked.contains(i) { " bad" } else { "" };
                let _ = writeln!(
                    s,
                    "<a class=\"ev{bad}\" id=\"e{i}\" href=\"#e{i}\">{}</a>",
                    esc(&line(*i))
                );
            }
            Row::Fold(run) => {
                let _ = writeln!(
                    s,
                    "<details class=\"fold\"><summary id=\"e{}\">   {:>5} {}</summary>",
                    run.first,
                    run.first,
                    esc(&fold::fold_line(ev, run))
                );
                // The run's first event is the summary's anchor; the rest get their own.
                let _ = writeln!(s, "<a class=\"ev\">{}</a>", esc(&line(run.first)));
                for i in run.first + 1..=run.last {
                    let _ = writeln!(
                        s,
                        "<a class=\"ev\" id=\"e{i}\" href=\"#e{i}\">{}</a>",
                        esc(&line(i))
                    );
                }
                s.push_str("</details>\n");
            }
        }
    }
    s.push_str("</div>\n");
    let _ = write!(
        s,
        "<div id=\"panel\"><button id=\"panel-close\" type=\"button\">close</button><pre id=\"panel-text\"></pre></div>\n<script type=\"application/json\" id=\"durable-data\">{}</script>\n<script>{SCRIPT}</script>\n</body></html>\n",
        durable_json(log)
    );
    s
}
