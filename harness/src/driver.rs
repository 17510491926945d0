//! The driver: plays the backup controller inside the simulated process. It opens the restore,
//! skips what the durable state already covers, feeds chunks in order, and finishes; on an error
//! it either gives up on this process (the runner restarts) or retries on the same object.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use restore_core::chunk::first_chunk_to_feed;
use restore_core::runtime::Runtime;
use restore_core::snapshot::tamper;
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
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
    pub finish_findings: Vec<(Oracle, String)>,
    /// Errors the restore returned, in order.
    pub errors: Vec<String>,
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

    /// One process: returns true when the restore finished.
    pub fn run(&self) -> bool {
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
            self.options,
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
        if r.is_ok() {
            // Check the claim the moment it is made, before anything else can happen.
            let corrupted = self.shared.borrow().corrupted_items.clone();
            let findings = self
                .store
                .quietly(|| on_finish_ok(&*self.store, &self.snapshot, &corrupted));
            let mut sh = self.shared.borrow_mut();
            sh.completed = true;
            sh.finish_oks += 1;
            sh.finish_findings.extend(findings);
        } else if let Err(e) = &r {
            self.record_error(e);
        }
        step(DriverStep::FinishDone(Res::of(&r)));
        let ok = r.is_ok();
        drop(restore);
        step(DriverStep::Dropped);
        ok
    }
}
