//! Bounded exhaustive exploration of schedules for tiny cases: depth-first over every choice of
//! runnable task, by replaying a decision prefix and branching at the last unexplored choice.

use crate::case::Case;
use crate::run::{Outcome, RunError, run_case};
use crate::sim::PolicyKind;

/// What an exhaustive exploration saw.
#[derive(Debug)]
pub struct Exploration {
    /// Schedules run.
    pub runs: usize,
    /// True if every schedule was run (the bound was not hit).
    pub complete: bool,
    /// Distinct trace hashes seen.
    pub distinct_traces: usize,
    /// The first failing schedule, as a replayable case, with its outcome.
    pub first_failure: Option<(Case, Outcome)>,
}

/// Runs every schedule of `case` (its own schedule policy is replaced), up to `max_runs`.
pub fn explore_exhaustive(case: &Case, max_runs: usize) -> Result<Exploration, RunError> {
    let mut prefix: Vec<u16> = Vec::new();
    let mut runs = 0;
    let mut hashes = std::collections::BTreeSet::new();
    let mut first_failure = None;
    loop {
        if runs >= max_runs {
            return Ok(Exploration {
                runs,
                complete: false,
                distinct_traces: hashes.len(),
                first_failure,
            });
        }
        let mut c = case.clone();
        c.schedule = PolicyKind::Dfs {
            prefix: prefix.clone(),
        };
        let outcome = run_case(&c)?;
        runs += 1;
        hashes.insert(outcome.trace_hash());
        let taken: Vec<u16> = outcome.decisions.concat();
        if first_failure.is_none() && !outcome.passed() {
            let mut replay = case.clone();
            replay.schedule = PolicyKind::Replay {
                decisions: taken.clone(),
            };
            first_failure = Some((replay, outcome.clone()));
        }
        // Backtrack: the deepest decision with an untried option to the right of the taken one.
        let next = (0..taken.len().min(outcome.options.len()))
            .rev()
            .find_map(|i| {
                let opts = &outcome.options[i];
                let pos = opts.iter().position(|t| *t == taken[i])?;
                opts.get(pos + 1).map(|alt| {
                    let mut p = taken[..i].to_vec();
                    p.push(*alt);
                    p
                })
            });
        match next {
            Some(p) => prefix = p,
            None => {
                return Ok(Exploration {
                    runs,
                    complete: true,
                    distinct_traces: hashes.len(),
                    first_failure,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use restore_core::strategy::CommitStrategy;

    use super::*;
    use crate::oracle::Oracle;

    fn tiny(strategy: CommitStrategy, sizes: Vec<usize>) -> Case {
        let mut c = Case::small(strategy, sizes.iter().sum(), &sizes);
        c.snapshot.seed = 11;
        c.snapshot.value_len = (1, 8);
        c.snapshot.key_len = (4, 8);
        c.snapshot.version = 1;
        c.driver.max_lives = 1;
        c
    }

    #[test]
    fn exhaustive_search_finds_the_fault_free_audit_race() {
        let bad =
            explore_exhaustive(&tiny(CommitStrategy::JoinAsync, vec![2, 2, 2]), 5_000).unwrap();
        let (case, outcome) = bad.first_failure.expect("some schedule lets KV run ahead");
        assert_eq!(
            outcome.first_violation().unwrap().oracle,
            Oracle::ProgressDivergence
        );
        // The failing schedule replays to the same trace.
        assert_eq!(run_case(&case).unwrap().trace_hash(), outcome.trace_hash());
    }

    #[test]
    fn exhaustive_search_clears_pipelined() {
        // Two chunks: small enough to enumerate every schedule (4,704 when written), including
        // every placement of the first chunk's commit against the second chunk's work.
        let all = explore_exhaustive(&tiny(CommitStrategy::Pipelined, vec![2, 2]), 10_000).unwrap();
        assert!(all.complete, "bound too small: {} runs", all.runs);
        assert!(all.first_failure.is_none());
        assert!(
            all.distinct_traces > 1,
            "more than one interleaving was explored"
        );
        // Three chunks: the space is far larger (no partial-order reduction); a bounded prefix.
        let some =
            explore_exhaustive(&tiny(CommitStrategy::Pipelined, vec![2, 2, 2]), 3_000).unwrap();
        assert_eq!(some.runs, 3_000);
        assert!(some.first_failure.is_none());
    }
}
