//! Expectations: which strategies are meant to be clean, and which are known to be defective
//! with which oracles. A sweep's exit code follows this table.

use restore_core::store::{Layout, SyncPolicy};
use restore_core::strategy::{CommitStrategy, Safety};

use crate::fault::Durability;
use crate::oracle::Oracle;

/// The store models an expectation distinguishes: the sync policy, with `relaxed` split by
/// whether one log orders every write (one database) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyClass {
    Always,
    Barrier,
    /// Relaxed writes in one database: a power loss drops a suffix of one write order.
    RelaxedOneDb,
    /// Relaxed writes across several databases: each loses its own suffix.
    RelaxedSplitDbs,
}

impl PolicyClass {
    pub const ALL: [PolicyClass; 4] = [
        PolicyClass::Always,
        PolicyClass::Barrier,
        PolicyClass::RelaxedOneDb,
        PolicyClass::RelaxedSplitDbs,
    ];

    pub fn of(d: &Durability) -> PolicyClass {
        match (d.sync, d.layout) {
            (SyncPolicy::Always, _) => PolicyClass::Always,
            (SyncPolicy::Barrier, _) => PolicyClass::Barrier,
            (SyncPolicy::Relaxed, Layout::One) => PolicyClass::RelaxedOneDb,
            (SyncPolicy::Relaxed, _) => PolicyClass::RelaxedSplitDbs,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PolicyClass::Always => "always",
            PolicyClass::Barrier => "barrier",
            PolicyClass::RelaxedOneDb => "relaxed-one-db",
            PolicyClass::RelaxedSplitDbs => "relaxed-split-dbs",
        }
    }

    pub fn from_name(name: &str) -> Option<PolicyClass> {
        PolicyClass::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What one strategy may show under one store model, and why (one line, from the code path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub strategy: CommitStrategy,
    pub class: PolicyClass,
    /// The oracles allowed to fire (empty: clean).
    pub known: Vec<Oracle>,
    pub why: &'static str,
}

/// The (strategy × store model) table. The Aptos strategies' rows are their defects under every
/// model; the safe strategies are clean wherever the writes they order are ordered on disk.
pub fn cells() -> Vec<Cell> {
    use Oracle::*;
    let mut out = Vec::new();
    for s in CommitStrategy::ALL {
        let row = expectation(s);
        for class in PolicyClass::ALL {
            let (known, why) = match (s.safety(), class) {
                (Safety::Aptos, PolicyClass::Always) => (
                    row.known.clone(),
                    "Aptos's own configuration: its defects, nothing more (every write is durable when it returns)",
                ),
                (Safety::Aptos, PolicyClass::Barrier) => (
                    row.known.clone(),
                    "Aptos issues no barriers, so this is relaxed for it: its defects",
                ),
                (Safety::Aptos, PolicyClass::RelaxedOneDb) => (
                    row.known.clone(),
                    "its defects; one log keeps K and T together through a power loss",
                ),
                (Safety::Aptos, PolicyClass::RelaxedSplitDbs) => (
                    row.known.clone(),
                    "its defects, and a power loss may keep one database's later writes and drop another's earlier ones",
                ),
                (Safety::Safe, PolicyClass::Always) => (
                    Vec::new(),
                    "every write is durable when it returns, and the strategy waits for each write it orders after another",
                ),
                (Safety::Safe, PolicyClass::Barrier) => (
                    Vec::new(),
                    "KV is synced before its node batch, the tree before the next chunk's KV, a node batch shard database by shard database, and a restart syncs what it resumes from",
                ),
                (Safety::Safe, PolicyClass::RelaxedOneDb) => (
                    Vec::new(),
                    "one log orders every write, so a power loss leaves a state that was once visible",
                ),
                (Safety::Safe, PolicyClass::RelaxedSplitDbs) => (
                    vec![
                        ProgressDivergence,
                        DurableShape,
                        FinalState,
                        ForwardProgress,
                    ],
                    "nothing orders writes across databases: KV may lose what the tree kept (diverge; re-fed chunks are still verified), and under aptos a tree shard may lose what a later shard kept, a gap recovery cannot see (shape; stuck, or a finished tree with a hole)",
                ),
            };
            out.push(Cell {
                strategy: s,
                class,
                known,
                why,
            });
        }
    }
    out
}

/// The cell of `strategy` under `class`.
pub fn cell(strategy: CommitStrategy, class: PolicyClass) -> Cell {
    cells()
        .into_iter()
        .find(|c| c.strategy == strategy && c.class == class)
        .expect("every strategy has a cell per class")
}

impl Cell {
    /// Whether the oracles that fired under this cell's model are allowed.
    pub fn holds(&self, fired: &[(Oracle, u64)]) -> bool {
        fired
            .iter()
            .filter(|(_, n)| *n > 0)
            .all(|(o, _)| self.known.contains(o))
    }
}

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
