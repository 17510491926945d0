//! The fixed vectors of aptos-restore-spec.md §1.1–§1.4 and the `jmt` crate's measured
//! alice/bob/carol root (toolchain-notes.md). Expected hex strings are copied from those texts;
//! a mismatch here means our hashing disagrees with the spec, not that the vector needs editing.

use restore_core::hash::aptos_seed;
use restore_core::reference::{ReferenceTree, root_of};
use restore_core::{HashScheme, HashValue, KeyHash};

const APTOS: HashScheme = HashScheme::Aptos;

fn hex(s: &str) -> HashValue {
    HashValue::from_hex(s).expect("64 hex digits")
}

fn key(first: u8) -> KeyHash {
    let mut b = [0u8; 32];
    b[0] = first;
    HashValue(b)
}

/// k1 = 32×00, k2 = 80‖31×00, k3 = 40‖31×00 with vN = SHA3-256("vN"), as §1.4 defines them.
fn k(n: u8) -> (KeyHash, HashValue) {
    let first = [0x00, 0x80, 0x40][usize::from(n - 1)];
    (key(first), HashValue::sha3(format!("v{n}").as_bytes()))
}

/// Sorted, as the reference requires (k1 < k3 < k2).
fn sorted(mut set: Vec<(KeyHash, HashValue)>) -> Vec<(KeyHash, HashValue)> {
    set.sort();
    set
}

/// Root by the logical definition with nothing but the hash primitives, to derive left
/// siblings from first principles rather than from the code under test.
fn logical_root(set: &[(KeyHash, HashValue)], d: usize) -> HashValue {
    match set {
        [] => APTOS.placeholder(),
        [(k, v)] => APTOS.leaf(k, v),
        _ => {
            let (zeros, ones): (Vec<_>, Vec<_>) = set.iter().partition(|(k, _)| !k.bit(d));
            APTOS.internal(&logical_root(&zeros, d + 1), &logical_root(&ones, d + 1))
        }
    }
}

#[test]
fn vector_sha3_hello() {
    assert_eq!(
        HashValue::sha3(b"hello"),
        hex("3338be694f50c5f338814986cdf0686453a888b84f424d792af4b9202398f392")
    );
}

#[test]
fn vector_seeds() {
    assert_eq!(
        aptos_seed(b"SparseMerkleLeafNode"),
        hex("9df5ce426e6c3cc7a648886c12b661d7d87cba44ce9b7c3b8579bac5b8e8519b")
    );
    assert_eq!(
        aptos_seed(b"SparseMerkleInternal"),
        hex("6738db124643f427d7b7d92c0cc11ac9ef1caaaaec2ac77145646e1d293e6b38")
    );
}

#[test]
fn vector_placeholder() {
    assert_eq!(
        APTOS.placeholder(),
        hex("5350415253455f4d45524b4c455f504c414345484f4c4445525f484153480000")
    );
    assert_eq!(root_of(APTOS, &[]), APTOS.placeholder());
}

#[test]
fn vector_values() {
    assert_eq!(
        k(1).1,
        hex("9c209c84e360d17dd267fc53a46db30009b9f39ce2b905fa29fbd5fd4c44ea17")
    );
    assert_eq!(
        k(2).1,
        hex("86a74b56a4ca89e2a292dc3995a15149a2843b038965d0feabd3d20a663f759f")
    );
    assert_eq!(
        k(3).1,
        hex("ef1ceacbca55ac4c6d196f5aa52e9c712574d3f42810309e74dfa697861ecf88")
    );
}

#[test]
fn vector_root_k1() {
    let expected = hex("484a102b809fa1ee9c867130ae8a6859be80bd402689f163956165d6a24e0145");
    let (k1, v1) = k(1);
    assert_eq!(APTOS.leaf(&k1, &v1), expected);
    assert_eq!(root_of(APTOS, &[k(1)]), expected);
}

#[test]
fn vector_root_k1_k2() {
    assert_eq!(
        root_of(APTOS, &sorted(vec![k(1), k(2)])),
        hex("8fe0ea2e4b491ac7bb9ade0bd05f9a4d4c9bf8fb3ad80e9d959717b65436851e")
    );
}

#[test]
fn vector_root_k1_k3() {
    let set = sorted(vec![k(1), k(3)]);
    let expected = hex("7a98fb6b22dbd03ee1b7a8699c3a1cb5d93fcc3fb19d04f829844cf5505fab24");
    assert_eq!(root_of(APTOS, &set), expected);
    // The shape the spec spells out: split at bit 1, so H_int(H_int(L1, L3), @).
    let (l1, l3) = (
        APTOS.leaf(&set[0].0, &set[0].1),
        APTOS.leaf(&set[1].0, &set[1].1),
    );
    let shape = APTOS.internal(&APTOS.internal(&l1, &l3), &APTOS.placeholder());
    assert_eq!(shape, expected);
}

#[test]
fn vector_root_k1_k3_k2() {
    assert_eq!(
        root_of(APTOS, &sorted(vec![k(1), k(3), k(2)])),
        hex("510e0ae7a84121ae38f159666380345511d7e2191c2f6ffe8843432eabcc2c43")
    );
}

#[test]
fn vector_range_proof_k3() {
    let set = sorted(vec![k(1), k(3), k(2)]);
    let tree = ReferenceTree::new(APTOS, &set);
    let (k3, v3) = k(3);
    let proof = tree.range_proof(&k3).expect("k3 is in the set");
    assert_eq!(
        proof.right_siblings,
        [hex(
            "74e5d272f3db50e3cc5a584849597cf5683af5083d491848db9f0b73aa2a8dba"
        )]
    );
    // k3 = 0x40…: bits 0, 1 = 0, 1 and it is alone below depth 2. Its left sibling at depth 1
    // is the root of the keys with prefix bits "00" (k1), taken from the logical definition.
    let left_at_1: Vec<_> = set
        .iter()
        .filter(|(k, _)| !k.bit(0) && !k.bit(1))
        .copied()
        .collect();
    let left = vec![logical_root(&left_at_1, 2)];
    assert_eq!(tree.left_siblings(&k3), Some(left.clone()));
    // And the right sibling at depth 0 is the logical root of the bit-0 = 1 half (k2).
    let right_half: Vec<_> = set.iter().filter(|(k, _)| k.bit(0)).copied().collect();
    assert_eq!(proof.right_siblings, [logical_root(&right_half, 1)]);
    let root = hex("510e0ae7a84121ae38f159666380345511d7e2191c2f6ffe8843432eabcc2c43");
    proof
        .verify(APTOS, &root, &k3, &v3, &left)
        .expect("the spec's proof verifies");
}

#[test]
fn vector_jmt_alice_bob_carol() {
    let mut set: Vec<(KeyHash, HashValue)> = [("alice", "100"), ("bob", "200"), ("carol", "300")]
        .iter()
        .map(|(name, value)| {
            (
                HashValue::sha3(name.as_bytes()),
                HashValue::sha3(value.as_bytes()),
            )
        })
        .collect();
    set.sort();
    assert_eq!(
        root_of(HashScheme::Jmt, &set),
        hex("67c78346fecb09f7c73e64cbf1f9fd22a0ad7b9020e66a1707f0426568d7b9ef")
    );
}
