//! Scheduler unit tests: interleaving, determinism, deadlock, livelock, panics.

use std::cell::RefCell;
use std::rc::Rc;

use restore_core::runtime::{PendingTask, Runtime, TaskOutcome, join2};

use super::*;
use crate::trace::{DriverStep, Point};

/// Records the order in which tasks reach scheduling points.
struct Log(Rc<RefCell<Vec<&'static str>>>);

impl Observer for Log {
    fn point(
        &mut self,
        _: u64,
        _: TaskId,
        name: &'static str,
        _: Option<u32>,
        _: &Point,
    ) -> Verdict {
        self.0.borrow_mut().push(name);
        Verdict::Continue
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn tick() {
    point(Point::Driver(DriverStep::Finish));
}

fn run(
    policy: PolicyKind,
    budget: u64,
    main: impl FnOnce() + 'static,
) -> (ProcessEnd, Vec<&'static str>) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (end, _, _) = run_process(
        policy.build(),
        Box::new(Log(log.clone())),
        budget,
        Box::new(main),
    );
    let l = log.borrow().clone();
    (end, l)
}

fn two_workers() {
    join2(
        &SimRuntime,
        ["left", "right"],
        || (0..5).for_each(|_| tick()),
        || (0..5).for_each(|_| tick()),
    );
}

#[test]
fn join_interleaves_by_seed_and_replays() {
    let (a, la) = run(PolicyKind::RandomWalk { seed: 1 }, 1_000, two_workers);
    let (_, lb) = run(PolicyKind::RandomWalk { seed: 1 }, 1_000, two_workers);
    assert_eq!(a.stop, Stop::Completed);
    assert_eq!(la, lb, "same seed, same interleaving");
    assert_eq!(la.iter().filter(|n| **n == "left").count(), 5);
    let orders: std::collections::BTreeSet<Vec<&str>> = (0..20)
        .map(|s| run(PolicyKind::RandomWalk { seed: s }, 1_000, two_workers).1)
        .collect();
    assert!(
        orders.len() > 1,
        "different seeds explore different interleavings"
    );
    let (c, lc) = run(
        PolicyKind::Replay {
            decisions: a.decisions.clone(),
        },
        1_000,
        two_workers,
    );
    assert_eq!(lc, la, "recorded decisions replay the interleaving");
    assert_eq!(c.decisions, a.decisions);
}

#[test]
fn spawn_and_wait_return_the_result() {
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let (end, _) = run(PolicyKind::RandomWalk { seed: 3 }, 1_000, move || {
        let h = SimRuntime.spawn(
            "writer",
            Box::new(|| Err(restore_core::store::StoreError::Fault("x".into()))),
        );
        tick();
        *g.borrow_mut() = Some(h.wait());
    });
    assert_eq!(end.stop, Stop::Completed);
    assert!(matches!(&*got.borrow(), Some(TaskOutcome::Done(Err(_)))));
}

#[test]
fn deadlock_is_a_verdict_not_a_hang() {
    let (end, _) = run(PolicyKind::FirstRunnable, 1_000, || {
        let a: Rc<RefCell<Option<Box<dyn PendingTask>>>> = Rc::default();
        let b: Rc<RefCell<Option<Box<dyn PendingTask>>>> = Rc::default();
        let (a2, b2) = (a.clone(), b.clone());
        // Each task waits for the other. Rc is fine: everything runs on this one thread.
        let t1 = spawn_unsend("t1", move || {
            let h = a2.borrow_mut().take().expect("handle set before t1 runs");
            h.wait();
        });
        let t2 = spawn_unsend("t2", move || {
            let h = b2.borrow_mut().take().expect("handle set before t2 runs");
            h.wait();
        });
        *a.borrow_mut() = Some(t2);
        *b.borrow_mut() = Some(t1);
    });
    match end.stop {
        Stop::Deadlock { blocked } => assert_eq!(blocked.len(), 2, "{blocked:?}"),
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

/// Spawns a non-Send body (test only): wraps it so the Send bound of WriteTask holds.
fn spawn_unsend(name: &'static str, f: impl FnOnce() + 'static) -> Box<dyn PendingTask> {
    struct AssertSend<F>(F);
    // SAFETY: simulated tasks never leave the thread that created them.
    unsafe impl<F> Send for AssertSend<F> {}
    let f = AssertSend(f);
    SimRuntime.spawn(
        name,
        Box::new(move || {
            let f = f;
            (f.0)();
            Ok(())
        }),
    )
}

#[test]
fn livelock_ends_at_the_step_budget() {
    let (end, _) = run(PolicyKind::RandomWalk { seed: 0 }, 500, || {
        loop {
            tick();
        }
    });
    assert_eq!(end.stop, Stop::StepBudget { steps: 500 });
}

#[test]
fn panics_are_caught_and_propagate_through_join() {
    let (end, log) = run(PolicyKind::FirstRunnable, 1_000, || {
        join2(&SimRuntime, ["ok", "boom"], tick, || panic!("boom"));
    });
    assert_eq!(end.stop, Stop::Completed);
    let names: Vec<&str> = end
        .panics
        .iter()
        .map(|(t, _)| t.split('#').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["boom", "driver"],
        "child panics, then the parent re-raises it"
    );
    assert!(log.contains(&"ok"));
}

#[test]
fn crash_tears_down_suspended_tasks() {
    struct CrashAt(u64);
    impl Observer for CrashAt {
        fn point(
            &mut self,
            step: u64,
            _: TaskId,
            _: &'static str,
            _: Option<u32>,
            _: &Point,
        ) -> Verdict {
            if step >= self.0 {
                Verdict::Crash
            } else {
                Verdict::Continue
            }
        }
        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
    }
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let dropped = Arc::new(AtomicU32::new(0));
    struct Guard(Arc<AtomicU32>);
    impl Drop for Guard {
        fn drop(&mut self) {
            // A destructor that waits or yields during teardown must not block or re-enter.
            tick();
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let d = dropped.clone();
    let (end, _, _) = run_process(
        // First-runnable: the driver reaches the join, then task `a` runs (and holds its
        // guard) when the crash comes at step 4; `b` has not started.
        PolicyKind::FirstRunnable.build(),
        Box::new(CrashAt(4)),
        1_000,
        Box::new(move || {
            let _g = Guard(d.clone());
            let d2 = d.clone();
            join2(
                &SimRuntime,
                ["a", "b"],
                move || {
                    let _g = Guard(d2);
                    (0..10).for_each(|_| tick())
                },
                || (0..10).for_each(|_| tick()),
            );
        }),
    );
    assert_eq!(end.stop, Stop::Crashed);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "both guards were unwound"
    );
}

#[test]
fn panic_hook_is_restored_after_a_process() {
    let _ = run(PolicyKind::FirstRunnable, 100, || panic!("inside"));
    assert!(!QUIET_PANICS.with(|q| q.get()));
}

#[test]
fn dbg_hook() {
    let (end, _) = run(PolicyKind::FirstRunnable, 100, || panic!("inside"));
    eprintln!(
        "after: quiet={} stop={:?} panics={:?}",
        QUIET_PANICS.with(|q| q.get()),
        end.stop,
        end.panics
    );
}
