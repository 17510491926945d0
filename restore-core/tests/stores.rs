//! Behaviour both stores must share, written once over the traits and run on each store.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use proptest::prelude::*;
use restore_core::hash::{HashScheme, HashValue};
use restore_core::nibble::{NibblePath, ROOT_NIBBLE_HEIGHT};
use restore_core::node::{
    Child, ChildKind, InternalNode, LeafNode, Node, NodeBatch, NodeKey, NodeShard,
};
use restore_core::store::{
    DbId, KvStore, Layout, MemContents, MemStore, RocksStore, RocksStoreOptions, StoreError,
    StoreResult, SyncPolicy, TreeStore, rightmost_leaf_naive,
};
use restore_core::types::{Progress, StateItem, Usage, Version};
use tempfile::TempDir;

// ----- store factories ------------------------------------------------------------------------

/// A RocksDB store in a fresh directory; the directory lives as long as the returned guard.
fn rocks() -> (TempDir, RocksStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RocksStore::open(dir.path().join("db"), small_rocks_options()).expect("open");
    (dir, store)
}

/// Small memtables keep many short-lived test databases cheap.
fn small_rocks_options() -> RocksStoreOptions {
    RocksStoreOptions {
        write_buffer_size: 1 << 20,
        ..RocksStoreOptions::default()
    }
}

// ----- node builders --------------------------------------------------------------------------

fn leaf_node(key: HashValue, version: Version) -> Node {
    Node::Leaf(LeafNode {
        account_key: key,
        value_hash: HashValue::sha3(&key.0),
        version,
    })
}

/// Any valid internal node; its contents do not matter to where it is stored.
fn filler_internal(version: Version) -> Node {
    let mut c: [Option<Child>; 16] = Default::default();
    for (i, byte) in [(2usize, 1u8), (9, 2)] {
        c[i] = Some(Child {
            hash: HashValue([byte; 32]),
            version,
            kind: ChildKind::Leaf,
        });
    }
    Node::Internal(InternalNode::new(c).expect("two leaf children"))
}

/// The real JMT over sorted, distinct `keys`, in post-order (children before parents), which is
/// the order restore freezes nodes in.
fn build_tree(version: Version, keys: &[HashValue]) -> Vec<(NodeKey, Node)> {
    let mut out = Vec::new();
    if !keys.is_empty() {
        build_subtree(version, NibblePath::EMPTY, keys, &mut out);
    }
    out
}

fn build_subtree(
    version: Version,
    path: NibblePath,
    keys: &[HashValue],
    out: &mut Vec<(NodeKey, Node)>,
) -> Child {
    let key = NodeKey::new(version, path);
    if let [only] = keys {
        let node = leaf_node(*only, version);
        let child = Child {
            hash: node.hash(HashScheme::Aptos),
            version,
            kind: ChildKind::Leaf,
        };
        out.push((key, node));
        return child;
    }
    let depth = path.len();
    let mut children: [Option<Child>; 16] = Default::default();
    for nibble in 0u8..16 {
        let group: Vec<HashValue> = keys
            .iter()
            .copied()
            .filter(|k| k.nibble(depth) == nibble)
            .collect();
        if !group.is_empty() {
            children[nibble as usize] =
                Some(build_subtree(version, path.child(nibble), &group, out));
        }
    }
    let node = InternalNode::new(children).expect("at least two leaves below");
    let child = Child {
        hash: node.hash(HashScheme::Aptos),
        version,
        kind: ChildKind::Internal {
            leaf_count: node.leaf_count(),
        },
    };
    out.push((key, Node::Internal(node)));
    child
}

/// Random node sets that satisfy what restore guarantees on disk: every stored internal node
/// has a stored leaf below it. (Arbitrary sets break that and the per-depth search with it.)
#[derive(Clone, Debug)]
enum NodeSetSpec {
    /// A real tree's post-order prefix of length `cut`, with some internal nodes dropped.
    TreePrefix {
        keys: Vec<[u8; 32]>,
        cut: usize,
        drop_internal: Vec<bool>,
    },
    /// Leaves at random depths (their key's prefix) plus internal nodes at ancestors of them.
    Scattered {
        leaves: Vec<([u8; 32], usize)>,
        ancestors: Vec<(usize, usize)>,
    },
}

fn realize(version: Version, spec: &NodeSetSpec) -> BTreeMap<NodeKey, Node> {
    let mut set = BTreeMap::new();
    match spec {
        NodeSetSpec::TreePrefix {
            keys,
            cut,
            drop_internal,
        } => {
            let mut keys: Vec<HashValue> = keys.iter().copied().map(HashValue).collect();
            keys.sort();
            keys.dedup();
            let nodes = build_tree(version, &keys);
            let cut = (*cut).min(nodes.len());
            for (i, (k, n)) in nodes.into_iter().take(cut).enumerate() {
                let dropped = matches!(n, Node::Internal(_))
                    && drop_internal.get(i % drop_internal.len().max(1)) == Some(&true);
                if !dropped {
                    set.insert(k, n);
                }
            }
        }
        NodeSetSpec::Scattered { leaves, ancestors } => {
            let mut seen_keys = std::collections::BTreeSet::new();
            let mut leaf_paths = Vec::new();
            for (key, depth) in leaves {
                let key = HashValue(*key);
                let path = NibblePath::prefix_of(&key, *depth);
                let node_key = NodeKey::new(version, path);
                if seen_keys.insert(key) && !set.contains_key(&node_key) {
                    set.insert(node_key, leaf_node(key, version));
                    leaf_paths.push(path);
                }
            }
            for (which, cut) in ancestors {
                let Some(path) = leaf_paths.get(which % leaf_paths.len().max(1)) else {
                    continue;
                };
                if path.is_empty() {
                    continue;
                }
                let node_key = NodeKey::new(version, path.truncate(cut % path.len()));
                set.entry(node_key)
                    .or_insert_with(|| filler_internal(version));
            }
        }
    }
    set
}

fn arb_spec() -> impl Strategy<Value = NodeSetSpec> {
    // Keys sharing long prefixes make deep chains; mix them with uniform keys.
    let key = prop_oneof![
        any::<[u8; 32]>(),
        (any::<[u8; 32]>(), 1usize..31).prop_map(|(mut k, n)| {
            k[..n].fill(0xAB);
            k
        }),
    ];
    let prefix = (
        proptest::collection::vec(key.clone(), 0..40),
        0usize..100,
        proptest::collection::vec(any::<bool>(), 0..8),
    )
        .prop_map(|(keys, cut, drop_internal)| NodeSetSpec::TreePrefix {
            keys,
            cut,
            drop_internal,
        });
    let scattered = (
        proptest::collection::vec((key, 0..=ROOT_NIBBLE_HEIGHT), 0..30),
        proptest::collection::vec((any::<usize>(), any::<usize>()), 0..30),
    )
        .prop_map(|(leaves, ancestors)| NodeSetSpec::Scattered { leaves, ancestors });
    prop_oneof![prefix, scattered]
}

/// Node sets at versions 1, 2 and 5, so version isolation is exercised on every case.
fn arb_versioned_specs() -> impl Strategy<Value = Vec<(Version, NodeSetSpec)>> {
    (arb_spec(), arb_spec(), arb_spec())
        .prop_map(|(a, b, c)| vec![(Version(1), a), (Version(2), b), (Version(5), c)])
}

// ----- shared checks --------------------------------------------------------------------------

fn write_all<S: TreeStore + ?Sized>(store: &S, nodes: &BTreeMap<NodeKey, Node>) {
    let batch: NodeBatch = nodes.iter().map(|(k, n)| (*k, n.clone())).collect();
    store.write_node_batch(&batch).expect("write batch");
}

fn check_rightmost_matches_naive<S: TreeStore + ?Sized>(
    store: &S,
    specs: &[(Version, NodeSetSpec)],
) -> Result<(), TestCaseError> {
    let mut model = BTreeMap::new();
    for (version, spec) in specs {
        let nodes = realize(*version, spec);
        write_all(store, &nodes);
        model.extend(nodes);
    }
    for version in [0, 1, 2, 3, 5, u64::MAX].map(Version) {
        let fast = store.rightmost_leaf(version).expect("rightmost");
        let naive = rightmost_leaf_naive(store, version).expect("naive");
        prop_assert_eq!(fast, naive, "version {}", version);
        // The naive oracle reads through the store, so also pin it to the model.
        let expected = model
            .iter()
            .filter(|(k, _)| k.version == version)
            .filter_map(|(k, n)| n.as_leaf().map(|l| (*k, *l)))
            .max_by_key(|(_, l)| l.account_key);
        prop_assert_eq!(fast, expected, "model, version {}", version);
        let stored: Vec<(NodeKey, Node)> = model
            .iter()
            .filter(|(k, _)| k.version == version)
            .map(|(k, n)| (*k, n.clone()))
            .collect();
        prop_assert_eq!(store.nodes_at(version).expect("nodes_at"), stored);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn mem_rightmost_leaf_matches_naive(specs in arb_versioned_specs()) {
        check_rightmost_matches_naive(&MemStore::new(), &specs)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn rocks_rightmost_leaf_matches_naive(specs in arb_versioned_specs()) {
        let (_dir, store) = rocks();
        check_rightmost_matches_naive(&store, &specs)?;
    }
}

/// Aptos's rightmost-leaf test: a max-key leaf at a neighbouring version must not leak into V.
fn check_neighbour_version_leaf_is_invisible<S: TreeStore + ?Sized>(store: &S) {
    let v = Version(10);
    let max_leaf = |version| leaf_node(HashValue::MAX, version);
    let planted = [
        (
            NodeKey::new(Version(9), NibblePath::prefix_of(&HashValue::MAX, 1)),
            max_leaf(Version(9)),
        ),
        (
            NodeKey::new(Version(11), NibblePath::prefix_of(&HashValue::MAX, 64)),
            max_leaf(Version(11)),
        ),
        (NodeKey::root(Version(11)), max_leaf(Version(11))),
    ];
    store.write_node_batch(&planted.to_vec()).expect("plant");
    assert_eq!(store.rightmost_leaf(v).expect("rightmost"), None);
    assert!(
        store
            .rightmost_leaf(Version(11))
            .expect("rightmost")
            .is_some()
    );

    let mut keys: Vec<HashValue> = (0u8..40).map(|i| HashValue::sha3(&[i])).collect();
    keys.sort();
    let nodes = build_tree(v, &keys);
    store.write_node_batch(&nodes).expect("tree");
    let fast = store.rightmost_leaf(v).expect("rightmost");
    assert_eq!(fast, rightmost_leaf_naive(store, v).expect("naive"));
    assert_eq!(fast.map(|(_, l)| l.account_key), keys.last().copied());
}

#[test]
fn mem_neighbour_version_leaf_is_invisible() {
    check_neighbour_version_leaf_is_invisible(&MemStore::new());
}

#[test]
fn rocks_neighbour_version_leaf_is_invisible() {
    let (_dir, store) = rocks();
    check_neighbour_version_leaf_is_invisible(&store);
}

// ----- shard ordering -------------------------------------------------------------------------

/// Forwards to an inner store, recording each shard write and failing at `fail_at` if set.
struct RecordingStore<'a, S: TreeStore> {
    inner: &'a S,
    calls: Mutex<Vec<(NodeShard, Vec<NodeKey>)>>,
    fail_at: Option<NodeShard>,
}

impl<S: TreeStore> TreeStore for RecordingStore<'_, S> {
    fn write_node_shard(&self, shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()> {
        self.calls
            .lock()
            .push((shard, nodes.iter().map(|(k, _)| *k).collect()));
        if self.fail_at == Some(shard) {
            return Err(StoreError::Fault(format!("{shard:?}")));
        }
        self.inner.write_node_shard(shard, nodes)
    }
    fn get_node(&self, key: &NodeKey) -> StoreResult<Option<Node>> {
        self.inner.get_node(key)
    }
    fn rightmost_leaf(&self, version: Version) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        self.inner.rightmost_leaf(version)
    }
    fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>> {
        self.inner.nodes_at(version)
    }
}

/// A batch over shards 0, 3, 7, 15 and the root, deliberately shuffled.
fn multi_shard_batch(version: Version) -> NodeBatch {
    let mut keys: Vec<HashValue> = (0u8..60).map(|i| HashValue::sha3(&[i, 7])).collect();
    keys.retain(|k| [0, 3, 7, 15].contains(&k.nibble(0)));
    keys.sort();
    let mut batch = build_tree(version, &keys);
    batch.reverse();
    let third = batch.len() / 3;
    batch.rotate_left(third);
    batch
}

fn check_batch_written_in_shard_order<S: TreeStore>(store: &S) {
    let v = Version(4);
    let batch = multi_shard_batch(v);
    let rec = RecordingStore {
        inner: store,
        calls: Mutex::new(Vec::new()),
        fail_at: None,
    };
    rec.write_node_batch(&batch).expect("batch");
    let calls = rec.calls.into_inner();
    let shards: Vec<NodeShard> = calls.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        shards,
        [0, 3, 7, 15]
            .map(NodeShard::Nibble)
            .into_iter()
            .chain([NodeShard::Top])
            .collect::<Vec<_>>()
    );
    for (shard, keys) in &calls {
        assert!(keys.iter().all(|k| k.shard() == *shard), "{shard:?}");
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{shard:?} not sorted");
    }
    assert_eq!(
        calls.iter().map(|(_, k)| k.len()).sum::<usize>(),
        batch.len()
    );
    assert_eq!(store.nodes_at(v).expect("nodes").len(), batch.len());
}

fn check_failed_batch_leaves_shard_prefix<S: TreeStore>(store: &S) {
    let v = Version(6);
    let batch = multi_shard_batch(v);
    let rec = RecordingStore {
        inner: store,
        calls: Mutex::new(Vec::new()),
        fail_at: Some(NodeShard::Nibble(7)),
    };
    assert!(matches!(
        rec.write_node_batch(&batch),
        Err(StoreError::Fault(_))
    ));
    let durable = store.nodes_at(v).expect("nodes");
    let expected: Vec<NodeKey> = {
        let mut k: Vec<NodeKey> = batch
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| matches!(k.shard(), NodeShard::Nibble(n) if n < 7))
            .collect();
        k.sort();
        k
    };
    assert!(!expected.is_empty());
    assert_eq!(
        durable.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        expected
    );
    // No root was written, and shard 15 was never attempted.
    assert_eq!(store.get_node(&NodeKey::root(v)).expect("get"), None);
    assert_eq!(
        rec.calls.lock().last().map(|(s, _)| *s),
        Some(NodeShard::Nibble(7))
    );
}

#[test]
fn mem_batch_written_in_shard_order() {
    check_batch_written_in_shard_order(&MemStore::new());
}

#[test]
fn rocks_batch_written_in_shard_order() {
    let (_dir, store) = rocks();
    check_batch_written_in_shard_order(&store);
}

#[test]
fn mem_failed_batch_leaves_shard_prefix() {
    check_failed_batch_leaves_shard_prefix(&MemStore::new());
}

#[test]
fn rocks_failed_batch_leaves_shard_prefix() {
    let (_dir, store) = rocks();
    check_failed_batch_leaves_shard_prefix(&store);
}

fn check_get_node_and_mislabelled_shard<S: TreeStore>(store: &S) {
    let v = Version(3);
    let nodes = build_tree(v, &[HashValue([0x10; 32]), HashValue([0x1F; 32])]);
    store.write_node_batch(&nodes).expect("write");
    for (k, n) in &nodes {
        assert_eq!(store.get_node(k).expect("get").as_ref(), Some(n));
    }
    assert_eq!(
        store.get_node(&NodeKey::root(Version(4))).expect("get"),
        None
    );
    let (leaf_key, leaf) = nodes[0].clone();
    assert!(
        store
            .write_node_shard(NodeShard::Top, &[(leaf_key, leaf)])
            .is_err()
    );
}

#[test]
fn mem_get_node_and_mislabelled_shard() {
    check_get_node_and_mislabelled_shard(&MemStore::new());
}

#[test]
fn rocks_get_node_and_mislabelled_shard() {
    let (_dir, store) = rocks();
    check_get_node_and_mislabelled_shard(&store);
}

// ----- KV side --------------------------------------------------------------------------------

fn item(i: u32) -> StateItem {
    StateItem {
        key_hash: HashValue::sha3(&i.to_le_bytes()),
        key: format!("key-{i}").into_bytes(),
        value: vec![i as u8; (i % 7) as usize],
    }
}

fn check_kv_round_trip<S: KvStore>(store: &S) {
    let v = Version(8);
    let rows: Vec<StateItem> = (0..50).map(item).collect();
    let progress = Progress {
        key_hash: rows.iter().map(|r| r.key_hash).max().expect("rows"),
        usage: Usage::of(&rows),
    };
    assert_eq!(store.get_progress(v).expect("progress"), None);
    store.write_kv_batch(v, &rows[..30], None).expect("first");
    assert_eq!(store.get_progress(v).expect("progress"), None);
    store
        .write_kv_batch(v, &rows[30..], Some(&progress))
        .expect("second");
    assert_eq!(store.get_progress(v).expect("progress"), Some(progress));
    // Progress alone (no rows) is a valid call and replaces the record.
    let later = Progress {
        key_hash: HashValue::MAX,
        usage: Usage {
            items: 51,
            bytes: 1,
        },
    };
    store
        .write_kv_batch(v, &[], Some(&later))
        .expect("progress only");
    assert_eq!(store.get_progress(v).expect("progress"), Some(later));
    assert_eq!(store.get_progress(Version(7)).expect("progress"), None);

    for r in &rows {
        assert_eq!(
            store.get_value(v, &r.key_hash).expect("get").as_ref(),
            Some(r)
        );
        assert_eq!(store.get_value(Version(9), &r.key_hash).expect("get"), None);
    }

    // Rows come back in key-hash order whatever the write order; other versions stay apart.
    let mut sorted = rows.clone();
    sorted.sort_by_key(|r| r.key_hash);
    assert_ne!(sorted, rows, "the test needs an unsorted write order");
    assert_eq!(store.kv_rows(v).expect("rows"), sorted);
    store
        .write_kv_batch(Version(9), &rows[..1], None)
        .expect("other version");
    store
        .write_kv_batch(Version(7), &rows[1..2], None)
        .expect("other version");
    assert_eq!(store.kv_rows(v).expect("rows"), sorted);
    assert_eq!(store.kv_rows(Version(9)).expect("rows"), rows[..1].to_vec());
}

fn check_usage_round_trip<S: KvStore>(store: &S) {
    assert_eq!(store.get_usage(Version(2)).expect("usage"), None);
    let usage = Usage {
        items: 12345,
        bytes: u64::MAX - 1,
    };
    store.write_usage(Version(2), &usage).expect("write");
    assert_eq!(store.get_usage(Version(2)).expect("usage"), Some(usage));
    assert_eq!(store.get_usage(Version(3)).expect("usage"), None);
    // Usage and progress share a column family in RocksDB; they must not collide.
    assert_eq!(store.get_progress(Version(2)).expect("progress"), None);
}

#[test]
fn mem_kv_round_trip() {
    check_kv_round_trip(&MemStore::new());
}

#[test]
fn rocks_kv_round_trip() {
    let (_dir, store) = rocks();
    check_kv_round_trip(&store);
}

#[test]
fn mem_usage_round_trip() {
    check_usage_round_trip(&MemStore::new());
}

#[test]
fn rocks_usage_round_trip() {
    let (_dir, store) = rocks();
    check_usage_round_trip(&store);
}

// ----- RocksDB persistence and corruption -----------------------------------------------------

/// Writes one of everything and returns what a reader should see.
fn populate<S: TreeStore + KvStore>(
    store: &S,
) -> (Vec<(NodeKey, Node)>, Vec<StateItem>, Progress, Usage) {
    let v = Version(21);
    let mut keys: Vec<HashValue> = (0u8..25).map(|i| HashValue::sha3(&[i, 1])).collect();
    keys.sort();
    let mut nodes = build_tree(v, &keys);
    store.write_node_batch(&nodes).expect("nodes");
    nodes.sort_by_key(|(k, _)| *k);
    let mut rows: Vec<StateItem> = (100..120).map(item).collect();
    let progress = Progress {
        key_hash: HashValue([0x99; 32]),
        usage: Usage::of(&rows),
    };
    store.write_kv_batch(v, &rows, Some(&progress)).expect("kv");
    rows.sort_by_key(|r| r.key_hash);
    let usage = Usage {
        items: 20,
        bytes: 400,
    };
    store.write_usage(v, &usage).expect("usage");
    (nodes, rows, progress, usage)
}

fn assert_populated<S: TreeStore + KvStore>(
    store: &S,
    (nodes, rows, progress, usage): &(Vec<(NodeKey, Node)>, Vec<StateItem>, Progress, Usage),
) {
    let v = Version(21);
    assert_eq!(&store.nodes_at(v).expect("nodes"), nodes);
    assert_eq!(&store.kv_rows(v).expect("rows"), rows);
    assert_eq!(
        store.get_progress(v).expect("progress").as_ref(),
        Some(progress)
    );
    assert_eq!(store.get_usage(v).expect("usage").as_ref(), Some(usage));
    assert_eq!(
        store.rightmost_leaf(v).expect("rightmost"),
        rightmost_leaf_naive(store, v).expect("naive")
    );
    assert!(store.rightmost_leaf(v).expect("rightmost").is_some());
}

fn check_reopen_keeps_everything(options: RocksStoreOptions) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested").join("db");
    let expected = {
        let store = RocksStore::open(&path, options.clone()).expect("open");
        populate(&store)
    };
    let store = RocksStore::open(&path, options.clone()).expect("reopen");
    assert_populated(&store, &expected);
    drop(store);
    // A third open after an explicit close, too.
    let store = RocksStore::open(&path, options).expect("reopen again");
    assert_populated(&store, &expected);
    store.close().expect("close");
}

#[test]
fn rocks_reopen_keeps_everything() {
    check_reopen_keeps_everything(small_rocks_options());
}

#[test]
fn rocks_reopen_without_wal_keeps_everything() {
    check_reopen_keeps_everything(RocksStoreOptions {
        disable_wal: true,
        sync: SyncPolicy::Relaxed,
        ..small_rocks_options()
    });
}

#[test]
fn rocks_store_is_shareable_across_threads() {
    let (_dir, store) = rocks();
    let store = Arc::new(store);
    let handles: Vec<_> = (0u32..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                store
                    .write_kv_batch(Version(1), &[item(t)], None)
                    .expect("write");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(store.kv_rows(Version(1)).expect("rows").len(), 4);
}

/// Bytes RocksDB hands back are untrusted: garbage must surface as `Corrupt`, never a panic.
#[test]
fn rocks_reports_corrupt_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let v = Version(30);
    let leaf_key = NodeKey::new(v, NibblePath::prefix_of(&HashValue([0x50; 32]), 1));
    drop(RocksStore::open(&path, small_rocks_options()).expect("create"));
    {
        let mut opts = rocksdb::Options::default();
        opts.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf(&opts, &path, ["nodes", "kv", "meta"]).expect("raw open");
        let nodes = db.cf_handle("nodes").expect("cf");
        let mut key = v.0.to_be_bytes().to_vec();
        key.extend_from_slice(&[1, 0x50]);
        db.put_cf(nodes, &key, [1, 1, 0x20, 0xFF]).expect("put");
        let meta = db.cf_handle("meta").expect("cf");
        let mut pkey = vec![b'P'];
        pkey.extend_from_slice(&v.0.to_be_bytes());
        db.put_cf(meta, &pkey, [1, 2, 3]).expect("put");
        // An undecodable key (9 bytes claiming 3 nibbles) at a later version.
        let mut bad = Version(31).0.to_be_bytes().to_vec();
        bad.push(3);
        db.put_cf(nodes, &bad, [1, 3]).expect("put");
    }
    let store = RocksStore::open(&path, small_rocks_options()).expect("reopen");
    let corrupt = |r: StoreResult<_>| matches!(r, Err(StoreError::Corrupt(_)));
    assert!(corrupt(store.get_node(&leaf_key).map(|_| ())));
    assert!(corrupt(store.rightmost_leaf(v).map(|_| ())));
    assert!(corrupt(store.nodes_at(v).map(|_| ())));
    assert!(corrupt(store.get_progress(v).map(|_| ())));
    assert!(corrupt(store.nodes_at(Version(31)).map(|_| ())));
    assert!(corrupt(store.rightmost_leaf(Version(31)).map(|_| ())));
    // Untouched versions still read fine.
    assert_eq!(store.nodes_at(Version(29)).expect("nodes"), Vec::new());
}

// ----- MemStore specifics ---------------------------------------------------------------------

#[test]
fn mem_overwrite_check_rejects_rewrites() {
    let v = Version(2);
    let mut keys: Vec<HashValue> = (0u8..20).map(|i| HashValue::sha3(&[i, 9])).collect();
    keys.sort();
    let batch = build_tree(v, &keys);

    let checked = MemStore::with_overwrite_check();
    checked.write_node_batch(&batch).expect("first write");
    let err = checked
        .write_node_batch(&batch)
        .expect_err("rewrite must fail");
    assert!(
        matches!(&err, StoreError::Backend(m) if m.contains("overwritten")),
        "{err:?}"
    );
    assert_eq!(checked.node_count(), batch.len());
    // A different version is a different key: allowed.
    checked
        .write_node_batch(&build_tree(Version(3), &keys))
        .expect("other version");

    let plain = MemStore::new();
    plain.write_node_batch(&batch).expect("first write");
    plain
        .write_node_batch(&batch)
        .expect("plain store allows rewrites");
    assert_eq!(plain.node_count(), batch.len());
}

#[test]
fn mem_deep_clone_models_a_crash() {
    let store = MemStore::with_overwrite_check();
    let expected = populate(&store);
    let at_crash = store.deep_clone();
    let frozen: MemContents = store.clone_contents();
    store
        .write_usage(Version(21), &Usage::default())
        .expect("usage");
    store
        .write_node_batch(&build_tree(
            Version(22),
            &[HashValue([0x10; 32]), HashValue([0x20; 32])],
        ))
        .expect("nodes");
    assert_populated(&at_crash, &expected);
    assert_eq!(at_crash.node_count(), expected.0.len());
    assert!(at_crash.overwrite_check());
    assert_eq!(store.node_count(), expected.0.len() + 3);
    // Putting the frozen copy back rewinds the shared store to the crash point.
    store.replace_contents(frozen.clone());
    assert_populated(&store, &expected);
    assert_eq!(
        store.get_usage(Version(21)).expect("usage"),
        Some(expected.3)
    );
    let revived = MemStore::from_contents(frozen);
    assert_populated(&revived, &expected);
    assert!(!revived.overwrite_check());
}

// ----- clearing a version (the safe overwrite) -------------------------------------------------

/// Clearing version 5 removes its nodes, rows, progress and usage, and nothing of versions 4
/// and 6 (each written with the same keys, so a clear that ignored the version would show).
fn check_clear_touches_only_its_version<S: TreeStore + KvStore>(store: &S) {
    let keys: Vec<HashValue> = (1u8..=5).map(|b| HashValue([b; 32])).collect();
    for v in [4, 5, 6] {
        let version = Version(v);
        for (k, n) in build_tree(version, &keys) {
            store
                .write_node_shard(k.shard(), &[(k, n)])
                .expect("node write");
        }
        let rows: Vec<StateItem> = keys
            .iter()
            .map(|k| StateItem {
                key_hash: *k,
                key: vec![v as u8],
                value: vec![v as u8; 3],
            })
            .collect();
        let progress = Progress {
            key_hash: keys[4],
            usage: Usage::default(),
        };
        store
            .write_kv_batch(version, &rows, Some(&progress))
            .expect("kv write");
        store
            .write_usage(version, &Usage::default())
            .expect("usage");
    }
    let before: Vec<usize> = [4, 6]
        .iter()
        .map(|&v| store.nodes_at(Version(v)).unwrap().len())
        .collect();
    store.clear_nodes(Version(5)).unwrap();
    store.clear_kv(Version(5)).unwrap();
    assert!(store.nodes_at(Version(5)).unwrap().is_empty());
    assert!(store.rightmost_leaf(Version(5)).unwrap().is_none());
    assert!(store.kv_rows(Version(5)).unwrap().is_empty());
    assert!(store.get_progress(Version(5)).unwrap().is_none());
    assert!(store.get_usage(Version(5)).unwrap().is_none());
    for (i, v) in [4u64, 6].into_iter().enumerate() {
        let version = Version(v);
        assert_eq!(store.nodes_at(version).unwrap().len(), before[i], "v{v}");
        assert_eq!(store.kv_rows(version).unwrap().len(), keys.len(), "v{v}");
        assert!(store.get_progress(version).unwrap().is_some(), "v{v}");
        assert!(store.get_usage(version).unwrap().is_some(), "v{v}");
    }
}

#[test]
fn mem_clear_touches_only_its_version() {
    check_clear_touches_only_its_version(&MemStore::new());
}

#[test]
fn rocks_clear_touches_only_its_version() {
    let (_dir, store) = rocks();
    check_clear_touches_only_its_version(&store);
}

// ----- layouts and sync policies --------------------------------------------------------------

/// A RocksDB store of `layout` and `sync` in a fresh directory.
fn rocks_with(layout: Layout, sync: SyncPolicy) -> (TempDir, RocksStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = RocksStoreOptions {
        layout,
        sync,
        ..small_rocks_options()
    };
    let store = RocksStore::open(dir.path().join("db"), options).expect("open");
    (dir, store)
}

const MULTI_DB: [Layout; 2] = [Layout::Split, Layout::Aptos];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn rocks_aptos_rightmost_leaf_matches_naive(specs in arb_versioned_specs()) {
        let (_dir, store) = rocks_with(Layout::Aptos, SyncPolicy::Relaxed);
        check_rightmost_matches_naive(&store, &specs)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn rocks_split_rightmost_leaf_matches_naive(specs in arb_versioned_specs()) {
        let (_dir, store) = rocks_with(Layout::Split, SyncPolicy::Relaxed);
        check_rightmost_matches_naive(&store, &specs)?;
    }
}

/// A one-key tree stores its leaf at the root key, in the tree metadata database under `aptos`:
/// the shard scan finds nothing there, and the root must still be seen.
#[test]
fn rocks_aptos_rightmost_leaf_finds_a_root_leaf() {
    let (_dir, store) = rocks_with(Layout::Aptos, SyncPolicy::Relaxed);
    let v = Version(2);
    let key = HashValue([0xC4; 32]);
    store
        .write_node_shard(NodeShard::Top, &[(NodeKey::root(v), leaf_node(key, v))])
        .expect("root leaf");
    let found = store.rightmost_leaf(v).expect("rightmost");
    assert_eq!(found.map(|(_, l)| l.account_key), Some(key));
    assert_eq!(found, rightmost_leaf_naive(&store, v).expect("naive"));
}

#[test]
fn rocks_every_layout_round_trips() {
    for layout in Layout::ALL {
        for sync in SyncPolicy::ALL {
            let (_dir, store) = rocks_with(layout, sync);
            check_kv_round_trip(&store);
            check_usage_round_trip(&store);
            check_get_node_and_mislabelled_shard(&store);
            check_batch_written_in_shard_order(&store);
            check_neighbour_version_leaf_is_invisible(&store);
            check_clear_touches_only_its_version(&store);
        }
    }
}

#[test]
fn rocks_every_layout_reopens_with_everything() {
    for layout in Layout::ALL {
        check_reopen_keeps_everything(RocksStoreOptions {
            layout,
            sync: SyncPolicy::Barrier,
            ..small_rocks_options()
        });
    }
}

/// Under `split` and `aptos` each database is its own subdirectory named by its role, and a
/// path is only ever opened with the layout that wrote it.
#[test]
fn rocks_layouts_live_in_their_own_directories_and_refuse_each_other() {
    for layout in MULTI_DB {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let options = |l| RocksStoreOptions {
            layout: l,
            ..small_rocks_options()
        };
        drop(RocksStore::open(&path, options(layout)).expect("create"));
        for (_, role) in layout.databases() {
            assert!(
                path.join(role.name()).join("CURRENT").exists(),
                "{layout} {role:?}"
            );
        }
        assert!(
            !path.join("CURRENT").exists(),
            "{layout}: nothing at the path itself"
        );
        for other in Layout::ALL.into_iter().filter(|&l| l != layout) {
            let err = RocksStore::open(&path, options(other)).expect_err("refused");
            assert!(
                err.to_string().contains(layout.name()),
                "{other} on {layout}: {err}"
            );
        }
    }
    // And a `one` store refuses to be opened as `aptos`.
    let (dir, store) = rocks();
    drop(store);
    let aptos = RocksStoreOptions {
        layout: Layout::Aptos,
        ..small_rocks_options()
    };
    assert!(RocksStore::open(dir.path().join("db"), aptos).is_err());
}

/// Under `aptos` the rows land in the shard database of their key hash's first nibble, and the
/// progress in the KV metadata database only.
#[test]
fn rocks_aptos_routes_rows_and_progress() {
    let (_dir, store) = rocks_with(Layout::Aptos, SyncPolicy::Relaxed);
    let v = Version(3);
    let rows: Vec<StateItem> = (0..40).map(item).collect();
    let progress = Progress {
        key_hash: HashValue::MAX,
        usage: Usage::of(&rows),
    };
    store.write_kv_batch(v, &rows, Some(&progress)).expect("kv");
    drop(store);
    // Reopen each database raw and look: row r only in kv-shard-<first nibble of r>.
    let root = _dir.path().join("db");
    for (_, role) in Layout::Aptos.databases() {
        let db = rocksdb::DB::open_cf_for_read_only(
            &rocksdb::Options::default(),
            root.join(role.name()),
            ["nodes", "kv", "meta"],
            false,
        )
        .expect("raw open");
        let kv = db.cf_handle("kv").expect("cf");
        let meta = db.cf_handle("meta").expect("cf");
        let rows_here = db.iterator_cf(kv, rocksdb::IteratorMode::Start).count();
        let meta_here = db.iterator_cf(meta, rocksdb::IteratorMode::Start).count();
        let expected_rows = match role {
            restore_core::store::DbRole::KvShard(n) => {
                rows.iter().filter(|r| r.key_hash.nibble(0) == n).count()
            }
            _ => 0,
        };
        assert_eq!(rows_here, expected_rows, "{role:?}");
        let expected_meta = usize::from(role == restore_core::store::DbRole::KvMeta);
        assert_eq!(meta_here, expected_meta, "{role:?}");
    }
}

/// `rows` spread over exactly `n` distinct first nibbles (so `aptos` writes `n` shard batches).
fn rows_over_nibbles(n: usize) -> Vec<StateItem> {
    let mut seen = Vec::new();
    let mut rows = Vec::new();
    for i in 0.. {
        let r = item(i);
        let nib = r.key_hash.nibble(0);
        if !seen.contains(&nib) {
            if seen.len() == n {
                continue;
            }
            seen.push(nib);
        }
        rows.push(r);
        if rows.len() >= 3 * n && seen.len() == n {
            break;
        }
    }
    rows
}

/// fsyncs per operation, derived from the write path of each layout and policy (the reason for
/// each number is on its line). `multi_shard_batch` has 5 groups: shards 0, 3, 7, 15, the root.
#[test]
fn rocks_fsync_counter_counts_what_each_policy_pays() {
    let v = Version(1);
    let rows = rows_over_nibbles(3);
    let progress = Progress {
        key_hash: HashValue::MAX,
        usage: Usage::of(&rows),
    };
    for layout in Layout::ALL {
        // always: every write is one synced write.
        let (_d, s) = rocks_with(layout, SyncPolicy::Always);
        s.write_kv_batch(v, &rows, Some(&progress)).expect("kv");
        // one/split: rows + progress in one batch = 1; aptos: 3 shard batches + progress = 4.
        let kv = if layout == Layout::Aptos { 4 } else { 1 };
        assert_eq!(s.fsyncs(), kv, "{layout} always kv");
        s.sync_kv().expect("sync");
        s.sync_tree().expect("sync");
        // Barriers do nothing under always.
        assert_eq!(s.fsyncs(), kv, "{layout} always barriers");
        s.write_node_batch(&multi_shard_batch(v)).expect("nodes");
        // one/aptos: one write per shard group = 5; split: the batch is one WriteBatch = 1.
        let nodes = if layout == Layout::Split { 1 } else { 5 };
        assert_eq!(s.fsyncs(), kv + nodes, "{layout} always nodes");
        s.write_usage(v, &progress.usage).expect("usage");
        assert_eq!(
            s.fsyncs(),
            kv + nodes + 1,
            "{layout} always usage: one write"
        );

        // relaxed: nothing is ever synced.
        let (_d, s) = rocks_with(layout, SyncPolicy::Relaxed);
        s.write_kv_batch(v, &rows, Some(&progress)).expect("kv");
        s.sync_kv().expect("sync");
        s.write_node_batch_ordered(&multi_shard_batch(v))
            .expect("nodes");
        s.sync_tree().expect("sync");
        assert_eq!(s.fsyncs(), 0, "{layout} relaxed");

        // barrier: writes unsynced; each barrier syncs the databases of its side written since.
        let (_d, s) = rocks_with(layout, SyncPolicy::Barrier);
        s.write_kv_batch(v, &rows, Some(&progress)).expect("kv");
        assert_eq!(s.fsyncs(), 0, "{layout} barrier: writes are relaxed");
        s.sync_kv().expect("sync");
        // one/split: the one KV database = 1; aptos: 3 shard databases + kv-meta = 4.
        assert_eq!(s.fsyncs(), kv, "{layout} barrier sync_kv");
        s.sync_kv().expect("sync");
        assert_eq!(
            s.fsyncs(),
            kv,
            "{layout} barrier: a second barrier finds nothing dirty"
        );
        s.write_node_batch_ordered(&multi_shard_batch(v))
            .expect("nodes");
        // aptos: groups 0, 3, 7, 15 each synced before the next database is written = 4;
        // one/split: one tree database orders its groups by its own log = 0.
        let ordered = if layout == Layout::Aptos { 4 } else { 0 };
        assert_eq!(s.fsyncs(), kv + ordered, "{layout} barrier ordered batch");
        s.sync_tree().expect("sync");
        // The last group's database (aptos: tree-meta; else the tree database) = 1.
        assert_eq!(s.fsyncs(), kv + ordered + 1, "{layout} barrier sync_tree");
        s.sync_tree().expect("sync");
        assert_eq!(
            s.fsyncs(),
            kv + ordered + 1,
            "{layout} barrier: nothing dirty"
        );
    }
}

/// Reads stay strict in every database of a layout: garbage in a tree shard database is
/// `Corrupt`, never a panic.
#[test]
fn rocks_aptos_reports_corrupt_bytes_in_a_shard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let options = RocksStoreOptions {
        layout: Layout::Aptos,
        ..small_rocks_options()
    };
    let v = Version(30);
    drop(RocksStore::open(&path, options.clone()).expect("create"));
    {
        let shard = path.join(Layout::Aptos.role(DbId(17 + 5)).name());
        let opts = rocksdb::Options::default();
        let db = rocksdb::DB::open_cf(&opts, &shard, ["nodes", "kv", "meta"]).expect("raw open");
        let nodes = db.cf_handle("nodes").expect("cf");
        let mut key = v.0.to_be_bytes().to_vec();
        key.extend_from_slice(&[1, 0x50]);
        db.put_cf(nodes, &key, [1, 1, 0x20, 0xFF]).expect("put");
    }
    let store = RocksStore::open(&path, options).expect("reopen");
    let corrupt = |r: StoreResult<_>| matches!(r, Err(StoreError::Corrupt(_)));
    assert!(corrupt(store.rightmost_leaf(v).map(|_| ())));
    assert!(corrupt(store.nodes_at(v).map(|_| ())));
    let key = NodeKey::new(v, NibblePath::prefix_of(&HashValue([0x50; 32]), 1));
    assert!(corrupt(store.get_node(&key).map(|_| ())));
}
