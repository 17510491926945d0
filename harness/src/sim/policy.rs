//! Scheduling policies: which runnable task goes next.
//!
//! Each policy draws from its own seeded ChaCha stream, so the schedule is a pure function of
//! the seed and the sequence of runnable sets. Every decision with more than one candidate is
//! recorded by the scheduler, and [`Replay`] plays such a record back exactly.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::TaskId;

pub trait Policy {
    /// Picks one of `runnable` (never empty, sorted by id). `current` ran last.
    fn choose(&mut self, runnable: &[TaskId], current: Option<TaskId>) -> TaskId;
    /// A task was created (PCT gives it a priority).
    fn on_new_task(&mut self, _id: TaskId) {}
    /// Whether the scheduler should record every runnable set (exhaustive exploration).
    fn wants_options(&self) -> bool {
        false
    }
}

/// A serializable description of a policy, part of a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Uniformly random among the runnable tasks at every point.
    RandomWalk { seed: u64 },
    /// Probabilistic concurrency testing: random task priorities, the highest runnable runs,
    /// and at `depth - 1` random steps (within `horizon`) the running task drops to the bottom.
    Pct { seed: u64, depth: u32, horizon: u64 },
    /// Always the lowest runnable id: the "natural" order (driver first, children in order).
    FirstRunnable,
    /// Play back recorded decisions (task ids); past the end, fall back to `FirstRunnable`.
    Replay { decisions: Vec<u16> },
    /// Like `Replay`, and also records every runnable set: one step of a depth-first,
    /// bounded-exhaustive enumeration of schedules (see `explore`).
    Dfs { prefix: Vec<u16> },
}

impl PolicyKind {
    pub fn build(&self) -> Box<dyn Policy> {
        match self {
            PolicyKind::RandomWalk { seed } => {
                Box::new(RandomWalk(ChaCha8Rng::seed_from_u64(*seed)))
            }
            PolicyKind::Pct {
                seed,
                depth,
                horizon,
            } => Box::new(Pct::new(*seed, *depth, *horizon)),
            PolicyKind::FirstRunnable => Box::new(FirstRunnable),
            PolicyKind::Replay { decisions } => Box::new(Replay {
                decisions: decisions.clone(),
                next: 0,
                diverged: false,
                record: false,
            }),
            PolicyKind::Dfs { prefix } => Box::new(Replay {
                decisions: prefix.clone(),
                next: 0,
                diverged: false,
                record: true,
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            PolicyKind::RandomWalk { .. } => "random-walk",
            PolicyKind::Pct { .. } => "pct",
            PolicyKind::FirstRunnable => "first-runnable",
            PolicyKind::Replay { .. } => "replay",
            PolicyKind::Dfs { .. } => "dfs",
        }
    }
}

pub struct RandomWalk(ChaCha8Rng);

/// Uniform index below `n` (n ≤ 2^16, so the modulo bias is below 2^-48).
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

impl Policy for RandomWalk {
    fn choose(&mut self, runnable: &[TaskId], _current: Option<TaskId>) -> TaskId {
        runnable[below(&mut self.0, runnable.len())]
    }
}

pub struct FirstRunnable;

impl Policy for FirstRunnable {
    fn choose(&mut self, runnable: &[TaskId], _current: Option<TaskId>) -> TaskId {
        runnable[0]
    }
}

pub struct Pct {
    rng: ChaCha8Rng,
    /// Priority per task id; higher runs first.
    priority: Vec<u64>,
    /// Steps at which the chosen task is demoted, ascending.
    change_points: Vec<u64>,
    step: u64,
    /// Next demotion priority (below every initial one, decreasing).
    low: u64,
}

impl Pct {
    pub fn new(seed: u64, depth: u32, horizon: u64) -> Pct {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut change_points: Vec<u64> = (1..depth.max(1))
            .map(|_| 1 + rng.next_u64() % horizon.max(1))
            .collect();
        change_points.sort_unstable();
        Pct {
            rng,
            priority: Vec::new(),
            change_points,
            step: 0,
            low: u64::from(depth),
        }
    }
}

impl Policy for Pct {
    fn on_new_task(&mut self, id: TaskId) {
        while self.priority.len() <= id.index() {
            self.priority.push(0);
        }
        // Initial priorities sit above every demotion priority.
        self.priority[id.index()] = 1_000 + (self.rng.next_u64() >> 16);
    }

    fn choose(&mut self, runnable: &[TaskId], _current: Option<TaskId>) -> TaskId {
        self.step += 1;
        let best = |p: &Vec<u64>| {
            *runnable
                .iter()
                .max_by_key(|t| {
                    (
                        p.get(t.index()).copied().unwrap_or(0),
                        std::cmp::Reverse(t.0),
                    )
                })
                .expect("runnable is never empty")
        };
        let mut chosen = best(&self.priority);
        while self.change_points.first() == Some(&self.step) {
            self.change_points.remove(0);
            self.low = self.low.saturating_sub(1);
            self.priority[chosen.index()] = self.low;
            chosen = best(&self.priority);
        }
        chosen
    }
}

pub struct Replay {
    decisions: Vec<u16>,
    next: usize,
    diverged: bool,
    record: bool,
}

impl Policy for Replay {
    fn wants_options(&self) -> bool {
        self.record
    }

    fn choose(&mut self, runnable: &[TaskId], _current: Option<TaskId>) -> TaskId {
        match self.decisions.get(self.next) {
            Some(&want) => {
                self.next += 1;
                match runnable.iter().find(|t| t.0 == want) {
                    Some(t) => *t,
                    None => {
                        // The recorded task cannot run: the case changed under the record.
                        // Keep going deterministically; the trace hash will show the difference.
                        self.diverged = true;
                        runnable[0]
                    }
                }
            }
            None => runnable[0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u16]) -> Vec<TaskId> {
        v.iter().map(|&i| TaskId(i)).collect()
    }

    #[test]
    fn random_walk_is_seeded() {
        let run = |seed| {
            let mut p = PolicyKind::RandomWalk { seed }.build();
            (0..64)
                .map(|_| p.choose(&ids(&[0, 1, 2]), None).0)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        assert!(run(1).contains(&0) && run(1).contains(&2));
    }

    #[test]
    fn pct_runs_highest_priority_and_demotes_at_change_points() {
        let mut p = Pct::new(9, 3, 4);
        for i in 0..3 {
            p.on_new_task(TaskId(i));
        }
        let picks: Vec<u16> = (0..6).map(|_| p.choose(&ids(&[0, 1, 2]), None).0).collect();
        // Without demotions one task would win every time; with depth 3 there are two
        // change points within the first 4 steps, so at least two tasks get picked.
        let distinct: std::collections::BTreeSet<u16> = picks.iter().copied().collect();
        assert!(distinct.len() >= 2, "{picks:?}");
    }

    #[test]
    fn replay_follows_the_record_then_falls_back() {
        let mut p = PolicyKind::Replay {
            decisions: vec![2, 1],
        }
        .build();
        assert_eq!(p.choose(&ids(&[0, 1, 2]), None), TaskId(2));
        assert_eq!(p.choose(&ids(&[0, 1, 2]), None), TaskId(1));
        assert_eq!(p.choose(&ids(&[0, 1, 2]), None), TaskId(0));
    }
}
