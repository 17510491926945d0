//! The `jmt` crate as an outside oracle for the *restore*: restoring a snapshot chunk by chunk
//! under [`HashScheme::Jmt`] must leave a root node whose hash is the root jmt computes for the
//! same `(key_hash, value)` set in one `put_value_set`. jmt hashes raw values itself
//! (value_hash = H(value)), as `StateItem::value_hash` does.

mod support;

use std::sync::Arc;

use jmt::JellyfishMerkleTree;
use jmt::mock::MockTreeStore;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use restore_core::node::NodeKey;
use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
use restore_core::store::{MemStore, TreeStore};
use restore_core::strategy::CommitStrategy;
use restore_core::{HashScheme, Snapshot, Version};

use support::jmt_hasher::Sha3;
use support::{Rt, all_combos, assert_restored, default_options, restore_all};

type Tree<'a> = JellyfishMerkleTree<'a, MockTreeStore, Sha3>;

/// jmt's root of `snapshot`'s items, written at version 0 of a fresh mock store.
fn jmt_root(snapshot: &Snapshot) -> [u8; 32] {
    let store = MockTreeStore::default();
    let values = snapshot
        .items
        .iter()
        .map(|item| (jmt::KeyHash(item.key_hash.0), Some(item.value.clone())));
    let (root, batch) = Tree::new(&store)
        .put_value_set(values, 0)
        .expect("jmt accepts the value set");
    store.write_tree_update_batch(batch).expect("mock write");
    let stored = Tree::new(&store).get_root_hash(0).expect("root stored");
    assert_eq!(stored.0, root.0, "jmt's returned and stored roots agree");
    root.0
}

/// The hash of the root node our restore left at `version`.
fn restored_root(store: &MemStore, version: Version) -> [u8; 32] {
    store
        .get_node(&NodeKey::root(version))
        .expect("store read")
        .expect("finished restore has a root node")
        .hash(HashScheme::Jmt)
        .0
}

/// Layouts weighted toward deep trees: shared prefixes up to 40 nibbles, clusters, runs of
/// adjacent hashes.
fn layout_for(case: u64, rng: &mut ChaCha8Rng) -> KeyLayout {
    match case % 6 {
        0 => KeyLayout::Random,
        1 | 2 => KeyLayout::SharedPrefix {
            nibbles: 1 + (rng.next_u64() % 40) as usize,
        },
        3 | 4 => KeyLayout::Clustered {
            clusters: 1 + (rng.next_u64() % 6) as usize,
            nibbles: 2 + (rng.next_u64() % 30) as usize,
        },
        _ => KeyLayout::Adjacent,
    }
}

#[test]
fn restored_root_equals_jmt_root() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x0072_6573_746f_7265);
    let combos = all_combos();
    let cases = 144u64;
    let mut compared = 0;
    for case in 0..cases {
        let spec = SnapshotSpec {
            seed: rng.next_u64(),
            keys: (rng.next_u64() % 600) as usize,
            value_len: (0, 1 + (rng.next_u64() % 120) as usize),
            key_len: (1, 24),
            layout: layout_for(case, &mut rng),
        };
        let snap = Snapshot::generate(&spec, Version(9), HashScheme::Jmt);
        let chunking = Chunking::Random {
            seed: rng.next_u64(),
            min: 1,
            max: 1 + (rng.next_u64() % 80) as usize,
        };
        let (strategy, commit) = combos[case as usize % combos.len()];
        let rt = Rt::ALL[(case as usize / combos.len()) % 2];
        let store = Arc::new(MemStore::with_overwrite_check());
        restore_all(
            &store,
            rt.make(),
            &snap,
            &snap.chunks(&chunking),
            default_options(strategy, Some(commit), &snap),
        );
        let theirs = jmt_root(&snap);
        let ours = restored_root(&store, snap.version);
        assert_eq!(
            ours,
            theirs,
            "case {case}: {} keys, {:?}, {strategy} {commit:?} {rt:?}",
            snap.items.len(),
            spec.layout
        );
        compared += 1;
    }
    assert_eq!(compared, cases);
}

/// The edge shapes: the empty tree (Null root = jmt's placeholder), one key (leaf root), two
/// keys that split only at the last nibble, and one-key chunks over a deep shared prefix.
#[test]
fn restored_edge_shapes_equal_jmt_root() {
    let specs = [
        (0, KeyLayout::Random),
        (1, KeyLayout::Random),
        (2, KeyLayout::Adjacent),
        (3, KeyLayout::SharedPrefix { nibbles: 62 }),
        (40, KeyLayout::SharedPrefix { nibbles: 40 }),
        (
            90,
            KeyLayout::Clustered {
                clusters: 2,
                nibbles: 50,
            },
        ),
    ];
    for (seed, (keys, layout)) in specs.into_iter().enumerate() {
        let spec = SnapshotSpec {
            seed: seed as u64,
            keys,
            value_len: (0, 8),
            key_len: (1, 8),
            layout,
        };
        let snap = Snapshot::generate(&spec, Version(1), HashScheme::Jmt);
        for strategy in CommitStrategy::ALL {
            let store = Arc::new(MemStore::with_overwrite_check());
            restore_all(
                &store,
                Rt::Inline.make(),
                &snap,
                &snap.chunks(&Chunking::OneKey),
                default_options(strategy, None, &snap),
            );
            assert_eq!(
                restored_root(&store, snap.version),
                jmt_root(&snap),
                "{} keys, {:?}, {strategy}",
                snap.items.len(),
                spec.layout
            );
            assert_restored(&*store, &*store, &snap, &format!("{strategy} {spec:?}"));
        }
    }
}

/// jmt's root changes with a single value byte, and so does ours: the comparison above is not
/// comparing two constants.
#[test]
fn jmt_and_restore_both_see_a_one_byte_change() {
    let spec = SnapshotSpec {
        seed: 5,
        keys: 50,
        value_len: (1, 16),
        ..SnapshotSpec::default()
    };
    let snap = Snapshot::generate(&spec, Version(1), HashScheme::Jmt);
    let mut changed = snap.clone();
    changed.items[17].value[0] ^= 1;
    changed.root = changed.reference_tree().root();
    assert_ne!(jmt_root(&snap), jmt_root(&changed));
    for s in [&snap, &changed] {
        let store = Arc::new(MemStore::with_overwrite_check());
        restore_all(
            &store,
            Rt::Inline.make(),
            s,
            &s.chunks(&Chunking::Fixed(7)),
            default_options(CommitStrategy::Pipelined, None, s),
        );
        assert_eq!(restored_root(&store, s.version), jmt_root(s));
    }
}
