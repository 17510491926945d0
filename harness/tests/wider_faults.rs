//! Hand-written cases for the wider fault space and the durable-shape oracle: crashes anchored at
//! `finish` and after it, several crashes per case in later processes (while opening and
//! recovering), and durable-shape firing at the write that breaks the shape. Each fires on the
//! strategy it should, at the event it should, and is silent on the safe strategies.

mod support;

use harness::case::Case;
use harness::fault::{CrashAt, CrashKind, TamperKind};
use harness::oracle::Oracle;
use harness::run::Outcome;
use harness::trace::{DriverStep, Op, Point, Res};
use restore_core::strategy::CommitStrategy::{self, *};
use support::*;

/// A crash of process `life`, `step` points after `at` (see [`Case::with_crash`]).
fn crash_in(c: Case, life: u32, at: CrashAt, step: u64, kind: CrashKind) -> Case {
    c.with_crash(life, at, step, kind)
}

/// The driver step that last came before event `i` in its process.
fn driver_step_before(o: &Outcome, i: usize) -> Option<&DriverStep> {
    let life = o.trace.events[i].life;
    o.trace.events[..i]
        .iter()
        .rev()
        .take_while(|e| e.life == life)
        .find_map(|e| match &e.what {
            Point::Driver(s) => Some(s),
            _ => None,
        })
}

fn crash_events(o: &Outcome) -> Vec<usize> {
    o.trace
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.what, Point::Crash { .. }))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn a_crash_anchored_at_finish_lands_inside_finish_and_d1_then_writes_an_empty_root() {
    // One 3-key chunk under join-async: its batch is async and runs only when finish awaits it,
    // so a crash as finish is called loses it. KV has progress, the tree no leaf: the restart
    // resumes from KV alone (D1), skips the chunk, and finish writes the empty tree's root.
    let c = crash_in(
        case(JoinAsync, &[3]),
        0,
        CrashAt::Finish,
        0,
        CrashKind::Process,
    );
    let o = run(&c);
    let crashes = crash_events(&o);
    assert_eq!(crashes.len(), 1, "{}", report(&c, &o));
    assert!(
        matches!(driver_step_before(&o, crashes[0]), Some(DriverStep::Finish)),
        "the crash lands inside finish\n{}",
        report(&c, &o)
    );
    headline(&c, &o, Oracle::DurableShape);
    let v = expect_violation(&c, &o, Oracle::DurableShape);
    let e = &o.trace.events[v.event];
    // The offending write: finish's node write in the second process (the root alone).
    assert_eq!(e.life, 1, "{}", report(&c, &o));
    assert!(
        matches!(
            e.what,
            Point::After(Op::NodeShard { .. } | Op::NodeBatch { .. }, _, _)
        ),
        "{}",
        report(&c, &o)
    );
    assert!(v.detail.contains("root"), "{}", v.detail);
    assert_safe_pass(&c);
}

#[test]
fn crashes_in_three_processes_land_while_feeding_opening_and_finishing() {
    // Process 0 dies feeding (step 30: chunk 1's batch is durable), process 1 at its third
    // point (opening: reading the root and the rightmost leaf), process 2 four points into
    // finish. Every restart finds a durable leaf, so every strategy completes.
    let c = crash_in(
        crash_in(
            crash_in(
                case(Pipelined, &[3, 3, 3, 3]),
                0,
                CrashAt::Start,
                30,
                CrashKind::Process,
            ),
            1,
            CrashAt::Start,
            3,
            CrashKind::Process,
        ),
        2,
        CrashAt::Finish,
        4,
        CrashKind::Process,
    );
    for s in CommitStrategy::ALL {
        let c = under(&c, s);
        let o = run(&c);
        let crashes = crash_events(&o);
        assert_eq!(crashes.len(), 3, "{s}\n{}", report(&c, &o));
        let lives: Vec<u32> = crashes.iter().map(|&i| o.trace.events[i].life).collect();
        assert_eq!(lives, [0, 1, 2], "{s}");
        assert!(
            matches!(
                driver_step_before(&o, crashes[0]),
                Some(DriverStep::AddChunk { .. } | DriverStep::ChunkDone(_))
            ),
            "{s}: process 0 dies feeding\n{}",
            report(&c, &o)
        );
        assert!(
            matches!(driver_step_before(&o, crashes[1]), Some(DriverStep::Open)),
            "{s}: process 1 dies opening\n{}",
            report(&c, &o)
        );
        assert!(
            matches!(driver_step_before(&o, crashes[2]), Some(DriverStep::Finish)),
            "{s}: process 2 dies in finish\n{}",
            report(&c, &o)
        );
        assert!(o.passed(), "{s}\n{}", report(&c, &o));
        assert!(finished_ok(&o), "{s}");
    }
}

#[test]
fn a_crash_after_a_successful_finish_is_judged_again_and_the_restart_finishes_at_once() {
    let c = crash_in(
        case(Pipelined, &[3, 3, 3]),
        0,
        CrashAt::AfterFinish,
        0,
        CrashKind::Process,
    );
    for s in CommitStrategy::ALL {
        let c = under(&c, s);
        let o = run(&c);
        let crashes = crash_events(&o);
        assert_eq!(crashes.len(), 1, "{s}\n{}", report(&c, &o));
        assert!(
            matches!(
                driver_step_before(&o, crashes[0]),
                Some(DriverStep::FinishDone(Res::Ok))
            ),
            "{s}: the crash follows a successful finish\n{}",
            report(&c, &o)
        );
        assert!(o.passed(), "{s}\n{}", report(&c, &o));
        // The restart reopens a finished restore: it resumes past the last chunk.
        assert_eq!(resume_chunk(&o, 1), Some(3), "{s}\n{}", report(&c, &o));
    }
}

#[test]
fn durable_shape_fires_at_the_write_of_a_tree_with_a_hole_and_not_on_the_safe_strategies() {
    // D3: the last chunk arrives without its middle key, the same object is retried, the tree
    // skips the good re-delivery and finish writes a tree missing that key.
    let c = retry(with_corruption(
        case(JoinSync, &[3, 3, 3]),
        2,
        TamperKind::DropKey { item: 1 },
        1,
    ));
    let o = run(&c);
    let v = expect_violation(&c, &o, Oracle::DurableShape);
    let e = &o.trace.events[v.event];
    assert!(
        matches!(e.what, Point::After(Op::NodeShard { .. }, _, Res::Ok)),
        "the offence is seen at the write that makes it\n{}",
        report(&c, &o)
    );
    assert!(v.detail.contains("gap"), "{}", v.detail);
    assert_safe_pass(&c);
}

fn retry(mut c: Case) -> Case {
    c.driver.on_error = harness::case::OnError::RetrySameObject;
    c.driver.retries = 1;
    c
}

#[test]
fn other_versions_in_the_store_change_nothing_about_a_restore() {
    use harness::others::OtherVersion;
    // A restore of version 3 that crashes mid-way (so the restart recovers from the rightmost
    // leaf and probes partial nodes) with an older finished version and a newer half-finished
    // one in the store. A restore that reads only its own version takes exactly the same steps
    // as on an empty store: same trace hash, same verdict, under every strategy.
    let base = crash_in(
        case(JoinAsync, &[3, 3, 3, 3]),
        0,
        CrashAt::Start,
        30,
        CrashKind::Process,
    );
    let mut planted = base.clone();
    planted.others = vec![
        OtherVersion {
            version: 2,
            seed: 7,
            keys: 20,
            finished: true,
        },
        OtherVersion {
            version: 4,
            seed: 8,
            keys: 30,
            finished: false,
        },
    ];
    assert!(planted.snapshot.version == 3);
    for s in CommitStrategy::ALL {
        let (a, b) = (under(&base, s), under(&planted, s));
        let (oa, ob) = (run(&a), run(&b));
        assert_eq!(oa.counters.crashes, 1, "{s}");
        assert_eq!(oa.trace_hash(), ob.trace_hash(), "{s}\n{}", report(&b, &ob));
        assert_eq!(oa.violations, ob.violations, "{s}");
    }
}

#[test]
fn an_overwrite_keeps_the_old_rows_under_aptos_and_clears_them_under_the_safe_strategies() {
    use harness::others::OtherVersion;
    // Another snapshot (12 keys, seed 99) finished at the same version; this one is restored
    // over it with the overwrite constructor. Aptos: the fresh tree has no leaf, so the resume
    // point is the old KV progress alone (D1); the join writes the late chunk's rows beside the
    // failing verification (D2), the next process skips everything and finish writes an empty
    // root among the old nodes. The old rows stay below the old progress.
    let mut c = case(JoinAsync, &[3, 3, 3, 3]);
    c.others = vec![OtherVersion {
        version: c.snapshot.version,
        seed: 99,
        keys: 12,
        finished: true,
    }];
    c.overwrite = true;
    let o = run(&c);
    // The restore resumes past chunk 0 on the old progress: the new snapshot's first chunks are
    // never fed.
    assert!(
        resume_chunk(&o, 0).is_some_and(|r| r > 0),
        "{}",
        report(&c, &o)
    );
    headline(&c, &o, Oracle::DurableShape);
    let f = expect_violation(&c, &o, Oracle::FinalState);
    assert!(
        matches!(
            o.trace.events[f.event].what,
            Point::Driver(DriverStep::FinishDone(Res::Ok))
        ),
        "{}",
        report(&c, &o)
    );
    // Without the overwrite flag such a case is refused before it runs: a second snapshot at
    // the case's own version is only meaningful as an overwrite.
    let mut plain = c.clone();
    plain.overwrite = false;
    assert!(plain.validate().is_err());
    assert_safe_pass(&c);
}

fn planned(c: Case, plan: harness::case::RestorePlan) -> Case {
    Case { plan, ..c }
}

#[test]
fn a_two_phase_restore_verifies_its_kv_phase_only_under_the_safe_strategies() {
    use harness::case::RestorePlan;
    // KV alone, then the tree alone. Chunk 1 arrives corrupted once. Aptos's KV-only phase
    // verifies nothing, so the changed row lands (verified-only at that KV write) and stays
    // (the tree phase re-reads chunk 1 good, but KV is done). The safe KV-only phase verifies
    // each chunk with an in-memory tree first: the bad delivery is refused, the good one lands.
    let c = planned(
        with_corruption(
            case(Pipelined, &[3, 3, 3]),
            1,
            TamperKind::ChangeValue { item: 0 },
            1,
        ),
        RestorePlan::KvThenTree,
    );
    for s in [JoinAsync, JoinSync, TreeThenKv, WaitThenJoin] {
        let c = under(&c, s);
        let o = run(&c);
        headline(&c, &o, Oracle::VerifiedOnly);
        let v = expect_violation(&c, &o, Oracle::VerifiedOnly);
        assert!(
            matches!(
                o.trace.events[v.event].what,
                Point::After(Op::KvWrite { .. }, _, _)
            ),
            "{s}\n{}",
            report(&c, &o)
        );
        expect_violation(&c, &o, Oracle::FinalState);
    }
    assert_safe_pass(&c);
    // Both phases ran: the KV phase and the tree phase finish, and the faults-off restart (run
    // because a delivery was corrupted) finds KV done on disk and finishes the tree phase again.
    let o = run(&under(&c, Pipelined));
    let finishes = o
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.what, Point::Driver(DriverStep::FinishDone(Res::Ok))))
        .count();
    assert_eq!(finishes, 3);
}

#[test]
fn tree_then_default_leaves_kv_empty_under_aptos_and_the_safe_strategies_verify_what_kv_writes() {
    use harness::case::RestorePlan;
    // The tree alone to the end, then a Default restore. Aptos: the Default phase's resume
    // point is the finished tree's all-ones key (KV has no progress, so D1 trusts the tree):
    // every chunk is skipped and KV stays empty, yet finish succeeds (final-state).
    let c = planned(case(Pipelined, &[3, 3, 3]), RestorePlan::TreeThenDefault);
    for s in [JoinAsync, JoinSync, TreeThenKv, WaitThenJoin] {
        let c = under(&c, s);
        let o = run(&c);
        headline(&c, &o, Oracle::FinalState);
    }
    assert_safe_pass(&c);
    // The Default phase's tree is finished, so it skips every chunk without verifying it; the
    // safe strategies see the tree ahead of KV at open and verify each chunk KV will write with
    // a verifier rebuilt from KV's rows. Delivery 1 of chunk 1 (the tree phase had delivery 0)
    // is the Default phase's, missing a key: the safe verifier refuses it, and the good
    // re-delivery lands.
    let mut bad = c;
    bad.faults.corruptions.push(harness::fault::Corruption {
        chunk: 1,
        tamper: TamperKind::DropKey { item: 1 },
        deliveries: 1,
        first: 1,
    });
    for s in [VerifyKvTree, Pipelined] {
        let bad = under(&bad, s);
        let o = run(&bad);
        assert_eq!(
            o.counters.corrupted_deliveries,
            1,
            "{s}\n{}",
            report(&bad, &o)
        );
        assert!(o.passed(), "{s}\n{}", report(&bad, &o));
        // The bad delivery was refused: its chunk ended in a proof error.
        assert!(
            o.trace.events.iter().any(|e| e.chunk == Some(1)
                && matches!(&e.what, Point::Driver(DriverStep::ChunkDone(Res::Err(m))) if m.contains("proof"))),
            "{s}\n{}",
            report(&bad, &o)
        );
    }
}
