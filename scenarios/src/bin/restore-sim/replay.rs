//! `replay`: one case, its timeline, and optionally a determinism check.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use harness::case::{Case, GenConfig, StoreKind};
use harness::run::{compare, run_case};
use restore_core::strategy::CommitStrategy;

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
}

pub fn load(args: &ReplayArgs) -> Result<Case> {
    if let Some(p) = &args.case {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return Case::from_json(&text).with_context(|| format!("in {}", p.display()));
    }
    let (Some(seed), Some(strategy)) = (args.seed, args.strategy) else {
        bail!("give a case file, or --seed and --strategy");
    };
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
        },
    ))
}

pub fn run(args: &ReplayArgs) -> Result<Verdict> {
    let case = load(args)?;
    let outcome = run_case(&case).context("running the case")?;
    if !args.quiet {
        print!("{}", outcome.timeline());
    }
    println!(
        "case seed {} strategy {}: {} ({} events, {} processes, trace hash {})",
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
    let title = format!("restore-sim: seed {} under {}", case.seed, case.strategy);
    if let Some(p) = &args.svg {
        std::fs::write(p, harness::svg::timeline_svg(&outcome, &title))
            .with_context(|| format!("writing {}", p.display()))?;
        println!("wrote {}", p.display());
    }
    if let Some(p) = &args.html {
        std::fs::write(p, harness::svg::timeline_html(&outcome, &title))
            .with_context(|| format!("writing {}", p.display()))?;
        println!("wrote {}", p.display());
    }
    if args.check_determinism {
        let again = run_case(&case).context("running the case again")?;
        match compare(&outcome, &again) {
            Ok(h) => println!("determinism: two runs gave the same trace hash {h}"),
            Err(d) => {
                println!(
                    "determinism: runs DIFFER at event {}:\n  first:  {}\n  second: {}",
                    d.event,
                    d.first.as_deref().unwrap_or("(no event)"),
                    d.second.as_deref().unwrap_or("(no event)")
                );
                return Ok(Verdict::Unexpected);
            }
        }
    }
    Ok(Verdict::AsExpected)
}
