//! Expectations: which strategies are meant to be clean, and which are known to be defective
//! with which oracles. A sweep's exit code follows this table.

use restore_core::strategy::CommitStrategy;

use crate::oracle::Oracle;

/// A seed whose generated case (default generator, `max_keys` 200, in-memory store) must violate
/// `oracle` under the strategy: the other side of a known-bad row. A sweep whose range covers the
/// seed but sees no violation there has gone blind, and fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Witness {
    pub oracle: Oracle,
    pub seed: u64,
    /// Why this case must violate it, from the code path (one line).
    pub why: &'static str,
}

/// The witnesses of `strategy`, found once in the default range 0..1000 and recorded with their
/// reason (see `witnesses.rs`).
pub fn witnesses(strategy: CommitStrategy) -> &'static [Witness] {
    crate::witnesses::of(strategy)
}

/// What a strategy is expected to show in a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub strategy: CommitStrategy,
    /// No oracle may ever fire.
    pub clean: bool,
    /// For known-bad strategies: the oracles its known defects trip (others must stay silent).
    pub known: Vec<Oracle>,
    /// Why, in one line.
    pub why: &'static str,
}

/// The project's expectations, one row per strategy.
pub fn expectations() -> Vec<Expectation> {
    use Oracle::*;
    let aptos_all = vec![
        ProgressDivergence,
        ForwardProgress,
        FinalState,
        HonestResult,
        VerifiedOnly,
        DurableShape,
    ];
    CommitStrategy::ALL
        .into_iter()
        .map(|s| match s {
            CommitStrategy::JoinAsync => Expectation {
                strategy: s,
                clean: false,
                known: [aptos_all.clone(), vec![NoPanic]].concat(),
                why: "audit race (KV runs a chunk ahead), D1 stuck restore, D2 unverified KV, D3 poisoned reuse, D4 panic on drop",
            },
            CommitStrategy::JoinSync => Expectation {
                strategy: s,
                clean: false,
                known: [aptos_all.clone(), vec![NoPanic]].concat(),
                why: "KV behind the tree, D1, D2, D3; D4 too when a case draws asynchronous commits (join-sync is then join-async)",
            },
            CommitStrategy::TreeThenKv => Expectation {
                strategy: s,
                clean: false,
                known: [aptos_all.clone(), vec![NoPanic]].concat(),
                why: "async batch lands before KV progress (KV behind), D1, D3, D4; KV waits for the tree's verification, but a chunk re-delivered corrupted after KV fell behind is verified only where the tree lacks keys, so its bad rows reach KV (verified-only), as they do in a two-phase plan's unverified KV-only phase",
            },
            CommitStrategy::WaitThenJoin => Expectation {
                strategy: s,
                clean: false,
                known: [aptos_all.clone(), vec![NoPanic]].concat(),
                why: "KV behind the tree, D1, D2, D3, D4",
            },
            CommitStrategy::VerifyKvTree | CommitStrategy::Pipelined => Expectation {
                strategy: s,
                clean: true,
                known: Vec::new(),
                why: "safe configuration: every defect fixed",
            },
        })
        .collect()
}

pub fn expectation(s: CommitStrategy) -> Expectation {
    expectations()
        .into_iter()
        .find(|e| e.strategy == s)
        .expect("every strategy has a row")
}

impl Expectation {
    /// Whether observed violation counts (per oracle) are what this row allows: nothing outside
    /// the known oracles. The other side — known oracles that must fire — is checked through the
    /// witnesses ([`witnesses`]).
    pub fn holds(&self, fired: &[(Oracle, u64)]) -> bool {
        fired
            .iter()
            .filter(|(_, n)| *n > 0)
            .all(|(o, _)| !self.clean && self.known.contains(o))
    }
}
