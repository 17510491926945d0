//! Random cases (`Case::generate`): the Aptos backup-restore strategy is caught by
//! progress-divergence early in the seed sequence, and the safe strategies stay clean over a
//! CI-sized sample, on the in-memory store and on RocksDB.

mod support;

use harness::case::{Case, GenConfig, StoreKind};
use harness::expect::{PolicyClass, cell};
use harness::oracle::Oracle;
use harness::run::{Counters, Outcome};
use harness::trace::{Event, Op, Point, Res};
use restore_core::strategy::CommitStrategy;
use support::{report, run};

const SAFE_SEEDS: u64 = 2_000;
const ROCKS_SAFE_SEEDS: u64 = 30;

fn rocks() -> GenConfig {
    GenConfig {
        store: StoreKind::Rocksdb,
        ..GenConfig::default()
    }
}

/// K and T move only when a KV progress write or a tree write lands, or a crash loses writes;
/// so a progress-divergence violation must point at one of those, in the right direction.
fn assert_divergence_event_moves_the_bound(c: &Case, o: &Outcome) {
    let v = o
        .violations
        .iter()
        .find(|v| v.oracle == Oracle::ProgressDivergence)
        .expect("caller checked");
    let e: &Event = &o.trace.events[v.event];
    let kv_progress = matches!(
        e.what,
        Point::After(Op::KvWrite { progress: true, .. }, _, _)
    );
    let tree_write = matches!(
        e.what,
        Point::After(Op::NodeShard { .. } | Op::NodeBatch { .. }, _, _)
    );
    let crash = matches!(e.what, Point::Crash { .. });
    // KV ahead: only a progress write (or a crash) moved it there; behind: a tree write.
    let mover = if e.k > e.t { kv_progress } else { tree_write };
    assert!(
        crash || mover,
        "progress-divergence at an event that cannot move K or T that way\n{}",
        report(c, o)
    );
    // The event before it (in the same process) was still within the bound: the oracle names
    // the first bad step.
    if v.event > 0 {
        let p = &o.trace.events[v.event - 1];
        if p.life == e.life {
            let d = i64::from(p.k) - i64::from(p.t);
            assert!(
                0 <= d && d <= i64::from(p.l) + 1,
                "previous event already violated\n{}",
                report(c, o)
            );
        }
    }
}

/// Whether every oracle that fired is one the case's (strategy × store model) cell allows.
fn allowed_by_cell(c: &Case, o: &Outcome) -> bool {
    let cell = cell(c.strategy, PolicyClass::of(&c.durability));
    o.violations.iter().all(|v| cell.known.contains(&v.oracle))
}

/// The first seed in `seeds` whose `strategy` case violates progress-divergence.
fn first_divergent_seed(
    strategy: CommitStrategy,
    cfg: &GenConfig,
    seeds: std::ops::Range<u64>,
) -> Option<(u64, Case, Outcome)> {
    seeds.into_iter().find_map(|seed| {
        let c = Case::generate(seed, strategy, cfg);
        let o = run(&c);
        o.violated(Oracle::ProgressDivergence)
            .then_some((seed, c, o))
    })
}

#[test]
fn join_async_violates_progress_divergence_within_1000_seeds() {
    let (seed, c, o) =
        first_divergent_seed(CommitStrategy::JoinAsync, &GenConfig::default(), 0..1_000)
            .expect("join-async violates progress-divergence within the first 1,000 seeds");
    let v = o.first_violation().expect("it violated");
    println!(
        "join-async: first progress-divergence at seed {seed}: {} (event {}: {})",
        v.detail, v.event, o.trace.events[v.event]
    );
    assert_divergence_event_moves_the_bound(&c, &o);
    // The same workload, faults and schedule under the safe strategies keep the bound.
    for s in support::SAFE {
        let cs = Case::generate(seed, s, &GenConfig::default());
        let os = run(&cs);
        assert!(allowed_by_cell(&cs, &os), "{}", report(&cs, &os));
    }
}

#[test]
fn join_async_violates_progress_divergence_within_200_rocksdb_seeds() {
    let (seed, c, o) = first_divergent_seed(CommitStrategy::JoinAsync, &rocks(), 0..200)
        .expect("join-async violates progress-divergence within 200 RocksDB seeds");
    let v = o.first_violation().expect("it violated");
    println!(
        "join-async on RocksDB: first progress-divergence at seed {seed}: {} (event {}: {})",
        v.detail, v.event, o.trace.events[v.event]
    );
    assert_divergence_event_moves_the_bound(&c, &o);
}

/// Runs `seeds` cases of `strategy`, asserting no violation; returns summed counters so the
/// caller can check the sample actually exercised faults.
fn sweep_clean(strategy: CommitStrategy, cfg: &GenConfig, seeds: u64) -> Sample {
    let mut sample = Sample::default();
    let mut failures: Vec<(u64, String)> = Vec::new();
    for seed in 0..seeds {
        let c = Case::generate(seed, strategy, cfg);
        let o = run(&c);
        sample.add(&o);
        // Clean wherever the store orders the writes the strategy orders; with relaxed writes
        // across databases only the cell's known oracles may fire.
        if !allowed_by_cell(&c, &o) {
            failures.push((seed, report(&c, &o)));
        }
    }
    if let Some((seed, first)) = failures.first() {
        let seeds: Vec<u64> = failures.iter().map(|(s, _)| *s).collect();
        panic!(
            "{strategy} ({:?}): {} of {seeds:?} violated; first, seed {seed}:\n{first}",
            cfg.store,
            failures.len()
        );
    }
    sample
}

#[derive(Default, Debug)]
struct Sample {
    totals: Counters,
    /// Cases whose faulty phase did not finish the restore.
    interrupted: u32,
    /// Cases in which some operation or chunk returned an error.
    with_errors: u32,
}

impl Sample {
    fn add(&mut self, o: &Outcome) {
        let t = &mut self.totals;
        t.faults_injected += o.counters.faults_injected;
        t.crashes += o.counters.crashes;
        t.lost_writes += o.counters.lost_writes;
        t.corrupted_deliveries += o.counters.corrupted_deliveries;
        t.lives += o.counters.lives;
        self.interrupted += u32::from(!o.completed);
        self.with_errors += u32::from(
            o.trace
                .events
                .iter()
                .any(|e| matches!(e.what, Point::After(_, _, Res::Err(_)))),
        );
    }

    /// The sample was not vacuous: every kind of trouble happened somewhere.
    fn assert_exercised(&self) {
        let t = &self.totals;
        assert!(t.faults_injected > 0, "{self:?}");
        assert!(t.crashes > 0, "{self:?}");
        assert!(t.lost_writes > 0, "{self:?}");
        assert!(t.corrupted_deliveries > 0, "{self:?}");
        assert!(self.interrupted > 0, "{self:?}");
        assert!(self.with_errors > 0, "{self:?}");
    }
}

#[test]
fn verify_kv_tree_passes_2000_random_seeds() {
    sweep_clean(
        CommitStrategy::VerifyKvTree,
        &GenConfig::default(),
        SAFE_SEEDS,
    )
    .assert_exercised();
}

#[test]
fn pipelined_passes_2000_random_seeds() {
    sweep_clean(CommitStrategy::Pipelined, &GenConfig::default(), SAFE_SEEDS).assert_exercised();
}

#[test]
fn safe_strategies_pass_random_rocksdb_seeds() {
    for s in support::SAFE {
        let sample = sweep_clean(s, &rocks(), ROCKS_SAFE_SEEDS);
        // A small sample: require only that faults were injected at all.
        assert!(sample.totals.faults_injected > 0, "{sample:?}");
    }
}
