//! Seeded snapshot source: generates snapshots, cuts them into proved chunks and corrupts chunks
//! on request.
//!
//! Everything is a pure function of the spec and its seed (a [`ChaCha8Rng`]; ordered containers
//! only), so a failing case replays bit for bit. Roots and proofs come from
//! [`crate::reference`], never from the restore under test.

mod chunking;
mod keys;
mod tamper;

#[cfg(test)]
mod tests;

pub use chunking::Chunking;
pub use tamper::{Tamper, tamper};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::chunk::Snapshot;
use crate::hash::{HashScheme, HashValue};
use crate::reference::{ReferenceTree, root_of};
use crate::types::{KeyHash, StateItem, Usage, Version};

/// How key hashes are laid out in the 256-bit key space.
///
/// Only `Random` hashes the key bytes. The other layouts build the key hash directly (Aptos
/// carries `(key_hash, value)` into the tree, so the restore never rehashes keys): that is the
/// only cheap way to get long shared prefixes, which exercise deep partial nodes, long chains of
/// single-child internal nodes and the freezing logic. Their key bytes are a readable label
/// (`"<index in hex>:<layout>…"`, cut or padded to the drawn length) with no relation to the
/// hash; a label cut very short may repeat, the key hash never does.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum KeyLayout {
    /// key_hash = SHA3-256(key bytes); keys are random readable strings.
    #[default]
    Random,
    /// Every key shares the same random first `nibbles` nibbles (clamped to 64); the rest is
    /// random. Near 64 the key space shrinks, so fewer distinct keys may come out.
    SharedPrefix { nibbles: usize },
    /// `clusters` random prefixes of `nibbles` nibbles each (clamped to 64); every key picks one
    /// at random, so the tree is shallow at the top and deep inside each cluster.
    Clustered { clusters: usize, nibbles: usize },
    /// Consecutive-ish hashes: one random 24-byte prefix, the last 8 bytes counting up from a
    /// random start in steps of 1..=4, so neighbours split only at the deepest levels.
    Adjacent,
}

/// What to generate. Bounds given as `(a, b)` are inclusive and may come in either order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotSpec {
    pub seed: u64,
    /// Requested number of items; fewer come out only when the layout's key space is smaller.
    pub keys: usize,
    /// Value length in bytes (inclusive range).
    pub value_len: (usize, usize),
    /// Key length in bytes (inclusive range).
    pub key_len: (usize, usize),
    pub layout: KeyLayout,
}

impl Default for SnapshotSpec {
    /// A thousand random keys with access-path-sized keys and resource-sized values, roughly
    /// what an Aptos state chunk looks like.
    fn default() -> Self {
        SnapshotSpec {
            seed: 0,
            keys: 1_000,
            value_len: (24, 400),
            key_len: (16, 80),
            layout: KeyLayout::Random,
        }
    }
}

/// How many extra generation rounds may top up keys lost to duplicate hashes before giving up
/// (only tiny key spaces, e.g. a 63-nibble shared prefix, ever exhaust them).
const MAX_ROUNDS: usize = 16;

impl Snapshot {
    /// Generates the snapshot described by `spec`: items sorted by strictly increasing key hash
    /// (duplicates dropped, the first generated kept) and the reference root under `scheme`.
    pub fn generate(spec: &SnapshotSpec, version: Version, scheme: HashScheme) -> Snapshot {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let mut hashes = keys::KeyHasher::new(&spec.layout, &mut rng);
        let mut items: Vec<StateItem> = Vec::with_capacity(spec.keys);
        let mut next_index = 0u64;
        for _ in 0..MAX_ROUNDS {
            if items.len() >= spec.keys {
                break;
            }
            for _ in items.len()..spec.keys {
                items.push(generate_item(spec, &mut hashes, &mut rng, next_index));
                next_index += 1;
            }
            // Stable: among equal hashes the earliest generated item survives `dedup`.
            items.sort_by_key(|item| item.key_hash);
            items.dedup_by_key(|item| item.key_hash);
        }
        let mut snapshot = Snapshot {
            version,
            scheme,
            items,
            root: HashValue::ZERO,
        };
        snapshot.root = root_of(scheme, &snapshot.leaf_pairs());
        snapshot
    }

    /// `(key_hash, value_hash)` of every item, in order: the tree's view of the snapshot.
    pub fn leaf_pairs(&self) -> Vec<(KeyHash, HashValue)> {
        self.items
            .iter()
            .map(|item| (item.key_hash, item.value_hash()))
            .collect()
    }

    /// Storage usage of the whole snapshot, what a finished restore must report.
    pub fn usage(&self) -> Usage {
        Usage::of(&self.items)
    }

    /// The reference tree of this snapshot, for callers that need many proofs.
    pub fn reference_tree(&self) -> ReferenceTree {
        ReferenceTree::new(self.scheme, &self.leaf_pairs())
    }
}

fn generate_item(
    spec: &SnapshotSpec,
    hashes: &mut keys::KeyHasher,
    rng: &mut ChaCha8Rng,
    index: u64,
) -> StateItem {
    let key_len = draw_len(rng, spec.key_len);
    let (key_hash, key) = hashes.next(rng, index, key_len);
    let mut value = vec![0u8; draw_len(rng, spec.value_len)];
    rng.fill_bytes(&mut value);
    StateItem {
        key_hash,
        key,
        value,
    }
}

/// A length uniformly from the inclusive range `(a, b)` in either order. The modulo bias is
/// irrelevant at these sizes and keeps the draw to one `next_u64`.
pub(crate) fn draw_len(rng: &mut ChaCha8Rng, (a, b): (usize, usize)) -> usize {
    let (lo, hi) = (a.min(b), a.max(b));
    let draw = rng.next_u64();
    match ((hi - lo) as u64).checked_add(1) {
        Some(span) => lo + (draw % span) as usize,
        None => draw as usize, // the full u64 range
    }
}
