//! Sweeps: many seeds × strategies (× stores), in parallel, aggregated so that the result does
//! not depend on the number of jobs or on sharding.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use restore_core::strategy::CommitStrategy;

use crate::case::{Case, GenConfig, StoreKind};
use crate::oracle::Oracle;
use crate::run::{Mode, Outcome, run_materialized_in};

/// Which seeds a sweep runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub count: u64,
    /// `(k, n)`: only seeds with `seed % n == k - 1` (1-based k), so n shards are disjoint and
    /// together cover the range.
    pub shard: Option<(u64, u64)>,
}

impl SeedRange {
    pub fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        (self.start..self.start.saturating_add(self.count)).filter(move |s| match self.shard {
            None => true,
            Some((k, n)) => s % n == k - 1,
        })
    }
}

#[derive(Clone, Debug)]
pub struct SweepConfig {
    pub seeds: SeedRange,
    pub strategies: Vec<CommitStrategy>,
    pub stores: Vec<StoreKind>,
    pub jobs: usize,
    pub generator: GenConfig,
    /// `Inline` runs the same cases with no scheduler: only to measure the scheduler's cost.
    pub mode: Mode,
}

/// One (seed, strategy, store) result, reduced to what a report needs.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub seed: u64,
    pub strategy: CommitStrategy,
    pub store: StoreKind,
    pub violated: Vec<Oracle>,
    pub headline: Option<Oracle>,
    pub max_divergence: i64,
    pub largest_chunk: u32,
    pub steps: u64,
    pub case: Option<Case>,
    pub error: Option<String>,
}

/// Aggregate per strategy and store.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub cases: u64,
    pub violations: BTreeMap<Oracle, u64>,
    /// Cases with at least one violation.
    pub failing_cases: u64,
    pub max_divergence_keys: i64,
    /// The same, in chunks of the largest size fed (rounded up).
    pub max_divergence_chunks: i64,
    pub first_failure: Option<(u64, Oracle)>,
    pub steps: u64,
    pub run_errors: u64,
}

pub fn reduce(
    seed: u64,
    strategy: CommitStrategy,
    store: StoreKind,
    case: &Case,
    o: &Outcome,
) -> CaseResult {
    let mut violated: Vec<Oracle> = o.violations.iter().map(|v| v.oracle).collect();
    violated.sort();
    violated.dedup();
    CaseResult {
        seed,
        strategy,
        store,
        headline: o.first_violation().map(|v| v.oracle),
        violated,
        max_divergence: o.counters.max_divergence,
        largest_chunk: o.trace.events.iter().map(|e| e.l).max().unwrap_or(0),
        steps: o.counters.steps,
        case: (!o.passed()).then(|| case.clone()),
        error: None,
    }
}

/// Runs every (seed, strategy, store) of `cfg`; `stop` ends early (time budget, Ctrl-C), and
/// `on_seed` is told after each finished seed (progress display). Results come back sorted by
/// (seed, strategy, store) whatever the number of jobs.
pub fn run_sweep(
    cfg: &SweepConfig,
    stop: &AtomicBool,
    on_seed: &(dyn Fn(u64) + Sync),
) -> Vec<CaseResult> {
    let seeds: Vec<u64> = cfg.seeds.seeds().collect();
    let next = AtomicU64::new(0);
    let results = Mutex::new(Vec::with_capacity(seeds.len() * cfg.strategies.len()));
    let seeds = Arc::new(seeds);
    std::thread::scope(|scope| {
        for _ in 0..cfg.jobs.max(1) {
            scope.spawn(|| {
                let mut local = Vec::new();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&seed) = seeds.get(i) else { break };
                    local.extend(run_seed(cfg, seed));
                    on_seed(seed);
                }
                results.lock().extend(local);
            });
        }
    });
    let mut all = results.into_inner();
    all.sort_by_key(|r| (r.seed, r.strategy, r.store as u8));
    all
}

/// All strategies and stores of one seed, on one materialized snapshot.
pub fn run_seed(cfg: &SweepConfig, seed: u64) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let mut materialized = None;
    for &store in &cfg.stores {
        for &strategy in &cfg.strategies {
            let generator = GenConfig {
                store,
                ..cfg.generator
            };
            let case = Case::generate(seed, strategy, &generator);
            let (snap, chunks) = materialized.get_or_insert_with(|| {
                let (s, c) = case.materialize();
                (Rc::new(s), Rc::new(c))
            });
            match run_materialized_in(&case, Rc::clone(snap), Rc::clone(chunks), cfg.mode) {
                Ok(o) => out.push(reduce(seed, strategy, store, &case, &o)),
                Err(e) => out.push(CaseResult {
                    seed,
                    strategy,
                    store,
                    violated: Vec::new(),
                    headline: None,
                    max_divergence: 0,
                    largest_chunk: 0,
                    steps: 0,
                    case: Some(case),
                    error: Some(e.to_string()),
                }),
            }
        }
    }
    out
}

/// Aggregates results per (strategy, store), in the order of `strategies` × `stores`.
pub fn aggregate(results: &[CaseResult]) -> BTreeMap<(CommitStrategy, u8), Stats> {
    let mut m: BTreeMap<(CommitStrategy, u8), Stats> = BTreeMap::new();
    for r in results {
        let s = m.entry((r.strategy, r.store as u8)).or_default();
        s.cases += 1;
        s.steps += r.steps;
        if r.error.is_some() {
            s.run_errors += 1;
        }
        for o in &r.violated {
            *s.violations.entry(*o).or_default() += 1;
        }
        if !r.violated.is_empty() {
            s.failing_cases += 1;
            if s.first_failure.is_none() {
                s.first_failure = Some((r.seed, r.headline.expect("violations have a headline")));
            }
        }
        s.max_divergence_keys = s.max_divergence_keys.max(r.max_divergence);
        if r.largest_chunk > 0 {
            let chunks =
                (r.max_divergence + i64::from(r.largest_chunk) - 1) / i64::from(r.largest_chunk);
            s.max_divergence_chunks = s.max_divergence_chunks.max(chunks);
        }
    }
    m
}
