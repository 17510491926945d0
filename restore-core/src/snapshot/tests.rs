use super::*;
use crate::chunk::Chunk;
use crate::types::ChunkIndex;

fn spec(seed: u64, keys: usize, layout: KeyLayout) -> SnapshotSpec {
    SnapshotSpec {
        seed,
        keys,
        layout,
        ..SnapshotSpec::default()
    }
}

const LAYOUTS: [KeyLayout; 5] = [
    KeyLayout::Random,
    KeyLayout::SharedPrefix { nibbles: 40 },
    KeyLayout::Clustered {
        clusters: 3,
        nibbles: 30,
    },
    KeyLayout::Adjacent,
    KeyLayout::SharedPrefix { nibbles: 61 },
];

/// Root of a set by the bare definition (filter by bit, recurse), independent of the reference.
fn brute_root(scheme: HashScheme, set: &[(KeyHash, HashValue)], d: usize) -> HashValue {
    match set {
        [] => scheme.placeholder(),
        [(k, v)] => scheme.leaf(k, v),
        _ => {
            let (zeros, ones): (Vec<_>, Vec<_>) = set.iter().partition(|(k, _)| !k.bit(d));
            scheme.internal(
                &brute_root(scheme, &zeros, d + 1),
                &brute_root(scheme, &ones, d + 1),
            )
        }
    }
}

/// Left siblings of `key` (deepest first): at each depth `d` where `key` still shares its
/// prefix with another key and its bit is 1, the root of the keys that branch off to the left.
fn brute_left(scheme: HashScheme, set: &[(KeyHash, HashValue)], key: &KeyHash) -> Vec<HashValue> {
    let same = |k: &KeyHash, d: usize| (0..d).all(|i| k.bit(i) == key.bit(i));
    let mut out = Vec::new();
    let mut d = 0;
    while set.iter().any(|(k, _)| k != key && same(k, d)) {
        if key.bit(d) {
            let left: Vec<_> = set
                .iter()
                .filter(|(k, _)| same(k, d) && !k.bit(d))
                .copied()
                .collect();
            out.push(brute_root(scheme, &left, d + 1));
        }
        d += 1;
    }
    out.reverse();
    out
}

fn verify_chunk(snapshot: &Snapshot, chunk: &Chunk) -> Result<(), crate::ProofError> {
    let last = chunk.items.last().ok_or(crate::ProofError::EmptyChunk)?;
    let pairs = snapshot.leaf_pairs();
    let left = brute_left(snapshot.scheme, &pairs, &last.key_hash);
    chunk.proof.verify(
        snapshot.scheme,
        &snapshot.root,
        &last.key_hash,
        &last.value_hash(),
        &left,
    )
}

#[test]
fn snapshot_generation_is_sorted_unique_and_rooted() {
    for layout in LAYOUTS {
        for scheme in HashScheme::ALL {
            let s = Snapshot::generate(&spec(1, 300, layout.clone()), Version(7), scheme);
            assert_eq!(s.items.len(), 300, "{layout:?}");
            assert!(s.items.windows(2).all(|w| w[0].key_hash < w[1].key_hash));
            assert_eq!(s.version, Version(7));
            assert_eq!(s.root, brute_root(scheme, &s.leaf_pairs(), 0));
            let d = SnapshotSpec::default();
            for item in &s.items {
                assert!((d.key_len.0..=d.key_len.1).contains(&item.key.len()));
                assert!((d.value_len.0..=d.value_len.1).contains(&item.value.len()));
            }
            assert_eq!(s.usage(), Usage::of(&s.items));
        }
    }
}

#[test]
fn snapshot_generation_is_deterministic_per_seed() {
    for layout in LAYOUTS {
        let a = Snapshot::generate(&spec(5, 100, layout.clone()), Version(1), HashScheme::Aptos);
        let b = Snapshot::generate(&spec(5, 100, layout.clone()), Version(1), HashScheme::Aptos);
        let c = Snapshot::generate(&spec(6, 100, layout.clone()), Version(1), HashScheme::Aptos);
        assert_eq!(a, b, "{layout:?}");
        assert_ne!(a.items, c.items, "{layout:?}");
        assert_ne!(a.root, c.root, "{layout:?}");
    }
}

#[test]
fn snapshot_layouts_share_prefixes() {
    let s = Snapshot::generate(
        &spec(2, 200, KeyLayout::SharedPrefix { nibbles: 50 }),
        Version(0),
        HashScheme::Aptos,
    );
    let first = s.items[0].key_hash;
    assert!(
        s.items
            .iter()
            .all(|i| i.key_hash.common_nibble_prefix(&first) >= 50)
    );

    let s = Snapshot::generate(
        &spec(2, 200, KeyLayout::Adjacent),
        Version(0),
        HashScheme::Jmt,
    );
    let first = s.items[0].key_hash;
    assert!(s.items.iter().all(|i| i.key_hash.0[..24] == first.0[..24]));

    let layout = KeyLayout::Clustered {
        clusters: 4,
        nibbles: 20,
    };
    let s = Snapshot::generate(&spec(2, 400, layout), Version(0), HashScheme::Aptos);
    let mut prefixes: Vec<[u8; 10]> = s
        .items
        .iter()
        .map(|i| i.key_hash.0[..10].try_into().unwrap())
        .collect();
    prefixes.dedup(); // sorted by key hash, so each cluster is one run
    assert!(
        (2..=4).contains(&prefixes.len()),
        "{} clusters",
        prefixes.len()
    );
}

#[test]
fn snapshot_empty_single_and_tiny_key_spaces() {
    for scheme in HashScheme::ALL {
        let empty = Snapshot::generate(&spec(0, 0, KeyLayout::Random), Version(0), scheme);
        assert!(empty.items.is_empty());
        assert_eq!(empty.root, scheme.placeholder());
        assert!(empty.chunks(&Chunking::Whole).is_empty());
        assert_eq!(empty.usage(), Usage::default());

        let one = Snapshot::generate(&spec(0, 1, KeyLayout::Adjacent), Version(0), scheme);
        let item = &one.items[0];
        assert_eq!(one.root, scheme.leaf(&item.key_hash, &item.value_hash()));
        let chunks = one.chunks(&Chunking::OneKey);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].proof.right_siblings.is_empty());
    }
    // 63 shared nibbles leave 16 possible hashes.
    let tiny = Snapshot::generate(
        &spec(3, 100, KeyLayout::SharedPrefix { nibbles: 63 }),
        Version(0),
        HashScheme::Aptos,
    );
    assert!(!tiny.items.is_empty() && tiny.items.len() <= 16);
    assert!(tiny.items.windows(2).all(|w| w[0].key_hash < w[1].key_hash));
}

#[test]
fn snapshot_chunk_sizes_are_positive_and_sum_to_n() {
    let policies = [
        Chunking::Whole,
        Chunking::OneKey,
        Chunking::Fixed(0),
        Chunking::Fixed(7),
        Chunking::Random {
            seed: 4,
            min: 1,
            max: 9,
        },
        Chunking::Random {
            seed: 4,
            min: 50,
            max: 0,
        },
        Chunking::Sizes(vec![]),
        Chunking::Sizes(vec![0, 0]),
        Chunking::Sizes(vec![3, 0, 1]),
        Chunking::Sizes(vec![1000]),
    ];
    for policy in &policies {
        for n in [0usize, 1, 2, 5, 17, 100, 1001] {
            let sizes = policy.sizes(n);
            assert!(sizes.iter().all(|&s| s > 0), "{policy:?} {n}");
            assert_eq!(sizes.iter().sum::<usize>(), n, "{policy:?} {n}");
        }
    }
    assert_eq!(Chunking::Fixed(4).sizes(10), [4, 4, 2]);
    assert_eq!(Chunking::Sizes(vec![1, 0, 3]).sizes(9), [1, 3, 1, 3, 1]);
    assert_eq!(Chunking::Whole.sizes(0), Vec::<usize>::new());
    let random = Chunking::Random {
        seed: 9,
        min: 2,
        max: 5,
    };
    assert_eq!(random.sizes(100), random.sizes(100));
}

#[test]
fn snapshot_chunks_cover_items_and_proofs_verify() {
    for layout in LAYOUTS {
        let s = Snapshot::generate(&spec(8, 60, layout), Version(3), HashScheme::Aptos);
        let chunking = Chunking::Random {
            seed: 1,
            min: 1,
            max: 12,
        };
        let chunks = s.chunks(&chunking);
        let joined: Vec<_> = chunks.iter().flat_map(|c| c.items.clone()).collect();
        assert_eq!(joined, s.items);
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.index, ChunkIndex(i));
            verify_chunk(&s, chunk).expect("honest chunk verifies");
        }
    }
}

#[test]
fn snapshot_tampered_chunks_differ_and_fail() {
    let s = Snapshot::generate(
        &spec(4, 40, KeyLayout::Random),
        Version(0),
        HashScheme::Aptos,
    );
    let chunks = s.chunks(&Chunking::Fixed(8));
    let all = [
        Tamper::ChangeValue { item: 7 },
        Tamper::DropKey { item: 7 },
        Tamper::WrongSibling { sibling: 0 },
        Tamper::SwapOrder { item: 2 },
        Tamper::TruncateProof,
        Tamper::ExtraSibling,
    ];
    let mut applied = 0;
    for chunk in &chunks {
        for t in &all {
            let Some(bad) = tamper(chunk, t) else {
                continue;
            };
            applied += 1;
            assert_ne!(&bad, chunk, "{t:?}");
            // Tampers that touch the proof or the last item break the proof on its own.
            if !matches!(t, Tamper::SwapOrder { .. }) {
                assert!(verify_chunk(&s, &bad).is_err(), "{t:?} still verifies");
            }
        }
    }
    assert!(applied >= 5 * 4, "only {applied} tampers applied");

    let one = &s.chunks(&Chunking::OneKey)[0];
    assert_eq!(tamper(one, &Tamper::SwapOrder { item: 0 }), None);
    assert_eq!(tamper(one, &Tamper::DropKey { item: 0 }), None);
    assert_eq!(tamper(one, &Tamper::ChangeValue { item: 1 }), None);
    assert_eq!(
        tamper(
            one,
            &Tamper::WrongSibling {
                sibling: usize::MAX
            }
        ),
        None
    );
    assert_eq!(tamper(one, &Tamper::SwapOrder { item: usize::MAX }), None);
}
