//! Key hashes (and key bytes) for each [`KeyLayout`].

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

use super::KeyLayout;
use crate::hash::HashValue;
use crate::types::KeyHash;

/// Readable key characters: 32 of them, so one random byte picks one without bias.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";

/// Per-snapshot layout state (shared prefixes, counters), drawn once from the snapshot's RNG.
pub(super) enum KeyHasher {
    Random,
    /// Keys take the first `nibbles` nibbles of one of `prefixes` (one for SharedPrefix).
    Prefixed {
        prefixes: Vec<HashValue>,
        nibbles: usize,
        label: &'static str,
    },
    /// The last 8 bytes count up from `next`; the first 24 are `base`'s.
    Adjacent {
        base: HashValue,
        next: u64,
    },
}

impl KeyHasher {
    pub(super) fn new(layout: &KeyLayout, rng: &mut ChaCha8Rng) -> KeyHasher {
        match *layout {
            KeyLayout::Random => KeyHasher::Random,
            KeyLayout::SharedPrefix { nibbles } => KeyHasher::Prefixed {
                prefixes: vec![random_hash(rng)],
                nibbles: nibbles.min(64),
                label: "shared",
            },
            KeyLayout::Clustered { clusters, nibbles } => KeyHasher::Prefixed {
                prefixes: (0..clusters.max(1)).map(|_| random_hash(rng)).collect(),
                nibbles: nibbles.min(64),
                label: "cluster",
            },
            KeyLayout::Adjacent => KeyHasher::Adjacent {
                base: random_hash(rng),
                // Start below 2^62 so even millions of steps of at most 4 cannot overflow.
                next: rng.next_u64() >> 2,
            },
        }
    }

    /// The key hash and key bytes (`key_len` long) of item number `index`.
    pub(super) fn next(
        &mut self,
        rng: &mut ChaCha8Rng,
        index: u64,
        key_len: usize,
    ) -> (KeyHash, Vec<u8>) {
        match self {
            KeyHasher::Random => {
                let mut key = vec![0u8; key_len];
                rng.fill_bytes(&mut key);
                for b in &mut key {
                    *b = ALPHABET[usize::from(*b) % ALPHABET.len()];
                }
                (HashValue::sha3(&key), key)
            }
            KeyHasher::Prefixed {
                prefixes,
                nibbles,
                label,
            } => {
                let cluster = (rng.next_u64() % prefixes.len() as u64) as usize;
                let mut hash = random_hash(rng);
                copy_nibbles(&mut hash, &prefixes[cluster], *nibbles);
                let name = format!("{index:x}:{label}{cluster}/");
                (hash, label_bytes(&name, key_len))
            }
            KeyHasher::Adjacent { base, next } => {
                let mut hash = *base;
                hash.0[24..].copy_from_slice(&next.to_be_bytes());
                *next += 1 + rng.next_u64() % 4;
                (hash, label_bytes(&format!("{index:x}:adjacent/"), key_len))
            }
        }
    }
}

fn random_hash(rng: &mut ChaCha8Rng) -> HashValue {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    HashValue(bytes)
}

/// Overwrites the first `nibbles` nibbles of `hash` with those of `prefix`.
fn copy_nibbles(hash: &mut HashValue, prefix: &HashValue, nibbles: usize) {
    let full = nibbles / 2;
    hash.0[..full].copy_from_slice(&prefix.0[..full]);
    if nibbles % 2 == 1 {
        hash.0[full] = (prefix.0[full] & 0xF0) | (hash.0[full] & 0x0F);
    }
}

/// `name` cut or cyclically padded to exactly `len` bytes. The index leads the name so a cut
/// keeps the part that tells keys apart.
fn label_bytes(name: &str, len: usize) -> Vec<u8> {
    name.bytes().cycle().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_copy_nibbles_keeps_odd_low_nibble() {
        let mut h = HashValue([0x00; 32]);
        copy_nibbles(&mut h, &HashValue([0xAB; 32]), 3);
        assert_eq!(&h.0[..3], &[0xAB, 0xA0, 0x00]);
        assert_eq!(h.common_nibble_prefix(&HashValue([0xAB; 32])), 3);
    }

    #[test]
    fn snapshot_label_bytes_fit_the_length() {
        assert_eq!(label_bytes("1f:x/", 3), b"1f:");
        assert_eq!(label_bytes("1f:x/", 8), b"1f:x/1f:");
        assert!(label_bytes("a", 0).is_empty());
    }
}
