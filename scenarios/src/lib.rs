//! The named scenario catalog: hand-written cases with the verdict expected under each commit
//! strategy — the known defects, the Aptos test equivalents and edge cases. `cargo test` runs
//! them all; the timelines of the known-defect scenarios are golden files (insta).

pub mod catalog;

use harness::case::Case;
use harness::oracle::Oracle;
use harness::run::{Outcome, RunError, run_case};
use restore_core::strategy::CommitStrategy;

/// What a scenario must do under one strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Every oracle holds.
    Pass,
    /// The headline violation is this oracle.
    Violates(Oracle),
}

/// One catalog entry.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Kebab-case, unique.
    pub name: &'static str,
    /// One line: what the scenario shows.
    pub about: &'static str,
    /// The case; its `strategy` field is replaced by each strategy in `expect`.
    pub case: Case,
    pub expect: Vec<(CommitStrategy, Expected)>,
    /// One line per cell of `expect`: why that verdict, from the code path.
    pub why: Vec<(CommitStrategy, &'static str)>,
    /// Its timeline is a golden file (known-defect scenarios).
    pub golden: bool,
}

/// The result of one scenario under one strategy.
#[derive(Debug)]
pub struct ScenarioRun {
    pub strategy: CommitStrategy,
    pub expected: Expected,
    pub outcome: Outcome,
}

impl ScenarioRun {
    pub fn got(&self) -> Expected {
        match self.outcome.first_violation() {
            None => Expected::Pass,
            Some(v) => Expected::Violates(v.oracle),
        }
    }

    pub fn as_expected(&self) -> bool {
        self.got() == self.expected
    }
}

impl Scenario {
    /// The case as run under `strategy`.
    pub fn case_for(&self, strategy: CommitStrategy) -> Case {
        let mut c = self.case.clone();
        c.strategy = strategy;
        c
    }

    /// The strategy whose timeline is the golden file: the case's own strategy, for golden
    /// entries.
    pub fn golden_strategy(&self) -> Option<CommitStrategy> {
        self.golden.then_some(self.case.strategy)
    }

    /// The expectation under `strategy`, if the entry has one.
    pub fn expected(&self, strategy: CommitStrategy) -> Option<Expected> {
        self.expect
            .iter()
            .find(|(s, _)| *s == strategy)
            .map(|(_, e)| *e)
    }

    /// Why the scenario gives its expected verdict under `strategy`.
    pub fn why(&self, strategy: CommitStrategy) -> Option<&'static str> {
        self.why
            .iter()
            .find(|(s, _)| *s == strategy)
            .map(|(_, w)| *w)
    }

    /// Runs the scenario under every strategy it has an expectation for.
    pub fn run(&self) -> Result<Vec<ScenarioRun>, RunError> {
        self.expect
            .iter()
            .map(|(s, e)| {
                Ok(ScenarioRun {
                    strategy: *s,
                    expected: *e,
                    outcome: run_case(&self.case_for(*s))?,
                })
            })
            .collect()
    }
}

/// Finds a catalog entry by name.
pub fn find(name: &str) -> Option<Scenario> {
    catalog::all().into_iter().find(|s| s.name == name)
}

impl Expected {
    /// A short label for tables: `pass`, or the oracle's short name.
    pub fn short(self) -> &'static str {
        match self {
            Expected::Pass => "pass",
            Expected::Violates(o) => match o {
                Oracle::NoPanic => "panic",
                Oracle::ProgressDivergence => "diverge",
                Oracle::VerifiedOnly => "unverif",
                Oracle::DurableShape => "shape",
                Oracle::HonestResult => "dishonest",
                Oracle::FinalState => "final",
                Oracle::ForwardProgress => "stuck",
            },
        }
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Pass => write!(f, "pass"),
            Expected::Violates(o) => write!(f, "violates {o}"),
        }
    }
}
