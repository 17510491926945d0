//! `replay`: one case, its timeline, and optionally a determinism check.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use harness::case::{Case, GenConfig, StoreKind};
use harness::run::{Outcome, compare, run_case};
use restore_core::strategy::CommitStrategy;
use serde::Serialize;

use crate::Verdict;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A case file written by `sweep --save-failures` (or by hand), or a corpus entry.
    case: Option<PathBuf>,
    /// Instead of a file: the seed of a generated case ...
    #[arg(long, conflicts_with = "case", requires = "strategy")]
    seed: Option<u64>,
    /// ... and its strategy.
    #[arg(long)]
    strategy: Option<CommitStrategy>,
    /// Store of a generated case: mem or rocksdb.
    #[arg(long, default_value = "mem", value_parser = ["mem", "rocksdb"])]
    store: String,
    /// Largest snapshot of a generated case (must match the sweep that found it).
    #[arg(long, default_value_t = 200)]
    max_keys: usize,
    /// The layout the sweep forced, if it did (`sweep --layout`).
    #[arg(long)]
    layout: Option<restore_core::store::Layout>,
    /// The sync policy the sweep forced, if it did (`sweep --sync`).
    #[arg(long)]
    sync: Option<restore_core::store::SyncPolicy>,
    /// Run the case twice and compare the traces event by event.
    #[arg(long)]
    check_determinism: bool,
    /// Print only the head (verdict, violations, case, commands) and what was durable at the
    /// violations (and `--at` events), not the timeline.
    #[arg(long)]
    quiet: bool,
    /// Print every event of the timeline (by default, runs of the same probe by one task are
    /// folded into one line).
    #[arg(long)]
    full: bool,
    /// Also show what was durable at event N and what changed there, and keep event N out of
    /// any folded run (repeatable; text output).
    #[arg(long = "at", value_name = "N")]
    at: Vec<usize>,
    /// Write the case to this file (for `shrink`, or to keep it past a generator change).
    #[arg(long, value_name = "FILE")]
    save_case: Option<PathBuf>,
    /// Draw durable KV and tree progress over the trace, with faults, crashes and the violation
    /// marked, as an SVG file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// The replay as one self-contained HTML page: verdict and case first, the chart, one lane
    /// per task, the folded timeline with every event anchored (`#eN`), what became durable.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Write the outcome as JSON (schema restore-sim/replay/v1) to this file; `-` writes it to
    /// standard output instead of the text.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The JSON outcome of a replay: fixed field names, schema [`REPLAY_SCHEMA`].
#[derive(Serialize)]
struct ReplayReport<'a> {
    schema: &'static str,
    seed: u64,
    strategy: &'a str,
    store: &'a str,
    /// "pass" or "violated".
    verdict: &'static str,
    /// The headline oracle (earliest in the trace, then by priority), if any.
    headline: Option<&'a str>,
    /// Every violation, headline first.
    violations: Vec<ViolationReport<'a>>,
    events: usize,
    processes: u32,
    steps: u64,
    completed: bool,
    trace_hash: String,
}

#[derive(Serialize)]
struct ViolationReport<'a> {
    oracle: &'a str,
    event: usize,
    process: u32,
    step: u64,
    detail: &'a str,
}

const REPLAY_SCHEMA: &str = "restore-sim/replay/v1";

pub fn load(args: &ReplayArgs) -> Result<Case> {
    if let Some(p) = &args.case {
        // A case file, or a corpus entry (its case).
        return crate::shrink::load_case(p);
    }
    let (Some(seed), Some(strategy)) = (args.seed, args.strategy) else {
        bail!("give a case file, or --seed and --strategy");
    };
    // The generator draws up to `max_keys` keys; past the case limit the case would be one that
    // no case file may hold (and that `sweep` could not have found).
    let max = harness::case_limits::MAX_KEYS;
    if !(1..=max).contains(&args.max_keys) {
        bail!(
            "--max-keys must be from 1 to {max} (docs/case-limits.md), got {}",
            args.max_keys
        );
    }
    let store = if args.store == "rocksdb" {
        StoreKind::Rocksdb
    } else {
        StoreKind::Mem
    };
    Ok(Case::generate(
        seed,
        strategy,
        &GenConfig {
            max_keys: args.max_keys,
            store,
            layout: args.layout,
            sync: args.sync,
        },
    ))
}

/// The commands that reproduce this replay and shrink its case, as a reader would paste them.
fn commands(args: &ReplayArgs, case: &Case) -> harness::story::Commands {
    let quote = |p: &std::path::Path| {
        let s = p.display().to_string();
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
        {
            s
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    match &args.case {
        Some(p) => harness::story::Commands {
            reproduce: format!("restore-sim replay {}", quote(p)),
            shrink: format!("restore-sim shrink {}", quote(p)),
        },
        None => {
            let mut flags = format!(
                "--seed {} --strategy {}",
                case.seed,
                args.strategy.map_or("?", |s| s.name())
            );
            if args.store != "mem" {
                flags.push_str(&format!(" --store {}", args.store));
            }
            if args.max_keys != 200 {
                flags.push_str(&format!(" --max-keys {}", args.max_keys));
            }
            if let Some(l) = args.layout {
                flags.push_str(&format!(" --layout {l}"));
            }
            if let Some(s) = args.sync {
                flags.push_str(&format!(" --sync {s}"));
            }
            let file = format!("case-{}-{}.json", case.seed, case.strategy);
            harness::story::Commands {
                reproduce: format!("restore-sim replay {flags}"),
                shrink: format!(
                    "restore-sim replay {flags} --quiet --save-case {file} && restore-sim shrink {file}"
                ),
            }
        }
    }
}

pub fn run(args: &ReplayArgs) -> Result<Verdict> {
    let case = load(args)?;
    if let Some(p) = &args.save_case {
        std::fs::write(p, case.to_json()).with_context(|| format!("writing {}", p.display()))?;
    }
    let (outcome, durable) = harness::story::replay(&case).context("running the case")?;
    let events = outcome.trace.events.len();
    if let Some(&n) = args.at.iter().find(|&&n| n >= events) {
        match events {
            0 => bail!("--at {n}: the trace has no events"),
            _ => bail!(
                "--at {n}: the trace has {events} events (0 to {})",
                events - 1
            ),
        }
    }
    let cmds = commands(args, &case);
    let json_to_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    // With the JSON on standard output, everything else goes to standard error. A reader that
    // stops early (`| head`) makes this an error, not a panic.
    let say = |line: &str| -> Result<()> {
        let line = format!("{line}\n");
        if json_to_stdout {
            use std::io::Write;
            std::io::stderr()
                .lock()
                .write_all(line.as_bytes())
                .context("writing to standard error")
        } else {
            to_stdout(&line)
        }
    };
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&replay_report(&case, &outcome))
            .context("serializing the outcome")?;
        if json_to_stdout {
            to_stdout(&format!("{text}\n"))?;
        } else {
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    // Files first: a reader that stops early (`| head`) must not cost the page.
    let title = format!("restore-sim: seed {} under {}", case.seed, case.strategy);
    let mut wrote = Vec::new();
    if let Some(p) = &args.svg {
        std::fs::write(p, harness::svg::timeline_svg(&outcome, &title))
            .with_context(|| format!("writing {}", p.display()))?;
        wrote.push(p);
    }
    if let Some(p) = &args.html {
        std::fs::write(
            p,
            harness::story::page::page(&case, &outcome, &durable, &cmds, &title),
        )
        .with_context(|| format!("writing {}", p.display()))?;
        wrote.push(p);
    }
    if !json_to_stdout {
        use harness::story::Timeline;
        let timeline = match (args.quiet, args.full) {
            (true, _) => Timeline::None,
            (false, true) => Timeline::Full,
            (false, false) => Timeline::Folded,
        };
        let text =
            harness::story::replay_text(&case, &outcome, &durable, &cmds, timeline, &args.at);
        to_stdout(&text)?;
    }
    for p in wrote {
        say(&format!("wrote {}", p.display()))?;
    }
    if args.check_determinism {
        let again = run_case(&case).context("running the case again")?;
        match compare(&outcome, &again) {
            Ok(h) => say(&format!(
                "determinism: two runs gave the same trace hash {h}"
            ))?,
            Err(d) => {
                say(&format!(
                    "determinism: runs DIFFER at event {}:\n  first:  {}\n  second: {}",
                    d.event,
                    d.first.as_deref().unwrap_or("(no event)"),
                    d.second.as_deref().unwrap_or("(no event)")
                ))?;
                return Ok(Verdict::Unexpected);
            }
        }
    }
    Ok(Verdict::AsExpected)
}

fn replay_report<'a>(case: &'a Case, outcome: &'a Outcome) -> ReplayReport<'a> {
    ReplayReport {
        schema: REPLAY_SCHEMA,
        seed: case.seed,
        strategy: case.strategy.name(),
        store: match case.store {
            StoreKind::Mem => "mem",
            StoreKind::Rocksdb => "rocksdb",
        },
        verdict: if outcome.passed() { "pass" } else { "violated" },
        headline: outcome.first_violation().map(|v| v.oracle.name()),
        violations: outcome
            .violations
            .iter()
            .map(|v| ViolationReport {
                oracle: v.oracle.name(),
                event: v.event,
                process: v.life,
                step: v.step,
                detail: &v.detail,
            })
            .collect(),
        events: outcome.trace.events.len(),
        processes: outcome.counters.lives,
        steps: outcome.counters.steps,
        completed: outcome.completed,
        trace_hash: outcome.trace_hash().to_string(),
    }
}

/// Writes to standard output without `print!`'s panic on a closed pipe (`replay ... | head`):
/// the reader stopping early is an error with a message, not a crash.
fn to_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to standard output")
}
