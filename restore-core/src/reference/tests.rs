//! Checks the reference against a deliberately naive transcription of the logical definition:
//! filter-by-bit recursion over an unsorted set, quadratic and obviously correct.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::*;

type Leaf = (KeyHash, HashValue);

/// root(S, d) exactly as spec §1.4 writes it.
fn naive_root(scheme: HashScheme, set: &[Leaf], depth: usize) -> HashValue {
    match set {
        [] => scheme.placeholder(),
        [(k, v)] => scheme.leaf(k, v),
        _ => {
            let zeros: Vec<Leaf> = set.iter().filter(|(k, _)| !k.bit(depth)).copied().collect();
            let ones: Vec<Leaf> = set.iter().filter(|(k, _)| k.bit(depth)).copied().collect();
            scheme.internal(
                &naive_root(scheme, &zeros, depth + 1),
                &naive_root(scheme, &ones, depth + 1),
            )
        }
    }
}

fn shares_prefix(a: &KeyHash, b: &KeyHash, bits: usize) -> bool {
    (0..bits).all(|i| a.bit(i) == b.bit(i))
}

/// Siblings of `key`'s path, root first, as (key bit, sibling): the sibling at depth d is the
/// root of the keys that agree with `key` on bits < d and differ at bit d. The path ends at the
/// first depth where no other key shares the prefix (the collapsed leaf).
fn naive_path(scheme: HashScheme, set: &[Leaf], key: &KeyHash) -> Vec<(bool, HashValue)> {
    let mut out = Vec::new();
    let mut depth = 0;
    while set
        .iter()
        .any(|(k, _)| k != key && shares_prefix(k, key, depth))
    {
        let other: Vec<Leaf> = set
            .iter()
            .filter(|(k, _)| shares_prefix(k, key, depth) && k.bit(depth) != key.bit(depth))
            .copied()
            .collect();
        out.push((key.bit(depth), naive_root(scheme, &other, depth + 1)));
        depth += 1;
    }
    out
}

/// Left siblings deepest first, the order `RangeProof::verify` takes.
fn naive_left(scheme: HashScheme, set: &[Leaf], key: &KeyHash) -> Vec<HashValue> {
    let path = naive_path(scheme, set, key);
    path.iter()
        .rev()
        .filter(|(b, _)| *b)
        .map(|(_, h)| *h)
        .collect()
}

fn naive_right(scheme: HashScheme, set: &[Leaf], key: &KeyHash) -> Vec<HashValue> {
    let path = naive_path(scheme, set, key);
    path.iter()
        .rev()
        .filter(|(b, _)| !b)
        .map(|(_, h)| *h)
        .collect()
}

fn random_hash(rng: &mut ChaCha8Rng) -> HashValue {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    HashValue(b)
}

/// `n` sorted distinct leaves; with `prefix_bits` > 0 all keys share that many leading bits.
fn leaves(seed: u64, n: usize, prefix_bits: usize) -> Vec<Leaf> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let base = random_hash(&mut rng);
    let mut out: Vec<Leaf> = (0..n)
        .map(|_| {
            let mut k = random_hash(&mut rng);
            for i in 0..prefix_bits {
                let mask = 0x80u8 >> (i % 8);
                k.0[i / 8] = (k.0[i / 8] & !mask) | (base.0[i / 8] & mask);
            }
            (k, random_hash(&mut rng))
        })
        .collect();
    out.sort();
    out.dedup_by_key(|(k, _)| *k);
    out
}

#[test]
fn empty_and_single_roots() {
    for scheme in HashScheme::ALL {
        let empty = ReferenceTree::new(scheme, &[]);
        assert_eq!(empty.root(), scheme.placeholder());
        assert!(empty.is_empty());
        assert_eq!(empty.range_proof(&HashValue::ZERO), None);
        let one = leaves(1, 1, 0);
        let tree = ReferenceTree::new(scheme, &one);
        assert_eq!(tree.root(), scheme.leaf(&one[0].0, &one[0].1));
        assert_eq!(tree.range_proof(&one[0].0), Some(RangeProof::default()));
        assert_eq!(tree.left_siblings(&one[0].0), Some(vec![]));
    }
}

#[test]
fn reference_roots_match_naive_definition() {
    for scheme in HashScheme::ALL {
        for seed in 0..40u64 {
            let n = (seed as usize * 7) % 70;
            let prefix = [0, 3, 17, 60, 200][seed as usize % 5];
            let set = leaves(seed, n, prefix);
            assert_eq!(
                root_of(scheme, &set),
                naive_root(scheme, &set, 0),
                "seed {seed}"
            );
        }
    }
}

#[test]
fn reference_proofs_match_naive_paths_and_verify() {
    for scheme in HashScheme::ALL {
        for seed in 100..130u64 {
            let set = leaves(seed, 1 + seed as usize % 40, [0, 5, 120][seed as usize % 3]);
            let tree = ReferenceTree::new(scheme, &set);
            for (k, v) in &set {
                let proof = tree.range_proof(k).expect("key present");
                assert_eq!(proof.right_siblings, naive_right(scheme, &set, k));
                let left = naive_left(scheme, &set, k);
                assert_eq!(tree.left_siblings(k).as_ref(), Some(&left));
                proof
                    .verify(scheme, &tree.root(), k, v, &left)
                    .expect("reference proof verifies");
            }
        }
    }
}

#[test]
fn reference_proof_rejects_wrong_value_and_absent_key() {
    let set = leaves(7, 20, 0);
    let tree = ReferenceTree::new(HashScheme::Aptos, &set);
    let (k, _) = set[9];
    let proof = tree.range_proof(&k).unwrap();
    let left = tree.left_siblings(&k).unwrap();
    let wrong = HashValue::sha3(b"not the value");
    assert!(
        proof
            .verify(HashScheme::Aptos, &tree.root(), &k, &wrong, &left)
            .is_err()
    );
    let mut absent = k;
    absent.0[31] ^= 1;
    assert_eq!(tree.range_proof(&absent), None);
}

#[test]
fn reference_handles_long_single_bit_chains() {
    // Two keys that differ only in the last bit: a chain of 255 single-bit splits.
    let k0 = HashValue([0x5A; 32]);
    let mut k1 = k0;
    k1.0[31] ^= 1;
    let (lo, hi) = if k0 < k1 { (k0, k1) } else { (k1, k0) };
    let set = vec![(lo, HashValue::sha3(b"a")), (hi, HashValue::sha3(b"b"))];
    for scheme in HashScheme::ALL {
        let tree = ReferenceTree::new(scheme, &set);
        assert_eq!(tree.root(), naive_root(scheme, &set, 0));
        for (k, v) in &set {
            assert_eq!(tree.path(k).unwrap().len(), 256);
            let left = naive_left(scheme, &set, k);
            tree.range_proof(k)
                .unwrap()
                .verify(scheme, &tree.root(), k, v, &left)
                .unwrap();
        }
    }
    // Mixed: long chains below a shallow split.
    let set = leaves(9, 30, 250);
    let tree = ReferenceTree::new(HashScheme::Jmt, &set);
    assert_eq!(tree.root(), naive_root(HashScheme::Jmt, &set, 0));
}

#[test]
fn reference_proofs_for_every_key_of_3000() {
    let set = leaves(11, 3000, 0);
    let tree = ReferenceTree::new(HashScheme::Aptos, &set);
    let root = tree.root();
    let mut total_depth = 0;
    for (k, v) in &set {
        let left = tree.left_siblings(k).unwrap();
        let proof = tree.range_proof(k).unwrap();
        total_depth += left.len() + proof.right_siblings.len();
        proof.verify(HashScheme::Aptos, &root, k, v, &left).unwrap();
    }
    // Random keys: depth ≈ log2(3000) + small, so the total stays near n·12.
    assert!(total_depth < 3000 * 20, "total depth {total_depth}");
    // A few keys against the naive definition, which is quadratic.
    for (k, _) in set.iter().step_by(600) {
        assert_eq!(
            tree.left_siblings(k).unwrap(),
            naive_left(HashScheme::Aptos, &set, k)
        );
    }
}

#[test]
fn reference_builds_a_million_keys() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut set: Vec<Leaf> = (0..1_000_000)
        .map(|_| (random_hash(&mut rng), HashValue::ZERO))
        .collect();
    set.sort();
    set.dedup_by_key(|(k, _)| *k);
    let tree = ReferenceTree::new(HashScheme::Aptos, &set);
    assert_eq!(tree.len(), set.len());
    let (k, v) = set[set.len() / 2];
    tree.range_proof(&k)
        .unwrap()
        .verify(
            HashScheme::Aptos,
            &tree.root(),
            &k,
            &v,
            &tree.left_siblings(&k).unwrap(),
        )
        .unwrap();
}

#[test]
#[should_panic(expected = "strictly increasing")]
fn reference_rejects_unsorted_input() {
    let mut set = leaves(5, 4, 0);
    set.swap(1, 2);
    ReferenceTree::new(HashScheme::Aptos, &set);
}

#[test]
#[should_panic(expected = "strictly increasing")]
fn reference_rejects_duplicate_keys() {
    let mut set = leaves(5, 4, 0);
    set[2].0 = set[1].0;
    ReferenceTree::new(HashScheme::Aptos, &set);
}
