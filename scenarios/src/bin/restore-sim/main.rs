//! `restore-sim`: the command-line front end. It lives in the scenarios crate, the top of the
//! crate graph, because `scenario` needs the catalog. The binary is the only place that uses
//! anyhow and reads the wall clock (progress, cases/s); nothing here runs inside a simulation.

mod corpus;
mod crash;
mod explore;
mod limits;
mod real;
mod replay;
mod report;
mod scenario;
mod shrink;
mod snapshot_args;
mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Finds, replays and measures bugs in blockchain state-snapshot restores (modelled on Aptos).
///
/// Run with no command for the main job: the default sweep. It restores 1,000 generated
/// snapshots under each of six commit strategies on the in-memory store, with a deterministic
/// scheduler, seeded storage faults, crashes and corrupted chunks, and checks seven oracles at
/// every step. It prints one row per strategy and exits 0 when every strategy behaved as
/// expected: the two safe strategies stay clean, and the four Aptos strategies show their known
/// defects, each expected oracle firing at its recorded witness seed (a clean witness means the
/// harness went blind, and fails the sweep).
///
/// Then: `replay` a failing case (identical trace from its seed or case file), `shrink` it,
/// `explore` to model-check a small restore over every execution within bounds,
/// `scenario` and `corpus` for named and regression cases, `compare`/`limits` to benchmark the
/// strategies on RocksDB, `crash-test` to SIGKILL a real restore.
///
/// Exit codes: 0 = expectations held, 1 = an expectation failed, 2 = bad usage or input.
#[derive(Parser, Debug)]
#[command(name = "restore-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run many seeds × strategies under the deterministic scheduler and check every oracle
    /// (the default command).
    Sweep(sweep::SweepArgs),
    /// Re-run one case (a case file, or a seed and a strategy) and print its timeline.
    Replay(replay::ReplayArgs),
    /// Model-check one small restore: every execution within bounds on crashes and faults.
    ///
    /// Every schedule (up to partial-order equivalence), every crash point with every state a
    /// crash may leave, every fault point. Where a sweep samples seeds, "verified" here covers
    /// every execution within the bounds; a counterexample is written as a case file for
    /// `replay` and `shrink`. Exit 0 when the verdict is the one `--expect` names (default
    /// verified; an incomplete search matches neither), 1 otherwise, 2 on bad input.
    Explore(explore::ExploreArgs),
    /// Minimise a failing case (keys, chunks, faults, preemptions) while the same oracle fails.
    Shrink(shrink::ShrinkArgs),
    /// The named scenario catalog: list it, or run entries against their expected verdicts.
    #[command(subcommand)]
    Scenario(scenario::ScenarioCmd),
    /// The regression corpus in fixtures/corpus: check every case, or add one.
    #[command(subcommand)]
    Corpus(corpus::CorpusCmd),
    /// Work with sweep reports (merge the JSON reports of sharded sweeps).
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Restore one generated snapshot with every strategy into fresh RocksDB directories with
    /// real threads, audit each result, and print keys/s per strategy.
    Compare(real::CompareArgs),
    /// Restore (or resume restoring) a generated snapshot into a RocksDB directory.
    Restore(real::RestoreArgs),
    /// Kill a restoring child process with SIGKILL at seeded random moments, check the
    /// progress-divergence bound on each directory it leaves, then finish and audit.
    CrashTest(crash::CrashArgs),
    /// Measure hashing and RocksDB writes on a generated snapshot and print the limit model:
    /// the best keys/s a restore could reach (serial, and with perfect overlap).
    Limits(limits::LimitsArgs),
}

/// How a command ended: expectations held or not. Errors (bad input) map to exit code 2.
pub enum Verdict {
    AsExpected,
    Unexpected,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Test-only: a harness whose oracles see nothing (proves that sweeps then fail).
    if std::env::var_os("RESTORE_SIM_TEST_BLIND_ORACLES").is_some() {
        harness::run::set_blind_for_tests(true);
    }
    let result = match cli.command {
        None => sweep::run(&sweep::SweepArgs::defaults()),
        Some(Command::Sweep(a)) => sweep::run(&a),
        Some(Command::Replay(a)) => replay::run(&a),
        Some(Command::Explore(a)) => explore::run(&a),
        Some(Command::Shrink(a)) => shrink::run(&a),
        Some(Command::Scenario(c)) => scenario::run(&c),
        Some(Command::Corpus(c)) => corpus::run(&c),
        Some(Command::Report(c)) => report::run(&c),
        Some(Command::Compare(a)) => real::run_compare(&a).map(|ok| {
            if ok {
                Verdict::AsExpected
            } else {
                Verdict::Unexpected
            }
        }),
        Some(Command::Restore(a)) => real::run_restore(&a).map(|()| Verdict::AsExpected),
        Some(Command::CrashTest(a)) => crash::run(&a),
        Some(Command::Limits(a)) => limits::run(&a).map(|()| Verdict::AsExpected),
    };
    match result {
        Ok(Verdict::AsExpected) => ExitCode::SUCCESS,
        Ok(Verdict::Unexpected) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
