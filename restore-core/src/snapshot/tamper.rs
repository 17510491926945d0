//! Deliberate chunk corruption: what a malicious or broken backup source could hand the restore.
//! Tests and the harness's corrupt-source faults use it to check that a bad chunk is rejected
//! before any of its bytes become durable.

use crate::chunk::Chunk;
use crate::hash::HashValue;

/// One way to corrupt a chunk. Each is applicable only to chunks with the part it touches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tamper {
    /// Flips the first byte of item `item`'s value (appends one byte to an empty value), so its
    /// value hash, and with it the authenticated prefix, changes while the key and proof stay.
    ChangeValue { item: usize },
    /// Removes item `item`. Removing the last item leaves the proof naming a key that is no
    /// longer in the chunk; removing another leaves a hole the left siblings expose. Not
    /// applicable to a one-item chunk, which would become empty (a different fault).
    DropKey { item: usize },
    /// Replaces right sibling `sibling` (0 = deepest) with a different hash.
    WrongSibling { sibling: usize },
    /// Swaps items `item` and `item + 1`, breaking the strictly increasing key order.
    SwapOrder { item: usize },
    /// Drops the top-most (last) right sibling, so the proof is one level too short.
    TruncateProof,
    /// Appends a bogus right sibling above the top-most one, so the proof is one level too long.
    ExtraSibling,
}

/// A hash no honest proof contains, for the sibling tampers.
fn bogus(from: &HashValue) -> HashValue {
    let mut bytes = from.0.to_vec();
    bytes.extend_from_slice(b"restore-sim tampered sibling");
    HashValue::sha3(&bytes)
}

/// `chunk` corrupted by `t`, or `None` when `t` does not apply (index out of range, nothing to
/// remove, or a change that would leave the chunk empty). A returned chunk always differs from
/// the input.
pub fn tamper(chunk: &Chunk, t: &Tamper) -> Option<Chunk> {
    let mut out = chunk.clone();
    match *t {
        Tamper::ChangeValue { item } => {
            let value = &mut out.items.get_mut(item)?.value;
            match value.first_mut() {
                Some(b) => *b ^= 0xFF,
                None => value.push(0),
            }
        }
        Tamper::DropKey { item } => {
            if item >= out.items.len() || out.items.len() < 2 {
                return None;
            }
            out.items.remove(item);
        }
        Tamper::WrongSibling { sibling } => {
            let s = out.proof.right_siblings.get_mut(sibling)?;
            *s = bogus(s);
        }
        Tamper::SwapOrder { item } => {
            if item.checked_add(1)? >= out.items.len() {
                return None;
            }
            out.items.swap(item, item + 1);
        }
        Tamper::TruncateProof => {
            out.proof.right_siblings.pop()?;
        }
        Tamper::ExtraSibling => {
            let top = out
                .proof
                .right_siblings
                .last()
                .copied()
                .unwrap_or(HashValue::ZERO);
            out.proof.right_siblings.push(bogus(&top));
        }
    }
    debug_assert_ne!(&out, chunk, "a tamper must change the chunk");
    Some(out)
}
