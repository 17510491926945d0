//! `corpus`: the regression corpus (fixtures/corpus): check every entry, add one, list them.
//!
//! The default directory is `fixtures/corpus` under the current directory when that exists
//! (running from the workspace root, as `ci/` does), otherwise the workspace's own
//! `fixtures/corpus`, located from the path of this crate baked in at compile time
//! (`CARGO_MANIFEST_DIR/../fixtures/corpus`). `--dir` overrides both.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use harness::corpus::{self, Entry};
use harness::shrink::{Aspect, DEFAULT_BUDGET, Goal};
use restore_core::strategy::Safety;

use crate::Verdict;
use crate::shrink::{load_case, options, shrink_and_print};

#[derive(Subcommand, Debug)]
pub enum CorpusCmd {
    /// Run every entry under each strategy it lists and compare the headline verdicts: one line
    /// per entry × strategy. Exit 0 when all match (and no safe strategy is expected to fail),
    /// 1 otherwise.
    Check(DirArg),
    /// Add a case file (e.g. from `sweep --save-failures`) as NAME.json, with the verdicts it
    /// has today under all six strategies recorded as its expectations. Review them before
    /// committing: they record what the code does, not what it should do.
    Add(AddArgs),
    /// List the entries and their expectations.
    List(DirArg),
}

#[derive(Args, Debug)]
pub struct DirArg {
    /// Corpus directory (default: ./fixtures/corpus if present, else the workspace's).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The case file to add.
    case: PathBuf,
    /// Entry name (lowercase letters, digits, dashes); the file is NAME.json.
    #[arg(long)]
    name: String,
    /// One line saying what the entry shows.
    #[arg(long)]
    about: Option<String>,
    /// Shrink the case first (see `shrink --help`; --budget, --goal and --keep apply).
    #[arg(long)]
    shrink: bool,
    /// Candidate-run budget of --shrink.
    #[arg(long, default_value_t = DEFAULT_BUDGET, requires = "shrink")]
    budget: usize,
    /// With --shrink: what the shrunk case must still do (headline, signature or an oracle
    /// name; see `shrink --help`).
    #[arg(long, default_value = "headline", requires = "shrink")]
    goal: Goal,
    /// With --shrink: parts of the case to leave alone.
    #[arg(long, value_delimiter = ',', requires = "shrink")]
    keep: Vec<Aspect>,
    #[command(flatten)]
    dir: DirArg,
}

/// The corpus directory: `--dir`, else `./fixtures/corpus` if it is a directory, else the
/// workspace's `fixtures/corpus` (path fixed at compile time).
pub fn corpus_dir(arg: &Option<PathBuf>) -> PathBuf {
    if let Some(d) = arg {
        return d.clone();
    }
    let local = PathBuf::from("fixtures/corpus");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
        .join("corpus")
}

pub fn run(c: &CorpusCmd) -> Result<Verdict> {
    match c {
        CorpusCmd::Check(d) => check(d),
        CorpusCmd::Add(a) => add(a),
        CorpusCmd::List(d) => list(d),
    }
}

fn check(d: &DirArg) -> Result<Verdict> {
    let dir = corpus_dir(&d.dir);
    let started = Instant::now();
    let report = corpus::check_dir(&dir, &mut |line| {
        println!("{line}");
        if !line.ok()
            && let Some(detail) = &line.detail
        {
            println!("         headline: {detail}");
        }
    })?;
    for (entry, s, x) in &report.safe_failures {
        println!(
            "POLICY   {entry:<32} {:<15} expects {x}: the safe strategies must pass every entry",
            s.name()
        );
    }
    let mismatches = report.mismatches().count();
    println!(
        "corpus {}: {} entries, {} checks, {} mismatches, {} safe-strategy expectations of failure ({:.2} s)",
        dir.display(),
        report.entries,
        report.lines.len(),
        mismatches,
        report.safe_failures.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if report.ok() {
        Verdict::AsExpected
    } else {
        Verdict::Unexpected
    })
}

fn add(a: &AddArgs) -> Result<Verdict> {
    let dir = corpus_dir(&a.dir.dir);
    let mut case = load_case(&a.case)?;
    if !corpus::valid_name(&a.name) {
        return Err(corpus::CorpusError::BadName(a.name.clone()).into());
    }
    if a.shrink {
        let (r, _) = shrink_and_print(&case, &options(a.budget, a.goal, &a.keep))
            .with_context(|| format!("shrinking {}", a.case.display()))?;
        case = r.minimal;
    }
    let about = a.about.clone().unwrap_or_else(|| {
        format!(
            "added from {} by `restore-sim corpus add{}`",
            a.case.display(),
            if a.shrink { " --shrink" } else { "" }
        )
    });
    let (path, entry) = corpus::add(&dir, &a.name, &about, &case)?;
    println!("wrote {}", path.display());
    print_expect(&entry);
    println!(
        "REVIEW the expectations above before committing: they record what the code does today \
         (verdicts of this build), not what it should do."
    );
    let safe = entry.safe_failures();
    if safe.is_empty() {
        Ok(Verdict::AsExpected)
    } else {
        for (s, x) in safe {
            println!(
                "WARNING: safe strategy {s} fails this case ({x}): that is a bug to fix; \
                 `corpus check` reports the entry until it is fixed and the expectation edited"
            );
        }
        Ok(Verdict::Unexpected)
    }
}

fn print_expect(e: &Entry) {
    for (s, x) in &e.expect {
        let kind = if s.safety() == Safety::Safe {
            "safe"
        } else {
            "aptos"
        };
        println!("  {:<15} ({kind:<5}) {x}", s.name());
    }
}

fn list(d: &DirArg) -> Result<Verdict> {
    let dir = corpus_dir(&d.dir);
    let entries = corpus::load_dir(&dir)?;
    for (_, e) in &entries {
        println!(
            "{} ({} keys, {} chunks, {} faults): {}",
            e.name,
            e.case.snapshot.keys,
            e.case.chunking.sizes.len(),
            e.case.faults.size(),
            e.about
        );
        print_expect(e);
    }
    println!("{} entries in {}", entries.len(), dir.display());
    Ok(Verdict::AsExpected)
}
