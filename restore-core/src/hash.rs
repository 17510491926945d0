//! SHA3-256 hashing with the two domain-separation schemes we support.
//!
//! The Aptos scheme prefixes every node hash with a 32-byte *seed* = SHA3("APTOS::" ‖ salt) and
//! uses a literal (not hashed) placeholder for empty subtrees. The JMT scheme is what the `jmt`
//! crate does: raw ASCII prefixes and its own literal placeholder. Roots are only comparable
//! within one scheme, which is why the scheme is a value carried by every restore.

use std::fmt;
use std::sync::OnceLock;

use sha3::{Digest, Sha3_256};

/// A 32-byte SHA3-256 output (or a literal placeholder, which is *not* an output).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HashValue(pub [u8; 32]);

impl HashValue {
    pub const LENGTH: usize = 32;
    pub const ZERO: HashValue = HashValue([0u8; 32]);
    /// All ones: what a finished tree reports as its previous key, so every chunk is skipped.
    pub const MAX: HashValue = HashValue([0xFF; 32]);

    /// Plain SHA3-256 of `bytes`, with no domain separation (value hashes, test vectors).
    pub fn sha3(bytes: &[u8]) -> HashValue {
        HashValue(Sha3_256::digest(bytes).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Bit `i` (0 = most significant bit of byte 0), the path direction at depth `i`.
    pub fn bit(&self, i: usize) -> bool {
        debug_assert!(i < 256);
        (self.0[i / 8] >> (7 - (i % 8))) & 1 == 1
    }

    /// Nibble `i` (0 = high nibble of byte 0), the child index at JMT depth `i`.
    pub fn nibble(&self, i: usize) -> u8 {
        debug_assert!(i < 64);
        let byte = self.0[i / 2];
        if i.is_multiple_of(2) {
            byte >> 4
        } else {
            byte & 0x0F
        }
    }

    /// Number of leading nibbles shared with `other` (64 when equal).
    pub fn common_nibble_prefix(&self, other: &HashValue) -> usize {
        for (i, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                return i * 2 + usize::from(x & 0xF0 == 0);
            }
        }
        64
    }

    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parses 64 hex digits; `None` on anything else.
    pub fn from_hex(hex: &str) -> Option<HashValue> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(HashValue(out))
    }
}

impl fmt::Debug for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits are enough to tell hashes apart in a trace and keep lines readable.
        write!(f, "{}…", &self.to_hex()[..8])
    }
}

impl fmt::Display for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Which prefixes and placeholder node hashes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum HashScheme {
    /// Aptos: seeds SHA3("APTOS::SparseMerkleLeafNode") / SHA3("APTOS::SparseMerkleInternal"),
    /// placeholder = "SPARSE_MERKLE_PLACEHOLDER_HASH" zero-padded to 32 bytes.
    #[default]
    Aptos,
    /// The `jmt` crate: raw prefixes "JMT::LeafNode" / "JMT::IntrnalNode",
    /// placeholder = "SPARSE_MERKLE_PLACEHOLDER_HASH__".
    Jmt,
}

/// Hasher states with the prefix already absorbed; cloning one is cheaper than re-absorbing.
struct Prefixed {
    leaf: Sha3_256,
    internal: Sha3_256,
    placeholder: HashValue,
}

const APTOS_HASH_PREFIX: &[u8] = b"APTOS::";

/// Aptos seed for a salt name: SHA3-256("APTOS::" ‖ name).
pub fn aptos_seed(name: &[u8]) -> HashValue {
    let mut h = Sha3_256::new();
    h.update(APTOS_HASH_PREFIX);
    h.update(name);
    HashValue(h.finalize().into())
}

/// A literal hash: ASCII bytes right-padded with zeros to 32 bytes.
fn literal(text: &[u8]) -> HashValue {
    assert!(text.len() <= 32, "literal hash longer than 32 bytes");
    let mut out = [0u8; 32];
    out[..text.len()].copy_from_slice(text);
    HashValue(out)
}

fn prefixed(scheme: HashScheme) -> &'static Prefixed {
    static APTOS: OnceLock<Prefixed> = OnceLock::new();
    static JMT: OnceLock<Prefixed> = OnceLock::new();
    let with_prefix = |p: &[u8]| {
        let mut h = Sha3_256::new();
        h.update(p);
        h
    };
    match scheme {
        HashScheme::Aptos => APTOS.get_or_init(|| Prefixed {
            leaf: with_prefix(&aptos_seed(b"SparseMerkleLeafNode").0),
            internal: with_prefix(&aptos_seed(b"SparseMerkleInternal").0),
            placeholder: literal(b"SPARSE_MERKLE_PLACEHOLDER_HASH"),
        }),
        HashScheme::Jmt => JMT.get_or_init(|| Prefixed {
            leaf: with_prefix(b"JMT::LeafNode"),
            internal: with_prefix(b"JMT::IntrnalNode"),
            placeholder: literal(b"SPARSE_MERKLE_PLACEHOLDER_HASH__"),
        }),
    }
}

impl HashScheme {
    pub const ALL: [HashScheme; 2] = [HashScheme::Aptos, HashScheme::Jmt];

    /// The hash of an empty subtree.
    pub fn placeholder(self) -> HashValue {
        prefixed(self).placeholder
    }

    /// H_leaf(key_hash, value_hash): raw 32 ‖ 32 bytes after the prefix, no length prefixes.
    pub fn leaf(self, key_hash: &HashValue, value_hash: &HashValue) -> HashValue {
        let mut h = prefixed(self).leaf.clone();
        h.update(key_hash.0);
        h.update(value_hash.0);
        HashValue(h.finalize().into())
    }

    /// H_int(left, right).
    pub fn internal(self, left: &HashValue, right: &HashValue) -> HashValue {
        let mut h = prefixed(self).internal.clone();
        h.update(left.0);
        h.update(right.0);
        HashValue(h.finalize().into())
    }

    pub fn name(self) -> &'static str {
        match self {
            HashScheme::Aptos => "aptos",
            HashScheme::Jmt => "jmt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibbles_and_bits_are_msb_first() {
        let mut b = [0u8; 32];
        b[0] = 0xA5; // 1010 0101
        let h = HashValue(b);
        assert_eq!(h.nibble(0), 0xA);
        assert_eq!(h.nibble(1), 0x5);
        let bits: Vec<bool> = (0..8).map(|i| h.bit(i)).collect();
        assert_eq!(bits, [true, false, true, false, false, true, false, true]);
    }

    #[test]
    fn common_prefix_counts_nibbles() {
        let a = HashValue([0x12; 32]);
        let mut b = a;
        b.0[3] = 0x13;
        assert_eq!(a.common_nibble_prefix(&b), 7);
        b.0[3] = 0x22;
        assert_eq!(a.common_nibble_prefix(&b), 6);
        assert_eq!(a.common_nibble_prefix(&a), 64);
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let h = HashValue::sha3(b"x");
        assert_eq!(HashValue::from_hex(&h.to_hex()), Some(h));
        assert_eq!(HashValue::from_hex("zz"), None);
        assert_eq!(HashValue::from_hex(&"g".repeat(64)), None);
    }
}
