//! `limits`: measure the restore's primitives on a generated snapshot and print the limit model
//! ([`restore_core::limits`]): the best keys/s hashing and writing allow, serial and overlapped.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use std::sync::Arc;

use restore_core::limits::{
    CostData, LimitModel, PrimitiveCosts, Stopwatch, WorkCounts, count_fsyncs_per_chunk,
    count_work, measure_costs, measure_fsync, restored_nodes,
};
use restore_core::node::{Node, NodeKey};
use restore_core::real::PreparedSnapshot;
use restore_core::store::{
    Layout, MemStore, RocksStore, RocksStoreOptions, StoreResult, SyncPolicy,
};

use crate::snapshot_args::{SnapshotArgs, StoreArgs, config};

#[derive(Args, Debug)]
pub struct LimitsArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Also model the in-memory store (writes into a MemStore instead of RocksDB).
    #[arg(long)]
    mem: bool,
}

struct Clock;

impl Stopwatch for Clock {
    fn seconds(&mut self, work: &mut dyn FnMut() -> StoreResult<()>) -> StoreResult<f64> {
        let t = Instant::now();
        work()?;
        Ok(t.elapsed().as_secs_f64())
    }
}

pub fn run(args: &LimitsArgs) -> Result<()> {
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let cfg = config(
        &args.snapshot,
        &args.store,
        tmp.path().join("unused"),
        restore_core::strategy::CommitStrategy::Pipelined,
        None,
    );
    let prepared = PreparedSnapshot::generate(&cfg);
    let work = Work::of(&prepared)?;
    print_counts(&work.counts, cfg.chunk_size);
    let kinds: &[TargetStore] = if args.mem {
        &[TargetStore::Rocksdb, TargetStore::Mem]
    } else {
        &[TargetStore::Rocksdb]
    };
    for &kind in kinds {
        let costs = work.measure(&prepared, cfg.chunk_size, kind, tmp.path(), &args.store)?;
        print_model(&kind.label(&args.store), &work.counts, &costs);
    }
    Ok(())
}

/// Where restores (and the model's writes) go: `--store` of `compare`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetStore {
    Rocksdb,
    Mem,
}

impl TargetStore {
    pub fn name(self) -> &'static str {
        match self {
            TargetStore::Rocksdb => "rocksdb",
            TargetStore::Mem => "mem",
        }
    }

    /// The store as the model's lines name it: `rocksdb aptos/always`, `mem`.
    pub fn label(self, store: &StoreArgs) -> String {
        match self {
            TargetStore::Rocksdb => format!("rocksdb {}/{}", store.layout, store.sync),
            TargetStore::Mem => "mem".to_string(),
        }
    }
}

/// The work of restoring a snapshot, from one in-memory restore: the counts per key, and the
/// finished nodes the write costs are measured on.
pub struct Work {
    pub counts: WorkCounts,
    nodes: Vec<(NodeKey, Node)>,
}

impl Work {
    pub fn of(prepared: &PreparedSnapshot) -> Result<Work> {
        let snap = &prepared.snapshot;
        let nodes = restored_nodes(snap.scheme, snap.version, snap.root, &prepared.chunks)
            .context("restoring into memory to count the work")?;
        let counts = count_work(&snap.items, &prepared.chunks, &nodes);
        Ok(Work { counts, nodes })
    }

    /// The primitives' costs on `prepared`, writing into a fresh store of `kind` (RocksDB
    /// under `scratch`, with `store`'s layout). Row costs are measured on relaxed writes; the
    /// fsync latency on a one-database store that syncs every write; the fsyncs per chunk by a
    /// short durable restore into a fresh store of `store`'s layout and policy.
    pub fn measure(
        &self,
        prepared: &PreparedSnapshot,
        chunk_size: usize,
        kind: TargetStore,
        scratch: &std::path::Path,
        store: &StoreArgs,
    ) -> Result<PrimitiveCosts> {
        let snap = &prepared.snapshot;
        let data = CostData {
            scheme: snap.scheme,
            version: snap.version,
            items: &snap.items,
            nodes: &self.nodes,
            chunk_size,
        };
        Ok(match kind {
            TargetStore::Rocksdb => {
                let open = |layout, sync| -> Result<(tempfile::TempDir, RocksStore)> {
                    let dir =
                        tempfile::tempdir_in(scratch).context("creating a scratch directory")?;
                    let rocks = RocksStore::open(
                        dir.path().join("db"),
                        RocksStoreOptions::with(layout, sync),
                    )?;
                    Ok((dir, rocks))
                };
                let mut costs = {
                    let (_dir, rocks) = open(store.layout, SyncPolicy::Relaxed)?;
                    measure_costs(&data, &rocks, &rocks, &mut Clock)?
                };
                costs.fsync = {
                    let (_dir, rocks) = open(Layout::One, SyncPolicy::Always)?;
                    measure_fsync(&rocks, &mut Clock)?
                };
                costs.fsyncs_per_chunk = {
                    let (_dir, rocks) = open(store.layout, store.sync)?;
                    count_fsyncs_per_chunk(
                        Arc::new(rocks),
                        snap.scheme,
                        snap.version,
                        snap.root,
                        &prepared.chunks,
                    )
                    .context("counting fsyncs per chunk")?
                };
                costs
            }
            TargetStore::Mem => {
                let mem = MemStore::new();
                measure_costs(&data, &mem, &mem, &mut Clock)?
            }
        })
    }
}

fn print_counts(c: &WorkCounts, chunk_size: usize) {
    println!(
        "work: {} keys in {} chunks of {chunk_size}; per key: {:.3} 64-byte hashes \
         (leaf {:.3} + internal {:.3} + proof ≤{:.3}), {:.0} value hash, {:.0} KV row, {:.3} node rows",
        c.keys,
        c.chunks,
        c.fixed_hashes_per_key(),
        c.leaf_hashes as f64 / c.keys.max(1) as f64,
        c.internal_hashes as f64 / c.keys.max(1) as f64,
        c.proof_hashes as f64 / c.keys.max(1) as f64,
        c.value_hashes_per_key(),
        c.kv_rows_per_key(),
        c.node_rows_per_key(),
    );
}

pub fn print_model(store: &str, counts: &WorkCounts, costs: &PrimitiveCosts) {
    let m = LimitModel::new(counts, costs);
    println!(
        "{store}: SHA3-256 64 B {:.2} M/s ({:.0} ns) · value hash {:.2} M/s ({:.0} ns) · \
         KV row write {:.2} M/s ({:.0} ns) · node row write {:.2} M/s ({:.0} ns)",
        1e-6 / costs.fixed_hash,
        costs.fixed_hash * 1e9,
        1e-6 / costs.value_hash,
        costs.value_hash * 1e9,
        1e-6 / costs.kv_row,
        costs.kv_row * 1e9,
        1e-6 / costs.node_row,
        costs.node_row * 1e9,
    );
    if costs.fsync > 0.0 {
        println!(
            "{store}: fsync (small synced RocksDB write) {:.0} µs · {:.2} fsyncs per chunk \
             (counted on a durable restore) → {:.0} ns per key",
            costs.fsync * 1e6,
            costs.fsyncs_per_chunk,
            m.fsync_secs_per_key * 1e9,
        );
    }
    println!(
        "{store}: per key hash {:.0} ns + write {:.0} ns (fsync share {:.0} ns) → serial {:.0} keys/s, overlapped (max) {:.0} keys/s",
        m.hash_secs_per_key * 1e9,
        m.write_secs_per_key * 1e9,
        m.fsync_secs_per_key * 1e9,
        m.serial_keys_per_sec,
        m.overlapped_keys_per_sec,
    );
}
