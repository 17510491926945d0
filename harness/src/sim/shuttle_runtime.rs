//! [`ShuttleRuntime`]: restore-core's `Runtime` trait on shuttle's threads, so the same restore
//! and faulty store can run under shuttle's scheduler. Only for the simulator benchmark
//! (`--features shuttle`): it measures our scheduler against a general-purpose one on identical
//! cases. It must be used inside a shuttle execution (`shuttle::check_random`, a `Runner`).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use restore_core::runtime::{Job, PendingTask, Runtime, TaskOutcome, WriteTask, panic_message};

/// `join` = a scoped shuttle thread for `a` while the caller runs `b`, then join it; `spawn` = a
/// shuttle thread whose handle `wait` joins. Panics are caught inside the threads (a panic that
/// reaches shuttle fails its whole test) and, like a thread join, continue in the caller.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShuttleRuntime;

impl Runtime for ShuttleRuntime {
    fn join<'a>(&self, _names: [&'static str; 2], a: Job<'a>, b: Job<'a>) {
        // The scope waits for the thread before it returns, so `a` may borrow for 'a.
        let (ra, rb) = shuttle::thread::scope(|s| {
            let h = s.spawn(move || catch_unwind(AssertUnwindSafe(a)));
            let rb = catch_unwind(AssertUnwindSafe(b));
            let ra = h
                .join()
                .unwrap_or_else(|p| Err(Box::new(panic_message(p.as_ref()))));
            (ra, rb)
        });
        if let Err(p) = ra {
            resume_unwind(p);
        }
        if let Err(p) = rb {
            resume_unwind(p);
        }
    }

    fn spawn(&self, _name: &'static str, task: WriteTask) -> Box<dyn PendingTask> {
        let h = shuttle::thread::spawn(move || match catch_unwind(AssertUnwindSafe(task)) {
            Ok(r) => TaskOutcome::Done(r),
            Err(p) => TaskOutcome::Panicked(panic_message(p.as_ref())),
        });
        Box::new(ShuttlePending(h))
    }
}

struct ShuttlePending(shuttle::thread::JoinHandle<TaskOutcome>);

impl PendingTask for ShuttlePending {
    fn wait(self: Box<Self>) -> TaskOutcome {
        self.0
            .join()
            .unwrap_or_else(|p| TaskOutcome::Panicked(panic_message(p.as_ref())))
    }
}

/// Sets what [`point`](super::point) does on this thread outside our scheduler (`None`: nothing,
/// the default). The benchmark installs `shuttle::thread::yield_now`, so every scheduling point
/// of the faulty store and the driver is a shuttle decision too.
pub fn set_foreign_point(hook: Option<fn()>) {
    super::FOREIGN_POINT.with(|h| h.set(hook));
}
