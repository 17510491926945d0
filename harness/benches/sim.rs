//! Simulator throughput: cases per second on the default small cases
//! (`Case::generate(seed, strategy, &GenConfig::default())`, every strategy), run
//! (a) under our deterministic scheduler, (b) inline with no scheduler, and, with
//! `--features shuttle`, (c) under shuttle's random scheduler through `ShuttleRuntime`.
//!
//! Crashes are removed from every plan, in all three, so the work is the same: nothing stops a
//! process at a step inline or under shuttle. Everything else (faults, corruptions, restarts, the
//! faults-off restart, the final oracles) runs in all three; only (a) records the trace and
//! checks progress-divergence at every point, which is part of what our scheduler costs. (The
//! trace hash is computed on first use, as in a sweep, so none of the three pays for it.)
//!
//! ```sh
//! cargo bench -p harness --bench sim --features shuttle
//! RESTORE_SIM_BENCH_QUICK=1 cargo bench -p harness --bench sim --features shuttle   # quick
//! taskset -c 0 cargo bench -p harness --bench sim --features shuttle                # 1 core
//! ```
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harness::case::{Case, GenConfig};
use harness::run::{Mode, Outcome, run_materialized, run_materialized_in};
use restore_core::strategy::CommitStrategy;
use restore_core::{Chunk, Snapshot};

type Materialized = (Case, Rc<Snapshot>, Rc<Vec<Chunk>>);

fn quick() -> bool {
    std::env::var_os("RESTORE_SIM_BENCH_QUICK").is_some_and(|v| v != "0")
}

/// Seeds × every strategy, crashes removed, materialized once (not part of what is measured).
fn cases(seeds: u64) -> Vec<Materialized> {
    (0..seeds)
        .flat_map(|seed| {
            CommitStrategy::ALL.map(|s| Case::generate(seed, s, &GenConfig::default()))
        })
        .map(|mut case| {
            case.faults.crashes.clear();
            let (snapshot, chunks) = case.materialize();
            (case, Rc::new(snapshot), Rc::new(chunks))
        })
        .collect()
}

fn check(o: Result<Outcome, harness::run::RunError>) -> bool {
    o.expect("the in-memory store does not fail to open")
        .passed()
}

fn scheduled(cases: &[Materialized]) -> usize {
    cases
        .iter()
        .filter(|(c, s, ch)| check(run_materialized(c, Rc::clone(s), Rc::clone(ch))))
        .count()
}

fn inline(cases: &[Materialized]) -> usize {
    cases
        .iter()
        .filter(|(c, s, ch)| {
            check(run_materialized_in(
                c,
                Rc::clone(s),
                Rc::clone(ch),
                Mode::Inline,
            ))
        })
        .count()
}

#[cfg(feature = "shuttle")]
mod under_shuttle {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::sync::Arc;

    use harness::run::run_materialized_on;
    use harness::sim::{ShuttleRuntime, set_foreign_point};
    use shuttle::scheduler::RandomScheduler;
    use shuttle::{Config, FailurePersistence, Runner};

    use super::{Materialized, check};

    thread_local! {
        // shuttle runs every task of an execution on the calling thread, so the test function
        // (which must be Send + Sync + 'static) finds the cases here.
        static CASES: RefCell<Rc<Vec<Materialized>>> = RefCell::new(Rc::new(Vec::new()));
        static NEXT: Cell<usize> = const { Cell::new(0) };
        static PASSED: Cell<usize> = const { Cell::new(0) };
    }

    /// shuttle's random scheduler draws its seed from the OS unless given one; a fixed seed makes
    /// the shuttle side replay the same schedules every run, like ours.
    const SHUTTLE_SEED: u64 = 1;

    fn config() -> Config {
        let mut c = Config::new();
        c.failure_persistence = FailurePersistence::None;
        c.stack_size = 256 * 1024; // as our scheduler's tasks
        c
    }

    /// Installs shuttle's panic hook first, so ours (quiet while a case runs) sits on top.
    pub fn init() {
        Runner::new(RandomScheduler::new_from_seed(SHUTTLE_SEED, 1), config()).run(|| {});
        harness::sim::set_quiet_panics(false);
    }

    /// One shuttle `Runner` for the list: one random-scheduler iteration per case.
    pub fn run(cases: &Rc<Vec<Materialized>>) -> usize {
        CASES.with(|c| *c.borrow_mut() = Rc::clone(cases));
        NEXT.set(0);
        PASSED.set(0);
        set_foreign_point(Some(shuttle::thread::yield_now));
        let iterations = Runner::new(
            RandomScheduler::new_from_seed(SHUTTLE_SEED, cases.len()),
            config(),
        )
        .run(|| {
            let cases = CASES.with(|c| Rc::clone(&c.borrow()));
            let (case, snapshot, chunks) = &cases[NEXT.get()];
            NEXT.set(NEXT.get() + 1);
            let o = run_materialized_on(
                case,
                Rc::clone(snapshot),
                Rc::clone(chunks),
                Arc::new(ShuttleRuntime),
            );
            if check(o) {
                PASSED.set(PASSED.get() + 1);
            }
        });
        set_foreign_point(None);
        assert_eq!(iterations, cases.len());
        PASSED.get()
    }
}

fn bench(c: &mut Criterion) {
    #[cfg(feature = "shuttle")]
    under_shuttle::init();
    let seeds = if quick() { 10 } else { 50 };
    let list = Rc::new(cases(seeds));
    let n = list.len();
    // Once each, untimed: every mode runs every case to the end.
    eprintln!(
        "{n} cases ({seeds} seeds × {} strategies, crashes removed); passing: scheduled {}, inline {}",
        CommitStrategy::ALL.len(),
        scheduled(&list),
        inline(&list)
    );
    #[cfg(feature = "shuttle")]
    eprintln!("passing under shuttle: {}", under_shuttle::run(&list));

    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Elements(n as u64));
    if quick() {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    } else {
        g.sample_size(20).measurement_time(Duration::from_secs(5));
    }
    g.bench_function("scheduled", |b| b.iter(|| black_box(scheduled(&list))));
    g.bench_function("inline", |b| b.iter(|| black_box(inline(&list))));
    #[cfg(feature = "shuttle")]
    g.bench_function("shuttle", |b| {
        b.iter(|| black_box(under_shuttle::run(&list)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
