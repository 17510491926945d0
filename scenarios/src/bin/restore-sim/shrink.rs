//! `shrink`: minimise a failing case file while the same oracle keeps failing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use harness::case::Case;
use harness::corpus::{CORPUS_FORMAT, Entry};
use harness::shrink::{Aspect, DEFAULT_BUDGET, Goal, ShrinkOptions, ShrinkReport, shrink_with};

use crate::Verdict;

#[derive(Args, Debug)]
pub struct ShrinkArgs {
    /// The failing case file (from `sweep --save-failures`, or by hand), or a corpus entry.
    pub case: PathBuf,
    /// Where to write the minimal case (default: CASE with `.min.json` for `.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Most candidate runs to make (a run budget, not a time budget: the result does not depend
    /// on the machine).
    #[arg(long, default_value_t = DEFAULT_BUDGET)]
    pub budget: usize,
    /// What the shrunk case must still do: `headline` (fail with the same headline oracle),
    /// `signature` (the same headline oracle at the same kind of step of the same task), or an
    /// oracle name (violate that oracle anywhere — for a defect whose oracle is not the first
    /// to fire).
    #[arg(long, default_value = "headline")]
    pub goal: Goal,
    /// Parts of the case to leave alone, comma-separated: schedule, faults, chunks, driver,
    /// details, snapshot.
    #[arg(long, value_delimiter = ',')]
    pub keep: Vec<Aspect>,
    /// Print only the summary, not the minimal case's timeline.
    #[arg(long)]
    pub quiet: bool,
}

/// `x.json` → `x.min.json`; anything else gets `.min.json` appended.
pub fn default_out(case: &Path) -> PathBuf {
    let name = case
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    case.with_file_name(format!("{stem}.min.json"))
}

/// Reads a case file, or the case of a corpus entry (a file whose `format` is the corpus's).
pub fn load_case(path: &Path) -> Result<Case> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_entry = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(CORPUS_FORMAT));
    if is_entry {
        return Entry::from_json(&text)
            .map(|e| e.case)
            .with_context(|| format!("in corpus entry {}", path.display()));
    }
    Case::from_json(&text).with_context(|| format!("in {}", path.display()))
}

pub fn options(budget: usize, goal: Goal, keep: &[Aspect]) -> ShrinkOptions {
    ShrinkOptions {
        budget,
        goal,
        keep: keep.to_vec(),
    }
}

/// Shrinks and prints the before/after summary; returns the report and the seconds taken.
pub fn shrink_and_print(case: &Case, opts: &ShrinkOptions) -> Result<(ShrinkReport, f64)> {
    let started = Instant::now();
    let r = shrink_with(case, opts)?;
    let secs = started.elapsed().as_secs_f64();
    let goal = match opts.goal {
        Goal::Headline => format!("headline {}", r.oracle),
        Goal::Signature => format!("signature `{}`", r.summary.signature),
        Goal::Violates(o) => format!("violates {o}"),
    };
    println!("shrink ({}, keeping: {goal})", r.original.strategy);
    println!("  before: {}", r.before);
    println!("  after:  {}", r.after);
    println!(
        "  {} runs ({} candidates, budget {}){}, {} accepted steps, {:.3} s",
        r.runs,
        r.candidate_runs,
        r.budget,
        if r.exhausted {
            ": budget exhausted, a larger --budget may shrink further"
        } else {
            ": fixpoint reached"
        },
        r.steps.len(),
        secs
    );
    for s in &r.steps {
        println!("    - {s}");
    }
    println!(
        "  minimal case: {} (event {}), violated {}, trace hash {}",
        r.summary.signature,
        r.summary.headline.event,
        r.summary
            .violated
            .iter()
            .map(|o| o.name())
            .collect::<Vec<_>>()
            .join(", "),
        r.summary.trace_hash
    );
    Ok((r, secs))
}

pub fn run(args: &ShrinkArgs) -> Result<Verdict> {
    let case = load_case(&args.case)?;
    let (r, _) = shrink_and_print(&case, &options(args.budget, args.goal, &args.keep))
        .with_context(|| format!("shrinking {}", args.case.display()))?;
    if !args.quiet {
        print!("{}", harness::story::timeline_text(&r.outcome, false, &[]));
    }
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.case));
    std::fs::write(&out, r.minimal.to_json())
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} (replay it: restore-sim replay {})",
        out.display(),
        out.display()
    );
    Ok(Verdict::AsExpected)
}
