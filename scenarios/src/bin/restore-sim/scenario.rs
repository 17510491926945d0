//! `scenario`: list the named catalog, run entries against their expected verdicts, or print
//! one entry's case file.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use restore_core::strategy::CommitStrategy;
use scenarios::{Scenario, ScenarioRun, catalog};

use crate::Verdict;

#[derive(Subcommand, Debug)]
pub enum ScenarioCmd {
    /// List every scenario with its expected verdict under each strategy.
    List,
    /// Run scenarios under every strategy; one line per run: expected vs got, trace hash.
    /// Exits 0 iff every run is as expected.
    Run(RunArgs),
    /// Print a scenario's case file under one strategy (replayable with `replay FILE`).
    Case {
        /// The scenario (see `scenario list`).
        name: String,
        /// The strategy to put in the case (default: the case's own).
        #[arg(long)]
        strategy: Option<CommitStrategy>,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scenario to run (see `scenario list`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    name: Option<String>,
    /// Run every scenario.
    #[arg(long)]
    all: bool,
    /// Print the timeline of every run.
    #[arg(long)]
    timeline: bool,
}

pub fn run(c: &ScenarioCmd) -> Result<Verdict> {
    match c {
        ScenarioCmd::List => {
            print!("{}", list(&catalog::all()));
            Ok(Verdict::AsExpected)
        }
        ScenarioCmd::Run(a) => {
            let selected = if a.all {
                catalog::all()
            } else {
                vec![lookup(a.name.as_deref().unwrap_or_default())?]
            };
            run_selected(&selected, a.timeline)
        }
        ScenarioCmd::Case { name, strategy } => {
            let s = lookup(name)?;
            println!(
                "{}",
                s.case_for(strategy.unwrap_or(s.case.strategy)).to_json()
            );
            Ok(Verdict::AsExpected)
        }
    }
}

fn lookup(name: &str) -> Result<Scenario> {
    match scenarios::find(name) {
        Some(s) => Ok(s),
        None => {
            let names: Vec<&str> = catalog::all().iter().map(|s| s.name).collect();
            bail!(
                "unknown scenario `{name}`; the scenarios are: {}",
                names.join(", ")
            )
        }
    }
}

/// The catalog as a table: one row of expected verdicts per scenario, its `about` below it.
fn list(all: &[Scenario]) -> String {
    let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0) + 2;
    let mut header = format!("{:<width$}", "scenario");
    for s in CommitStrategy::ALL {
        header.push_str(&format!(" {:<14}", s.name()));
    }
    let mut out = format!("{}\n", header.trim_end());
    for s in all {
        let mut row = format!("{:<width$}", s.name);
        for st in CommitStrategy::ALL {
            let mut cell = s.expected(st).map_or("-", |e| e.short()).to_string();
            if s.golden_strategy() == Some(st) {
                cell.push('*');
            }
            row.push_str(&format!(" {cell:<14}"));
        }
        out.push_str(row.trim_end());
        out.push_str(&format!("\n    {}\n", s.about));
    }
    out.push_str(&format!(
        "{} scenarios. pass = every oracle holds; otherwise the headline oracle: panic, diverge \
         (progress-divergence), unverif (verified-only), dishonest (honest-result), final \
         (final-state), stuck (forward-progress). * = golden timeline (a known defect).\n",
        all.len()
    ));
    out
}

fn run_selected(selected: &[Scenario], timeline: bool) -> Result<Verdict> {
    let (mut runs, mut bad) = (0usize, 0usize);
    for s in selected {
        println!("{}", s.name);
        for &(strategy, expected) in &s.expect {
            runs += 1;
            let outcome = match harness::run::run_case(&s.case_for(strategy)) {
                Ok(o) => o,
                Err(e) => {
                    bad += 1;
                    println!(
                        "  {:<15} expected {:<30} ERROR {e}",
                        strategy.name(),
                        expected.to_string()
                    );
                    continue;
                }
            };
            let r = ScenarioRun {
                strategy,
                expected,
                outcome,
            };
            let ok = r.as_expected();
            if !ok {
                bad += 1;
            }
            println!(
                "  {:<15} expected {:<30} got {:<30} {:<10} trace {}",
                strategy.name(),
                expected.to_string(),
                r.got().to_string(),
                if ok { "ok" } else { "UNEXPECTED" },
                r.outcome.trace_hash()
            );
            if timeline {
                print!("{}", harness::story::timeline_text(&r.outcome, false, &[]));
            }
        }
    }
    println!(
        "{runs} runs of {} scenario(s): {} as expected, {bad} unexpected",
        selected.len(),
        runs - bad
    );
    Ok(if bad == 0 {
        Verdict::AsExpected
    } else {
        Verdict::Unexpected
    })
}
