//! The only concurrency the restore uses, as a trait: run two closures in parallel, and spawn a
//! background node-batch write whose result is awaited later.
//!
//! Keeping it this small is what lets the harness substitute a deterministic scheduler: every
//! parallel step of the restore goes through here, so a simulated runtime sees (and orders) all
//! of them. The trait is object-safe (boxed closures) so the restore needs no runtime generics;
//! the boxing costs one allocation per chunk, which is nothing next to a chunk's hashing.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;

use crossbeam::channel::{Receiver, Sender, bounded, unbounded};
use parking_lot::Mutex;

use crate::store::StoreResult;

/// A unit of work for [`Runtime::join`]; it may borrow from the caller's stack.
pub type Job<'a> = Box<dyn FnOnce() + Send + 'a>;

/// A background write: owns its data, returns the store's verdict.
pub type WriteTask = Box<dyn FnOnce() -> StoreResult<()> + Send + 'static>;

/// The outcome of awaiting a background task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    Done(StoreResult<()>),
    /// The task panicked; the message is the panic payload if it was a string.
    Panicked(String),
    /// The task will never finish because its process is going away (a simulated crash tears
    /// the process down); waiting returns this instead of blocking.
    Abandoned,
}

/// A spawned task whose result has not been collected yet.
pub trait PendingTask: Send {
    /// Blocks (or, in a simulation, yields) until the task finished.
    fn wait(self: Box<Self>) -> TaskOutcome;
}

pub trait Runtime: Send + Sync {
    /// Runs `a` and `b`, possibly in parallel, and returns when both have finished.
    /// A panic in either is propagated to the caller after both finished. The names label the
    /// two tasks in simulation traces.
    fn join<'a>(&self, names: [&'static str; 2], a: Job<'a>, b: Job<'a>);

    /// Starts `task` in the background; `name` labels it in simulation traces.
    fn spawn(&self, name: &'static str, task: WriteTask) -> Box<dyn PendingTask>;
}

/// Typed convenience over [`Runtime::join`].
pub fn join2<RA: Send, RB: Send>(
    rt: &dyn Runtime,
    names: [&'static str; 2],
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    let mut ra = None;
    let mut rb = None;
    rt.join(
        names,
        Box::new(|| ra = Some(a())),
        Box::new(|| rb = Some(b())),
    );
    (
        ra.expect("join returned before the first job finished"),
        rb.expect("join returned before the second job finished"),
    )
}

/// Runs everything on the calling thread, in order: the reference point for "no concurrency".
#[derive(Debug, Default, Clone, Copy)]
pub struct InlineRuntime;

struct Ready(TaskOutcome);

impl PendingTask for Ready {
    fn wait(self: Box<Self>) -> TaskOutcome {
        self.0
    }
}

pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

fn run_caught(task: WriteTask) -> TaskOutcome {
    match catch_unwind(AssertUnwindSafe(task)) {
        Ok(r) => TaskOutcome::Done(r),
        Err(p) => TaskOutcome::Panicked(panic_message(p.as_ref())),
    }
}

impl Runtime for InlineRuntime {
    fn join<'a>(&self, _names: [&'static str; 2], a: Job<'a>, b: Job<'a>) {
        a();
        b();
    }

    fn spawn(&self, _name: &'static str, task: WriteTask) -> Box<dyn PendingTask> {
        Box::new(Ready(run_caught(task)))
    }
}

/// Real threads. `join` runs `a` on a scoped thread and `b` on the caller; `spawn` hands the
/// task to a writer thread owned by this runtime (no global pool: dropping the runtime stops it).
/// A queued background write and where its outcome goes.
type Queued = (WriteTask, Sender<TaskOutcome>);

pub struct ThreadRuntime {
    jobs: Mutex<Option<Sender<Queued>>>,
    worker: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Default for ThreadRuntime {
    fn default() -> Self {
        ThreadRuntime::new()
    }
}

impl ThreadRuntime {
    pub fn new() -> ThreadRuntime {
        let (tx, rx) = unbounded::<Queued>();
        let worker = thread::Builder::new()
            .name("restore-writer".into())
            .spawn(move || {
                for (task, reply) in rx {
                    // The receiver may be gone if the restore was dropped without waiting.
                    let _ = reply.send(run_caught(task));
                }
            })
            .expect("cannot start the restore writer thread");
        ThreadRuntime {
            jobs: Mutex::new(Some(tx)),
            worker: Mutex::new(Some(worker)),
        }
    }
}

impl Drop for ThreadRuntime {
    fn drop(&mut self) {
        self.jobs.lock().take();
        if let Some(w) = self.worker.lock().take() {
            let _ = w.join();
        }
    }
}

struct Waiting(Receiver<TaskOutcome>);

impl PendingTask for Waiting {
    fn wait(self: Box<Self>) -> TaskOutcome {
        self.0
            .recv()
            .unwrap_or_else(|_| TaskOutcome::Panicked("writer thread is gone".into()))
    }
}

impl Runtime for ThreadRuntime {
    fn join<'a>(&self, _names: [&'static str; 2], a: Job<'a>, b: Job<'a>) {
        thread::scope(|s| {
            let ha = s.spawn(a);
            let rb = catch_unwind(AssertUnwindSafe(b));
            let ra = ha.join();
            if let Err(p) = ra {
                std::panic::resume_unwind(p);
            }
            if let Err(p) = rb {
                std::panic::resume_unwind(p);
            }
        });
    }

    fn spawn(&self, _name: &'static str, task: WriteTask) -> Box<dyn PendingTask> {
        let (reply_tx, reply_rx) = bounded(1);
        let sent = match self.jobs.lock().as_ref() {
            Some(jobs) => jobs.send((task, reply_tx)).is_ok(),
            None => false,
        };
        if !sent {
            return Box::new(Ready(TaskOutcome::Panicked(
                "runtime is shutting down".into(),
            )));
        }
        Box::new(Waiting(reply_rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn both(rt: &dyn Runtime) {
        let (a, b) = join2(rt, ["a", "b"], || 1 + 1, || "b");
        assert_eq!((a, b), (2, "b"));
        let ok = rt.spawn("w", Box::new(|| Ok(())));
        let err = rt.spawn("w", Box::new(|| Err(StoreError::Fault("x".into()))));
        let boom = rt.spawn("w", Box::new(|| panic!("boom")));
        assert_eq!(ok.wait(), TaskOutcome::Done(Ok(())));
        assert_eq!(
            err.wait(),
            TaskOutcome::Done(Err(StoreError::Fault("x".into())))
        );
        assert_eq!(boom.wait(), TaskOutcome::Panicked("boom".into()));
    }

    #[test]
    fn inline_runtime_joins_and_spawns() {
        both(&InlineRuntime);
    }

    #[test]
    fn thread_runtime_joins_and_spawns() {
        both(&ThreadRuntime::new());
    }

    #[test]
    fn join_propagates_panics() {
        let rt = ThreadRuntime::new();
        let r = catch_unwind(AssertUnwindSafe(|| {
            rt.join(["l", "r"], Box::new(|| panic!("left")), Box::new(|| {}))
        }));
        assert!(r.is_err());
    }
}
