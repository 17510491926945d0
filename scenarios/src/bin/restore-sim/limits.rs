//! `limits`: measure the restore's primitives on a generated snapshot and print the limit model
//! ([`restore_core::limits`]): the best keys/s hashing and writing allow, serial and overlapped.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use restore_core::limits::{
    CostData, LimitModel, PrimitiveCosts, Stopwatch, WorkCounts, count_work, measure_costs,
    restored_nodes,
};
use restore_core::real::PreparedSnapshot;
use restore_core::store::{MemStore, RocksStore, RocksStoreOptions, StoreResult};

use crate::real::{SnapshotArgs, config};

#[derive(Args, Debug)]
pub struct LimitsArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
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
        tmp.path().join("unused"),
        restore_core::strategy::CommitStrategy::Pipelined,
        None,
    );
    let prepared = PreparedSnapshot::generate(&cfg);
    let counts = count(&prepared)?;
    print_counts(&counts, cfg.chunk_size);
    let costs = measure(&prepared, cfg.chunk_size, ModelStore::Rocksdb, tmp.path())?;
    print_model("rocksdb", &counts, &costs);
    if args.mem {
        let costs = measure(&prepared, cfg.chunk_size, ModelStore::Mem, tmp.path())?;
        print_model("mem", &counts, &costs);
    }
    Ok(())
}

/// Which store the write costs are measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelStore {
    Rocksdb,
    Mem,
}

/// The work per key of restoring `prepared`, counted from an in-memory restore's finished tree.
pub fn count(prepared: &PreparedSnapshot) -> Result<WorkCounts> {
    let snap = &prepared.snapshot;
    let nodes = restored_nodes(snap.scheme, snap.version, snap.root, &prepared.chunks)
        .context("restoring into memory to count the work")?;
    Ok(count_work(&snap.items, &prepared.chunks, &nodes))
}

/// The primitives' costs on `prepared`, writing into a fresh store of `kind` (RocksDB under
/// `scratch`).
pub fn measure(
    prepared: &PreparedSnapshot,
    chunk_size: usize,
    kind: ModelStore,
    scratch: &std::path::Path,
) -> Result<PrimitiveCosts> {
    let snap = &prepared.snapshot;
    let nodes = restored_nodes(snap.scheme, snap.version, snap.root, &prepared.chunks)
        .context("restoring into memory to collect the nodes")?;
    let data = CostData {
        scheme: snap.scheme,
        version: snap.version,
        items: &snap.items,
        nodes: &nodes,
        chunk_size,
    };
    Ok(match kind {
        ModelStore::Rocksdb => {
            let dir = tempfile::tempdir_in(scratch).context("creating a scratch directory")?;
            let rocks = RocksStore::open(dir.path().join("db"), RocksStoreOptions::default())?;
            measure_costs(&data, &rocks, &rocks, &mut Clock)?
        }
        ModelStore::Mem => {
            let mem = MemStore::new();
            measure_costs(&data, &mem, &mem, &mut Clock)?
        }
    })
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
    println!(
        "{store}: per key hash {:.0} ns + write {:.0} ns → serial {:.0} keys/s, overlapped (max) {:.0} keys/s",
        m.hash_secs_per_key * 1e9,
        m.write_secs_per_key * 1e9,
        m.serial_keys_per_sec,
        m.overlapped_keys_per_sec,
    );
}
