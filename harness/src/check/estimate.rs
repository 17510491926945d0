//! How many executions a naive search would make (no reduction, no caching), estimated where it
//! cannot be run: Knuth's estimator ("Estimating the efficiency of backtrack programs", 1975).
//!
//! The naive search is the one the soundness test runs: it branches on every runnable task at
//! every decision, and at every scheduling point of every schedule also crashes in every crash
//! state, exploring each restart the same way. Its executions are the leaves of the decision
//! tree plus, for every point of every tree node and every crash state there, the executions
//! of the restart. A probe walks one random schedule (uniform at each decision): the product of
//! the branching factors above a node is the node's weight, and the sum over the path of
//! weight × cost is an unbiased estimate of the sum of cost over the tree (Knuth). The crash
//! subtrees along the path are sampled too — one point and one state, uniformly, scaled by
//! their numbers — with the restart's size estimated by a recursive probe. The mean of probes
//! is unbiased; its spread is reported by the caller's repetition, not hidden.

use std::rc::Rc;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::dpor::Plan;
use super::points::{OpCounts, fault_points, fault_sets};
use super::watch::{CrashScope, Guided, Live, Watcher};
use super::{Bounds, CheckError, prepare};
use crate::case::Case;
use crate::fault::{Crash, CrashAt};
use crate::run::{Hooks, run_hooked};

/// The estimate: naive executions, and how many probes (each a few runs) it took.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct NaiveEstimate {
    pub executions: f64,
    pub probes: u64,
}

struct Prober<'a> {
    snapshot: &'a Rc<restore_core::Snapshot>,
    chunks: &'a Rc<Vec<restore_core::Chunk>>,
    limit: usize,
    rng: ChaCha8Rng,
}

impl Prober<'_> {
    /// One random path below (`case`, `fixed`): the product of the branching factors on it.
    fn probe(
        &mut self,
        case: &Case,
        fixed: &[u16],
        from_life: u32,
        crashes_left: u32,
    ) -> Result<f64, CheckError> {
        let live = Rc::new(std::cell::RefCell::new(Live::default()));
        let scope = CrashScope::of(case, from_life, crashes_left, self.limit);
        let watcher = Rc::new(std::cell::RefCell::new(Watcher::new(
            Rc::clone(&live),
            scope,
            !case.faults.faults.is_empty(),
        )));
        let plan = Plan {
            decisions: fixed.to_vec(),
            sleep: Vec::new(),
        };
        let hooks = Hooks {
            policy: Some(Box::new(Guided::random(
                plan,
                Rc::clone(&live),
                self.rng.next_u64(),
            ))),
            watch: Some(watcher.clone()),
        };
        let outcome = run_hooked(
            case,
            Rc::clone(self.snapshot),
            Rc::clone(self.chunks),
            std::sync::Arc::new(restore_core::store::MemStore::new()),
            hooks,
        )?;
        let options: Vec<usize> = outcome
            .step_logs
            .iter()
            .flatten()
            .filter(|s| s.runnable.len() > 1)
            .map(|s| s.runnable.len())
            .collect();
        let taken: Vec<u16> = outcome.decisions.concat();
        let w = watcher.borrow();
        // The weight of a node: the product of the branching factors above it.
        let weight = |decisions: usize| -> f64 {
            options[fixed.len()..decisions]
                .iter()
                .map(|n| *n as f64)
                .product()
        };
        let leaf = weight(options.len());
        // Crash states per point, in order (a point's states are consecutive entries).
        let mut points: Vec<Vec<usize>> = Vec::new();
        let mut at: Option<(u32, u64)> = None;
        for (i, cp) in w.crash_points.iter().enumerate() {
            if at == Some((cp.life, cp.step)) {
                points.last_mut().expect("a point was started").push(i);
            } else {
                at = Some((cp.life, cp.step));
                points.push(vec![i]);
            }
        }
        if points.is_empty() {
            return Ok(leaf);
        }
        // One point of the path and one of its states, uniformly: the crash subtrees hanging
        // off the path sum to (points × states × weight × subtree) in expectation.
        let p = &points[(self.rng.next_u64() % points.len() as u64) as usize];
        let cp = &w.crash_points[p[(self.rng.next_u64() % p.len() as u64) as usize]];
        let mut c = case.clone();
        c.faults.crashes.push(Crash {
            life: cp.life,
            step: cp.step,
            kind: cp.kind,
            at: CrashAt::Start,
        });
        let scale = points.len() as f64 * p.len() as f64 * weight(cp.decisions);
        let below = self.probe(&c, &taken[..cp.decisions], cp.life + 1, crashes_left - 1)?;
        Ok(leaf + scale * below)
    }
}

/// Estimates the naive search's executions for `base` within `bounds`, with `probes` probes per
/// fault set (the sets are summed: each is its own naive tree).
pub fn estimate_naive(
    base: &Case,
    bounds: &Bounds,
    probes: u64,
    seed: u64,
) -> Result<NaiveEstimate, CheckError> {
    let base = prepare(base, bounds)?;
    let (snapshot, chunks) = base.materialize();
    let (snapshot, chunks) = (Rc::new(snapshot), Rc::new(chunks));
    let clean = crate::run::run_materialized(&base, Rc::clone(&snapshot), Rc::clone(&chunks))?;
    let points = fault_points(
        OpCounts::of(&clean.trace),
        chunks.len() as u32,
        base.durability.layout,
    );
    let mut prober = Prober {
        snapshot: &snapshot,
        chunks: &chunks,
        limit: bounds.states_per_point,
        rng: ChaCha8Rng::seed_from_u64(seed),
    };
    let mut total = 0.0;
    let mut made = 0;
    for set in fault_sets(&points, bounds.faults) {
        let mut case = base.clone();
        super::points::apply(&mut case.faults, &set);
        let mut sum = 0.0;
        for _ in 0..probes {
            sum += prober.probe(&case, &[], 0, bounds.crashes)?;
            made += 1;
        }
        total += sum / probes as f64;
    }
    Ok(NaiveEstimate {
        executions: total,
        probes: made,
    })
}
