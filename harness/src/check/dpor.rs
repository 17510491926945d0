//! Dynamic partial-order reduction: source sets with sleep sets (Abdulla, Aronis, Jonsson and
//! Sagonas, "Optimal dynamic partial order reduction", POPL 2014, Algorithm 1), over executions
//! that are re-run from the start (stateless model checking).
//!
//! The explorer keeps the current execution as a stack of *decision nodes* (states where more
//! than one task could run). After each run it finds the races of the new execution — pairs of
//! dependent steps of different tasks with nothing ordering them but their own conflict — and,
//! for each, makes sure the state before the first step will also be explored with some task
//! that starts the reversed order (an *initial* of the steps in between). Sleep sets stop the
//! same trace being explored twice: a task explored from a node sleeps in its siblings until a
//! step dependent on its own first step runs. A run whose every runnable task sleeps is
//! *blocked*: it repeats a trace already covered, and the explorer ignores its steps from there.
//!
//! The engine is generic over the footprint type so that it can be checked against naive
//! enumeration on small programs (the tests below) as well as on real restores.

use std::collections::BTreeSet;

/// A footprint with a dependency relation (symmetric; steps of one task are never asked).
pub trait Dependency: Copy + std::fmt::Debug {
    fn dependent(&self, other: &Self) -> bool;
}

impl Dependency for super::dependency::Footprint {
    fn dependent(&self, other: &Self) -> bool {
        super::dependency::dependent(self, other)
    }
}

/// One step of an execution, as the explorer needs it.
#[derive(Clone, Debug)]
pub struct Step<F> {
    /// The process it ran in (steps of different processes never race: a crash or a restart
    /// orders them).
    pub life: u32,
    /// The task that ran (its id within the process).
    pub task: u16,
    /// The tasks that could have run instead (sorted; includes `task`).
    pub runnable: Vec<u16>,
    pub footprint: F,
    /// Steps that happen before this one besides program order (spawn, join, await).
    pub after: Vec<usize>,
}

/// A finished run: its steps, and where the live policy found every runnable task asleep.
#[derive(Clone, Debug)]
pub struct Execution<F> {
    pub steps: Vec<Step<F>>,
    /// Steps before this index belong to the fixed prefix (earlier processes) and are not
    /// explored.
    pub fixed: usize,
    /// The decision (counted over the whole run) at which every runnable task was asleep.
    pub blocked_at: Option<usize>,
}

/// A state with a choice.
#[derive(Clone, Debug)]
struct Node<F> {
    runnable: Vec<u16>,
    chosen: u16,
    /// Tasks already explored from here, with their first step's footprint.
    explored: Vec<(u16, F)>,
    backtrack: BTreeSet<u16>,
    /// Tasks asleep on arrival, with the footprint of their next step.
    sleep: Vec<(u16, F)>,
}

/// What the next run must do: replay `decisions`, and from the last of them on keep `sleep`
/// asleep (see [`sleep_after`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<F> {
    pub decisions: Vec<u16>,
    pub sleep: Vec<(u16, F)>,
}

/// The sleep set after `task` ran a step with footprint `fp`: sleepers stay asleep only while
/// what runs is independent of their own next step.
pub fn sleep_after<F: Dependency>(sleep: &mut Vec<(u16, F)>, task: u16, fp: &F) {
    sleep.retain(|(t, f)| *t != task && !f.dependent(fp));
}

/// Counts of what the explorer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DporStats {
    /// Runs made.
    pub runs: u64,
    /// Runs that ended in a sleep-set block (redundant from the block on).
    pub blocked: u64,
    /// Races found (each reversal is scheduled at most once).
    pub races: u64,
    /// Choices not explored because the task was asleep (already covered).
    pub slept: u64,
    /// Choices never explored at a decision node, asleep or not (the reduction found no race
    /// that needs them): each is a whole subtree a naive search would run.
    pub unexplored: u64,
}

/// The source-set explorer for one fixed prefix.
pub struct Dpor<F> {
    /// Decisions of the fixed prefix (replayed, never branched).
    fixed: Vec<u16>,
    nodes: Vec<Node<F>>,
    started: bool,
    pub stats: DporStats,
}

impl<F: Dependency> Dpor<F> {
    pub fn new(fixed: Vec<u16>) -> Dpor<F> {
        Dpor {
            fixed,
            nodes: Vec::new(),
            started: false,
            stats: DporStats::default(),
        }
    }

    /// The next run to make, or `None` when every trace has been covered.
    pub fn next_plan(&mut self) -> Option<Plan<F>> {
        if !self.started {
            self.started = true;
            return Some(Plan {
                decisions: self.fixed.clone(),
                sleep: Vec::new(),
            });
        }
        while let Some(node) = self.nodes.last_mut() {
            let asleep: BTreeSet<u16> = node
                .sleep
                .iter()
                .chain(node.explored.iter())
                .map(|(t, _)| *t)
                .collect();
            let pick = node.backtrack.iter().find(|t| !asleep.contains(t)).copied();
            match pick {
                Some(t) => {
                    // Asleep on this branch: what sleeps here, and the siblings done before.
                    let sleep: Vec<(u16, F)> = node
                        .sleep
                        .iter()
                        .chain(node.explored.iter())
                        .copied()
                        .collect();
                    node.chosen = t;
                    node.backtrack.remove(&t);
                    let decisions = self
                        .fixed
                        .iter()
                        .copied()
                        .chain(self.nodes.iter().map(|n| n.chosen))
                        .collect();
                    return Some(Plan { decisions, sleep });
                }
                None => {
                    // What is left was asleep here: covered by a sibling already explored.
                    self.stats.slept += node.backtrack.len() as u64;
                    let taken = node.explored.len().max(1);
                    self.stats.unexplored += node.runnable.len().saturating_sub(taken) as u64;
                    self.nodes.pop();
                }
            }
        }
        None
    }

    /// Takes in the run made for the last plan: records the branch's footprint, adds the
    /// decision nodes past the known ones (with the sleep sets the run kept), and schedules a
    /// reversal of every race.
    pub fn record(&mut self, exec: &Execution<F>, sleep_at: &[(usize, Vec<(u16, F)>)]) {
        self.stats.runs += 1;
        if exec.blocked_at.is_some() {
            self.stats.blocked += 1;
        }
        let steps = &exec.steps;
        // Decision index of each step (None for one-way steps), counted over the whole run.
        let mut decision_of = Vec::with_capacity(steps.len());
        let mut d = 0usize;
        for s in steps {
            if s.runnable.len() > 1 {
                decision_of.push(Some(d));
                d += 1;
            } else {
                decision_of.push(None);
            }
        }
        let fixed_decisions = self.fixed.len();
        // Steps up to the block are the ones this run explored.
        let end = match exec.blocked_at {
            Some(b) => decision_of
                .iter()
                .position(|x| *x == Some(b))
                .unwrap_or(steps.len()),
            None => steps.len(),
        };
        // The branch node's explored entry gets the footprint of the step it chose.
        if let Some(last) = self.nodes.len().checked_sub(1) {
            let want = fixed_decisions + last;
            if let Some(i) = decision_of.iter().position(|x| *x == Some(want)) {
                let node = &mut self.nodes[last];
                debug_assert_eq!(steps[i].task, node.chosen, "the run replayed its plan");
                if !node.explored.iter().any(|(t, _)| *t == node.chosen) {
                    node.explored.push((node.chosen, steps[i].footprint));
                }
            }
        }
        // New nodes, for the decisions past the known ones and before the block.
        let known = fixed_decisions + self.nodes.len();
        for (i, s) in steps.iter().enumerate().take(end) {
            let Some(di) = decision_of[i] else { continue };
            if di < known || i < exec.fixed {
                continue;
            }
            let sleep = sleep_at
                .iter()
                .find(|(at, _)| *at == di)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            self.nodes.push(Node {
                runnable: s.runnable.clone(),
                chosen: s.task,
                explored: vec![(s.task, s.footprint)],
                backtrack: BTreeSet::new(),
                sleep,
            });
        }
        self.add_races(exec, &decision_of, end);
    }

    /// Source-set race reversal over `steps[exec.fixed..end]`.
    fn add_races(&mut self, exec: &Execution<F>, decision_of: &[Option<usize>], end: usize) {
        let steps = &exec.steps[..end];
        let first = exec.fixed.min(end);
        // Dense thread numbers for (life, task).
        let mut threads: Vec<(u32, u16)> = steps[first..]
            .iter()
            .map(|s| (s.life, s.task))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        threads.sort_unstable();
        let tid = |s: &Step<F>| {
            threads
                .binary_search(&(s.life, s.task))
                .expect("every thread is numbered")
        };
        let n = steps.len();
        let nt = threads.len();
        // Vector clocks and each step's position in its thread (1-based).
        let mut vc: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut pos = vec![0u32; n];
        let mut last_of = vec![None::<usize>; nt];
        for j in first..n {
            let tj = tid(&steps[j]);
            let mut clock = vec![0u32; nt];
            let mut join = |c: &Vec<u32>| {
                for (x, y) in clock.iter_mut().zip(c) {
                    *x = (*x).max(*y);
                }
            };
            if let Some(p) = last_of[tj] {
                join(&vc[p]);
            }
            for &a in &steps[j].after {
                if a >= first && a < j {
                    join(&vc[a]);
                }
            }
            // The latest dependent step of every other thread (earlier ones precede it).
            let mut dep_preds: Vec<usize> = Vec::new();
            let mut seen = vec![false; nt];
            seen[tj] = true;
            for i in (first..j).rev() {
                if steps[i].life != steps[j].life {
                    break;
                }
                let ti = tid(&steps[i]);
                if seen[ti] {
                    continue;
                }
                if steps[i].footprint.dependent(&steps[j].footprint) {
                    seen[ti] = true;
                    dep_preds.push(i);
                }
            }
            for &i in &dep_preds {
                join(&vc[i]);
            }
            let p = clock[tj] + 1;
            clock[tj] = p;
            pos[j] = p;
            vc[j] = clock;
            // Races: a dependent predecessor not ordered before j by anything else.
            for &i in &dep_preds {
                let ti = tid(&steps[i]);
                let mut other = 0u32;
                if let Some(p) = last_of[tj] {
                    other = other.max(vc[p][ti]);
                }
                for &a in &steps[j].after {
                    if a >= first && a < j {
                        other = other.max(vc[a][ti]);
                    }
                }
                for &k in &dep_preds {
                    if k != i {
                        other = other.max(vc[k][ti]);
                    }
                }
                if other < pos[i] {
                    self.reverse(steps, &vc, &pos, &tid, decision_of, i, j);
                }
            }
            last_of[tj] = Some(j);
        }
    }

    /// Makes sure the state before step `i` is explored with an initial of the steps from `i`
    /// to `j` that do not depend on `i`, followed by `j`.
    #[allow(clippy::too_many_arguments)]
    fn reverse(
        &mut self,
        steps: &[Step<F>],
        vc: &[Vec<u32>],
        pos: &[u32],
        tid: &dyn Fn(&Step<F>) -> usize,
        decision_of: &[Option<usize>],
        i: usize,
        j: usize,
    ) {
        self.stats.races += 1;
        let Some(di) = decision_of[i] else {
            // Only one task could run before i: nothing can start the reversal there.
            return;
        };
        let Some(node_at) = di.checked_sub(self.fixed.len()) else {
            return;
        };
        let Some(node) = self.nodes.get(node_at) else {
            return;
        };
        let ti = tid(&steps[i]);
        let happens_after_i = |k: usize| vc[k][ti] >= pos[i];
        let v: Vec<usize> = ((i + 1)..j)
            .filter(|&k| !happens_after_i(k))
            .chain(std::iter::once(j))
            .collect();
        // Initials: tasks whose first step in v has no predecessor in v.
        let mut initials: BTreeSet<u16> = BTreeSet::new();
        let mut firsts: BTreeSet<u16> = BTreeSet::new();
        for (a, &k) in v.iter().enumerate() {
            if !firsts.insert(steps[k].task) {
                continue;
            }
            let preceded = v[..a].iter().any(|&e| vc[k][tid(&steps[e])] >= pos[e]);
            if !preceded {
                initials.insert(steps[k].task);
            }
        }
        let covered = initials.iter().any(|t| {
            node.backtrack.contains(t)
                || node.explored.iter().any(|(e, _)| e == t)
                || node.chosen == *t
        });
        if covered {
            return;
        }
        let asleep = |t: &u16| node.sleep.iter().any(|(s, _)| s == t);
        let pick = initials
            .iter()
            .find(|t| !asleep(t) && node.runnable.contains(t))
            .or_else(|| initials.iter().find(|t| node.runnable.contains(t)))
            .copied();
        if let Some(t) = pick {
            self.nodes[node_at].backtrack.insert(t);
        }
    }
}

#[cfg(test)]
mod tests;
