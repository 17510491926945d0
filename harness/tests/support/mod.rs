//! Shared helpers for the harness integration tests: hand-written cases, running them, and
//! reading the trace around a violation.
#![allow(dead_code)] // each test file uses a different subset

use harness::case::Case;
use harness::fault::{Corruption, CrashAt, CrashKind, Effect, Fault, TamperKind, Target};
use harness::oracle::{Oracle, Violation};
use harness::run::{Outcome, run_case};
use harness::trace::{DriverStep, Event, Op, Point, Res};
use restore_core::strategy::CommitStrategy;

/// The strategies that fix every defect (they must pass every case).
pub const SAFE: [CommitStrategy; 2] = [CommitStrategy::VerifyKvTree, CommitStrategy::Pipelined];

/// A small hand-written case: `sizes` chunks of a random-layout snapshot (so the number of keys
/// is their sum), an empty fault plan, the natural schedule, and the backup controller's driver
/// (restart on any error).
pub fn case(strategy: CommitStrategy, sizes: &[usize]) -> Case {
    Case::small(strategy, sizes.iter().sum(), sizes)
}

pub fn fault(target: Target, effect: Effect) -> Fault {
    Fault { target, effect }
}

pub fn with_faults(mut c: Case, faults: &[Fault]) -> Case {
    c.faults.faults.extend_from_slice(faults);
    c
}

pub fn with_crash(c: Case, life: u32, step: u64, kind: CrashKind) -> Case {
    c.with_crash(life, CrashAt::Start, step, kind)
}

pub fn with_corruption(mut c: Case, chunk: u32, tamper: TamperKind, deliveries: u32) -> Case {
    c.faults.corruptions.push(Corruption {
        chunk,
        tamper,
        deliveries,
        first: 0,
    });
    c
}

/// The same case under another strategy (nothing else changes).
pub fn under(c: &Case, strategy: CommitStrategy) -> Case {
    Case {
        strategy,
        ..c.clone()
    }
}

/// Runs a case; a harness error (not a finding) fails the test with the case attached.
pub fn run(c: &Case) -> Outcome {
    run_case(c).unwrap_or_else(|e| panic!("run failed: {e}\ncase:\n{}", c.to_json()))
}

/// The case file and timeline, for assertion messages.
pub fn report(c: &Case, o: &Outcome) -> String {
    format!(
        "case:\n{}\nviolations: {:#?}\ntimeline:\n{}",
        c.to_json(),
        o.violations,
        o.timeline()
    )
}

/// The violation of `oracle`, failing the test (with the timeline) if it did not fire.
pub fn expect_violation<'a>(c: &Case, o: &'a Outcome, oracle: Oracle) -> &'a Violation {
    o.violations
        .iter()
        .find(|v| v.oracle == oracle)
        .unwrap_or_else(|| {
            panic!(
                "expected {oracle} to fire under {}\n{}",
                c.strategy,
                report(c, o)
            )
        })
}

/// The trace event a violation points at.
pub fn event_of<'a>(o: &'a Outcome, v: &Violation) -> &'a Event {
    o.trace
        .events
        .get(v.event)
        .unwrap_or_else(|| panic!("violation {v:?} points past the trace"))
}

/// Asserts `oracle` is the headline (earliest) violation and returns its event.
pub fn headline<'a>(c: &Case, o: &'a Outcome, oracle: Oracle) -> &'a Event {
    let first = o
        .first_violation()
        .unwrap_or_else(|| panic!("expected {oracle} under {}\n{}", c.strategy, report(c, o)));
    assert_eq!(first.oracle, oracle, "headline oracle\n{}", report(c, o));
    event_of(o, first)
}

/// Asserts the case passes every oracle and completes under both safe strategies.
pub fn assert_safe_pass(c: &Case) {
    for s in SAFE {
        let c = under(c, s);
        let o = run(&c);
        assert!(o.passed(), "{s} must pass\n{}", report(&c, &o));
    }
}

/// A completed KV write that recorded progress.
pub fn is_progress_write(e: &Event) -> bool {
    matches!(
        e.what,
        Point::After(Op::KvWrite { progress: true, .. }, _, Res::Ok)
    )
}

/// The last process of a run.
pub fn last_life(o: &Outcome) -> u32 {
    o.trace.events.last().map_or(0, |e| e.life)
}

/// The chunk the driver resumed from in process `life`.
pub fn resume_chunk(o: &Outcome, life: u32) -> Option<u32> {
    o.trace.events.iter().find_map(|e| match &e.what {
        Point::Driver(DriverStep::Opened { resume_chunk }) if e.life == life => Some(*resume_chunk),
        _ => None,
    })
}

/// Whether some process finished the restore (finish returned Ok).
pub fn finished_ok(o: &Outcome) -> bool {
    o.trace
        .events
        .iter()
        .any(|e| matches!(&e.what, Point::Driver(DriverStep::FinishDone(Res::Ok))))
}

/// Keys in chunks `0..n` of `sizes` (chunk N's last key is key number `keys_through(sizes, N+1)`).
pub fn keys_through(sizes: &[usize], n: usize) -> u32 {
    sizes[..n].iter().sum::<usize>() as u32
}

/// The events of process `life`, with their trace indexes.
pub fn life_events(o: &Outcome, life: u32) -> impl Iterator<Item = (usize, &Event)> {
    o.trace
        .events
        .iter()
        .enumerate()
        .filter(move |(_, e)| e.life == life)
}

/// The scheduler step of the first event of process `life` matching `pred` (to place a crash
/// there in a re-run of the same case: runs are deterministic up to the crash).
pub fn step_of(o: &Outcome, life: u32, pred: impl Fn(&Event) -> bool) -> u64 {
    life_events(o, life)
        .find(|(_, e)| pred(e))
        .map(|(_, e)| e.step)
        .unwrap_or_else(|| panic!("no such event in process {life}\n{}", o.timeline()))
}

/// `driver ChunkDone(Ok)` for `chunk`.
pub fn chunk_done_ok(e: &Event, chunk: u32) -> bool {
    e.chunk == Some(chunk) && matches!(&e.what, Point::Driver(DriverStep::ChunkDone(Res::Ok)))
}

/// Whether any operation or driver step in the trace returned an error.
pub fn any_error(o: &Outcome) -> bool {
    o.trace.events.iter().any(|e| {
        matches!(
            &e.what,
            Point::After(_, _, Res::Err(_))
                | Point::Driver(DriverStep::ChunkDone(Res::Err(_)))
                | Point::Driver(DriverStep::FinishDone(Res::Err(_)))
        )
    })
}

/// The model checker's tiny cases: `chunks` chunks of `keys` short keys with short values (the
/// checker's cost is in schedules, not bytes) under an explicit store model, every write synced.
pub fn checker_case(
    strategy: CommitStrategy,
    layout: restore_core::store::Layout,
    keys: usize,
    chunks: usize,
) -> Case {
    let sizes = vec![keys; chunks];
    let mut c = Case::small(strategy, keys * chunks, &sizes);
    c.snapshot.seed = 11;
    c.snapshot.value_len = (1, 8);
    c.snapshot.key_len = (4, 8);
    c.snapshot.version = 1;
    c.durability =
        harness::fault::Durability::new(layout, restore_core::store::SyncPolicy::Always, 1);
    c
}
