//! The driver: plays the backup controller inside the simulated process. It opens the restore,
//! skips what the durable state already covers, feeds chunks in order, and finishes; on an error
//! it either gives up on this process (the runner restarts) or retries on the same object.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use restore_core::chunk::first_chunk_to_feed;
use restore_core::node::NodeKey;
use restore_core::runtime::Runtime;
use restore_core::snapshot::tamper;
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
use restore_core::store::{KvStore, TreeStore};
use restore_core::strategy::RestoreMode;
use restore_core::{Chunk, Snapshot, StateItem};

use crate::case::{DriverPolicy, OnError};
use crate::fault::{Corruption, FaultyStore};
use crate::oracle::{Oracle, on_finish_ok};
use crate::sim;
use crate::trace::{DriverStep, Point, Res};

/// State shared between the driver task and the runner, across processes.
#[derive(Default)]
pub struct DriverShared {
    /// Largest chunk fed so far (the L of progress-divergence).
    pub largest_fed: u32,
    /// Deliveries made per chunk (corruptions apply to the first ones).
    pub deliveries: Vec<u32>,
    /// Items of corrupted deliveries that are not in the snapshot.
    pub corrupted_items: Vec<StateItem>,
    pub corrupted_deliveries: u32,
    pub chunks_fed: u32,
    /// `finish` returned Ok in some process.
    pub completed: bool,
    /// How many times `finish` returned Ok (a crash after one is judged again on what survives).
    pub finish_oks: u32,
    /// Oracle findings at the moment finish returned Ok.
    /// Oracle findings at the moment finish returned Ok after the last phase, with the number
    /// of successful finishes (of any phase) before it: the `FinishDone(Ok)` they belong to.
    pub finish_findings: Vec<(Oracle, String, u32)>,
    /// Successful finishes of any phase so far (each is a `FinishDone(Ok)` point).
    pub finish_dones: u32,
    /// Errors the restore returned, in order.
    pub errors: Vec<String>,
    /// The phase of the restore plan in progress (index into `DriverCtx::phases`).
    pub phase: usize,
}

/// Everything the driver of one process needs.
pub struct DriverCtx {
    pub store: Arc<FaultyStore>,
    pub snapshot: Rc<Snapshot>,
    pub chunks: Rc<Vec<Chunk>>,
    pub options: RestoreOptions,
    pub policy: DriverPolicy,
    pub corruptions: Vec<Corruption>,
    pub shared: Rc<RefCell<DriverShared>>,
    /// The restore's runtime: [`SimRuntime`](crate::sim::SimRuntime) except in benchmarks.
    pub runtime: Arc<dyn Runtime>,
    /// Open with the overwrite constructor (see `Case::overwrite`).
    pub overwrite: bool,
    /// The restore modes of the case's plan, in order (see `Case::plan`).
    pub phases: Vec<RestoreMode>,
}

fn step(s: DriverStep) {
    sim::point(Point::Driver(s));
}

impl DriverCtx {
    /// The chunk as delivered this time: corrupted while the plan says so.
    fn deliver(&self, i: usize) -> (Chunk, bool) {
        let mut sh = self.shared.borrow_mut();
        if sh.deliveries.len() < self.chunks.len() {
            sh.deliveries.resize(self.chunks.len(), 0);
        }
        let n = sh.deliveries[i];
        sh.deliveries[i] += 1;
        let good = &self.chunks[i];
        for c in &self.corruptions {
            if c.chunk as usize == i
                && c.corrupts(n)
                && let Some(bad) = tamper(good, &c.tamper.to_core())
            {
                sh.corrupted_deliveries += 1;
                for item in &bad.items {
                    let known = self
                        .snapshot
                        .items
                        .binary_search_by(|x| x.key_hash.cmp(&item.key_hash))
                        .ok()
                        .is_some_and(|p| self.snapshot.items[p] == *item);
                    if !known {
                        sh.corrupted_items.push(item.clone());
                    }
                }
                return (bad, true);
            }
        }
        (good.clone(), false)
    }

    fn record_error(&self, e: &restore_core::RestoreError) {
        self.shared.borrow_mut().errors.push(e.to_string());
    }

    /// One process: runs the restore's remaining phases in order (one, unless the case's plan
    /// has two); returns true when the last one finished. A phase that finishes hands over to
    /// the next at once, and a later process resumes at the phase it was in (the coordinator
    /// knows which phase it started).
    pub fn run(&self) -> bool {
        self.shared.borrow_mut().phase = self.durable_phase();
        loop {
            let phase = self.shared.borrow().phase;
            let Some(&mode) = self.phases.get(phase) else {
                return true;
            };
            let last = phase + 1 == self.phases.len();
            if !self.run_phase(mode, last) {
                return false;
            }
            if last {
                return true;
            }
            self.shared.borrow_mut().phase += 1;
        }
    }

    /// The phase to start this process in, read off the durable state as a coordinator would:
    /// the first phase unless its side is complete on disk (KV: usage recorded by its finish;
    /// tree: the root). Remembering the phase instead would trust a KV phase whose unsynced
    /// tail a power loss took. Read quietly: the coordinator's look is no fault target.
    fn durable_phase(&self) -> usize {
        let version = self.snapshot.version;
        let done = |mode: RestoreMode| {
            self.store.quietly(|| match mode {
                RestoreMode::KvOnly => self.store.get_usage(version).ok().flatten().is_some(),
                RestoreMode::TreeOnly => self
                    .store
                    .get_node(&NodeKey::root(version))
                    .ok()
                    .flatten()
                    .is_some(),
                RestoreMode::Default => false,
            })
        };
        match self.phases.as_slice() {
            [first, _] if done(*first) => 1,
            _ => 0,
        }
    }

    /// One phase in `mode`; the finish checks run only after the `last` phase (an earlier one
    /// leaves a side unrestored by design).
    fn run_phase(&self, mode: RestoreMode, last: bool) -> bool {
        let mut options = self.options;
        options.mode = mode;
        step(DriverStep::Open);
        let store = Arc::clone(&self.store);
        let open = if self.overwrite {
            SnapshotRestore::open_overwrite
        } else {
            SnapshotRestore::open
        };
        let opened = open(
            store.clone(),
            store,
            Arc::clone(&self.runtime),
            self.snapshot.version,
            self.snapshot.root,
            options,
        )
        .and_then(|r| r.previous_key_hash().map(|p| (r, p)));
        let (mut restore, resume) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.record_error(&e);
                step(DriverStep::FinishDone(Res::Err(format!("open: {e}"))));
                return false;
            }
        };
        let first = first_chunk_to_feed(&self.chunks, resume);
        step(DriverStep::Opened {
            resume_chunk: first as u32,
        });
        let mut i = first;
        let mut attempt = 0;
        while i < self.chunks.len() {
            sim::set_chunk(Some(i as u32));
            let (chunk, corrupted) = self.deliver(i);
            {
                let mut sh = self.shared.borrow_mut();
                sh.largest_fed = sh.largest_fed.max(chunk.len() as u32);
                sh.chunks_fed += 1;
            }
            step(DriverStep::AddChunk { attempt, corrupted });
            let r = restore.add_chunk(&chunk);
            step(DriverStep::ChunkDone(Res::of(&r)));
            match r {
                Ok(()) => {
                    i += 1;
                    attempt = 0;
                }
                Err(e) => {
                    self.record_error(&e);
                    if self.policy.on_error == OnError::RetrySameObject
                        && attempt < self.policy.retries
                    {
                        attempt += 1;
                        continue;
                    }
                    drop(restore);
                    step(DriverStep::Dropped);
                    return false;
                }
            }
        }
        sim::set_chunk(None);
        step(DriverStep::Finish);
        let r = restore.finish();
        if r.is_ok() && last {
            // Check the claim the moment it is made, before anything else can happen.
            let corrupted = self.shared.borrow().corrupted_items.clone();
            let findings = self
                .store
                .quietly(|| on_finish_ok(&*self.store, &self.snapshot, &corrupted));
            let mut sh = self.shared.borrow_mut();
            sh.completed = true;
            sh.finish_oks += 1;
            let at = sh.finish_dones;
            sh.finish_findings
                .extend(findings.into_iter().map(|(o, why)| (o, why, at)));
        } else if let Err(e) = &r {
            self.record_error(e);
        }
        if r.is_ok() {
            self.shared.borrow_mut().finish_dones += 1;
        }
        step(DriverStep::FinishDone(Res::of(&r)));
        let ok = r.is_ok();
        drop(restore);
        step(DriverStep::Dropped);
        ok
    }
}
