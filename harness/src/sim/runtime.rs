//! [`SimRuntime`]: restore-core's `Runtime` trait on top of the deterministic scheduler.

use restore_core::runtime::{Job, PendingTask, Runtime, TaskOutcome, WriteTask};

use super::task::Status;
use super::{TaskId, point, take_outcome, with_world};
use crate::trace::Point;

/// The simulated runtime. Stateless: it talks to the process running on this thread, and
/// outside one it degrades to running everything inline (so restore objects can still be
/// dropped safely after a simulation ended).
#[derive(Clone, Copy, Debug, Default)]
pub struct SimRuntime;

impl Runtime for SimRuntime {
    fn join<'a>(&self, names: [&'static str; 2], a: Job<'a>, b: Job<'a>) {
        if !super::in_simulation() {
            // No process on this thread (inline runs, or objects dropped after a simulation).
            a();
            b();
            return;
        }
        // SAFETY: the jobs borrow from the caller's stack for 'a. The caller blocks below until
        // both tasks are done; if the process is torn down first, the scheduler unwinds newer
        // tasks (these two) before older ones (the caller), so the borrows never dangle.
        let a: Box<dyn FnOnce() + 'static> = unsafe {
            std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Box<dyn FnOnce() + Send + 'static>>(
                a,
            )
        };
        let b: Box<dyn FnOnce() + 'static> = unsafe {
            std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Box<dyn FnOnce() + Send + 'static>>(
                b,
            )
        };
        let started = with_world(|w| {
            let me = w.current?;
            let ia = w.spawn_task(names[0], a);
            let ib = w.spawn_task(names[1], b);
            w.tasks[me.index()].status = Status::Joining(ia, ib);
            Some((ia, ib))
        })
        .flatten();
        let (ia, ib) = started.expect("in_simulation() guarantees a running task");
        point(Point::Join(ia, ib));
        let panicked = with_world(|w| {
            let pa = w.tasks[ia.index()].panicked.clone();
            let pb = w.tasks[ib.index()].panicked.clone();
            pa.or(pb)
        })
        .flatten();
        if let Some(msg) = panicked {
            // Like a thread join: the child's panic continues in the parent.
            std::panic::resume_unwind(Box::new(msg));
        }
    }

    fn spawn(&self, name: &'static str, task: WriteTask) -> Box<dyn PendingTask> {
        if !super::in_simulation() {
            return Box::new(Finished(TaskOutcome::Done(task())));
        }
        let spawned = with_world(|w| {
            w.current?;
            let slot: std::rc::Rc<std::cell::Cell<Option<TaskId>>> = Default::default();
            let me = slot.clone();
            let id = w.spawn_task(
                name,
                Box::new(move || {
                    let r = task();
                    let id = me.get().expect("id is set before the task runs");
                    with_world(|w| w.tasks[id.index()].result = Some(r));
                }),
            );
            slot.set(Some(id));
            Some((id, w.generation))
        })
        .flatten();
        match spawned {
            Some((id, generation)) => {
                point(Point::Spawn(id));
                Box::new(SimPending { id, generation })
            }
            None => Box::new(Finished(TaskOutcome::Abandoned)),
        }
    }
}

struct Finished(TaskOutcome);

impl PendingTask for Finished {
    fn wait(self: Box<Self>) -> TaskOutcome {
        self.0
    }
}

/// A spawned task of a simulated process.
struct SimPending {
    id: TaskId,
    generation: u64,
}

impl PendingTask for SimPending {
    fn wait(self: Box<Self>) -> TaskOutcome {
        let blocked = with_world(|w| {
            if w.generation != self.generation {
                return None;
            }
            let me = w.current?;
            if w.tasks[self.id.index()].status != Status::Done {
                w.tasks[me.index()].status = Status::Waiting(self.id);
            }
            Some(())
        })
        .flatten();
        if blocked.is_none() {
            return TaskOutcome::Abandoned;
        }
        point(Point::Await(self.id));
        take_outcome(self.id, self.generation)
    }
}
