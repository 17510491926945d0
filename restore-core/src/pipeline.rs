//! The `pipelined` strategy: a two-stage chunk pipeline. The foreground hashes and verifies
//! chunk N+1 while one background task commits chunk N (its KV rows and progress in one atomic
//! batch, then its node batch).
//!
//! The invariants only need three orderings, and the single background task gives all of them:
//! * verified-only: chunk N's task is spawned after chunk N verified;
//! * KV ≤ tree + one chunk: task N starts after task N−1 (and so batch N−1) finished;
//! * KV ≥ tree: within task N the KV batch is written before the node batch.
//!
//! Across databases (a `split` or `aptos` store) the two writes of a task are ordered by
//! barriers, which do something only under the `barrier` sync policy: KV is synced before the
//! node batch is written (K ≥ T survives any power loss), and the tree is synced before the task
//! ends (so task N+1's KV write cannot run two chunks ahead of the durable tree). The node batch
//! itself is written ordered (each shard database synced before the next is written).
//!
//! So the durable state only ever moves through `K = T` → `K = T + 1 chunk` → `K = T`, while the
//! CPU-bound stage (value hashes, tree, proof) runs beside the I/O-bound one. Because task N−1
//! is durable before task N writes progress, rows and progress can go in one atomic KV batch,
//! one write fewer per chunk than writing rows early.

use std::sync::Arc;

use crate::chunk::Chunk;
use crate::error::RestoreResult;
use crate::kv::{KvRestore, OwnedRows, plan_after};
use crate::runtime::{PendingTask, Runtime};
use crate::strategy::CommitMode;
use crate::tree::{TreeRestore, outcome_to_result};
use crate::types::Progress;

/// What the pipeline carries from one chunk to the next.
#[derive(Default)]
pub(crate) struct Pipeline {
    /// The KV progress after the last chunk handed to the background: read from the store once,
    /// then carried in memory (the store's copy lags by the task in flight).
    planned: Option<Option<Progress>>,
    /// The background commit of the previous chunk, if not awaited yet (at most one).
    in_flight: Option<Box<dyn PendingTask>>,
}

impl Pipeline {
    /// One chunk: hash and verify it (beside the previous chunk's commit), await that commit,
    /// then hand this chunk's commit to the background.
    pub(crate) fn add_chunk(
        &mut self,
        rt: &dyn Runtime,
        tree: &mut TreeRestore,
        kv: &KvRestore,
        chunk: &Chunk,
        shared: Option<&Arc<Chunk>>,
        commit: CommitMode,
    ) -> RestoreResult<()> {
        let progress = match self.planned {
            Some(p) => p,
            None => {
                let p = kv.progress()?;
                self.planned = Some(p);
                p
            }
        };
        tree.verify_chunk(&chunk.items, &chunk.proof)?;
        // Rows of a shared chunk are kept by reference (the `Arc`), others are copied.
        let plan = plan_after(progress, &chunk.items).map(|p| {
            let next = p.progress;
            (OwnedRows::of(p, &chunk.items, shared), next)
        });
        self.wait()?;
        let batch = tree.take_frozen();
        if plan.is_none() && batch.is_empty() {
            return Ok(());
        }
        if let Some((_, p)) = &plan {
            self.planned = Some(Some(*p));
        }
        let kv_write = plan.map(|(rows, p)| kv.owned_write_synced(rows, p));
        let node_write = tree.owned_write(batch);
        let tree_sync = tree.owned_sync();
        self.in_flight = Some(rt.spawn(
            "writer",
            Box::new(move || {
                if let Some(write) = kv_write {
                    write()?;
                }
                node_write()?;
                tree_sync()
            }),
        ));
        match commit {
            CommitMode::Async => Ok(()),
            CommitMode::Sync => self.wait(),
        }
    }

    /// Awaits the background commit, if any, and returns its result.
    pub(crate) fn wait(&mut self) -> RestoreResult<()> {
        match self.in_flight.take() {
            None => Ok(()),
            Some(p) => outcome_to_result(p.wait()),
        }
    }
}

impl Drop for Pipeline {
    /// A commit still in flight is awaited and its error discarded: whatever it left durable is
    /// a valid recovery point, and the next open resumes from it (the Safe rule for drop).
    fn drop(&mut self) {
        if let Some(p) = self.in_flight.take() {
            let _ = p.wait();
        }
    }
}
