//! Our counterparts of the tests Aptos has for state-snapshot restore (spec §7), one test per
//! Aptos test, in our words. Where the Aptos test is a proptest we use a proptest with a modest
//! number of cases (Aptos uses 10).
//!
//! * `storage/aptosdb/src/state_restore/restore_test.rs`: `restore_without_interruption`,
//!   `restore_with_interruption`, `overwrite` (+ `assert_success` = [`assert_restored`]).
//! * `storage/aptosdb/src/state_store/tests/mod.rs`: `raw_restore`, `state_sync_restore`,
//!   `get_rightmost_leaf`, `get_usage`, `snapshot_exists_only_if_its_root_exists`.
//! * `storage/backup/backup-cli/src/backup_types/state_snapshot/tests.rs`: `end_to_end`.

mod support;

use std::sync::Arc;

use proptest::prelude::*;
use restore_core::chunk::first_chunk_to_feed;
use restore_core::nibble::NibblePath;
use restore_core::node::{LeafNode, Node, NodeKey, NodeShard};
use restore_core::proof::RangeProof;
use restore_core::snapshot::{Chunking, SnapshotSpec};
use restore_core::store::{KvStore, MemStore, StoreError, TreeStore, rightmost_leaf_naive};
use restore_core::strategy::{CommitMode, CommitStrategy, Safety};
use restore_core::tree::{TreeOptions, TreeRestore};
use restore_core::{
    Chunk, ChunkIndex, HashScheme, HashValue, RestoreError, Snapshot, Usage, Version,
};

use support::{
    Rt, arb_rt, arb_spec, arb_strategy, assert_restored, chunk_of, default_options, describe, feed,
    open_restore, proptest_config, restore_all,
};

const VERSION: Version = Version(100);

fn generate(spec: &SnapshotSpec) -> Snapshot {
    Snapshot::generate(spec, VERSION, HashScheme::Aptos)
}

/// Opens, feeds and drops a restore, panicking with context on any error.
fn restore_async(
    store: &Arc<MemStore>,
    snap: &Snapshot,
    chunks: &[Chunk],
    strategy: CommitStrategy,
    rt: Rt,
) {
    restore_all(
        store,
        rt.make(),
        snap,
        chunks,
        default_options(strategy, Some(CommitMode::Async), snap),
    );
}

proptest! {
    #![proptest_config(proptest_config(10))]

    /// `test_restore_without_interruption`: async commit, one key per chunk, each chunk with its
    /// own range proof, then finish; checked like `assert_success`. Every strategy.
    #[test]
    fn restore_without_interruption(spec in arb_spec(1..1000), rt in arb_rt()) {
        let snap = generate(&spec);
        let chunks = snap.chunks(&Chunking::OneKey);
        prop_assert_eq!(chunks.len(), snap.items.len());
        for strategy in CommitStrategy::ALL {
            let store = Arc::new(MemStore::with_overwrite_check());
            restore_async(&store, &snap, &chunks, strategy, rt);
            assert_restored(&*store, &*store, &snap, &format!("{strategy} {rt:?}, {}", describe(&snap, &spec)));
        }
    }

    /// `test_restore_with_interruption`: add the first `batch1` keys (1..len−1) as one chunk with
    /// async commit and drop the restore without finishing (drop waits for the write). A new
    /// restore gets everything from `batch1 − overlap` (overlap in 1..=batch1) as ONE chunk,
    /// then finishes.
    #[test]
    fn restore_with_interruption(
        spec in arb_spec(2..1000),
        batch1_frac in 0.0f64..1.0,
        overlap_frac in 0.0f64..1.0,
        strategy in arb_strategy(),
        rt in arb_rt(),
    ) {
        let snap = generate(&spec);
        let len = snap.items.len();
        prop_assume!(len >= 2);
        let batch1 = 1 + ((len - 1) as f64 * batch1_frac) as usize; // 1..=len−1
        let batch1 = batch1.min(len - 1);
        let overlap = 1 + (batch1 as f64 * overlap_frac) as usize; // 1..=batch1
        let overlap = overlap.min(batch1);
        let ctx = format!("{strategy} {rt:?}, batch1 {batch1}, overlap {overlap}, {}", describe(&snap, &spec));
        let tree = snap.reference_tree();
        let opts = default_options(strategy, Some(CommitMode::Async), &snap);
        let store = Arc::new(MemStore::with_overwrite_check());

        let mut r = open_restore(&store, rt.make(), &snap, opts).unwrap();
        r.add_chunk(&chunk_of(&snap, &tree, 0..batch1, 0)).unwrap_or_else(|e| panic!("{ctx}: batch1: {e}"));
        drop(r);

        let mut r = open_restore(&store, rt.make(), &snap, opts).unwrap();
        r.add_chunk(&chunk_of(&snap, &tree, batch1 - overlap..len, 1))
            .unwrap_or_else(|e| panic!("{ctx}: rest: {e}"));
        r.finish().unwrap_or_else(|e| panic!("{ctx}: finish: {e}"));
        drop(r);
        assert_restored(&*store, &*store, &snap, &ctx);
    }

    /// `test_overwrite`: restore, then restore the same version again from scratch with
    /// `TreeRestore::overwrite` into a store that allows overwrites: the root is still right.
    /// Into a store that forbids overwrites the second restore fails with a store error.
    #[test]
    fn overwrite(spec in arb_spec(1..1000), chunk_max in 1usize..200, seed in any::<u64>()) {
        let snap = generate(&spec);
        let chunks = snap.chunks(&Chunking::Random { seed, min: 1, max: chunk_max });
        for safety in [Safety::Aptos, Safety::Safe] {
            let options = TreeOptions { scheme: snap.scheme, commit: CommitMode::Async, safety };
            let ctx = format!("{safety:?}, {} chunks, {}", chunks.len(), describe(&snap, &spec));

            // Overwrites allowed: the second restore succeeds and leaves the right tree.
            let store = Arc::new(MemStore::new());
            restore_async(&store, &snap, &chunks, CommitStrategy::JoinAsync, Rt::Inline);
            let mut t = TreeRestore::overwrite(store.clone(), Rt::Inline.make(), VERSION, snap.root, options);
            for c in &chunks {
                t.add_chunk(&c.items, &c.proof).unwrap_or_else(|e| panic!("{ctx}: overwrite chunk {}: {e}", c.index));
            }
            t.finish().unwrap_or_else(|e| panic!("{ctx}: overwrite finish: {e}"));
            drop(t);
            assert_restored(&*store, &*store, &snap, &ctx);

            // Overwrites forbidden: the first write of the second restore is refused.
            let store = Arc::new(MemStore::with_overwrite_check());
            restore_async(&store, &snap, &chunks, CommitStrategy::JoinAsync, Rt::Inline);
            let before = store.clone_contents();
            let mut t = TreeRestore::overwrite(store.clone(), Rt::Inline.make(), VERSION, snap.root, options);
            let mut result = Ok(());
            for c in &chunks {
                result = t.add_chunk(&c.items, &c.proof);
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                result = t.finish();
            }
            drop(t);
            match result {
                Err(RestoreError::Store(StoreError::Backend(msg))) => {
                    prop_assert!(msg.contains("overwritten"), "{}: {}", ctx, msg);
                }
                other => panic!("{ctx}: expected a store error, got {other:?}"),
            }
            prop_assert!(store.clone_contents() == before, "{}: a refused write changed the store", ctx);
        }
    }

    /// `test_raw_restore`: two chunks with async commit, then finish; the root equals the
    /// source root.
    #[test]
    fn raw_restore(spec in arb_spec(2..1000), split_frac in 0.0f64..1.0, strategy in arb_strategy(), rt in arb_rt()) {
        let snap = generate(&spec);
        let len = snap.items.len();
        prop_assume!(len >= 2);
        let split = (1 + ((len - 1) as f64 * split_frac) as usize).min(len - 1);
        let tree = snap.reference_tree();
        let chunks = [chunk_of(&snap, &tree, 0..split, 0), chunk_of(&snap, &tree, split..len, 1)];
        let store = Arc::new(MemStore::with_overwrite_check());
        restore_async(&store, &snap, &chunks, strategy, rt);
        let root = store.get_node(&NodeKey::root(VERSION)).unwrap().expect("root");
        prop_assert_eq!(root.hash(snap.scheme), snap.root);
        assert_restored(&*store, &*store, &snap, &format!("{strategy} {rt:?}, split {split}"));
    }

    /// `test_restore` (state sync's `get_snapshot_receiver`: synchronous commits, join of the
    /// two sides) with chunk sizes drawn from 1..2·len; checks the root and the value count.
    #[test]
    fn state_sync_restore(spec in arb_spec(2..1000), seed in any::<u64>(), rt in arb_rt()) {
        let snap = generate(&spec);
        let len = snap.items.len();
        let chunks = snap.chunks(&Chunking::Random { seed, min: 1, max: 2 * len });
        let store = Arc::new(MemStore::with_overwrite_check());
        restore_all(&store, rt.make(), &snap, &chunks, default_options(CommitStrategy::JoinSync, None, &snap));
        let root = store.get_node(&NodeKey::root(VERSION)).unwrap().expect("root");
        prop_assert_eq!(root.hash(snap.scheme), snap.root);
        prop_assert_eq!(store.kv_rows(VERSION).unwrap().len(), len);
        assert_restored(&*store, &*store, &snap, &format!("state sync {rt:?}, {} chunks", chunks.len()));
    }

    /// `test_get_rightmost_leaf`: with only a 0xFF..FF leaf planted at *other* versions, there is
    /// no rightmost leaf at V. After one chunk (and waiting for its write) the fast lookup
    /// equals the naive full scan, and is the chunk's second-to-last key (the last one is not
    /// frozen yet), so Some whenever the chunk has two keys or more.
    #[test]
    fn get_rightmost_leaf(spec in arb_spec(1..1000), first_frac in 0.0f64..1.0, strategy in arb_strategy()) {
        let snap = generate(&spec);
        let first = (1 + (snap.items.len() as f64 * first_frac) as usize).min(snap.items.len());
        let dir = tempfile::tempdir().unwrap();
        let mem = Arc::new(MemStore::with_overwrite_check());
        let rocks = Arc::new(support::open_rocks(dir.path()));
        rightmost_leaf_case(&mem, &snap, first, strategy);
        rightmost_leaf_case(&rocks, &snap, first, strategy);
    }

    /// `test_get_usage`: usage after a restore of one chunk (possibly empty, with an empty
    /// proof) matches the usage of the source items.
    #[test]
    fn get_usage(spec in arb_spec(0..1000), strategy in arb_strategy(), rt in arb_rt()) {
        let snap = generate(&spec);
        let chunk = if snap.items.is_empty() {
            Chunk { index: ChunkIndex(0), items: vec![], proof: RangeProof::default() }
        } else {
            chunk_of(&snap, &snap.reference_tree(), 0..snap.items.len(), 0)
        };
        let store = Arc::new(MemStore::with_overwrite_check());
        restore_all(&store, rt.make(), &snap, &[chunk], default_options(strategy, None, &snap));
        let expected = Usage {
            items: snap.items.len() as u64,
            bytes: snap.items.iter().map(|i| (i.key.len() + i.value.len()) as u64).sum(),
        };
        prop_assert_eq!(store.get_usage(VERSION).unwrap(), Some(expected));
        assert_restored(&*store, &*store, &snap, &format!("{strategy} {rt:?}"));
    }
}

/// One chunk of `first` keys, then the rightmost-leaf checks on `store`.
fn rightmost_leaf_case<S: TreeStore + KvStore + 'static>(
    store: &Arc<S>,
    snap: &Snapshot,
    first: usize,
    strategy: CommitStrategy,
) {
    let max_leaf = |v: Version| {
        (
            NodeKey::new(v, NibblePath::prefix_of(&HashValue::MAX, 1)),
            Node::Leaf(LeafNode {
                account_key: HashValue::MAX,
                value_hash: HashValue::sha3(b"planted"),
                version: v,
            }),
        )
    };
    for v in [Version(VERSION.0 - 1), Version(VERSION.0 + 1)] {
        store
            .write_node_shard(NodeShard::Nibble(15), &[max_leaf(v)])
            .unwrap();
    }
    assert_eq!(store.rightmost_leaf(VERSION).unwrap(), None);
    assert_eq!(rightmost_leaf_naive(&**store, VERSION).unwrap(), None);

    let tree = snap.reference_tree();
    let opts = default_options(strategy, Some(CommitMode::Async), snap);
    let mut r = open_restore(store, Rt::Thread.make(), snap, opts).unwrap();
    r.add_chunk(&chunk_of(snap, &tree, 0..first, 0)).unwrap();
    r.wait_for_async_commit().unwrap();
    let fast = store.rightmost_leaf(VERSION).unwrap();
    assert_eq!(fast, rightmost_leaf_naive(&**store, VERSION).unwrap());
    assert_eq!(
        fast.map(|(_, l)| l.account_key),
        first.checked_sub(2).map(|i| snap.items[i].key_hash),
        "{strategy}: first chunk of {first}"
    );
    if let Some((key, leaf)) = fast {
        assert_eq!(key.version, VERSION);
        assert_eq!(leaf.version, VERSION);
    }
    // The planted leaves are still the rightmost of their versions.
    for v in [Version(VERSION.0 - 1), Version(VERSION.0 + 1)] {
        let (_, l) = store.rightmost_leaf(v).unwrap().expect("planted leaf");
        assert_eq!(l.account_key, HashValue::MAX);
    }
}

/// `test_get_usage` with zero chunks: an empty snapshot restored by `finish` alone has zero
/// usage and the empty tree's root.
#[test]
fn get_usage_of_an_empty_snapshot_with_no_chunks() {
    let snap = generate(&SnapshotSpec {
        keys: 0,
        ..SnapshotSpec::default()
    });
    assert_eq!(snap.root, HashScheme::Aptos.placeholder());
    for strategy in CommitStrategy::ALL {
        let store = Arc::new(MemStore::with_overwrite_check());
        restore_all(
            &store,
            Rt::Inline.make(),
            &snap,
            &[],
            default_options(strategy, None, &snap),
        );
        assert_eq!(
            store.get_usage(VERSION).unwrap(),
            Some(Usage { items: 0, bytes: 0 }),
            "{strategy}"
        );
        assert_eq!(
            store.get_node(&NodeKey::root(VERSION)).unwrap(),
            Some(Node::Null),
            "{strategy}"
        );
        assert_restored(&*store, &*store, &snap, &format!("{strategy}"));
    }
}

/// `get_state_snapshot_before(v)`: the latest version below `v` among `versions` whose root
/// node exists, with that root's hash — our equivalent of Aptos's query, over the trait.
fn snapshot_before(
    store: &dyn TreeStore,
    versions: &[Version],
    v: Version,
    scheme: HashScheme,
) -> Option<(Version, HashValue)> {
    versions.iter().filter(|x| **x < v).rev().find_map(|x| {
        store
            .get_node(&NodeKey::root(*x))
            .unwrap()
            .map(|n| (*x, n.hash(scheme)))
    })
}

/// `test_get_state_snapshot_before`: a version is a snapshot only once its root node exists.
/// An older finished snapshot stays the answer while a newer one is being restored (no root at
/// any point before `finish`), and the newer one is the answer right after `finish`.
#[test]
fn snapshot_exists_only_if_its_root_exists() {
    let old = Snapshot::generate(
        &SnapshotSpec {
            seed: 1,
            keys: 120,
            ..SnapshotSpec::default()
        },
        Version(50),
        HashScheme::Aptos,
    );
    let new = generate(&SnapshotSpec {
        seed: 2,
        keys: 150,
        ..SnapshotSpec::default()
    });
    let versions = [old.version, new.version];
    for strategy in CommitStrategy::ALL {
        for rt in Rt::ALL {
            let store = Arc::new(MemStore::with_overwrite_check());
            let probe =
                |s: &MemStore| snapshot_before(s, &versions, Version(u64::MAX), HashScheme::Aptos);
            assert_eq!(probe(&store), None);
            restore_all(
                &store,
                rt.make(),
                &old,
                &old.chunks(&Chunking::Fixed(17)),
                default_options(strategy, None, &old),
            );
            assert_eq!(probe(&store), Some((old.version, old.root)));

            let mut r = open_restore(
                &store,
                rt.make(),
                &new,
                default_options(strategy, None, &new),
            )
            .unwrap();
            for c in new.chunks(&Chunking::Fixed(13)) {
                r.add_chunk(&c).unwrap();
                r.wait_for_async_commit().unwrap();
                assert_eq!(
                    store.get_node(&NodeKey::root(VERSION)).unwrap(),
                    None,
                    "{strategy}: root before finish"
                );
                assert_eq!(probe(&store), Some((old.version, old.root)), "{strategy}");
            }
            r.finish().unwrap();
            drop(r);
            assert_eq!(
                probe(&store),
                Some((new.version, new.root)),
                "{strategy} {rt:?}"
            );
            assert_eq!(
                snapshot_before(
                    &*store,
                    &versions,
                    Version(VERSION.0 + 1),
                    HashScheme::Aptos
                ),
                Some((VERSION, new.root))
            );
            assert_eq!(
                snapshot_before(&*store, &versions, VERSION, HashScheme::Aptos),
                Some((old.version, old.root))
            );
            assert_restored(&*store, &*store, &new, &format!("{strategy} {rt:?}"));
            assert_restored(&*store, &*store, &old, &format!("{strategy} {rt:?}, old"));
        }
    }
}

proptest! {
    #![proptest_config(proptest_config(6))]

    /// backup-cli `end_to_end`: chunks cut by a 500-byte budget (so there are many), restored the
    /// way the backup controller does it (async join, one chunk at a time, chunks skipped by the
    /// resume point) into a fresh RocksDB, then reopened: the snapshot before v+1 is (v, root).
    #[test]
    fn end_to_end(spec in arb_spec(1..600), strategy in arb_strategy()) {
        let snap = generate(&spec);
        let sizes = support::byte_budget_sizes(&snap.items, 500);
        let chunks = snap.chunks(&Chunking::Sizes(sizes.clone()));
        prop_assert_eq!(chunks.len(), sizes.len());
        for c in &chunks {
            let bytes: usize = c.items.iter().map(|i| 4 + i.key.len() + i.value.len()).sum();
            prop_assert!(c.len() == 1 || bytes <= 500, "chunk of {} bytes", bytes);
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(support::open_rocks(dir.path()));
        let opts = default_options(strategy, Some(CommitMode::Async), &snap);
        let mut r = open_restore(&store, Rt::Thread.make(), &snap, opts).unwrap();
        let first = first_chunk_to_feed(&chunks, r.previous_key_hash().unwrap());
        prop_assert_eq!(first, 0, "fresh database resumes at the start");
        if let Err((i, e)) = feed(&mut r, &chunks) {
            panic!("{strategy}: chunk {i}: {e}");
        }
        r.finish().unwrap();
        drop(r);
        let store = Arc::try_unwrap(store).expect("restore released the store");
        drop(store);
        let store = support::open_rocks(dir.path());
        prop_assert_eq!(
            snapshot_before(&store, &[VERSION], Version(VERSION.0 + 1), snap.scheme),
            Some((VERSION, snap.root))
        );
        assert_restored(&store, &store, &snap, &format!("end_to_end {strategy}, {} chunks", chunks.len()));
    }
}
