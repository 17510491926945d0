//! Tasks: a coroutine per task on pooled stacks, and what the scheduler knows about each.

use std::cell::RefCell;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, Yielder};
use restore_core::store::StoreResult;

use crate::trace::TaskId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Runnable,
    /// Blocked in `join` until both children are done.
    Joining(TaskId, TaskId),
    /// Blocked awaiting a spawned task.
    Waiting(TaskId),
    Done,
}

pub(super) type Co = Coroutine<(), (), (), DefaultStack>;

pub(super) struct Task {
    pub id: TaskId,
    pub name: &'static str,
    pub co: Option<Co>,
    pub status: Status,
    /// Set by the task when its coroutine starts; the stack it points into outlives every use.
    pub yielder: *const Yielder<(), ()>,
    pub chunk: Option<u32>,
    /// A spawned writer's result.
    pub result: Option<StoreResult<()>>,
    pub panicked: Option<String>,
}

/// Stack size per task. Restore frames are shallow; the mapping is lazily committed, so unused
/// pages cost nothing.
const STACK_BYTES: usize = 256 * 1024;

thread_local! {
    /// Recycled stacks: mapping a fresh stack costs microseconds, reusing one nanoseconds.
    static STACKS: RefCell<Vec<DefaultStack>> = const { RefCell::new(Vec::new()) };
}

fn stack() -> DefaultStack {
    STACKS
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| DefaultStack::new(STACK_BYTES).expect("cannot map a coroutine stack"))
}

/// Returns a finished coroutine's stack to the pool.
pub(super) fn recycle(co: Co) {
    let s = co.into_stack();
    STACKS.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < 64 {
            p.push(s);
        }
    });
}

impl Task {
    pub fn new(
        id: TaskId,
        name: &'static str,
        chunk: Option<u32>,
        body: Box<dyn FnOnce()>,
    ) -> Task {
        let co = Coroutine::with_stack(stack(), move |y: &Yielder<(), ()>, ()| {
            super::with_world(|w| w.tasks[id.index()].yielder = y as *const _);
            super::run_body(id, body);
        });
        Task {
            id,
            name,
            co: Some(co),
            status: Status::Runnable,
            yielder: std::ptr::null(),
            chunk,
            result: None,
            panicked: None,
        }
    }
}
