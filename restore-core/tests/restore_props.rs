//! Property tests of a full restore: random snapshots (every key layout, empty values included)
//! cut by random chunkings restore under every commit strategy, commit mode and runtime to
//! exactly the reference state: root hash, leaf count, every key, KV bytes and usage.
//!
//! In-memory stores reject node rewrites (`MemStore::with_overwrite_check`), so a restore that
//! writes any node twice fails these tests.

mod support;

use std::sync::Arc;

use proptest::prelude::*;
use restore_core::audit::check_tree;
use restore_core::node::NodeKey;
use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
use restore_core::store::{KvStore, MemStore, TreeStore};
use restore_core::strategy::{CommitMode, CommitStrategy, RestoreMode};
use restore_core::{HashScheme, Snapshot, Version};

use support::{
    Rt, all_combos, arb_chunking, arb_commit, arb_rt, arb_spec, arb_strategy, assert_restored,
    default_options, describe, open_restore, options, restore_all,
};

const VERSION: Version = Version(42);

/// One restore of `spec` cut by `chunking` into a fresh overwrite-checked store, then every
/// final-state assertion.
fn mem_case(
    spec: &SnapshotSpec,
    chunking: &Chunking,
    strategy: CommitStrategy,
    commit: CommitMode,
    rt: Rt,
) {
    let snap = Snapshot::generate(spec, VERSION, HashScheme::Aptos);
    let chunks = snap.chunks(chunking);
    let ctx = format!(
        "{strategy} {commit:?} {rt:?}, {} chunks ({chunking:?}), {}",
        chunks.len(),
        describe(&snap, spec)
    );
    let store = Arc::new(MemStore::with_overwrite_check());
    restore_all(
        &store,
        rt.make(),
        &snap,
        &chunks,
        default_options(strategy, Some(commit), &snap),
    );
    assert_restored(&*store, &*store, &snap, &ctx);
}

proptest! {
    #![proptest_config(support::proptest_config(256))]

    /// 0–3,000 keys, any layout and chunking, one random strategy × commit mode × runtime per
    /// case (256 cases cover the 24 combinations many times over; the test below covers each
    /// one deterministically).
    #[test]
    fn mem_restore_matches_reference(
        spec in arb_spec(0..3001),
        chunking in arb_chunking(400),
        strategy in arb_strategy(),
        commit in arb_commit(),
        rt in arb_rt(),
    ) {
        mem_case(&spec, &chunking, strategy, commit, rt);
    }
}

/// Every strategy × commit mode × runtime on one snapshot per layout (and an empty-values one),
/// so no combination depends on the random draw above.
#[test]
fn every_combination_restores_each_layout() {
    let layouts = [
        (KeyLayout::Random, (0, 200)),
        (KeyLayout::SharedPrefix { nibbles: 13 }, (0, 0)),
        (
            KeyLayout::Clustered {
                clusters: 3,
                nibbles: 9,
            },
            (0, 64),
        ),
        (KeyLayout::Adjacent, (1, 32)),
    ];
    for (i, (layout, value_len)) in layouts.into_iter().enumerate() {
        let spec = SnapshotSpec {
            seed: 1000 + i as u64,
            keys: 257,
            value_len,
            key_len: (0, 24),
            layout,
        };
        let chunking = Chunking::Sizes(vec![1, 7, 2, 31, 1, 64]);
        for (strategy, commit) in all_combos() {
            for rt in Rt::ALL {
                mem_case(&spec, &chunking, strategy, commit, rt);
            }
        }
    }
}

/// The edge sizes (0, 1, 2 keys) under every combination: the empty tree is a `Null` root, a
/// single key is a leaf at the root.
#[test]
fn tiny_snapshots_under_every_combination() {
    for keys in 0..=2 {
        for layout in [KeyLayout::Random, KeyLayout::Adjacent] {
            let spec = SnapshotSpec {
                seed: 77 + keys as u64,
                keys,
                value_len: (0, 3),
                key_len: (0, 3),
                layout: layout.clone(),
            };
            for chunking in [Chunking::Whole, Chunking::OneKey] {
                for (strategy, commit) in all_combos() {
                    mem_case(&spec, &chunking, strategy, commit, Rt::Inline);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(support::proptest_config(20))]

    /// The same property on RocksDB (smaller snapshots: every case opens a database).
    #[test]
    fn rocks_restore_matches_reference(
        spec in arb_spec(0..400),
        chunking in arb_chunking(60),
        strategy in arb_strategy(),
        commit in arb_commit(),
        rt in arb_rt(),
    ) {
        let snap = Snapshot::generate(&spec, VERSION, HashScheme::Aptos);
        let chunks = snap.chunks(&chunking);
        let ctx = format!("rocks {strategy} {commit:?} {rt:?}, {chunking:?}, {}", describe(&snap, &spec));
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(support::open_rocks(dir.path()));
        restore_all(&store, rt.make(), &snap, &chunks, default_options(strategy, Some(commit), &snap));
        assert_restored(&*store, &*store, &snap, &ctx);
        // What a restart sees: close the database and check again from disk.
        drop(store);
        let store = support::open_rocks(dir.path());
        assert_restored(&store, &store, &snap, &format!("{ctx}, reopened"));
    }
}

/// Restores `snap` in `mode` into `store` with the given chunks.
fn restore_mode(
    store: &Arc<MemStore>,
    snap: &Snapshot,
    chunks: &[restore_core::Chunk],
    strategy: CommitStrategy,
    commit: CommitMode,
    mode: RestoreMode,
    rt: Rt,
) {
    restore_all(
        store,
        rt.make(),
        snap,
        chunks,
        options(strategy, Some(commit), mode, snap.scheme),
    );
}

proptest! {
    #![proptest_config(support::proptest_config(32))]

    /// Two-phase restore (KvOnly, then TreeOnly, as the backup coordinator does for a non-empty
    /// DB; or the reverse order) leaves exactly what a Default restore leaves: same nodes, rows,
    /// progress and usage.
    #[test]
    fn kv_only_then_tree_only_equals_default(
        spec in arb_spec(0..800),
        kv_chunking in arb_chunking(80),
        tree_chunking in arb_chunking(80),
        strategy in arb_strategy(),
        commit in arb_commit(),
        rt in arb_rt(),
        tree_first in any::<bool>(),
    ) {
        let snap = Snapshot::generate(&spec, VERSION, HashScheme::Aptos);
        let ctx = format!("{strategy} {commit:?} {rt:?}, tree first: {tree_first}, {}", describe(&snap, &spec));

        let default = Arc::new(MemStore::with_overwrite_check());
        restore_mode(&default, &snap, &snap.chunks(&kv_chunking), strategy, commit, RestoreMode::Default, rt);
        assert_restored(&*default, &*default, &snap, &format!("{ctx}, default"));

        let two_phase = Arc::new(MemStore::with_overwrite_check());
        let mut phases = [
            (RestoreMode::KvOnly, &kv_chunking),
            (RestoreMode::TreeOnly, &tree_chunking),
        ];
        if tree_first {
            phases.reverse();
        }
        for (mode, chunking) in phases {
            let (nodes, rows) = (two_phase.node_count(), two_phase.kv_count());
            restore_mode(&two_phase, &snap, &snap.chunks(chunking), strategy, commit, mode, rt);
            // Each phase touches its own side only.
            if mode == RestoreMode::KvOnly {
                prop_assert_eq!(two_phase.node_count(), nodes, "{}: KvOnly wrote nodes", &ctx);
                prop_assert_eq!(two_phase.kv_count(), snap.items.len(), "{}: KvOnly rows", &ctx);
            } else {
                prop_assert_eq!(two_phase.kv_count(), rows, "{}: TreeOnly wrote rows", &ctx);
            }
        }
        assert_restored(&*two_phase, &*two_phase, &snap, &format!("{ctx}, two-phase"));
        prop_assert!(
            two_phase.clone_contents() == default.clone_contents(),
            "{}: two-phase state differs from the Default restore's", ctx
        );
    }

    /// A TreeOnly restore on its own builds the right tree and writes nothing on the KV side.
    #[test]
    fn tree_only_restore_gives_the_right_root(
        spec in arb_spec(0..800),
        chunking in arb_chunking(80),
        strategy in arb_strategy(),
        commit in arb_commit(),
        rt in arb_rt(),
    ) {
        let snap = Snapshot::generate(&spec, VERSION, HashScheme::Aptos);
        let ctx = format!("{strategy} {commit:?} {rt:?}, {}", describe(&snap, &spec));
        let store = Arc::new(MemStore::with_overwrite_check());
        restore_mode(&store, &snap, &snap.chunks(&chunking), strategy, commit, RestoreMode::TreeOnly, rt);
        let root = store.get_node(&NodeKey::root(VERSION)).unwrap();
        prop_assert_eq!(root.map(|n| n.hash(snap.scheme)), Some(snap.root), "{}", &ctx);
        prop_assert!(check_tree(&*store, &snap).is_ok(), "{}: {:?}", &ctx, check_tree(&*store, &snap));
        prop_assert_eq!(store.kv_count(), 0, "{}: TreeOnly wrote rows", &ctx);
        prop_assert_eq!(store.get_progress(VERSION).unwrap(), None, "{}", &ctx);
        prop_assert_eq!(store.get_usage(VERSION).unwrap(), None, "{}", &ctx);
        // And a reopened TreeOnly restore reports the finished tree's resume point: all ones.
        let r = open_restore(&store, rt.make(), &snap, options(strategy, Some(commit), RestoreMode::TreeOnly, snap.scheme)).unwrap();
        prop_assert_eq!(r.previous_key_hash().unwrap(), Some(restore_core::HashValue::MAX));
    }
}
