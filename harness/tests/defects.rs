//! One hand-written case per known defect of the Aptos restore (spec §6): each names the oracle
//! that must fire under the Aptos-modelling strategy, checks that the violating trace event is
//! the operation the defect predicts, and runs the same case (only the strategy changed) under
//! the safe strategies, which must pass. The last group injects the remaining fault kinds
//! (torn batch, failed-but-persisted, acknowledged-then-lost, power loss, full disk) and checks
//! the safe strategies recover from each.

mod support;

use harness::case::{Case, OnError};
use harness::fault::{CrashKind, Effect, TamperKind, Target};
use harness::oracle::Oracle;
use harness::run::Outcome;
use harness::sim::{PolicyKind, Stop};
use harness::trace::{DriverStep, FaultMark, Op, Point, Res};
use restore_core::strategy::{CommitStrategy, Safety};
use support::*;

const SIZES: [usize; 4] = [3, 3, 3, 3];

fn is_verify_error(r: &Res) -> bool {
    matches!(r, Res::Err(m) if m.contains("range proof does not verify"))
}

// ---------------------------------------------------------------------------------------------
// The audit race (spec §6.2 variant (a)).

/// Batch N of the tree fails while the KV side of chunk N+1 commits.
fn audit_race_case(n: u32) -> Case {
    with_faults(
        case(CommitStrategy::JoinAsync, &SIZES),
        &[fault(Target::ChunkBatch { chunk: n }, Effect::IoError)],
    )
}

#[test]
fn audit_race_failed_batch_lets_kv_commit_the_next_chunk() {
    let n = 1u32;
    let c = audit_race_case(n);
    let o = run(&c);
    let e = headline(&c, &o, Oracle::ProgressDivergence);

    // The violating step is the KV side committing chunk N+1 (rows and progress) ...
    assert_eq!(e.task_name, "kv", "{}", report(&c, &o));
    assert_eq!(e.chunk, Some(n + 1), "{}", report(&c, &o));
    assert!(is_progress_write(e), "{}", report(&c, &o));
    assert_eq!(e.life, 0);
    // ... which puts the durable KV progress at the end of chunk N+1 ...
    assert_eq!(
        e.k,
        keys_through(&SIZES, n as usize + 2),
        "{}",
        report(&c, &o)
    );
    // ... while the durable tree is short of chunk N (batch N never landed) ...
    assert!(e.t < keys_through(&SIZES, n as usize), "{}", report(&c, &o));
    // ... by more than a chunk plus the unfrozen leaf.
    assert!(i64::from(e.k) - i64::from(e.t) > i64::from(e.l) + 1);
    // The batch for chunk N failed before that, in the same process.
    let v = o.first_violation().unwrap();
    assert!(
        life_events(&o, 0).any(|(i, x)| i < v.event
            && x.task_name == "writer"
            && x.chunk == Some(n)
            && matches!(
                x.what,
                Point::After(Op::NodeBatch { .. }, Some(FaultMark::IoError), Res::Err(_))
            )),
        "{}",
        report(&c, &o)
    );
    // The audit's "permanent inconsistency" does not follow: the restart recovers (spec §6.3),
    // so progress-divergence is the only finding and the restore finished.
    assert!(
        o.violations
            .iter()
            .all(|v| v.oracle == Oracle::ProgressDivergence),
        "{}",
        report(&c, &o)
    );
    assert!(finished_ok(&o), "{}", report(&c, &o));

    // Control: without the fault the natural schedule keeps the bound.
    let clean = case(CommitStrategy::JoinAsync, &SIZES);
    let oc = run(&clean);
    assert!(oc.passed(), "{}", report(&clean, &oc));

    assert_safe_pass(&c);
}

/// True if the writer of batch `n` had started (a slow point of it was recorded) but not yet
/// finished at trace index `at`.
fn batch_in_flight(o: &Outcome, at: usize, n: u32) -> bool {
    let life = o.trace.events[at].life;
    let is_batch_n = |x: &harness::trace::Event| x.task_name == "writer" && x.chunk == Some(n);
    let started = life_events(o, life).any(|(i, x)| {
        i < at
            && is_batch_n(x)
            && matches!(
                x.what,
                Point::Before(Op::NodeBatch { .. }, Some(FaultMark::Slow))
            )
    });
    let finished_after = life_events(o, life).any(|(i, x)| {
        i > at
            && is_batch_n(x)
            && matches!(
                x.what,
                Point::After(Op::NodeBatch { .. }, Some(FaultMark::Slow), Res::Ok)
            )
    });
    started && finished_after
}

#[test]
fn audit_race_slow_batch_without_any_failure_still_diverges() {
    let n = 1u32;
    let base = with_faults(
        case(CommitStrategy::JoinAsync, &SIZES),
        &[fault(
            Target::ChunkBatch { chunk: n },
            Effect::Slow { points: 40 },
        )],
    );
    // Find a random schedule under which the KV side of chunk N+1 commits while batch N is
    // still being written.
    let (c, o) = (0..500u64)
        .find_map(|seed| {
            let c = Case {
                schedule: PolicyKind::RandomWalk { seed },
                ..base.clone()
            };
            let o = run(&c);
            let v = o.first_violation()?;
            let e = event_of(&o, v);
            let hit = v.oracle == Oracle::ProgressDivergence
                && e.task_name == "kv"
                && e.chunk == Some(n + 1)
                && is_progress_write(e)
                && batch_in_flight(&o, v.event, n);
            hit.then_some((c, o))
        })
        .expect("some schedule lets KV commit chunk N+1 during the slow batch N");
    println!("slow-batch race: {:?}", c.schedule);

    let e = headline(&c, &o, Oracle::ProgressDivergence);
    assert_eq!(
        e.k,
        keys_through(&SIZES, n as usize + 2),
        "{}",
        report(&c, &o)
    );
    assert!(e.t < keys_through(&SIZES, n as usize), "{}", report(&c, &o));
    // Nothing failed: no operation returned an error, the only injected fault is the delay,
    // and the first process finished the restore on its own, with a correct final state.
    assert!(!any_error(&o), "{}", report(&c, &o));
    assert_eq!(o.counters.faults_injected, 1);
    assert_eq!(o.counters.crashes, 0);
    assert!(o.completed, "{}", report(&c, &o));
    // (A run with an injected fault, even a delay, ends with a faults-off restart.)
    assert!(
        o.stops.iter().all(|s| *s == Stop::Completed),
        "{}",
        report(&c, &o)
    );
    assert!(
        o.violations
            .iter()
            .all(|v| v.oracle == Oracle::ProgressDivergence),
        "{}",
        report(&c, &o)
    );

    assert_safe_pass(&c);
}

#[test]
fn kv_behind_tree_under_join_sync() {
    // The KV write of chunk 1 fails; the tree side, running beside it, writes chunk 1's batch.
    let c = with_faults(
        case(CommitStrategy::JoinSync, &SIZES),
        &[fault(Target::KvWrite { nth: 1 }, Effect::IoError)],
    );
    let o = run(&c);
    let v = expect_violation(&c, &o, Oracle::ProgressDivergence);
    assert_eq!(o.first_violation(), Some(v));
    let e = event_of(&o, v);
    assert!(e.k < e.t, "KV must be behind the tree\n{}", report(&c, &o));
    assert!(v.detail.contains("KV behind the tree"), "{}", v.detail);
    // The violating step is a (synchronous) tree write for chunk 1.
    assert_eq!(e.task_name, "tree", "{}", report(&c, &o));
    assert_eq!(e.chunk, Some(1));
    assert!(
        matches!(
            e.what,
            Point::After(Op::NodeShard { .. } | Op::NodeBatch { .. }, None, Res::Ok)
        ),
        "{}",
        report(&c, &o)
    );
    // KV still holds chunk 0 only: its write for chunk 1 failed earlier.
    assert_eq!(e.k, keys_through(&SIZES, 1));
    assert!(
        life_events(&o, 0).any(|(i, x)| i < v.event
            && x.task_name == "kv"
            && x.chunk == Some(1)
            && matches!(
                x.what,
                Point::After(Op::KvWrite { .. }, Some(FaultMark::IoError), Res::Err(_))
            )),
        "{}",
        report(&c, &o)
    );

    assert_safe_pass(&c);
}

// ---------------------------------------------------------------------------------------------
// D1: the tree has no durable leaf while KV has progress (spec §6.4-1).

/// Checks the forward-progress violation of a stuck restore: the faults-off restart resumed
/// past chunk 0 on KV progress alone (no durable leaf) and the tree then rejected the chunk.
fn assert_stuck(c: &Case, o: &Outcome) {
    let v = expect_violation(c, o, Oracle::ForwardProgress);
    let last = last_life(o);
    assert_eq!(v.event, o.trace.events.len() - 1, "{}", report(c, o));
    assert_eq!(v.life, last);
    let opened = life_events(o, last)
        .find(|(_, e)| matches!(e.what, Point::Driver(DriverStep::Opened { .. })))
        .map(|(_, e)| e)
        .unwrap_or_else(|| panic!("the restart opened the restore\n{}", report(c, o)));
    assert!(opened.k > 0, "KV has progress\n{}", report(c, o));
    assert_eq!(
        opened.t,
        0,
        "the tree has no durable leaf\n{}",
        report(c, o)
    );
    let resumed = resume_chunk(o, last).unwrap();
    assert!(
        resumed > 0,
        "resumed past the first chunk\n{}",
        report(c, o)
    );
    // The first chunk fed after the skip fails verification: the tree never saw chunk 0.
    let failed = life_events(o, last).find_map(|(_, e)| match &e.what {
        Point::Driver(DriverStep::ChunkDone(r)) => Some((e.chunk, r.clone())),
        _ => None,
    });
    assert!(
        matches!(&failed, Some((Some(ch), r)) if *ch == resumed && is_verify_error(r)),
        "{failed:?}\n{}",
        report(c, o)
    );
    assert!(!finished_ok(o), "{}", report(c, o));
}

#[test]
fn d1_first_batch_fails_and_the_restart_is_stuck() {
    let mut c = with_faults(
        case(CommitStrategy::JoinAsync, &SIZES),
        &[fault(Target::ChunkBatch { chunk: 0 }, Effect::IoError)],
    );
    c.driver.max_lives = 1;
    let o = run(&c);
    assert_stuck(&c, &o);
    assert_safe_pass(&c);
}

#[test]
fn d1_one_key_first_chunk_then_process_crash_is_stuck() {
    // A one-key first chunk freezes nothing, so even a successful batch leaves no durable leaf.
    let sizes = [1, 3, 3, 3];
    let mut c = case(CommitStrategy::JoinAsync, &sizes);
    c.driver.max_lives = 1;
    let probe = run(&c);
    assert!(probe.passed(), "{}", report(&c, &probe));
    let at = step_of(&probe, 0, |e| chunk_done_ok(e, 0));
    let c = with_crash(c, 0, at, CrashKind::Process);
    let o = run(&c);
    assert_eq!(o.counters.crashes, 1, "{}", report(&c, &o));
    // The stuck restart is the only finding.
    let e = headline(&c, &o, Oracle::ForwardProgress);
    assert_eq!(e.life, c.driver.max_lives, "the faults-off restart");
    assert_eq!(o.violations.len(), 1, "{}", report(&c, &o));
    assert_stuck(&c, &o);
    assert_safe_pass(&c);
}

#[test]
fn d1_first_batch_acknowledged_then_lost_in_a_crash_is_stuck() {
    // Batch 0 is acknowledged but lost at the crash (with every write after it); KV's write of
    // chunk 0 came first and survives.
    let sizes = [3, 1, 1, 1];
    let mut c = with_faults(
        case(CommitStrategy::JoinAsync, &sizes),
        &[fault(Target::ChunkBatch { chunk: 0 }, Effect::AckThenLost)],
    );
    c.driver.max_lives = 1;
    let probe = run(&c);
    let at = step_of(&probe, 0, |e| chunk_done_ok(e, 1));
    let c = with_crash(c, 0, at, CrashKind::Process);
    let o = run(&c);
    assert!(o.counters.lost_writes > 0, "{}", report(&c, &o));
    // The faults-off restart resumes after KV's chunk 0 (D1) with no durable leaf; the join
    // writes chunk 1 to KV beside the tree's failing verification (D2), so K=4 reaches chunk 1
    // while the tree has completed no chunk: past the chunk-exact bound (K ≤ end of chunk 0).
    // The old key bound (K − T ≤ L + 1 = 4) let this pass and only the stuck restart showed.
    let e = headline(&c, &o, Oracle::ProgressDivergence);
    assert_eq!(e.life, c.driver.max_lives, "the faults-off restart");
    assert_eq!((e.k, e.t), (4, 0), "{}", report(&c, &o));
    assert!(o.violated(Oracle::ForwardProgress), "{}", report(&c, &o));
    assert_eq!(o.violations.len(), 2, "{}", report(&c, &o));
    assert_stuck(&c, &o);
    assert_safe_pass(&c);
}

#[test]
fn d1_with_repeated_restarts_ends_in_a_false_success() {
    // Finding beyond spec §6.4-1 ("fails safe but stays stuck"): under the join strategies the
    // KV side commits each re-fed chunk before the tree rejects it (D2), so every restart moves
    // the resume point one chunk further. Once KV covers everything the controller skips all
    // chunks, and finish writes an empty tree's root (no final root check) and reports success.
    let c = with_faults(
        case(CommitStrategy::JoinAsync, &SIZES),
        &[fault(Target::ChunkBatch { chunk: 0 }, Effect::IoError)],
    );
    assert!(c.driver.max_lives as usize >= SIZES.len());
    let o = run(&c);
    let v = expect_violation(&c, &o, Oracle::HonestResult);
    let e = event_of(&o, v);
    assert!(
        matches!(e.what, Point::Driver(DriverStep::FinishDone(Res::Ok))),
        "{}",
        report(&c, &o)
    );
    assert_eq!(e.t, 0, "no leaf was ever durable\n{}", report(&c, &o));
    assert_eq!(
        resume_chunk(&o, e.life),
        Some(SIZES.len() as u32),
        "every chunk was skipped\n{}",
        report(&c, &o)
    );
    assert!(o.violated(Oracle::FinalState));
    assert_safe_pass(&c);
}

// ---------------------------------------------------------------------------------------------
// D2: unverified KV bytes (spec §6.4-2).

#[test]
fn d2_corrupt_middle_chunk_leaves_its_bytes_in_kv() {
    for strategy in [CommitStrategy::JoinAsync, CommitStrategy::JoinSync] {
        let c = with_corruption(
            case(strategy, &[3, 3, 3]),
            1,
            TamperKind::ChangeValue { item: 1 },
            1,
        );
        let o = run(&c);
        assert_eq!(o.counters.corrupted_deliveries, 1);
        // verified-only now fires at the store seam: the KV write of the corrupted delivery,
        // in the first process, long before finish.
        let e = headline(&c, &o, Oracle::VerifiedOnly);
        assert!(
            matches!(e.what, Point::After(Op::KvWrite { .. }, _, Res::Ok)),
            "{}",
            report(&c, &o)
        );
        assert_eq!(e.life, 0, "{}", report(&c, &o));
        // The mechanism: KV committed the corrupted delivery of chunk 1 (rows and progress)
        // before the tree's verification rejected it.
        let events = &o.trace.events;
        let fed = events
            .iter()
            .position(|x| {
                x.chunk == Some(1)
                    && matches!(
                        x.what,
                        Point::Driver(DriverStep::AddChunk {
                            corrupted: true,
                            ..
                        })
                    )
            })
            .expect("the corrupted chunk was fed");
        let done = fed
            + events[fed..]
                .iter()
                .position(|x| matches!(x.what, Point::Driver(DriverStep::ChunkDone(_))))
                .unwrap();
        assert!(
            matches!(&events[done].what, Point::Driver(DriverStep::ChunkDone(r)) if is_verify_error(r)),
            "{}",
            report(&c, &o)
        );
        assert!(
            events[fed..done]
                .iter()
                .any(|x| x.task_name == "kv" && is_progress_write(x)),
            "{}",
            report(&c, &o)
        );
        assert!(o.violated(Oracle::FinalState));
        assert_safe_pass(&c);
    }
}

// ---------------------------------------------------------------------------------------------
// D3: poisoned in-memory state reused after an error (spec §3.9, §6.4-3).

fn retry_same_object(mut c: Case) -> Case {
    c.driver.on_error = OnError::RetrySameObject;
    c.driver.retries = 1;
    c
}

#[test]
fn d3_retry_on_the_same_object_skips_verification_and_reports_success() {
    // State sync: synchronous commits, the same receiver after an error. The last chunk arrives
    // once without its middle key; the tree has already moved past it when verification fails,
    // so the good re-delivery is skipped whole, unverified, and finish writes a wrong root.
    let sizes = [3, 3, 3];
    let last = sizes.len() as u32 - 1;
    let c = retry_same_object(with_corruption(
        case(CommitStrategy::JoinSync, &sizes),
        last,
        TamperKind::DropKey { item: 1 },
        1,
    ));
    let o = run(&c);
    // The wrong root is written before finish returns: durable-shape sees a durable tree with a
    // hole in its key-order prefix (the dropped key) at that write, and heads the report.
    headline(&c, &o, Oracle::DurableShape);
    let sv = expect_violation(&c, &o, Oracle::DurableShape);
    let hv = expect_violation(&c, &o, Oracle::HonestResult);
    let e = &o.trace.events[hv.event];
    assert!(
        matches!(e.what, Point::Driver(DriverStep::FinishDone(Res::Ok))),
        "{}",
        report(&c, &o)
    );
    assert_eq!(
        e.life,
        0,
        "the first process claims success\n{}",
        report(&c, &o)
    );
    assert!(sv.event < hv.event, "{}", report(&c, &o));
    let fv = expect_violation(&c, &o, Oracle::FinalState);
    assert_eq!(fv.event, hv.event);
    // No corrupted byte reached KV (a dropped key adds none): the root alone is wrong.
    assert!(!o.violated(Oracle::VerifiedOnly), "{}", report(&c, &o));

    // The retry of the last chunk did no store write at all and returned Ok.
    let events = &o.trace.events;
    let retry = events
        .iter()
        .position(|x| {
            x.chunk == Some(last)
                && matches!(
                    x.what,
                    Point::Driver(DriverStep::AddChunk {
                        attempt: 1,
                        corrupted: false
                    })
                )
        })
        .unwrap_or_else(|| panic!("the last chunk was retried\n{}", report(&c, &o)));
    let done = retry
        + events[retry..]
            .iter()
            .position(|x| matches!(x.what, Point::Driver(DriverStep::ChunkDone(_))))
            .unwrap();
    assert!(matches!(
        events[done].what,
        Point::Driver(DriverStep::ChunkDone(Res::Ok))
    ));
    assert!(
        !events[retry..done].iter().any(|x| matches!(
            x.what,
            Point::Before(Op::KvWrite { .. } | Op::NodeBatch { .. }, _)
        )),
        "{}",
        report(&c, &o)
    );
    assert_safe_pass(&c);
}

#[test]
fn d3_changed_value_in_the_last_chunk_fools_every_aptos_strategy() {
    let sizes = [3, 3, 3];
    let last = sizes.len() as u32 - 1;
    for strategy in CommitStrategy::ALL {
        if strategy.safety() != Safety::Aptos {
            continue;
        }
        let c = retry_same_object(with_corruption(
            case(strategy, &sizes),
            last,
            TamperKind::ChangeValue { item: 1 },
            1,
        ));
        let o = run(&c);
        for oracle in [Oracle::HonestResult, Oracle::FinalState] {
            let v = expect_violation(&c, &o, oracle);
            assert!(
                matches!(
                    event_of(&o, v).what,
                    Point::Driver(DriverStep::FinishDone(Res::Ok))
                ),
                "{}",
                report(&c, &o)
            );
        }
        assert_safe_pass(&c);
    }
}

// ---------------------------------------------------------------------------------------------
// D4: drop panics on a failed, unawaited async write (spec §3.7, §6.4-4).

#[test]
fn d4_drop_panics_when_the_unawaited_batch_fails() {
    let n = 1u32;
    // Chunk N: the KV write fails while the tree hands batch N to the writer; batch N fails too.
    let c = with_faults(
        case(CommitStrategy::JoinAsync, &SIZES),
        &[
            fault(Target::KvWrite { nth: n }, Effect::IoError),
            fault(Target::ChunkBatch { chunk: n }, Effect::IoError),
        ],
    );
    let o = run(&c);
    let e = headline(&c, &o, Oracle::NoPanic);
    assert_eq!(
        e.task_name,
        "driver",
        "the drop runs on the driver\n{}",
        report(&c, &o)
    );
    assert_eq!(e.chunk, Some(n));
    assert!(
        matches!(&e.what, Point::Panicked(m) if m.contains("async tree batch write failed")),
        "{}",
        report(&c, &o)
    );
    let v = o.first_violation().unwrap();
    let before: Vec<_> = life_events(&o, v.life)
        .filter(|(i, _)| *i < v.event)
        .map(|(_, x)| x)
        .collect();
    // The chunk failed on the KV error, then the driver dropped the restore with batch N in
    // flight, and batch N failed.
    let chunk_failed = before.iter().position(|x| {
        x.chunk == Some(n)
            && matches!(&x.what, Point::Driver(DriverStep::ChunkDone(Res::Err(m))) if m.contains("kv write"))
    });
    let batch_failed = before.iter().position(|x| {
        x.task_name == "writer"
            && x.chunk == Some(n)
            && matches!(
                x.what,
                Point::After(Op::NodeBatch { .. }, Some(FaultMark::IoError), Res::Err(_))
            )
    });
    assert!(
        matches!((chunk_failed, batch_failed), (Some(a), Some(b)) if a < b),
        "{}",
        report(&c, &o)
    );
    assert_safe_pass(&c);
}

// ---------------------------------------------------------------------------------------------
// Other faults: the safe strategies recover from each. The faulty phase has one process, so
// the restore has to complete in the forward-progress restart (faults off), where the
// final-state check runs when finish returns.

fn one_life(mut c: Case) -> Case {
    c.driver.max_lives = 1;
    c
}

/// The faulty process did not finish; the restart did, and every oracle is silent.
fn assert_recovers_in_restart(c: &Case, o: &Outcome) {
    assert!(o.passed(), "{}", report(c, o));
    assert!(
        !o.completed,
        "the fault stopped the first process\n{}",
        report(c, o)
    );
    let last = last_life(o);
    assert_eq!(last, c.driver.max_lives, "{}", report(c, o));
    assert!(
        life_events(o, last)
            .any(|(_, e)| matches!(e.what, Point::Driver(DriverStep::FinishDone(Res::Ok)))),
        "{}",
        report(c, o)
    );
}

fn has_mark(o: &Outcome, mark: FaultMark) -> bool {
    o.trace.events.iter().any(|e| match &e.what {
        Point::Before(_, Some(m)) | Point::After(_, Some(m), _) => *m == mark,
        _ => false,
    })
}

#[test]
fn torn_batch_is_recovered_by_the_safe_strategies() {
    for s in SAFE {
        let c = one_life(with_faults(
            case(s, &SIZES),
            &[fault(
                Target::ChunkBatch { chunk: 1 },
                Effect::Torn { shards: 1 },
            )],
        ));
        let o = run(&c);
        assert!(
            has_mark(&o, FaultMark::Torn { shards: 1 }),
            "{}",
            report(&c, &o)
        );
        // A prefix of the batch landed before the error.
        assert!(
            o.trace.events.iter().any(|e| matches!(
                e.what,
                Point::After(Op::NodeShard { .. }, None, Res::Ok)
            ) && e.chunk == Some(1)),
            "{}",
            report(&c, &o)
        );
        assert_recovers_in_restart(&c, &o);
    }
}

#[test]
fn failed_but_persisted_writes_are_recovered_by_the_safe_strategies() {
    for s in SAFE {
        for target in [Target::ChunkBatch { chunk: 1 }, Target::KvWrite { nth: 1 }] {
            let c = one_life(with_faults(
                case(s, &SIZES),
                &[fault(target, Effect::FailedButPersisted)],
            ));
            let o = run(&c);
            assert!(
                has_mark(&o, FaultMark::FailedButPersisted),
                "{}",
                report(&c, &o)
            );
            assert_recovers_in_restart(&c, &o);
        }
    }
}

#[test]
fn ack_then_lost_with_a_process_crash_is_recovered_by_the_safe_strategies() {
    for s in SAFE {
        let c = one_life(with_faults(
            case(s, &SIZES),
            &[fault(Target::ChunkBatch { chunk: 1 }, Effect::AckThenLost)],
        ));
        let probe = run(&c);
        let at = step_of(&probe, 0, |e| chunk_done_ok(e, 2));
        let c = with_crash(c, 0, at, CrashKind::Process);
        let o = run(&c);
        assert_eq!(o.counters.crashes, 1, "{}", report(&c, &o));
        assert!(o.counters.lost_writes > 0, "{}", report(&c, &o));
        assert!(has_mark(&o, FaultMark::AckThenLost), "{}", report(&c, &o));
        assert_eq!(o.stops.first(), Some(&Stop::Crashed));
        assert_recovers_in_restart(&c, &o);
    }
}

#[test]
fn power_loss_is_recovered_by_the_safe_strategies() {
    for s in SAFE {
        let c = one_life(case(s, &SIZES));
        let probe = run(&c);
        assert!(probe.passed(), "{}", report(&c, &probe));
        let at = step_of(&probe, 0, |e| chunk_done_ok(e, 2));
        let c = with_crash(c, 0, at, CrashKind::power_loss(2));
        let o = run(&c);
        assert_eq!(o.counters.crashes, 1, "{}", report(&c, &o));
        assert_eq!(o.counters.lost_writes, 2, "{}", report(&c, &o));
        assert!(
            o.trace.events.iter().any(|e| matches!(
                e.what,
                Point::Crash {
                    power_loss: true,
                    lost_writes: 2,
                    ..
                }
            )),
            "{}",
            report(&c, &o)
        );
        assert_recovers_in_restart(&c, &o);
    }
}

#[test]
fn full_disk_is_recovered_by_the_safe_strategies() {
    for s in SAFE {
        let c = one_life(with_faults(
            case(s, &SIZES),
            &[fault(Target::KvWrite { nth: 2 }, Effect::DiskFull)],
        ));
        let o = run(&c);
        assert!(has_mark(&o, FaultMark::DiskFull), "{}", report(&c, &o));
        assert_recovers_in_restart(&c, &o);
    }
}

// ---------------------------------------------------------------------------------------------
// Every oracle has a case that makes it fire under an Aptos strategy and pass the safe ones.

#[test]
fn every_oracle_fires_on_a_known_bad_case_and_is_silent_on_the_safe_strategies() {
    let sizes = [3, 3, 3];
    let cases: Vec<(Oracle, Case)> = vec![
        (
            Oracle::NoPanic,
            with_faults(
                case(CommitStrategy::JoinAsync, &SIZES),
                &[
                    fault(Target::KvWrite { nth: 1 }, Effect::IoError),
                    fault(Target::ChunkBatch { chunk: 1 }, Effect::IoError),
                ],
            ),
        ),
        (Oracle::ProgressDivergence, audit_race_case(1)),
        (
            Oracle::VerifiedOnly,
            with_corruption(
                case(CommitStrategy::JoinAsync, &sizes),
                1,
                TamperKind::ChangeValue { item: 0 },
                1,
            ),
        ),
        (
            Oracle::DurableShape,
            retry_same_object(with_corruption(
                case(CommitStrategy::JoinSync, &sizes),
                2,
                TamperKind::DropKey { item: 1 },
                1,
            )),
        ),
        (
            Oracle::HonestResult,
            retry_same_object(with_corruption(
                case(CommitStrategy::JoinSync, &sizes),
                2,
                TamperKind::DropKey { item: 1 },
                1,
            )),
        ),
        (
            Oracle::FinalState,
            retry_same_object(with_corruption(
                case(CommitStrategy::JoinSync, &sizes),
                2,
                TamperKind::ChangeValue { item: 1 },
                1,
            )),
        ),
        (
            Oracle::ForwardProgress,
            one_life(with_faults(
                case(CommitStrategy::TreeThenKv, &SIZES),
                &[fault(Target::ChunkBatch { chunk: 0 }, Effect::IoError)],
            )),
        ),
    ];
    for (oracle, c) in &cases {
        let o = run(c);
        expect_violation(c, &o, *oracle);
        for s in SAFE {
            let cs = under(c, s);
            let os = run(&cs);
            assert!(!os.violated(*oracle), "{}", report(&cs, &os));
            assert!(os.passed(), "{}", report(&cs, &os));
        }
    }
    let covered: Vec<Oracle> = cases.iter().map(|(o, _)| *o).collect();
    assert_eq!(covered, Oracle::ALL.to_vec());
}
