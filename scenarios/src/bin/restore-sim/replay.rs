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
    /// A case file written by `sweep --save-failures` (or by hand).
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
    /// Print only the summary, not the timeline.
    #[arg(long)]
    quiet: bool,
    /// Draw durable KV and tree progress over the trace, with faults, crashes and the violation
    /// marked, as an SVG file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// The same drawing plus the text timeline, as an HTML page.
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
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return Case::from_json(&text).with_context(|| format!("in {}", p.display()));
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

pub fn run(args: &ReplayArgs) -> Result<Verdict> {
    let case = load(args)?;
    let outcome = run_case(&case).context("running the case")?;
    let json_to_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    // With the JSON on standard output, everything else goes to standard error.
    let say = |line: &str| {
        if json_to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
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
    if !json_to_stdout {
        let mut text = String::new();
        if !args.quiet {
            text.push_str(&outcome.timeline());
        }
        text.push_str(&summary(&case, &outcome));
        to_stdout(&text)?;
    }
    let title = format!("restore-sim: seed {} under {}", case.seed, case.strategy);
    if let Some(p) = &args.svg {
        std::fs::write(p, harness::svg::timeline_svg(&outcome, &title))
            .with_context(|| format!("writing {}", p.display()))?;
        say(&format!("wrote {}", p.display()));
    }
    if let Some(p) = &args.html {
        std::fs::write(p, harness::svg::timeline_html(&outcome, &title))
            .with_context(|| format!("writing {}", p.display()))?;
        say(&format!("wrote {}", p.display()));
    }
    if args.check_determinism {
        let again = run_case(&case).context("running the case again")?;
        match compare(&outcome, &again) {
            Ok(h) => say(&format!(
                "determinism: two runs gave the same trace hash {h}"
            )),
            Err(d) => {
                say(&format!(
                    "determinism: runs DIFFER at event {}:\n  first:  {}\n  second: {}",
                    d.event,
                    d.first.as_deref().unwrap_or("(no event)"),
                    d.second.as_deref().unwrap_or("(no event)")
                ));
                return Ok(Verdict::Unexpected);
            }
        }
    }
    Ok(Verdict::AsExpected)
}

/// The verdict block: the headline line, then every violated oracle (headline first), each with
/// its event, process, step and detail.
fn summary(case: &Case, outcome: &Outcome) -> String {
    let mut out = format!(
        "case seed {} strategy {}: {} ({} events, {} processes, trace hash {})\n",
        case.seed,
        case.strategy,
        match outcome.first_violation() {
            Some(v) => format!("VIOLATED {} at event {}", v.oracle, v.event),
            None => "all oracles held".to_string(),
        },
        outcome.trace.events.len(),
        outcome.counters.lives,
        outcome.trace_hash()
    );
    if !outcome.violations.is_empty() {
        out.push_str(&format!("violations ({}):\n", outcome.violations.len()));
        for v in &outcome.violations {
            out.push_str(&format!(
                "  {:<20} event {}, process {}, step {}: {}\n",
                v.oracle.name(),
                v.event,
                v.life,
                v.step,
                v.detail
            ));
        }
    }
    out
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
