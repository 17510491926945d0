//! Sweeps: many seeds × strategies (× stores), in parallel, aggregated as results arrive so that
//! memory does not grow with the number of seeds, and the result does not depend on the number
//! of jobs or on sharding.
//!
//! Why streaming: a soak (`sweep --time N`) or an Indexed Job over 10⁹ seeds must run in the
//! memory of a few cases. Each worker folds its cases into a [`Summary`] (counts, maxima, the
//! first failing seed and its case); summaries merge by addition, maxima and "smallest seed
//! wins", which are commutative and associative, so any split of the seeds gives the same totals.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use restore_core::strategy::CommitStrategy;

use crate::case::{Case, GenConfig, StoreKind};
use crate::coverage::Coverage;
use crate::expect::{PolicyClass, witnesses};
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
    /// One past the last seed of the range (saturating: a range may reach `u64::MAX`).
    fn end(&self) -> u64 {
        self.start.saturating_add(self.count)
    }

    /// The smallest seed of the range in this shard, if any.
    fn first(&self) -> Option<u64> {
        let first = match self.shard {
            None => self.start,
            Some((k, n)) => {
                debug_assert!(k >= 1 && k <= n, "shard {k}/{n}");
                let offset = ((k - 1) + n - self.start % n) % n;
                self.start.checked_add(offset)?
            }
        };
        (first < self.end()).then_some(first)
    }

    /// Number of seeds in the range and shard, computed without walking it.
    pub fn len(&self) -> u64 {
        let step = self.shard.map_or(1, |(_, n)| n);
        self.first().map_or(0, |f| (self.end() - 1 - f) / step + 1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th seed of the range and shard (0-based), if `i < len()`.
    pub fn nth(&self, i: u64) -> Option<u64> {
        let step = self.shard.map_or(1, |(_, n)| n);
        let seed = self.first()?.checked_add(i.checked_mul(step)?)?;
        (seed < self.end()).then_some(seed)
    }

    /// The position of `seed` in the range and shard, if it is one of its seeds.
    pub fn index_of(&self, seed: u64) -> Option<u64> {
        let step = self.shard.map_or(1, |(_, n)| n);
        let first = self.first()?;
        (seed >= first && seed < self.end() && (seed - first).is_multiple_of(step))
            .then(|| (seed - first) / step)
    }

    /// The seeds in order (lazily: the range may be huge).
    pub fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map_while(|i| self.nth(i))
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
    /// What the case drew and where its crashes landed (see `coverage`).
    pub coverage: Coverage,
    /// The store model the case ran under (its expectation cell).
    pub class: PolicyClass,
    /// Whether the case is exactly what the default generator draws for its seed, so that its
    /// seed's witnesses apply (not with a forced layout or sync policy).
    pub witnessable: bool,
}

/// Aggregate per strategy and store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub cases: u64,
    pub violations: BTreeMap<Oracle, u64>,
    /// Cases with at least one violation.
    pub failing_cases: u64,
    pub max_divergence_keys: i64,
    /// The same, in chunks of the largest size fed (rounded up).
    pub max_divergence_chunks: i64,
    /// The smallest failing seed and its headline oracle.
    pub first_failure: Option<(u64, Oracle)>,
    pub steps: u64,
    pub run_errors: u64,
    /// Witnesses of this strategy whose seed ran: oracle → (seed, whether it fired there).
    pub witnesses: BTreeMap<Oracle, (u64, bool)>,
    /// The smallest seed that violated each oracle.
    pub first_seed: BTreeMap<Oracle, u64>,
    /// Categories drawn, summed over cases.
    pub coverage: Coverage,
    /// Cases and violations per store model: what the expectation cells judge.
    pub by_class: BTreeMap<PolicyClass, ClassStats>,
}

/// One store model's share of a strategy's cases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    pub cases: u64,
    pub violations: BTreeMap<Oracle, u64>,
}

impl Stats {
    /// Folds one case in.
    pub fn add(&mut self, r: &CaseResult) {
        let class = self.by_class.entry(r.class).or_default();
        class.cases += 1;
        for o in &r.violated {
            *class.violations.entry(*o).or_default() += 1;
        }
        let witnessed = witnesses(r.strategy)
            .iter()
            .filter(|w| r.witnessable && w.seed == r.seed);
        for w in witnessed {
            let fired = r.violated.contains(&w.oracle);
            let seen = self.witnesses.entry(w.oracle).or_insert((w.seed, false));
            seen.1 |= fired;
        }
        self.cases += 1;
        self.steps += r.steps;
        for (k, n) in &r.coverage {
            *self.coverage.entry(k.clone()).or_default() += n;
        }
        if r.error.is_some() {
            self.run_errors += 1;
        }
        for o in &r.violated {
            *self.violations.entry(*o).or_default() += 1;
            let first = self.first_seed.entry(*o).or_insert(r.seed);
            *first = (*first).min(r.seed);
        }
        if !r.violated.is_empty() {
            self.failing_cases += 1;
            let headline = r.headline.expect("violations have a headline");
            if self.first_failure.is_none_or(|(seed, _)| r.seed < seed) {
                self.first_failure = Some((r.seed, headline));
            }
        }
        self.max_divergence_keys = self.max_divergence_keys.max(r.max_divergence);
        if r.largest_chunk > 0 {
            let chunks =
                (r.max_divergence + i64::from(r.largest_chunk) - 1) / i64::from(r.largest_chunk);
            self.max_divergence_chunks = self.max_divergence_chunks.max(chunks);
        }
    }

    /// Folds another aggregate of disjoint seeds in.
    pub fn merge(&mut self, other: &Stats) {
        self.cases += other.cases;
        self.steps += other.steps;
        for (k, n) in &other.coverage {
            *self.coverage.entry(k.clone()).or_default() += n;
        }
        self.run_errors += other.run_errors;
        self.failing_cases += other.failing_cases;
        for (c, x) in &other.by_class {
            let mine = self.by_class.entry(*c).or_default();
            mine.cases += x.cases;
            for (o, n) in &x.violations {
                *mine.violations.entry(*o).or_default() += n;
            }
        }
        for (o, n) in &other.violations {
            *self.violations.entry(*o).or_default() += n;
        }
        for (o, seed) in &other.first_seed {
            let first = self.first_seed.entry(*o).or_insert(*seed);
            *first = (*first).min(*seed);
        }
        self.max_divergence_keys = self.max_divergence_keys.max(other.max_divergence_keys);
        self.max_divergence_chunks = self.max_divergence_chunks.max(other.max_divergence_chunks);
        self.first_failure = match (self.first_failure, other.first_failure) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        for (o, (seed, fired)) in &other.witnesses {
            let seen = self.witnesses.entry(*o).or_insert((*seed, false));
            seen.1 |= *fired;
        }
    }
}

/// The key a sweep aggregates by.
pub type StatsKey = (CommitStrategy, u8);

/// What a sweep keeps: bounded by strategies × stores, whatever the number of seeds.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub stats: BTreeMap<StatsKey, Stats>,
    /// The case of each key's smallest failing seed (for `--save-failures`).
    pub first_cases: BTreeMap<StatsKey, (u64, Case)>,
    /// Seeds run to completion.
    pub seeds_run: u64,
}

impl Summary {
    pub fn add(&mut self, r: CaseResult) {
        let key = (r.strategy, r.store as u8);
        self.stats.entry(key).or_default().add(&r);
        if let Some(case) = r.case
            && !r.violated.is_empty()
            && self
                .first_cases
                .get(&key)
                .is_none_or(|(seed, _)| r.seed < *seed)
        {
            self.first_cases.insert(key, (r.seed, case));
        }
    }

    pub fn merge(&mut self, other: Summary) {
        self.seeds_run += other.seeds_run;
        for (key, s) in &other.stats {
            self.stats.entry(*key).or_default().merge(s);
        }
        for (key, (seed, case)) in other.first_cases {
            if self.first_cases.get(&key).is_none_or(|(s, _)| seed < *s) {
                self.first_cases.insert(key, (seed, case));
            }
        }
    }
}

pub fn reduce(
    seed: u64,
    strategy: CommitStrategy,
    store: StoreKind,
    case: &Case,
    o: &Outcome,
    witnessable: bool,
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
        coverage: crate::coverage::of_case(case, o),
        class: PolicyClass::of(&case.durability),
        witnessable,
    }
}

/// Runs the seeds of `cfg` in order of index, `jobs` at a time; `stop` ends early (time budget,
/// Ctrl-C), and `on_seed` is told after each finished seed (progress display). A worker checks
/// `stop` before it takes the next seed and always finishes the seed it took, so the seeds run
/// are exactly the first [`Summary::seeds_run`] of the range: a stopped sweep is the complete
/// sweep of a shorter range.
pub fn run_sweep(cfg: &SweepConfig, stop: &AtomicBool, on_seed: &(dyn Fn(u64) + Sync)) -> Summary {
    let next = AtomicU64::new(0);
    let total = Mutex::new(Summary::default());
    std::thread::scope(|scope| {
        for _ in 0..cfg.jobs.max(1) {
            scope.spawn(|| {
                let mut local = Summary::default();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(seed) = cfg.seeds.nth(i) else { break };
                    for r in run_seed(cfg, seed) {
                        local.add(r);
                    }
                    local.seeds_run += 1;
                    on_seed(seed);
                }
                total.lock().merge(local);
            });
        }
    });
    total.into_inner()
}

/// All strategies and stores of one seed, on one materialized snapshot.
pub fn run_seed(cfg: &SweepConfig, seed: u64) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let witnessable = cfg.generator.layout.is_none() && cfg.generator.sync.is_none();
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
                Ok(o) => out.push(reduce(seed, strategy, store, &case, &o, witnessable)),
                Err(e) => out.push(CaseResult {
                    seed,
                    strategy,
                    store,
                    violated: Vec::new(),
                    headline: None,
                    max_divergence: 0,
                    largest_chunk: 0,
                    steps: 0,
                    class: PolicyClass::of(&case.durability),
                    case: Some(case),
                    error: Some(e.to_string()),
                    coverage: Coverage::new(),
                    witnessable,
                }),
            }
        }
    }
    out
}

/// Aggregates a list of results per (strategy, store): the same figures [`run_sweep`] streams.
pub fn aggregate(results: &[CaseResult]) -> BTreeMap<StatsKey, Stats> {
    let mut m: BTreeMap<StatsKey, Stats> = BTreeMap::new();
    for r in results {
        m.entry((r.strategy, r.store as u8)).or_default().add(r);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(r: &SeedRange) -> Vec<u64> {
        (r.start..r.start.saturating_add(r.count))
            .filter(|s| r.shard.is_none_or(|(k, n)| s % n == k - 1))
            .collect()
    }

    #[test]
    fn seed_range_index_matches_a_walk_of_the_range() {
        for start in [0u64, 1, 5, 97] {
            for count in [0u64, 1, 2, 10, 33] {
                for shard in [None, Some((1, 1)), Some((1, 3)), Some((3, 3)), Some((2, 7))] {
                    let r = SeedRange {
                        start,
                        count,
                        shard,
                    };
                    let want = walk(&r);
                    assert_eq!(r.len(), want.len() as u64, "{r:?}");
                    assert_eq!(r.seeds().collect::<Vec<_>>(), want, "{r:?}");
                    assert_eq!(r.nth(want.len() as u64), None, "{r:?}");
                    for (i, seed) in want.iter().enumerate() {
                        assert_eq!(r.index_of(*seed), Some(i as u64), "{r:?}");
                    }
                    assert_eq!(r.index_of(start + count), None, "{r:?}");
                }
            }
        }
    }

    #[test]
    fn seed_range_near_the_top_of_u64_does_not_overflow() {
        let r = SeedRange {
            start: u64::MAX - 5,
            count: u64::MAX,
            shard: Some((2, 4)),
        };
        // Seeds MAX-5 .. MAX-1 (end saturates at MAX, exclusive); MAX ≡ 3 (mod 4), so the
        // seeds ≡ 1 (mod 4) there are MAX-2 only.
        assert_eq!(r.seeds().collect::<Vec<_>>(), vec![u64::MAX - 2]);
        let huge = SeedRange {
            start: 0,
            count: 1_000_000_000,
            shard: None,
        };
        assert_eq!(huge.len(), 1_000_000_000);
        assert_eq!(huge.nth(999_999_999), Some(999_999_999));
    }

    fn result(seed: u64, violated: &[Oracle], div: i64) -> CaseResult {
        CaseResult {
            seed,
            strategy: CommitStrategy::JoinAsync,
            store: StoreKind::Mem,
            violated: violated.to_vec(),
            headline: violated.first().copied(),
            max_divergence: div,
            largest_chunk: 4,
            steps: 10,
            case: None,
            error: None,
            coverage: Coverage::new(),
            class: PolicyClass::RelaxedOneDb,
            witnessable: true,
        }
    }

    #[test]
    fn stats_merge_in_any_split_equals_one_pass() {
        let rs = vec![
            result(7, &[Oracle::FinalState], 9),
            result(3, &[], 2),
            result(5, &[Oracle::ProgressDivergence, Oracle::FinalState], 1),
            result(1, &[], 0),
        ];
        let mut one = Stats::default();
        for r in &rs {
            one.add(r);
        }
        assert_eq!(one.first_failure, Some((5, Oracle::ProgressDivergence)));
        assert_eq!(one.failing_cases, 2);
        assert_eq!(one.max_divergence_chunks, 3); // ceil(9 / 4)
        for cut in 0..=rs.len() {
            let (mut a, mut b) = (Stats::default(), Stats::default());
            rs[..cut].iter().for_each(|r| a.add(r));
            rs[cut..].iter().for_each(|r| b.add(r));
            b.merge(&a);
            assert_eq!(b, one, "split at {cut}");
        }
    }
}
