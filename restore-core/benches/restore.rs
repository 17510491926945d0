//! Restore throughput (keys/s) of every commit strategy on identical data, plus the `jmt`
//! crate's own restore as a peer and the primitives of the limit model.
//!
//! ```sh
//! cargo bench -p restore-core --bench restore                      # 1,000,000 keys
//! RESTORE_SIM_BENCH_QUICK=1 cargo bench -p restore-core --bench restore   # 20,000 keys (CI)
//! cargo bench -p restore-core --bench restore -- 'restore/mem'     # a filter
//! RESTORE_SIM_LAYOUT=one RESTORE_SIM_SYNC=relaxed cargo bench -p restore-core --bench restore
//! ```
//!
//! Environment:
//! * `RESTORE_SIM_BENCH_QUICK=1` — 20,000 keys instead of 1,000,000;
//! * `RESTORE_SIM_LAYOUT` — the RocksDB store's layout: `one`, `split` or `aptos` (default
//!   `aptos`, as the CLI: what an Aptos node runs);
//! * `RESTORE_SIM_SYNC` — its sync policy: `always`, `relaxed` or `barrier` (default `always`).
//!
//! Both apply to every RocksDB store the benches open (restores and the limit model's writes);
//! a bad value stops the bench with a message naming the variable. The group names carry them
//! (`restore/rocksdb-aptos-always/…`), so criterion keeps separate baselines per combination.
//!
//! Groups:
//! * `restore/{mem,rocksdb}/chunk-N/<strategy>` — a whole restore (open, every chunk, finish;
//!   RocksDB also flushes, as `restore-sim compare` does) into a fresh store per iteration.
//! * `peer-jmt/chunk-N/{ours-pipelined,ours-join-async,jmt-crate}` — under `HashScheme::Jmt`:
//!   our restore into a `MemStore` vs `jmt::restore::JellyfishMerkleRestore` into jmt's
//!   `MockTreeStore`, on the same key hashes and values, with proofs from a jmt tree.
//! * `limits/...` — the model's primitives; the model itself is printed after the groups.
//!
//! The snapshot and its chunks (and jmt's proofs) are generated once, outside the measurement.

#[path = "../tests/support/jmt_hasher.rs"]
mod jmt_hasher;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use jmt::JellyfishMerkleTree;
use jmt::mock::MockTreeStore;
use jmt::restore::{JellyfishMerkleRestore, StateSnapshotReceiver};
use restore_core::limits::{
    CostData, LimitModel, Stopwatch, count_fsyncs_per_chunk, count_work, hash_internal_chain,
    measure_costs, measure_fsync, restored_nodes, write_kv_rows, write_nodes,
};
use restore_core::node::{Node, NodeKey};
use restore_core::real::{PreparedSnapshot, RealRestoreConfig, restore_into_rocksdb};
use restore_core::runtime::ThreadRuntime;
use restore_core::snapshot::{Chunking, SnapshotSpec};
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
use restore_core::store::{
    Layout, MemStore, RocksStore, RocksStoreOptions, StoreResult, SyncPolicy,
};
use restore_core::strategy::CommitStrategy;
use restore_core::{Chunk, HashScheme, Snapshot, Version};

use jmt_hasher::Sha3;

const QUICK_ENV: &str = "RESTORE_SIM_BENCH_QUICK";
const LAYOUT_ENV: &str = "RESTORE_SIM_LAYOUT";
const SYNC_ENV: &str = "RESTORE_SIM_SYNC";

/// `name`'s value parsed, or `default` when unset; a bad value stops the bench.
fn env_or<T: std::str::FromStr<Err = String>>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|e| panic!("{name}: {e}")),
        Err(_) => default,
    }
}

/// The RocksDB options every store of the bench uses (see the module docs).
fn rocks_options() -> RocksStoreOptions {
    RocksStoreOptions::with(
        env_or(LAYOUT_ENV, Layout::Aptos),
        env_or(SYNC_ENV, SyncPolicy::Always),
    )
}

/// `rocksdb-<layout>-<sync>`: the store's name in group ids.
fn rocks_label() -> String {
    let o = rocks_options();
    format!("rocksdb-{}-{}", o.layout, o.sync)
}

struct Sizes {
    keys: usize,
    chunk_sizes: [usize; 2],
}

fn sizes() -> Sizes {
    if std::env::var(QUICK_ENV).is_ok_and(|v| v == "1") {
        Sizes {
            keys: 20_000,
            chunk_sizes: [4_000, 10_000],
        }
    } else {
        Sizes {
            keys: 1_000_000,
            chunk_sizes: [4_000, 100_000],
        }
    }
}

fn spec(keys: usize) -> SnapshotSpec {
    SnapshotSpec {
        seed: 1,
        keys,
        ..SnapshotSpec::default()
    }
}

const VERSION: Version = Version(1);

fn config(
    dir: std::path::PathBuf,
    strategy: CommitStrategy,
    keys: usize,
    chunk: usize,
) -> RealRestoreConfig {
    RealRestoreConfig {
        dir,
        spec: spec(keys),
        chunk_size: chunk,
        version: VERSION,
        scheme: HashScheme::Aptos,
        strategy,
        commit: None,
        rocks: rocks_options(),
    }
}

/// A whole restore into a fresh in-memory store on real threads; returns the store so that
/// dropping it is not measured.
fn restore_mem(snap: &Snapshot, chunks: &[Arc<Chunk>], strategy: CommitStrategy) -> Arc<MemStore> {
    let store = Arc::new(MemStore::new());
    let mut options = RestoreOptions::new(strategy);
    options.scheme = snap.scheme;
    let mut r = SnapshotRestore::open(
        store.clone(),
        store.clone(),
        Arc::new(ThreadRuntime::new()),
        snap.version,
        snap.root,
        options,
    )
    .expect("open");
    for c in chunks {
        r.add_shared_chunk(c).expect("add_chunk");
    }
    r.finish().expect("finish");
    drop(r);
    store
}

fn bench_strategies(c: &mut Criterion, sz: &Sizes, snap: &Snapshot) {
    for &chunk in &sz.chunk_sizes {
        let chunks = snap.chunks(&Chunking::Fixed(chunk));
        let prepared = PreparedSnapshot::new(snap.clone(), chunks);
        let rocks = rocks_label();
        for store in ["mem", rocks.as_str()] {
            let mut g = c.benchmark_group(format!("restore/{store}/chunk-{chunk}"));
            g.sample_size(10);
            g.throughput(Throughput::Elements(snap.items.len() as u64));
            for strategy in CommitStrategy::ALL {
                let id = BenchmarkId::from_parameter(strategy.name());
                match store {
                    "mem" => g.bench_function(id, |b| {
                        b.iter_with_large_drop(|| restore_mem(snap, &prepared.chunks, strategy))
                    }),
                    _ => g.bench_function(id, |b| {
                        b.iter_batched(
                            || tempfile::tempdir().expect("tempdir"),
                            |dir| {
                                let cfg = config(dir.path().join("r"), strategy, sz.keys, chunk);
                                restore_into_rocksdb(&cfg, &prepared, &mut |_, _| {})
                                    .expect("restore");
                                dir
                            },
                            BatchSize::PerIteration,
                        )
                    }),
                };
            }
            g.finish();
        }
    }
}

type JmtTree<'a> = JellyfishMerkleTree<'a, MockTreeStore, Sha3>;
type JmtChunk = (
    Vec<(jmt::KeyHash, Vec<u8>)>,
    jmt::proof::SparseMerkleRangeProof<Sha3>,
);

/// A jmt tree (in jmt's mock store, version 0) of the same key hashes and values.
fn jmt_tree_store(snap: &Snapshot) -> (MockTreeStore, [u8; 32]) {
    let store = MockTreeStore::default();
    let values = snap
        .items
        .iter()
        .map(|i| (jmt::KeyHash(i.key_hash.0), Some(i.value.clone())));
    let (root, batch) = JmtTree::new(&store)
        .put_value_set(values, 0)
        .expect("jmt put_value_set");
    store.write_tree_update_batch(batch).expect("mock write");
    assert_eq!(
        root.0, snap.root.0,
        "jmt and our reference agree on the root"
    );
    (store, root.0)
}

/// jmt's chunks: the same items, each chunk with jmt's range proof of its last key.
fn jmt_chunks(store: &MockTreeStore, chunks: &[Chunk]) -> Vec<JmtChunk> {
    let tree = JmtTree::new(store);
    chunks
        .iter()
        .map(|c| {
            let items = c
                .items
                .iter()
                .map(|i| (jmt::KeyHash(i.key_hash.0), i.value.clone()))
                .collect();
            let last = jmt::KeyHash(c.last_key().expect("non-empty chunk").0);
            (
                items,
                tree.get_range_proof(last, 0).expect("jmt range proof"),
            )
        })
        .collect()
}

fn restore_jmt(root: [u8; 32], chunks: Vec<JmtChunk>) -> Arc<MockTreeStore> {
    let store = Arc::new(MockTreeStore::default());
    let mut r = JellyfishMerkleRestore::<Sha3>::new(Arc::clone(&store), 0, jmt::RootHash(root))
        .expect("jmt restore");
    for (items, proof) in chunks {
        r.add_chunk(items, proof).expect("jmt add_chunk");
    }
    r.finish().expect("jmt finish");
    store
}

fn bench_jmt_peer(c: &mut Criterion, sz: &Sizes) {
    let snap = Snapshot::generate(&spec(sz.keys), VERSION, HashScheme::Jmt);
    let (jmt_store, root) = jmt_tree_store(&snap);
    for &chunk in &sz.chunk_sizes {
        let chunks = snap.chunks(&Chunking::Fixed(chunk));
        let theirs = jmt_chunks(&jmt_store, &chunks);
        let chunks: Vec<Arc<Chunk>> = chunks.into_iter().map(Arc::new).collect();
        let mut g = c.benchmark_group(format!("peer-jmt/chunk-{chunk}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(snap.items.len() as u64));
        for strategy in [CommitStrategy::Pipelined, CommitStrategy::JoinAsync] {
            g.bench_function(format!("ours-{}", strategy.name()), |b| {
                b.iter_with_large_drop(|| restore_mem(&snap, &chunks, strategy))
            });
        }
        g.bench_function("jmt-crate", |b| {
            b.iter_batched(
                || theirs.clone(),
                |chunks| restore_jmt(root, chunks),
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

struct Clock;

impl Stopwatch for Clock {
    fn seconds(&mut self, work: &mut dyn FnMut() -> StoreResult<()>) -> StoreResult<f64> {
        let t = Instant::now();
        work()?;
        Ok(t.elapsed().as_secs_f64())
    }
}

fn nodes_of(snap: &Snapshot, chunks: &[Chunk]) -> Vec<(NodeKey, Node)> {
    restored_nodes(snap.scheme, snap.version, snap.root, chunks).expect("restore for counting")
}

fn bench_limits(c: &mut Criterion, sz: &Sizes, snap: &Snapshot) {
    let mut g = c.benchmark_group("limits");
    g.sample_size(10);
    const HASHES: u64 = 100_000;
    g.throughput(Throughput::Elements(HASHES));
    g.bench_function("sha3-internal-64B", |b| {
        b.iter(|| hash_internal_chain(HashScheme::Aptos, HASHES))
    });
    g.throughput(Throughput::Elements(snap.items.len() as u64));
    g.bench_function("value-hash", |b| {
        b.iter(|| restore_core::limits::hash_values(&snap.items))
    });
    for &chunk in &sz.chunk_sizes {
        let chunks = snap.chunks(&Chunking::Fixed(chunk));
        let nodes = nodes_of(snap, &chunks);
        let per_batch = (nodes.len() * chunk).div_ceil(snap.items.len());
        g.throughput(Throughput::Elements(snap.items.len() as u64));
        let rocks = rocks_label();
        g.bench_function(format!("{rocks}-kv-rows/chunk-{chunk}"), |b| {
            b.iter_batched(
                fresh_rocks,
                |(dir, store)| {
                    write_kv_rows(&store, VERSION, &snap.items, chunk).expect("kv write");
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
        g.throughput(Throughput::Elements(nodes.len() as u64));
        g.bench_function(format!("{rocks}-node-rows/chunk-{chunk}"), |b| {
            b.iter_batched(
                fresh_rocks,
                |(dir, store)| {
                    write_nodes(&store, &nodes, per_batch).expect("node write");
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn fresh_rocks() -> (tempfile::TempDir, RocksStore) {
    fresh_rocks_with(rocks_options())
}

fn fresh_rocks_with(options: RocksStoreOptions) -> (tempfile::TempDir, RocksStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RocksStore::open(dir.path().join("db"), options).expect("open");
    (dir, store)
}

/// The limit model, measured once per chunk size on the bench's own data and printed.
fn print_model(sz: &Sizes, snap: &Snapshot) {
    for &chunk in &sz.chunk_sizes {
        let chunks = snap.chunks(&Chunking::Fixed(chunk));
        let nodes = nodes_of(snap, &chunks);
        let counts = count_work(&snap.items, &chunks, &nodes);
        let options = rocks_options();
        // Row costs on relaxed writes; fsyncs as latency × count (see restore_core::limits).
        let (_dir, store) = fresh_rocks_with(RocksStoreOptions {
            sync: SyncPolicy::Relaxed,
            ..options.clone()
        });
        let data = CostData {
            scheme: snap.scheme,
            version: VERSION,
            items: &snap.items,
            nodes: &nodes,
            chunk_size: chunk,
        };
        let mut costs = measure_costs(&data, &store, &store, &mut Clock).expect("measure");
        let (_d, synced) =
            fresh_rocks_with(RocksStoreOptions::with(Layout::One, SyncPolicy::Always));
        costs.fsync = measure_fsync(&synced, &mut Clock).expect("fsync latency");
        let (_d, counting) = fresh_rocks_with(options);
        costs.fsyncs_per_chunk =
            count_fsyncs_per_chunk(Arc::new(counting), snap.scheme, VERSION, snap.root, &chunks)
                .expect("fsync count");
        let m = LimitModel::new(&counts, &costs);
        println!(
            "limit model {} chunk-{chunk}: {:.2} 64B-hashes/key, {:.3} node rows/key; \
             fsync {:.0} µs × {:.2}/chunk; hash {:.0} ns/key, write {:.0} ns/key (fsync {:.0}); \
             serial {:.0} keys/s, overlapped {:.0} keys/s",
            rocks_label(),
            counts.fixed_hashes_per_key(),
            counts.node_rows_per_key(),
            costs.fsync * 1e6,
            costs.fsyncs_per_chunk,
            m.hash_secs_per_key * 1e9,
            m.write_secs_per_key * 1e9,
            m.fsync_secs_per_key * 1e9,
            m.serial_keys_per_sec,
            m.overlapped_keys_per_sec
        );
    }
}

fn main() {
    let sz = sizes();
    let snap = Snapshot::generate(&spec(sz.keys), VERSION, HashScheme::Aptos);
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1));
    bench_strategies(&mut c, &sz, &snap);
    bench_jmt_peer(&mut c, &sz);
    bench_limits(&mut c, &sz, &snap);
    print_model(&sz, &snap);
    c.final_summary();
}
