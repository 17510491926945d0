//! `explore`: bounded model checking of one small restore (`harness::check`). Where `sweep`
//! samples seeds, `explore` covers every schedule (up to partial-order equivalence), every crash
//! point with every state a crash may leave, and every fault point, within bounds on crashes and
//! faults per execution — so "verified" is a statement about all of them, not about a sample.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use harness::case::{Case, OnError};
use harness::check::estimate::NaiveEstimate;
use harness::check::{Bounds, Options, Report, Stats, Verdict as CheckVerdict, check_with};
use harness::fault::Durability;
use harness::oracle::Oracle;
use restore_core::store::{Layout, SyncPolicy};
use restore_core::strategy::CommitStrategy;
use serde::Serialize;

use crate::Verdict;

/// Most chunks of an explored restore: the number of schedules grows steeply with every chunk,
/// and six already takes the checker far past what a single run of the command should do.
const MAX_CHUNKS: u32 = 6;

/// Largest unsynced window: each unsynced write multiplies the power-loss states of every
/// scheduling point, and past seven one point alone may exceed the checker's per-point limit.
const MAX_WINDOW: u32 = 7;

/// Where the counterexample case goes without `--out`: the current directory, so the printed
/// `replay`/`shrink` commands work as shown.
const DEFAULT_OUT: &str = "explore-counterexample.json";

/// How often, at most, progress goes to a terminal: often enough to show the checker is alive,
/// rarely enough not to flood the scrollback.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The schema of `--json`, fixed: consumers match on it, so a change of fields means a new name.
pub const EXPLORE_SCHEMA: &str = "restore-sim/explore/v1";

#[derive(Args, Debug)]
pub struct ExploreArgs {
    /// Commit strategy to check (join-async, join-sync, tree-then-kv, wait-then-join,
    /// verify-kv-tree, pipelined).
    #[arg(long)]
    strategy: CommitStrategy,
    /// Keys per chunk.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    keys: u32,
    /// Chunks of the snapshot (1 to 6: schedules grow steeply with each chunk).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=MAX_CHUNKS as i64))]
    chunks: u32,
    /// Crashes per execution (each at any scheduling point, of either kind, in any state).
    #[arg(long, default_value_t = 1)]
    crashes: u32,
    /// Fault points per execution (store faults and corrupted deliveries).
    #[arg(long, default_value_t = 1)]
    faults: u32,
    /// Sync policy of the store model: always, relaxed or barrier.
    #[arg(long, default_value = "always")]
    sync: SyncPolicy,
    /// Store layout of the model: one, split or aptos (which database holds what).
    #[arg(long, default_value = "aptos")]
    layout: Layout,
    /// Unsynced writes per database (0 to 7). Only `relaxed` and `barrier` leave writes
    /// unsynced; under `always` every write is synced and the window changes nothing.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=MAX_WINDOW as i64))]
    window: u32,
    /// Print one JSON object (schema restore-sim/explore/v1) instead of the text.
    #[arg(long)]
    json: bool,
    /// Executions after which the checker stops and the verdict is incomplete (a run budget,
    /// not a time budget: the verdict does not depend on the machine).
    #[arg(long, default_value_t = Bounds::default().budget, value_parser = clap::value_parser!(u64).range(1..))]
    budget: u64,
    /// Seed of the generated snapshot (keys and values).
    #[arg(long, default_value_t = 11)]
    seed: u64,
    /// Where to write a counterexample case (default: explore-counterexample.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Hunt one oracle: only an execution that violates it is a counterexample (others that
    /// fail on the way are passed over). Without it, any violation is.
    #[arg(long)]
    oracle: Option<Oracle>,
    /// With --oracle: only a violation whose detail contains this text counts, to hunt one
    /// defect of several an oracle reports ("KV ahead" is the audit race's divergence, "KV
    /// behind" the other one).
    #[arg(long, requires = "oracle")]
    detail: Option<String>,
    /// Retries of a failed chunk on the same restore object before the driver restarts (0:
    /// restart at once). Aptos's state sync retries; the backup controller restarts.
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// Also estimate how many executions a naive search (no reduction, no caching) would make,
    /// with this many random probes per fault set (Knuth's estimator), and print the ratio.
    #[arg(long)]
    estimate_naive: Option<u64>,
    /// The verdict that counts as success (exit 0): `verified`, or `counterexample` to assert
    /// that a strategy's known defect is found. An incomplete search matches neither.
    #[arg(long, value_enum, default_value_t = Expect::Verified)]
    expect: Expect,
    /// Parallel workers, each taking whole fault sets (default: the number of cores). The
    /// verdict, the counts and the counterexample do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: Option<u32>,
}

/// The verdict `--expect` asks for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Verified,
    Counterexample,
}

/// The JSON output: fixed field names, schema [`EXPLORE_SCHEMA`].
#[derive(Serialize)]
struct ExploreReport<'a> {
    schema: &'static str,
    /// "verified", "counterexample" or "incomplete".
    verdict: &'static str,
    /// Why the search is incomplete; null for the other verdicts.
    reason: Option<&'a str>,
    bounds: BoundsReport,
    /// Every count of the checker, under its own field names.
    stats: Stats,
    elapsed_s: f64,
    counterexample: Option<CounterexampleReport<'a>>,
    /// With `--estimate-naive`: the naive search's estimated executions (null otherwise).
    naive_estimate: Option<NaiveEstimate>,
}

#[derive(Serialize)]
struct BoundsReport {
    strategy: &'static str,
    keys_per_chunk: u32,
    chunks: u32,
    layout: &'static str,
    sync: &'static str,
    window: u32,
    crashes: u32,
    faults: u32,
    budget: u64,
}

#[derive(Serialize)]
struct CounterexampleReport<'a> {
    oracle: &'static str,
    detail: &'a str,
    /// Full hex: `replay` of the case file prints the same hash.
    trace_hash: String,
    case_file: String,
}

/// The case the checker starts from: `keys × chunks` random keys in equal chunks, short keys and
/// values (the checker's cost is in schedules, not bytes), and an explicit store model, which
/// `check` requires.
fn base_case(args: &ExploreArgs) -> Case {
    let keys = args.keys as usize;
    let chunks = args.chunks as usize;
    let mut c = Case::small(args.strategy, keys * chunks, &vec![keys; chunks]);
    c.snapshot.seed = args.seed;
    c.snapshot.value_len = (1, 8);
    c.snapshot.key_len = (4, 8);
    c.snapshot.version = 1;
    c.durability = Durability::new(args.layout, args.sync, args.window);
    if args.retries > 0 {
        c.driver.on_error = OnError::RetrySameObject;
        c.driver.retries = args.retries;
    }
    c
}

/// Rejects bounds whose counterexample could not be written as a loadable case file, before
/// any checking starts (clap already checked each flag's own range).
fn validate(args: &ExploreArgs, base: &Case) -> Result<()> {
    let max_keys = harness::case_limits::MAX_KEYS;
    if u64::from(args.keys) * u64::from(args.chunks) > max_keys as u64 {
        bail!(
            "--keys × --chunks must be at most {max_keys} (docs/case-limits.md), got {} × {}",
            args.keys,
            args.chunks
        );
    }
    // The checker gives each execution one process per crash and per fault, plus two to finish
    // in; a case file may hold at most MAX_LIVES processes.
    let max_lives = harness::case_limits::MAX_LIVES;
    let lives = u64::from(args.crashes) + u64::from(args.faults) + 2;
    if lives > u64::from(max_lives) {
        bail!(
            "--crashes + --faults must be at most {} (each costs a process, and a case holds at \
             most {max_lives}), got {} + {}",
            max_lives - 2,
            args.crashes,
            args.faults
        );
    }
    let mut probe = base.clone();
    probe.driver.max_lives = lives as u32;
    probe
        .validate()
        .context("the explored case is outside the case limits")?;
    Ok(())
}

pub fn run(args: &ExploreArgs) -> Result<Verdict> {
    let base = base_case(args);
    validate(args, &base)?;
    let bounds = Bounds {
        crashes: args.crashes,
        faults: args.faults,
        budget: args.budget,
        ..Bounds::default()
    };

    // Progress only for a person watching: a log (CI, a pipe) gets the verdict alone.
    let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let started = Instant::now();
    let mut last = started;
    let mut progress = |s: &Stats| {
        if tty && last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            eprintln!(
                "  {} executions, {} crash states, {:.0} s",
                s.executions,
                s.crash_states,
                started.elapsed().as_secs_f64()
            );
        }
    };
    let threads = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let opts = Options {
        progress: Some(&mut progress),
        want: args.oracle,
        want_detail: args.detail.clone(),
        threads,
        ..Options::default()
    };
    let report = check_with(&base, &bounds, opts).context("model checking")?;
    let elapsed = started.elapsed().as_secs_f64();
    let naive = match args.estimate_naive {
        Some(probes) => Some(
            harness::check::estimate::estimate_naive(&base, &bounds, probes.max(1), args.seed)
                .context("estimating the naive search")?,
        ),
        None => None,
    };

    let case_file = match &report.verdict {
        CheckVerdict::Counterexample(ce) => {
            let path = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
            write_case(&ce.case, &path)?;
            Some(path)
        }
        _ => None,
    };

    let text = if args.json {
        let json = json_report(args, &report, elapsed, case_file.as_deref(), naive);
        let mut text = serde_json::to_string_pretty(&json).context("serializing the report")?;
        text.push('\n');
        text
    } else {
        human_report(args, &base, &report, elapsed, case_file.as_deref(), naive)
    };
    // Written, not `print!`ed: a closed pipe (`| head`) is then an error, not a panic.
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to standard output")?;

    let matched = matches!(
        (&report.verdict, args.expect),
        (CheckVerdict::Verified, Expect::Verified)
            | (CheckVerdict::Counterexample(_), Expect::Counterexample)
    );
    Ok(if matched {
        Verdict::AsExpected
    } else {
        Verdict::Unexpected
    })
}

/// Writes a case file as the rest of the binary does ([`Case::to_json`]). A case outside the
/// limits would be refused by `replay`, so that is said at once rather than at the replay.
fn write_case(case: &Case, path: &Path) -> Result<()> {
    std::fs::write(path, case.to_json()).with_context(|| format!("writing {}", path.display()))?;
    if let Err(e) = case.validate() {
        eprintln!(
            "warning: {} is outside the case limits and will not load: {e}",
            path.display()
        );
    }
    Ok(())
}

fn verdict_name(v: &CheckVerdict) -> &'static str {
    match v {
        CheckVerdict::Verified => "verified",
        CheckVerdict::Counterexample(_) => "counterexample",
        CheckVerdict::Incomplete(_) => "incomplete",
    }
}

fn json_report<'a>(
    args: &ExploreArgs,
    report: &'a Report,
    elapsed: f64,
    case_file: Option<&Path>,
    naive: Option<NaiveEstimate>,
) -> ExploreReport<'a> {
    let (reason, counterexample) = match &report.verdict {
        CheckVerdict::Verified => (None, None),
        CheckVerdict::Incomplete(why) => (Some(why.as_str()), None),
        CheckVerdict::Counterexample(ce) => (
            None,
            Some(CounterexampleReport {
                oracle: ce.oracle.name(),
                detail: &ce.detail,
                trace_hash: ce.trace_hash.to_string(),
                case_file: case_file
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            }),
        ),
    };
    ExploreReport {
        schema: EXPLORE_SCHEMA,
        verdict: verdict_name(&report.verdict),
        reason,
        bounds: BoundsReport {
            strategy: args.strategy.name(),
            keys_per_chunk: args.keys,
            chunks: args.chunks,
            layout: args.layout.name(),
            sync: args.sync.name(),
            window: args.window,
            crashes: args.crashes,
            faults: args.faults,
            budget: args.budget,
        },
        stats: report.stats,
        elapsed_s: elapsed,
        counterexample,
        naive_estimate: naive,
    }
}

/// `n thing` or `n things`.
fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The text output: the verdict line first (what a person or a grep wants), then the counts.
fn human_report(
    args: &ExploreArgs,
    base: &Case,
    report: &Report,
    elapsed: f64,
    case_file: Option<&Path>,
    naive: Option<NaiveEstimate>,
) -> String {
    let s = &report.stats;
    let mut out = match &report.verdict {
        // A hunt checks one oracle: its "verified" says nothing of the others.
        CheckVerdict::Verified => match (args.oracle, &args.detail) {
            (None, _) => "verified: every execution within the bounds held every oracle\n".into(),
            (Some(o), None) => {
                format!("verified: no execution within the bounds violated {o}\n")
            }
            (Some(o), Some(d)) => format!(
                "verified: no execution within the bounds violated {o} with \"{d}\" in its detail\n"
            ),
        },
        CheckVerdict::Counterexample(ce) => {
            format!("counterexample: {} — {}\n", ce.oracle, ce.detail)
        }
        CheckVerdict::Incomplete(why) => format!("incomplete: {why}\n"),
    };
    out.push_str(&format!(
        "  bounds      {}, {} × {}, {}, ≤{}, ≤{}\n",
        args.strategy,
        plural(args.chunks, "chunk", "chunks"),
        plural(args.keys, "key", "keys"),
        base.durability.label(),
        plural(args.crashes, "crash", "crashes"),
        plural(args.faults, "fault", "faults"),
    ));
    out.push_str(&format!(
        "  executions  {} (schedules {}, sleep-blocked {})\n",
        s.executions, s.schedules, s.sleep_blocked
    ));
    out.push_str(&format!(
        "  crash       {} points, {} states seen, {} explored, {} merged by state hash\n",
        s.crash_points, s.crash_states_seen, s.crash_states, s.pruned_by_caching
    ));
    out.push_str(&format!(
        "  faults      {} points, {}\n",
        s.fault_points,
        plural(s.fault_sets, "fault set", "fault sets")
    ));
    out.push_str(&format!(
        "  pruned      {} branches by reduction, {} crash states by caching\n",
        s.pruned_by_reduction, s.pruned_by_caching
    ));
    out.push_str(&format!("  races       {} reversed\n", s.races));
    out.push_str(&format!("  elapsed     {elapsed:.2} s\n"));
    if let Some(n) = naive {
        out.push_str(&format!(
            "  naive       ~{:.3e} executions estimated ({} probes), {:.3e}× the reduced search\n",
            n.executions,
            n.probes,
            n.executions / s.executions.max(1) as f64
        ));
    }
    if let (CheckVerdict::Counterexample(ce), Some(path)) = (&report.verdict, case_file) {
        let p = path.display();
        out.push_str(&format!(
            "case written to {p} (trace hash {})\n",
            ce.trace_hash
        ));
        out.push_str(&format!("  replay it:  restore-sim replay {p}\n"));
        out.push_str(&format!("  shrink it:  restore-sim shrink {p}\n"));
    }
    out
}
