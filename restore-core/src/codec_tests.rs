//! Unit and property tests of the codec (kept apart so codec.rs stays readable).

use proptest::prelude::*;

use super::*;

fn h(byte: u8) -> HashValue {
    HashValue([byte; 32])
}

fn path(nibbles: &[u8]) -> NibblePath {
    nibbles.iter().fold(NibblePath::EMPTY, |p, &n| p.child(n))
}

fn leaf_child(hash: HashValue, version: u64) -> Option<Child> {
    Some(Child {
        hash,
        version: Version(version),
        kind: ChildKind::Leaf,
    })
}

fn internal_child(hash: HashValue, version: u64, leaf_count: u64) -> Option<Child> {
    Some(Child {
        hash,
        version: Version(version),
        kind: ChildKind::Internal { leaf_count },
    })
}

fn sample_leaf() -> Node {
    Node::Leaf(LeafNode {
        account_key: h(0xAA),
        value_hash: h(0xBB),
        version: Version(0x0102_0304_0506_0708),
    })
}

fn sample_internal() -> Node {
    let mut c: [Option<Child>; 16] = Default::default();
    c[1] = leaf_child(h(1), 5);
    c[9] = internal_child(h(2), 300, 7);
    Node::Internal(InternalNode::new(c).expect("valid shape"))
}

// ----- varint ---------------------------------------------------------------------------------

#[test]
fn varint_known_encodings() {
    let enc = |v: u64| {
        let mut out = Vec::new();
        write_varint(v, &mut out);
        out
    };
    assert_eq!(enc(0), [0x00]);
    assert_eq!(enc(127), [0x7F]);
    assert_eq!(enc(128), [0x80, 0x01]);
    assert_eq!(enc(300), [0xAC, 0x02]);
    // 56 bits fill eight groups exactly; one more bit needs the raw ninth byte.
    assert_eq!(
        enc((1 << 56) - 1),
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
    );
    assert_eq!(
        enc(1 << 56),
        [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
    );
    let max = enc(u64::MAX);
    assert_eq!(max.len(), MAX_VARINT_LEN);
    assert_eq!(max[8], 0xFF);
    assert_eq!(decode_varint(&max), Ok(u64::MAX));
}

#[test]
fn varint_rejects_non_canonical_truncated_and_trailing() {
    assert_eq!(
        decode_varint(&[0x80, 0x00]),
        Err(DecodeError::NonCanonicalVarint)
    );
    let mut nine_zero = vec![0x80; 8];
    nine_zero.push(0x00);
    assert_eq!(
        decode_varint(&nine_zero),
        Err(DecodeError::NonCanonicalVarint)
    );
    assert!(matches!(
        decode_varint(&[0x80]),
        Err(DecodeError::Truncated { .. })
    ));
    assert!(matches!(
        decode_varint(&[]),
        Err(DecodeError::Truncated { .. })
    ));
    assert!(matches!(
        decode_varint(&[0x01, 0x01]),
        Err(DecodeError::TrailingBytes { extra: 1, .. })
    ));
}

// ----- node keys ------------------------------------------------------------------------------

#[test]
fn node_key_layout_and_round_trip() {
    let key = NodeKey::new(Version(0x0102), path(&[0xA, 0xB, 0xC]));
    let bytes = encode_node_key(&key);
    assert_eq!(bytes, [0, 0, 0, 0, 0, 0, 0x01, 0x02, 3, 0xAB, 0xC0]);
    assert_eq!(decode_node_key(&bytes), Ok(key));

    let root = NodeKey::root(Version(7));
    assert_eq!(encode_node_key(&root).len(), NODE_KEY_HEADER_LEN);
    assert_eq!(decode_node_key(&encode_node_key(&root)), Ok(root));

    let deepest = NodeKey::new(Version(u64::MAX), NibblePath::prefix_of(&h(0x5A), 64));
    assert_eq!(decode_node_key(&encode_node_key(&deepest)), Ok(deepest));
}

#[test]
fn node_key_rejects_bad_input() {
    let mut too_deep = node_key_depth_bound(Version(1), 65).to_vec();
    too_deep.extend_from_slice(&[0; 33]);
    assert_eq!(
        decode_node_key(&too_deep),
        Err(DecodeError::TooManyNibbles(65))
    );

    let mut short = node_key_depth_bound(Version(1), 3).to_vec();
    short.push(0xAB);
    assert_eq!(
        decode_node_key(&short),
        Err(DecodeError::PathLengthMismatch {
            nibbles: 3,
            bytes: 1
        })
    );
    let mut long = node_key_depth_bound(Version(1), 2).to_vec();
    long.extend_from_slice(&[0xAB, 0x00]);
    assert_eq!(
        decode_node_key(&long),
        Err(DecodeError::PathLengthMismatch {
            nibbles: 2,
            bytes: 2
        })
    );

    let mut pad = node_key_depth_bound(Version(1), 1).to_vec();
    pad.push(0x1F);
    assert_eq!(decode_node_key(&pad), Err(DecodeError::NonZeroPadNibble));

    assert!(matches!(
        decode_node_key(&[0; 8]),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn depth_bound_sorts_between_depths() {
    let v = Version(9);
    let bound = node_key_depth_bound(v, 2).to_vec();
    let last_depth1 = encode_node_key(&NodeKey::new(v, path(&[0xF])));
    let first_depth2 = encode_node_key(&NodeKey::new(v, path(&[0, 0])));
    assert!(last_depth1 < bound && bound < first_depth2);
    assert_eq!(&bound[..8], version_prefix(v));
}

// ----- nodes ----------------------------------------------------------------------------------

#[test]
fn leaf_layout_and_round_trip() {
    let node = sample_leaf();
    let bytes = encode_node(&node);
    let mut expected = vec![NODE_FORMAT_V1, 1, 0x20];
    expected.extend_from_slice(&[0xAA; 32]);
    expected.push(0x20);
    expected.extend_from_slice(&[0xBB; 32]);
    expected.extend_from_slice(&[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(bytes, expected);
    assert_eq!(decode_node(&bytes), Ok(node));
}

#[test]
fn internal_layout_and_round_trip() {
    let node = sample_internal();
    let bytes = encode_node(&node);
    let mut expected = vec![NODE_FORMAT_V1, 2];
    expected.extend_from_slice(&0x0202u16.to_le_bytes()); // children 1 and 9
    expected.extend_from_slice(&0x0002u16.to_le_bytes()); // child 1 is a leaf
    expected.push(5);
    expected.extend_from_slice(&[1; 32]);
    expected.extend_from_slice(&[0xAC, 0x02]); // version 300
    expected.extend_from_slice(&[2; 32]);
    expected.push(7); // leaf count
    assert_eq!(bytes, expected);
    assert_eq!(decode_node(&bytes), Ok(node));
}

#[test]
fn null_round_trips_with_empty_payload() {
    let bytes = encode_node(&Node::Null);
    assert_eq!(bytes, [NODE_FORMAT_V1, 3]);
    assert_eq!(decode_node(&bytes), Ok(Node::Null));
    assert!(matches!(
        decode_node(&[NODE_FORMAT_V1, 3, 0]),
        Err(DecodeError::TrailingBytes { extra: 1, .. })
    ));
}

#[test]
fn node_rejects_unknown_format_and_tag() {
    let mut bytes = encode_node(&sample_leaf());
    bytes[0] = 2;
    assert!(matches!(
        decode_node(&bytes),
        Err(DecodeError::UnknownFormat { format: 2, .. })
    ));
    assert_eq!(
        decode_node(&[NODE_FORMAT_V1, 4]),
        Err(DecodeError::UnknownNodeTag(4))
    );
    assert_eq!(
        decode_node(&[NODE_FORMAT_V1, 0]),
        Err(DecodeError::UnknownNodeTag(0))
    );
}

#[test]
fn node_rejects_every_truncation_and_trailing_bytes() {
    for node in [sample_leaf(), sample_internal(), Node::Null] {
        let bytes = encode_node(&node);
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    decode_node(&bytes[..cut]),
                    Err(DecodeError::Truncated { .. })
                ),
                "{node:?} cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(
            decode_node(&extra),
            Err(DecodeError::TrailingBytes { extra: 1, .. })
        ));
    }
}

#[test]
fn node_rejects_bad_hash_markers() {
    let mut bytes = encode_node(&sample_leaf());
    bytes[2] = 0x1F;
    assert_eq!(decode_node(&bytes), Err(DecodeError::BadHashLength(0x1F)));
    let mut bytes = encode_node(&sample_leaf());
    bytes[35] = 0x21;
    assert_eq!(decode_node(&bytes), Err(DecodeError::BadHashLength(0x21)));
}

fn internal_bytes(existence: u16, leaf: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![NODE_FORMAT_V1, 2];
    out.extend_from_slice(&existence.to_le_bytes());
    out.extend_from_slice(&leaf.to_le_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn internal_rejects_bad_bitmaps() {
    assert_eq!(
        decode_node(&internal_bytes(0, 0, &[])),
        Err(DecodeError::EmptyExistenceBitmap)
    );
    let mut body = vec![0u8];
    body.extend_from_slice(&[1; 32]);
    assert_eq!(
        decode_node(&internal_bytes(0b01, 0b11, &body)),
        Err(DecodeError::LeafBitOutsideExistence {
            existence: 0b01,
            leaf: 0b11
        })
    );
}

#[test]
fn internal_rejects_shapes_the_tree_never_makes() {
    let mut body = vec![0u8];
    body.extend_from_slice(&[1; 32]);
    assert_eq!(
        decode_node(&internal_bytes(1 << 4, 1 << 4, &body)),
        Err(DecodeError::InvalidInternalNode(NodeError::SingleLeafChild))
    );
}

#[test]
fn internal_rejects_leaf_count_overflow_without_panicking() {
    let mut max = Vec::new();
    write_varint(u64::MAX, &mut max);
    let mut body = Vec::new();
    for _ in 0..2 {
        body.push(0);
        body.extend_from_slice(&[3; 32]);
        body.extend_from_slice(&max);
    }
    assert_eq!(
        decode_node(&internal_bytes(0b11, 0, &body)),
        Err(DecodeError::LeafCountOverflow)
    );
}

#[test]
fn internal_rejects_non_canonical_child_version() {
    let mut body = vec![0x80, 0x00];
    body.extend_from_slice(&[1; 32]);
    body.push(2);
    assert_eq!(
        decode_node(&internal_bytes(1, 0, &body)),
        Err(DecodeError::NonCanonicalVarint)
    );
}

// ----- kv rows, progress, usage ---------------------------------------------------------------

#[test]
fn kv_key_and_row_round_trip() {
    let item = StateItem {
        key_hash: h(0x42),
        key: b"account/balance".to_vec(),
        value: vec![9; 100],
    };
    let key = encode_kv_key(Version(3), &item.key_hash);
    assert_eq!(&key[..8], version_prefix(Version(3)));
    assert_eq!(decode_kv_key(&key), Ok((Version(3), item.key_hash)));
    let row = encode_kv_row(&item).expect("small key");
    assert_eq!(row[0], KV_ROW_FORMAT_V1);
    assert_eq!(&row[1..5], (item.key.len() as u32).to_le_bytes());
    assert_eq!(decode_kv_row(item.key_hash, &row), Ok(item.clone()));

    let empty = StateItem {
        key_hash: h(1),
        key: Vec::new(),
        value: Vec::new(),
    };
    let row = encode_kv_row(&empty).expect("small key");
    assert_eq!(decode_kv_row(empty.key_hash, &row), Ok(empty));
}

#[test]
fn kv_rejects_bad_input() {
    assert_eq!(
        decode_kv_key(&[0; 39]),
        Err(DecodeError::WrongLength {
            what: "kv key",
            expected: KV_KEY_LEN,
            found: 39
        })
    );
    // Claims a 10-byte key but carries 3 bytes.
    let row = [KV_ROW_FORMAT_V1, 10, 0, 0, 0, 1, 2, 3];
    assert!(matches!(
        decode_kv_row(h(0), &row),
        Err(DecodeError::Truncated { .. })
    ));
    assert!(matches!(
        decode_kv_row(h(0), &[7, 0, 0, 0, 0]),
        Err(DecodeError::UnknownFormat { format: 7, .. })
    ));
    assert!(matches!(
        decode_kv_row(h(0), &[KV_ROW_FORMAT_V1, 0, 0]),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn progress_and_usage_round_trip_and_reject() {
    let progress = Progress {
        key_hash: h(0x77),
        usage: Usage {
            items: 12,
            bytes: u64::MAX,
        },
    };
    let bytes = encode_progress(&progress);
    assert_eq!(bytes.len(), 49);
    assert_eq!(decode_progress(&bytes), Ok(progress));
    assert!(matches!(
        decode_progress(&bytes[..48]),
        Err(DecodeError::Truncated { .. })
    ));
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        decode_progress(&long),
        Err(DecodeError::TrailingBytes { .. })
    ));
    let mut wrong = bytes;
    wrong[0] = 9;
    assert!(matches!(
        decode_progress(&wrong),
        Err(DecodeError::UnknownFormat { format: 9, .. })
    ));

    let usage = Usage { items: 1, bytes: 2 };
    let bytes = encode_usage(&usage);
    assert_eq!(bytes.len(), 17);
    assert_eq!(decode_usage(&bytes), Ok(usage));
    assert!(matches!(
        decode_usage(&bytes[..16]),
        Err(DecodeError::Truncated { .. })
    ));
    // A progress record is not a usage record.
    assert!(decode_usage(&encode_progress(&progress)).is_err());
}

#[test]
fn decode_error_becomes_store_corrupt() {
    let err: StoreError = DecodeError::NonZeroPadNibble.into();
    assert!(matches!(err, StoreError::Corrupt(msg) if msg.contains("pad nibble")));
}

// ----- properties -----------------------------------------------------------------------------

fn arb_hash() -> impl Strategy<Value = HashValue> {
    any::<[u8; 32]>().prop_map(HashValue)
}

fn arb_path() -> impl Strategy<Value = NibblePath> {
    (arb_hash(), 0..=ROOT_NIBBLE_HEIGHT).prop_map(|(hash, len)| NibblePath::prefix_of(&hash, len))
}

fn arb_node_key() -> impl Strategy<Value = NodeKey> {
    // Small versions too, so equal versions (the interesting ordering case) are common.
    (prop_oneof![0u64..4, any::<u64>()], arb_path()).prop_map(|(v, p)| NodeKey::new(Version(v), p))
}

fn arb_child() -> impl Strategy<Value = Option<Child>> {
    let kind = prop_oneof![
        Just(ChildKind::Leaf),
        (0..=u64::MAX / 16).prop_map(|leaf_count| ChildKind::Internal { leaf_count }),
    ];
    proptest::option::of(
        (arb_hash(), any::<u64>(), kind).prop_map(|(hash, v, kind)| Child {
            hash,
            version: Version(v),
            kind,
        }),
    )
}

fn arb_node() -> impl Strategy<Value = Node> {
    let leaf = (arb_hash(), arb_hash(), any::<u64>()).prop_map(|(k, v, ver)| {
        Node::Leaf(LeafNode {
            account_key: k,
            value_hash: v,
            version: Version(ver),
        })
    });
    let internal = proptest::array::uniform16(arb_child())
        .prop_filter_map("shape InternalNode::new rejects", |c| {
            InternalNode::new(c).ok().map(Node::Internal)
        });
    prop_oneof![leaf, internal, Just(Node::Null)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_500))]

    #[test]
    fn prop_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        // Each decoder must answer Ok or Err; a panic fails the test. Whatever decodes must
        // re-encode to the same bytes (strict, canonical decoding).
        if let Ok(node) = decode_node(&bytes) {
            prop_assert_eq!(encode_node(&node), bytes.clone());
        }
        if let Ok(key) = decode_node_key(&bytes) {
            prop_assert_eq!(encode_node_key(&key), bytes.clone());
        }
        if let Ok(progress) = decode_progress(&bytes) {
            prop_assert_eq!(encode_progress(&progress), bytes.clone());
        }
        let _ = decode_usage(&bytes);
        let _ = decode_kv_key(&bytes);
        let _ = decode_kv_row(HashValue::ZERO, &bytes);
        let _ = decode_varint(&bytes);
    }

    #[test]
    fn prop_node_like_bytes_never_panic(
        tag in 0u8..5,
        existence in any::<u16>(),
        leaf in any::<u16>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // Random bytes rarely get past the format byte; this aims the fuzzing at the payloads.
        let mut bytes = vec![NODE_FORMAT_V1, tag];
        bytes.extend_from_slice(&existence.to_le_bytes());
        bytes.extend_from_slice(&leaf.to_le_bytes());
        bytes.extend_from_slice(&body);
        if let Ok(node) = decode_node(&bytes) {
            prop_assert_eq!(encode_node(&node), bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn prop_valid_nodes_round_trip(node in arb_node()) {
        prop_assert_eq!(decode_node(&encode_node(&node)), Ok(node));
    }

    #[test]
    fn prop_varint_round_trips(v in prop_oneof![any::<u64>(), 0u64..300, Just(u64::MAX)]) {
        let mut out = Vec::new();
        write_varint(v, &mut out);
        prop_assert!(out.len() <= MAX_VARINT_LEN);
        prop_assert_eq!(decode_varint(&out), Ok(v));
    }

    #[test]
    fn prop_node_key_round_trips(key in arb_node_key()) {
        prop_assert_eq!(decode_node_key(&encode_node_key(&key)), Ok(key));
    }

    #[test]
    fn prop_node_key_byte_order_matches_ord(a in arb_node_key(), b in arb_node_key()) {
        prop_assert_eq!(encode_node_key(&a).cmp(&encode_node_key(&b)), a.cmp(&b));
    }

    #[test]
    fn prop_node_key_order_within_one_depth(
        version in any::<u64>(),
        len in 0..=ROOT_NIBBLE_HEIGHT,
        a in arb_hash(),
        b in arb_hash(),
    ) {
        // Same version and depth: only the packed path decides, padding must not interfere.
        let ka = NodeKey::new(Version(version), NibblePath::prefix_of(&a, len));
        let kb = NodeKey::new(Version(version), NibblePath::prefix_of(&b, len));
        prop_assert_eq!(encode_node_key(&ka).cmp(&encode_node_key(&kb)), ka.cmp(&kb));
    }

    #[test]
    fn prop_kv_and_progress_round_trip(
        key_hash in arb_hash(),
        key in proptest::collection::vec(any::<u8>(), 0..64),
        value in proptest::collection::vec(any::<u8>(), 0..64),
        items in any::<u64>(),
        bytes in any::<u64>(),
    ) {
        let item = StateItem { key_hash, key, value };
        let row = encode_kv_row(&item).expect("small key");
        prop_assert_eq!(decode_kv_row(key_hash, &row), Ok(item));
        let progress = Progress { key_hash, usage: Usage { items, bytes } };
        prop_assert_eq!(decode_progress(&encode_progress(&progress)), Ok(progress));
        prop_assert_eq!(decode_usage(&encode_usage(&progress.usage)), Ok(progress.usage));
    }
}
