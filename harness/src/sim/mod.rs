//! The deterministic scheduler: every task of a simulated process (driver, KV side, tree side,
//! background writer) is a stackful coroutine on one OS thread, and exactly one runs at a time.
//! Tasks switch only at scheduling points — before and after every store operation, at join,
//! spawn and await — and a [`Policy`] picks which runnable task goes next.
//!
//! Why coroutines: a case makes 60–180 decisions, and a coroutine switch costs nanoseconds where
//! an OS-thread hand-off costs microseconds (see shared/reference/sim-anchors.md), so the
//! scheduler stays a small fraction of the work and cases run near the inline speed.
//!
//! A process ends normally (every task done), by deadlock (nothing runnable), by exhausting its
//! step budget (livelock), or by a simulated crash. Whatever the end, the remaining coroutines
//! are unwound child-first, with scheduling points turned into no-ops and waits answered
//! `Abandoned`, so teardown never blocks and never re-enters the scheduler.

pub mod policy;
mod runtime;
#[cfg(feature = "shuttle")]
mod shuttle_runtime;
mod task;
#[cfg(test)]
mod tests;

pub use policy::{Policy, PolicyKind};
pub use runtime::SimRuntime;
#[cfg(feature = "shuttle")]
pub use shuttle_runtime::{ShuttleRuntime, set_foreign_point};
// Task ids live in the trace (events name their task, and the trace must not depend on the
// scheduler); re-exported so the scheduler's users keep writing `sim::TaskId`.
pub use crate::trace::TaskId;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use corosensei::CoroutineResult;
use restore_core::runtime::{TaskOutcome, panic_message};

use crate::trace::Point;
use task::{Status, Task};

/// Why a simulated process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every task finished.
    Completed,
    /// Tasks remain but none can run.
    Deadlock { blocked: Vec<String> },
    /// The step budget ran out (a livelock, or a budget too small for the case).
    StepBudget { steps: u64 },
    /// The observer asked for a crash at a scheduling point.
    Crashed,
}

/// What the observer wants after seeing a scheduling point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    Crash,
}

/// Sees every scheduling point (the trace recorder and crash trigger of the harness).
pub trait Observer: std::any::Any {
    fn point(
        &mut self,
        step: u64,
        task: TaskId,
        name: &'static str,
        chunk: Option<u32>,
        what: &Point,
    ) -> Verdict;

    /// Task `task` returned at step `step` (a step that ends a task records no point). The
    /// model checker attributes the step's store accesses here.
    fn task_done(&mut self, _step: u64, _task: TaskId) {}

    /// Lets the owner get its concrete observer back between processes.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

/// What [`run_process`] hands back: how it ended and the decisions taken.
pub struct ProcessEnd {
    pub stop: Stop,
    pub steps: u64,
    /// Task chosen at every decision that had more than one candidate (replayable).
    pub decisions: Vec<u16>,
    /// Panics caught in tasks, in order: (task name, message).
    pub panics: Vec<(String, String)>,
    /// The runnable set at every multi-way decision, if the policy asked for them.
    pub options: Vec<Vec<u16>>,
    /// Every step (one-way or not) as the task that ran and the runnable set it was chosen
    /// from, if the policy asked for options: the model checker's view of the process.
    pub step_log: Vec<StepRecord>,
}

/// One step of a process: the task resumed and the tasks that could have been.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    pub task: u16,
    pub runnable: Vec<u16>,
}

struct World {
    tasks: Vec<Task>,
    current: Option<TaskId>,
    steps: u64,
    budget: u64,
    tearing_down: bool,
    crash_requested: bool,
    /// Distinguishes processes, so a handle from an earlier process is never waited on.
    generation: u64,
    policy: Box<dyn Policy>,
    observer: Box<dyn Observer>,
    decisions: Vec<u16>,
    panics: Vec<(String, String)>,
    runnable: Vec<TaskId>,
    /// Tasks not done yet, in id order: the per-step scans skip the finished ones (a process
    /// starts two or three tasks per chunk and keeps them all in `tasks`).
    live: Vec<TaskId>,
    options: Option<Vec<Vec<u16>>>,
    step_log: Option<Vec<StepRecord>>,
}

thread_local! {
    /// Panics inside simulated tasks are findings, reported by the no-panic oracle; the default
    /// hook would print each one with a backtrace, so it stays quiet while a process runs.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static WORLD: RefCell<Option<World>> = const { RefCell::new(None) };
    static GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[cfg(feature = "shuttle")]
thread_local! {
    /// What a scheduling point does outside our scheduler: set while another scheduler (shuttle,
    /// in the benchmark) runs the restore, so the faulty store's points become its yields.
    static FOREIGN_POINT: std::cell::Cell<Option<fn()>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` on the active world; `None` outside a simulated process or during teardown.
fn with_world<R>(f: impl FnOnce(&mut World) -> R) -> Option<R> {
    WORLD.with(|w| {
        let mut w = w.borrow_mut();
        match w.as_mut() {
            Some(world) if !world.tearing_down => Some(f(world)),
            _ => None,
        }
    })
}

/// True while a task of a simulated process is running on this thread.
pub fn in_simulation() -> bool {
    with_world(|w| w.current.is_some()).unwrap_or(false)
}

/// A scheduling point: report `what` to the observer, then let the policy pick the next task.
/// Outside a simulation (or while a process is being torn down) it does nothing.
pub fn point(what: Point) {
    let yielder = with_world(|w| {
        let id = w.current?;
        w.record(id, &what);
        Some(w.tasks[id.index()].yielder)
    })
    .flatten();
    match yielder {
        // SAFETY: the pointer was set by this very task when its coroutine started and the
        // yielder lives on that coroutine's stack, which is the stack we are running on.
        Some(y) => unsafe { (*y).suspend(()) },
        None => foreign_point(),
    }
}

/// A point outside our scheduler: another scheduler's yield if one is installed.
#[cfg(feature = "shuttle")]
fn foreign_point() {
    if let Some(hook) = FOREIGN_POINT.with(|h| h.get()) {
        hook();
    }
}

#[cfg(not(feature = "shuttle"))]
#[inline(always)]
fn foreign_point() {}

/// The chunk the current task works for (inherited by the tasks it starts).
pub fn set_chunk(chunk: Option<u32>) {
    with_world(|w| {
        if let Some(id) = w.current {
            w.tasks[id.index()].chunk = chunk;
        }
    });
}

/// Name and chunk of the running task.
pub fn current_task() -> Option<(TaskId, &'static str, Option<u32>)> {
    with_world(|w| {
        w.current.map(|id| {
            let t = &w.tasks[id.index()];
            (id, t.name, t.chunk)
        })
    })
    .flatten()
}

impl World {
    fn record(&mut self, id: TaskId, what: &Point) {
        let t = &self.tasks[id.index()];
        if self.observer.point(self.steps, id, t.name, t.chunk, what) == Verdict::Crash {
            self.crash_requested = true;
        }
    }

    fn spawn_task(&mut self, name: &'static str, body: Box<dyn FnOnce()>) -> TaskId {
        let id =
            TaskId(u16::try_from(self.tasks.len()).expect("more than 65k tasks in one process"));
        let chunk = self.current.and_then(|c| self.tasks[c.index()].chunk);
        self.tasks.push(Task::new(id, name, chunk, body));
        self.live.push(id);
        self.policy.on_new_task(id);
        id
    }

    fn collect_runnable(&mut self) {
        self.runnable.clear();
        for &id in &self.live {
            if self.tasks[id.index()].status == Status::Runnable {
                self.runnable.push(id);
            }
        }
    }

    /// Marks `id` done and wakes the tasks waiting for it.
    fn finish(&mut self, id: TaskId) {
        self.tasks[id.index()].status = Status::Done;
        if let Ok(at) = self.live.binary_search(&id) {
            self.live.remove(at);
        }
        for j in 0..self.live.len() {
            let i = self.live[j].index();
            let ready = match self.tasks[i].status {
                Status::Joining(a, b) => {
                    self.tasks[a.index()].status == Status::Done
                        && self.tasks[b.index()].status == Status::Done
                }
                Status::Waiting(t) => self.tasks[t.index()].status == Status::Done,
                _ => false,
            };
            if ready {
                self.tasks[i].status = Status::Runnable;
            }
        }
    }
}

/// Silences the panic hook on this thread (for running restore code outside the scheduler whose
/// panics are findings, e.g. inline runs).
pub fn set_quiet_panics(on: bool) {
    install_quiet_panic_hook();
    QUIET_PANICS.with(|q| q.set(on));
}

fn install_quiet_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

/// Runs one simulated process whose first task is `main`, until it ends.
pub fn run_process(
    policy: Box<dyn Policy>,
    observer: Box<dyn Observer>,
    budget: u64,
    main: Box<dyn FnOnce()>,
) -> (ProcessEnd, Box<dyn Policy>, Box<dyn Observer>) {
    install_quiet_panic_hook();
    QUIET_PANICS.with(|q| q.set(true));
    let generation = GENERATION.with(|g| {
        g.set(g.get() + 1);
        g.get()
    });
    WORLD.with(|w| {
        let mut slot = w.borrow_mut();
        assert!(slot.is_none(), "simulated processes do not nest");
        let options = policy.wants_options().then(Vec::new);
        let step_log = options.as_ref().map(|_| Vec::with_capacity(256));
        *slot = Some(World {
            options,
            step_log,
            tasks: Vec::with_capacity(32),
            current: None,
            steps: 0,
            budget,
            tearing_down: false,
            crash_requested: false,
            generation,
            policy,
            observer,
            decisions: Vec::with_capacity(128),
            panics: Vec::new(),
            runnable: Vec::with_capacity(8),
            live: Vec::with_capacity(8),
        });
    });
    with_world(|w| w.spawn_task("driver", main));

    let stop = loop {
        // Decide, holding the world only briefly: the task needs it while it runs.
        let next = with_world(|w| {
            if w.crash_requested {
                return Err(Stop::Crashed);
            }
            w.collect_runnable();
            if w.runnable.is_empty() {
                let blocked: Vec<String> = w
                    .tasks
                    .iter()
                    .filter(|t| t.status != Status::Done)
                    .map(|t| format!("{}#{} {:?}", t.name, t.id.0, t.status))
                    .collect();
                return Err(if blocked.is_empty() {
                    Stop::Completed
                } else {
                    Stop::Deadlock { blocked }
                });
            }
            if w.steps >= w.budget {
                return Err(Stop::StepBudget { steps: w.steps });
            }
            let chosen = if w.runnable.len() == 1 {
                w.runnable[0]
            } else {
                if let Some(o) = w.options.as_mut() {
                    o.push(w.runnable.iter().map(|t| t.0).collect());
                }
                let c = w.policy.choose(&w.runnable, w.current);
                debug_assert!(
                    w.runnable.contains(&c),
                    "policy chose a task that cannot run"
                );
                w.decisions.push(c.0);
                c
            };
            if let Some(log) = w.step_log.as_mut() {
                log.push(StepRecord {
                    task: chosen.0,
                    runnable: w.runnable.iter().map(|t| t.0).collect(),
                });
            }
            w.steps += 1;
            w.current = Some(chosen);
            Ok((
                chosen,
                w.tasks[chosen.index()]
                    .co
                    .take()
                    .expect("runnable task has a coroutine"),
            ))
        })
        .expect("world is active");
        let (id, mut co) = match next {
            Ok(n) => n,
            Err(stop) => break stop,
        };
        let result = co.resume(());
        with_world(|w| {
            w.current = None;
            match result {
                CoroutineResult::Yield(()) => w.tasks[id.index()].co = Some(co),
                CoroutineResult::Return(()) => {
                    task::recycle(co);
                    w.observer.task_done(w.steps, id);
                    w.finish(id);
                }
            }
        })
        .expect("world is active");
    };

    // Teardown: unwind what is left, newest first (join children borrow from their parents).
    let leftovers: Vec<_> = WORLD.with(|w| {
        let mut w = w.borrow_mut();
        let world = w.as_mut().expect("world is active");
        world.tearing_down = true;
        world
            .tasks
            .iter_mut()
            .rev()
            .filter_map(|t| t.co.take())
            .collect()
    });
    for co in leftovers {
        // Dropping a suspended coroutine unwinds its stack; points and waits are inert now.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(co)));
    }
    let world = WORLD
        .with(|w| w.borrow_mut().take())
        .expect("world is active");
    QUIET_PANICS.with(|q| q.set(false));
    (
        ProcessEnd {
            stop,
            steps: world.steps,
            decisions: world.decisions,
            panics: world.panics,
            options: world.options.unwrap_or_default(),
            step_log: world.step_log.unwrap_or_default(),
        },
        world.policy,
        world.observer,
    )
}

/// Body wrapper: records panics instead of letting them leave the coroutine, except the forced
/// unwind of teardown, which must pass through.
fn run_body(id: TaskId, body: Box<dyn FnOnce()>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(body)) {
        let tearing_down = WORLD.with(|w| w.borrow().as_ref().is_none_or(|w| w.tearing_down));
        if tearing_down {
            std::panic::resume_unwind(payload);
        }
        let msg = panic_message(payload.as_ref());
        with_world(|w| {
            let name = w.tasks[id.index()].name;
            w.tasks[id.index()].panicked = Some(msg.clone());
            w.panics.push((format!("{name}#{}", id.0), msg.clone()));
            w.record(id, &Point::Panicked(msg));
        });
    }
}

/// Result of a spawned writer, as the runtime hands it back.
fn take_outcome(id: TaskId, generation: u64) -> TaskOutcome {
    with_world(|w| {
        if w.generation != generation {
            return TaskOutcome::Abandoned;
        }
        let t = &mut w.tasks[id.index()];
        if let Some(m) = t.panicked.take() {
            return TaskOutcome::Panicked(m);
        }
        match t.result.take() {
            Some(r) => TaskOutcome::Done(r),
            None => TaskOutcome::Abandoned,
        }
    })
    .unwrap_or(TaskOutcome::Abandoned)
}
