//! The `jmt` crate as an outside oracle: under [`HashScheme::Jmt`] our reference tree must give
//! the same roots as jmt's own JellyfishMerkleTree for the same `(key_hash, value)` sets, and
//! jmt's range proofs must verify against the left siblings our reference derives.

mod support;

use jmt::mock::MockTreeStore;
use jmt::{JellyfishMerkleTree, RootHash};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use restore_core::snapshot::{KeyLayout, SnapshotSpec};
use restore_core::{HashScheme, Snapshot, Version};

use support::jmt_hasher::Sha3;

type Tree<'a> = JellyfishMerkleTree<'a, MockTreeStore, Sha3>;

/// Writes `snapshot` into a fresh mock store at version 0 and returns the store and jmt's root.
fn jmt_root(snapshot: &Snapshot) -> (MockTreeStore, [u8; 32]) {
    let store = MockTreeStore::default();
    let values = snapshot
        .items
        .iter()
        .map(|item| (jmt::KeyHash(item.key_hash.0), Some(item.value.clone())));
    let (root, batch) = Tree::new(&store)
        .put_value_set(values, 0)
        .expect("jmt accepts the value set");
    store.write_tree_update_batch(batch).expect("mock write");
    (store, root.0)
}

fn layout_for(case: u64, rng: &mut ChaCha8Rng) -> KeyLayout {
    match case % 5 {
        0 | 1 => KeyLayout::Random,
        2 => KeyLayout::SharedPrefix {
            nibbles: 1 + (rng.next_u64() % 60) as usize,
        },
        3 => KeyLayout::Clustered {
            clusters: 1 + (rng.next_u64() % 6) as usize,
            nibbles: 4 + (rng.next_u64() % 56) as usize,
        },
        _ => KeyLayout::Adjacent,
    }
}

#[test]
fn jmt_roots_match_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x6a6d74);
    let mut compared = 0;
    for case in 0..150u64 {
        let spec = SnapshotSpec {
            seed: rng.next_u64(),
            keys: (rng.next_u64() % 301) as usize,
            value_len: (0, 48),
            key_len: (4, 24),
            layout: layout_for(case, &mut rng),
        };
        let snapshot = Snapshot::generate(&spec, Version(0), HashScheme::Jmt);
        let (store, root) = jmt_root(&snapshot);
        assert_eq!(
            root,
            snapshot.root.0,
            "case {case}: {} keys, {:?}",
            snapshot.items.len(),
            spec.layout
        );
        let stored = Tree::new(&store).get_root_hash(0).expect("root stored");
        assert_eq!(stored.0, snapshot.root.0, "case {case}: stored root");
        compared += 1;
    }
    assert_eq!(compared, 150);
}

#[test]
fn jmt_empty_and_single_key_roots() {
    for keys in [0, 1] {
        let spec = SnapshotSpec {
            keys,
            ..SnapshotSpec::default()
        };
        let snapshot = Snapshot::generate(&spec, Version(0), HashScheme::Jmt);
        let (_, root) = jmt_root(&snapshot);
        assert_eq!(root, snapshot.root.0, "{keys} keys");
    }
}

#[test]
fn jmt_alice_bob_carol_through_the_adapter() {
    let store = MockTreeStore::default();
    let values = [("alice", "100"), ("bob", "200"), ("carol", "300")]
        .map(|(k, v)| (jmt::KeyHash::with::<Sha3>(k), Some(v.as_bytes().to_vec())));
    let (root, _) = Tree::new(&store).put_value_set(values, 0).unwrap();
    let expected = restore_core::HashValue::from_hex(
        "67c78346fecb09f7c73e64cbf1f9fd22a0ad7b9020e66a1707f0426568d7b9ef",
    )
    .unwrap();
    assert_eq!(root.0, expected.0);
}

/// jmt's range proof for a key must verify with the left siblings our reference computes, and
/// ours with the same left siblings; with the same root and leaf, the two right-sibling lists
/// are then equal up to a hash collision (jmt keeps its siblings private, so they cannot be
/// compared directly).
#[test]
fn jmt_range_proofs_agree_with_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x70726f6f66);
    for case in 0..30u64 {
        let spec = SnapshotSpec {
            seed: rng.next_u64(),
            keys: 1 + (rng.next_u64() % 200) as usize,
            value_len: (0, 32),
            key_len: (4, 16),
            layout: layout_for(case, &mut rng),
        };
        let snapshot = Snapshot::generate(&spec, Version(0), HashScheme::Jmt);
        let (store, root) = jmt_root(&snapshot);
        let jmt_tree = Tree::new(&store);
        let reference = snapshot.reference_tree();
        for item in snapshot.items.iter().step_by(7) {
            let key = jmt::KeyHash(item.key_hash.0);
            let left = reference.left_siblings(&item.key_hash).expect("present");
            let ours = reference.range_proof(&item.key_hash).expect("present");
            ours.verify(
                HashScheme::Jmt,
                &snapshot.root,
                &item.key_hash,
                &item.value_hash(),
                &left,
            )
            .expect("our proof verifies");
            let leaf = jmt_tree
                .get_with_proof(key, 0)
                .unwrap()
                .1
                .leaf()
                .expect("existence proof has the leaf");
            let theirs = jmt_tree.get_range_proof(key, 0).unwrap();
            let left_bytes = left.iter().map(|h| h.0).collect();
            theirs
                .verify(RootHash(root), leaf, left_bytes)
                .unwrap_or_else(|e| panic!("case {case}: jmt proof rejects our left side: {e}"));
        }
    }
}
