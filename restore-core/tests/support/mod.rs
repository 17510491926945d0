//! Helpers shared by the restore acceptance tests: runtimes and options, stores, feeding chunks,
//! cutting chunks by hand, proptest strategies, and the final-state assertions.
//!
//! The assertions only read through the store traits and compare with the snapshot and its
//! reference tree ([`restore_core::reference`]), never with anything the restore computed.

// Every test binary compiles this module but uses a different part of it.
#![allow(dead_code)]

pub mod jmt_hasher;

use std::ops::Range;
use std::sync::Arc;

use proptest::prelude::*;
use restore_core::audit::check_final_state;
use restore_core::node::{LeafNode, Node, NodeKey};
use restore_core::reference::ReferenceTree;
use restore_core::runtime::{InlineRuntime, Runtime, ThreadRuntime};
use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
use restore_core::store::{KvStore, RocksStore, RocksStoreOptions, TreeStore};
use restore_core::strategy::{CommitMode, CommitStrategy, RestoreMode};
use restore_core::{
    Chunk, ChunkIndex, HashScheme, HashValue, KeyHash, RestoreError, Snapshot, StateItem, Usage,
    Version,
};

// ----- runtimes and options -------------------------------------------------------------------

/// Which [`Runtime`] a restore runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rt {
    Inline,
    Thread,
}

impl Rt {
    pub const ALL: [Rt; 2] = [Rt::Inline, Rt::Thread];

    pub fn make(self) -> Arc<dyn Runtime> {
        match self {
            Rt::Inline => Arc::new(InlineRuntime),
            Rt::Thread => Arc::new(ThreadRuntime::new()),
        }
    }
}

pub const COMMIT_MODES: [CommitMode; 2] = [CommitMode::Sync, CommitMode::Async];

/// Every strategy with every commit mode: the 12 combinations.
pub fn all_combos() -> Vec<(CommitStrategy, CommitMode)> {
    CommitStrategy::ALL
        .into_iter()
        .flat_map(|s| COMMIT_MODES.map(|m| (s, m)))
        .collect()
}

/// Options for `strategy` with an explicit commit mode (`None`: the strategy's own).
pub fn options(
    strategy: CommitStrategy,
    commit: Option<CommitMode>,
    mode: RestoreMode,
    scheme: HashScheme,
) -> RestoreOptions {
    let mut o = RestoreOptions::new(strategy);
    o.commit = commit;
    o.mode = mode;
    o.scheme = scheme;
    o
}

/// Default-mode options for a snapshot's scheme.
pub fn default_options(
    strategy: CommitStrategy,
    commit: Option<CommitMode>,
    snap: &Snapshot,
) -> RestoreOptions {
    options(strategy, commit, RestoreMode::Default, snap.scheme)
}

// ----- stores ---------------------------------------------------------------------------------

/// Small memtables keep many short-lived test databases cheap.
pub fn small_rocks_options() -> RocksStoreOptions {
    RocksStoreOptions {
        write_buffer_size: 1 << 20,
        ..RocksStoreOptions::default()
    }
}

/// Opens (or reopens) the RocksDB store under `dir`.
pub fn open_rocks(dir: &std::path::Path) -> RocksStore {
    RocksStore::open(dir.join("db"), small_rocks_options()).expect("open rocks store")
}

// ----- driving a restore ----------------------------------------------------------------------

/// Opens a restore of `snap` whose two sides live in the same store.
pub fn open_restore<S>(
    store: &Arc<S>,
    rt: Arc<dyn Runtime>,
    snap: &Snapshot,
    opts: RestoreOptions,
) -> Result<SnapshotRestore, RestoreError>
where
    S: TreeStore + KvStore + 'static,
{
    SnapshotRestore::open(
        Arc::clone(store) as Arc<dyn TreeStore>,
        Arc::clone(store) as Arc<dyn KvStore>,
        rt,
        snap.version,
        snap.root,
        opts,
    )
}

/// Feeds `chunks` in order; on failure returns the position of the failing chunk and the error.
pub fn feed(r: &mut SnapshotRestore, chunks: &[Chunk]) -> Result<(), (usize, RestoreError)> {
    for (i, c) in chunks.iter().enumerate() {
        r.add_chunk(c).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// A whole restore: open, feed every chunk, finish, drop. Panics with context on any error.
pub fn restore_all<S>(
    store: &Arc<S>,
    rt: Arc<dyn Runtime>,
    snap: &Snapshot,
    chunks: &[Chunk],
    opts: RestoreOptions,
) where
    S: TreeStore + KvStore + 'static,
{
    let mut r = open_restore(store, rt, snap, opts).unwrap_or_else(|e| panic!("open: {e}"));
    if let Err((i, e)) = feed(&mut r, chunks) {
        panic!("{opts:?}: chunk {i} of {} failed: {e}", chunks.len());
    }
    r.finish()
        .unwrap_or_else(|e| panic!("{opts:?}: finish: {e}"));
}

// ----- building chunks by hand ----------------------------------------------------------------

/// The chunk of `snap.items[range]` with the range proof of its last key from `tree`.
pub fn chunk_of(snap: &Snapshot, tree: &ReferenceTree, range: Range<usize>, index: usize) -> Chunk {
    let items = snap.items[range].to_vec();
    let last = items
        .last()
        .expect("a chunk has at least one item")
        .key_hash;
    Chunk {
        index: ChunkIndex(index),
        items,
        proof: tree.range_proof(&last).expect("snapshot key in its tree"),
    }
}

/// `snap.items[start..]` cut into chunks of `sizes` (cycled; the last cut to fit), each with
/// its own proof.
pub fn chunks_from(
    snap: &Snapshot,
    tree: &ReferenceTree,
    start: usize,
    sizes: &[usize],
) -> Vec<Chunk> {
    assert!(sizes.iter().all(|&s| s > 0), "sizes must be positive");
    let mut out = Vec::new();
    let mut at = start;
    let mut i = 0;
    while at < snap.items.len() {
        let end = (at + sizes[i % sizes.len()]).min(snap.items.len());
        out.push(chunk_of(snap, tree, at..end, out.len()));
        at = end;
        i += 1;
    }
    out
}

/// Chunk sizes the way a backup cuts by bytes: a record is `u32` length ‖ key ‖ value, and a
/// chunk is cut when the next record would push it past `budget` (a record larger than the
/// budget forms a chunk of its own).
pub fn byte_budget_sizes(items: &[StateItem], budget: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let (mut count, mut bytes) = (0usize, 0usize);
    for item in items {
        let record = 4 + item.key.len() + item.value.len();
        if count > 0 && bytes + record > budget {
            sizes.push(count);
            (count, bytes) = (0, 0);
        }
        count += 1;
        bytes += record;
    }
    if count > 0 {
        sizes.push(count);
    }
    sizes
}

/// Index of the first snapshot item whose key hash is above `resume` (0 for `None`).
pub fn first_item_after(snap: &Snapshot, resume: Option<KeyHash>) -> usize {
    match resume {
        None => 0,
        Some(r) => snap.items.partition_point(|i| i.key_hash <= r),
    }
}

// ----- final-state assertions -----------------------------------------------------------------

/// The leaf for `key` found by walking down from the root of `version` one nibble at a time (the
/// test's own `get_with_proof` without the proof).
pub fn lookup(tree: &dyn TreeStore, version: Version, key: &KeyHash) -> Option<LeafNode> {
    let mut at = NodeKey::root(version);
    for depth in 0..=64 {
        match tree.get_node(&at).expect("store read")? {
            Node::Null => return None,
            Node::Leaf(l) => return (l.account_key == *key).then_some(l),
            Node::Internal(n) => {
                assert!(depth < 64, "internal node at the deepest level");
                let nibble = key.nibble(depth);
                n.child(nibble)?;
                at = at.child(nibble);
            }
        }
    }
    None
}

/// Usage recomputed from stored rows, counting bytes here rather than through `Usage::of`.
pub fn usage_of_rows(rows: &[StateItem]) -> Usage {
    Usage {
        items: rows.len() as u64,
        bytes: rows
            .iter()
            .map(|r| (r.key.len() + r.value.len()) as u64)
            .sum(),
    }
}

/// Everything a finished restore of `snap` must satisfy (Aptos `assert_success` plus ours):
/// * the root node exists and hashes to the reference root (and the snapshot's recorded root is
///   that reference root);
/// * the root's leaf count equals the number of items;
/// * every key is found by walking the tree and carries H(value);
/// * KV rows equal the snapshot items byte for byte;
/// * the recorded usage equals the usage recomputed from the KV rows;
/// * the audit ([`check_final_state`]) passes.
pub fn assert_restored(tree: &dyn TreeStore, kv: &dyn KvStore, snap: &Snapshot, ctx: &str) {
    let reference_root = snap.reference_tree().root();
    assert_eq!(
        snap.root, reference_root,
        "{ctx}: snapshot root is not the reference root"
    );
    let root = tree
        .get_node(&NodeKey::root(snap.version))
        .expect("store read")
        .unwrap_or_else(|| panic!("{ctx}: no root node at {}", snap.version));
    assert_eq!(root.hash(snap.scheme), reference_root, "{ctx}: root hash");
    assert_eq!(
        root.leaf_count(),
        snap.items.len() as u64,
        "{ctx}: root leaf count"
    );
    for item in &snap.items {
        let leaf = lookup(tree, snap.version, &item.key_hash)
            .unwrap_or_else(|| panic!("{ctx}: {:?} not found in the tree", item.key_hash));
        assert_eq!(
            leaf.value_hash,
            HashValue::sha3(&item.value),
            "{ctx}: value hash of {:?}",
            item.key_hash
        );
        assert_eq!(leaf.version, snap.version, "{ctx}: leaf version");
    }
    let rows = kv.kv_rows(snap.version).expect("store read");
    assert_eq!(rows.len(), snap.items.len(), "{ctx}: KV row count");
    for (row, item) in rows.iter().zip(&snap.items) {
        assert!(
            row.key_hash == item.key_hash && row.key == item.key && row.value == item.value,
            "{ctx}: KV row {:?} differs from the snapshot",
            item.key_hash
        );
    }
    let usage = kv.get_usage(snap.version).expect("store read");
    assert_eq!(usage, Some(usage_of_rows(&rows)), "{ctx}: usage");
    if let Err(e) = check_final_state(tree, kv, snap) {
        panic!("{ctx}: audit: {e}");
    }
}

// ----- proptest strategies --------------------------------------------------------------------

/// `cases` cases; failures are saved next to the test file (`<test>.proptest-regressions`),
/// since the default lookup for `lib.rs` finds nothing from an integration test.
pub fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

/// All four key layouts; shared prefixes of 1..=20 nibbles.
pub fn arb_layout() -> impl Strategy<Value = KeyLayout> {
    prop_oneof![
        Just(KeyLayout::Random),
        (1usize..=20).prop_map(|nibbles| KeyLayout::SharedPrefix { nibbles }),
        (1usize..=8, 1usize..=20)
            .prop_map(|(clusters, nibbles)| KeyLayout::Clustered { clusters, nibbles }),
        Just(KeyLayout::Adjacent),
    ]
}

/// Value length bounds, including all-empty values and ranges that start at zero.
pub fn arb_value_len() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![
        1 => Just((0, 0)),
        3 => (0usize..=2, 0usize..=300),
        1 => (100usize..=600, 100usize..=600),
    ]
}

pub fn arb_spec(keys: Range<usize>) -> impl Strategy<Value = SnapshotSpec> {
    (
        any::<u64>(),
        keys,
        arb_value_len(),
        0usize..=40,
        arb_layout(),
    )
        .prop_map(|(seed, keys, value_len, key_len, layout)| SnapshotSpec {
            seed,
            keys,
            value_len,
            key_len: (key_len / 2, key_len),
            layout,
        })
}

/// Every chunking policy the tests ask for: Random, OneKey, Whole and explicit Sizes.
pub fn arb_chunking(max_chunk: usize) -> impl Strategy<Value = Chunking> {
    prop_oneof![
        3 => (any::<u64>(), 1..=max_chunk, 1..=max_chunk)
            .prop_map(|(seed, min, max)| Chunking::Random { seed, min, max }),
        1 => Just(Chunking::OneKey),
        1 => Just(Chunking::Whole),
        2 => proptest::collection::vec(0..=max_chunk, 1..6).prop_map(Chunking::Sizes),
    ]
}

pub fn arb_strategy() -> impl Strategy<Value = CommitStrategy> {
    proptest::sample::select(CommitStrategy::ALL.to_vec())
}

pub fn arb_commit() -> impl Strategy<Value = CommitMode> {
    proptest::sample::select(COMMIT_MODES.to_vec())
}

pub fn arb_rt() -> impl Strategy<Value = Rt> {
    proptest::sample::select(Rt::ALL.to_vec())
}

/// A short description of a snapshot for failure messages.
pub fn describe(snap: &Snapshot, spec: &SnapshotSpec) -> String {
    format!(
        "{} items, layout {:?}, values {:?}, seed {}",
        snap.items.len(),
        spec.layout,
        spec.value_len,
        spec.seed
    )
}
