//! Compact, stable, versioned byte encodings of everything the stores persist.
//!
//! Why hand-written rather than serde: the byte layout *is* the on-disk format and, for node keys,
//! the sort order RocksDB iterates in, so it must never drift with a library upgrade. Every value
//! encoding starts with a format byte so a future layout can be introduced next to this one and
//! old data still decodes (or is rejected loudly instead of being misread).
//!
//! Decoding is total: any byte string yields `Ok` or a [`DecodeError`] naming what was wrong, and
//! never panics, because stores read bytes that a crash, a bug or a fault injector may have
//! mangled. Decoders are also strict (no trailing bytes, canonical varints), so every accepted
//! input re-encodes to exactly the same bytes.

use thiserror::Error;

use crate::hash::HashValue;
use crate::nibble::{NibblePath, ROOT_NIBBLE_HEIGHT};
use crate::node::{Child, ChildKind, InternalNode, LeafNode, Node, NodeError, NodeKey};
use crate::store::StoreError;
use crate::types::{KeyHash, Progress, StateItem, Usage, Version};

/// Format byte of the first (and so far only) node layout.
pub const NODE_FORMAT_V1: u8 = 1;
/// Format byte of the first KV row layout.
pub const KV_ROW_FORMAT_V1: u8 = 1;
/// Format byte of the first progress-record layout.
pub const PROGRESS_FORMAT_V1: u8 = 1;
/// Format byte of the first usage-record layout.
pub const USAGE_FORMAT_V1: u8 = 1;

const TAG_LEAF: u8 = 1;
const TAG_INTERNAL: u8 = 2;
const TAG_NULL: u8 = 3;

/// BCS length prefix of a 32-byte `HashValue`; kept so leaf payloads match Aptos's BCS shape.
const HASH_LEN_MARKER: u8 = 0x20;

/// Bytes of an encoded node key before the packed path: version (8) + nibble count (1).
pub const NODE_KEY_HEADER_LEN: usize = 9;
/// Bytes of an encoded KV key: version (8) + key hash (32).
pub const KV_KEY_LEN: usize = 40;
/// Longest possible varint (8 groups of 7 bits, then one raw byte).
pub const MAX_VARINT_LEN: usize = 9;

/// Why a byte string could not be decoded. Stores turn this into [`StoreError::Corrupt`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("{what}: input ends early")]
    Truncated { what: &'static str },
    #[error("{what}: {extra} unexpected trailing byte(s)")]
    TrailingBytes { what: &'static str, extra: usize },
    #[error("{what}: unknown format byte {format}")]
    UnknownFormat { what: &'static str, format: u8 },
    #[error("unknown node tag {0}")]
    UnknownNodeTag(u8),
    #[error("node key has {0} nibbles (at most 64 allowed)")]
    TooManyNibbles(u8),
    #[error("node key claims {nibbles} nibbles but carries {bytes} path byte(s)")]
    PathLengthMismatch { nibbles: u8, bytes: usize },
    #[error("node key path has a non-zero pad nibble")]
    NonZeroPadNibble,
    #[error("{what}: expected {expected} bytes, found {found}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("hash length marker is {0:#04x}, expected 0x20")]
    BadHashLength(u8),
    #[error("internal node has an empty existence bitmap")]
    EmptyExistenceBitmap,
    #[error("leaf bitmap {leaf:#06x} has bits outside existence bitmap {existence:#06x}")]
    LeafBitOutsideExistence { existence: u16, leaf: u16 },
    #[error("varint is not in canonical (shortest) form")]
    NonCanonicalVarint,
    #[error("internal node's children hold more than u64::MAX leaves")]
    LeafCountOverflow,
    #[error("invalid internal node: {0}")]
    InvalidInternalNode(#[from] NodeError),
}

impl From<DecodeError> for StoreError {
    fn from(e: DecodeError) -> StoreError {
        StoreError::Corrupt(e.to_string())
    }
}

/// Why a value could not be encoded (only absurd sizes; kept as an error so nothing panics).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("state key of {0} bytes does not fit the u32 length prefix")]
    KeyTooLong(usize),
}

impl From<EncodeError> for StoreError {
    fn from(e: EncodeError) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Byte reader
// ---------------------------------------------------------------------------------------------

/// A cursor over input bytes whose every read is bounds-checked, so decoders stay panic-free.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated { what: self.what });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16_le(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32_le(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64_le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn u64_be(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn hash(&mut self) -> Result<HashValue, DecodeError> {
        Ok(HashValue(self.array()?))
    }

    /// A BCS-style hash: the 0x20 length marker, then 32 bytes.
    fn prefixed_hash(&mut self) -> Result<HashValue, DecodeError> {
        match self.u8()? {
            HASH_LEN_MARKER => self.hash(),
            other => Err(DecodeError::BadHashLength(other)),
        }
    }

    fn format(&mut self, expected: u8) -> Result<(), DecodeError> {
        match self.u8()? {
            f if f == expected => Ok(()),
            format => Err(DecodeError::UnknownFormat {
                what: self.what,
                format,
            }),
        }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for group in 0..8 {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7F) << (7 * group);
            if byte & 0x80 == 0 {
                // A zero final group means a shorter encoding existed.
                if group > 0 && byte == 0 {
                    return Err(DecodeError::NonCanonicalVarint);
                }
                return Ok(value);
            }
        }
        let last = self.u8()?;
        if last == 0 {
            return Err(DecodeError::NonCanonicalVarint);
        }
        Ok(value | (u64::from(last) << 56))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what: self.what,
                extra: self.buf.len(),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Varint
// ---------------------------------------------------------------------------------------------

/// Appends `value` as a varint: 7-bit groups, least significant first, high bit = "more"; after
/// eight groups the ninth byte carries the top 8 bits raw, so a u64 never needs more than 9 bytes.
pub fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    for _ in 0..8 {
        if value < 0x80 {
            out.push(value as u8);
            return;
        }
        out.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Decodes one varint that must span all of `bytes`.
pub fn decode_varint(bytes: &[u8]) -> Result<u64, DecodeError> {
    let mut r = Reader::new(bytes, "varint");
    let v = r.varint()?;
    r.finish()?;
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Node keys
// ---------------------------------------------------------------------------------------------

/// Appends a node key: version u64 big-endian ‖ nibble count ‖ packed path. Big-endian version
/// and the count before the path make byte order equal `NodeKey`'s `Ord` (version, depth, path),
/// which the per-depth rightmost-leaf seek relies on.
pub fn write_node_key(key: &NodeKey, out: &mut Vec<u8>) {
    out.extend_from_slice(&key.version.0.to_be_bytes());
    out.push(key.path.len() as u8);
    out.extend_from_slice(key.path.packed());
}

pub fn encode_node_key(key: &NodeKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(NODE_KEY_HEADER_LEN + key.path.packed().len());
    write_node_key(key, &mut out);
    out
}

/// The header `(version, num_nibbles)` with no path bytes. It sorts before every key of that
/// depth at that version and after every shallower one, so it is the seek target that finds the
/// last node of depth `num_nibbles - 1`. `num_nibbles` may be 65 (one past the deepest level).
pub fn node_key_depth_bound(version: Version, num_nibbles: u8) -> [u8; NODE_KEY_HEADER_LEN] {
    let mut out = [0u8; NODE_KEY_HEADER_LEN];
    out[..8].copy_from_slice(&version.0.to_be_bytes());
    out[8] = num_nibbles;
    out
}

/// The 8-byte prefix shared by every node key and KV key at `version`.
pub fn version_prefix(version: Version) -> [u8; 8] {
    version.0.to_be_bytes()
}

pub fn decode_node_key(bytes: &[u8]) -> Result<NodeKey, DecodeError> {
    let mut r = Reader::new(bytes, "node key");
    let version = Version(r.u64_be()?);
    let nibbles = r.u8()?;
    if usize::from(nibbles) > ROOT_NIBBLE_HEIGHT {
        return Err(DecodeError::TooManyNibbles(nibbles));
    }
    let packed = r.rest();
    if packed.len() != usize::from(nibbles).div_ceil(2) {
        return Err(DecodeError::PathLengthMismatch {
            nibbles,
            bytes: packed.len(),
        });
    }
    // Length was checked above, so the only remaining reason to refuse is the pad nibble.
    let path = NibblePath::from_packed(usize::from(nibbles), packed)
        .ok_or(DecodeError::NonZeroPadNibble)?;
    Ok(NodeKey::new(version, path))
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

pub fn encode_node(node: &Node) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 16 * (MAX_VARINT_LEN * 2 + 32));
    out.push(NODE_FORMAT_V1);
    match node {
        Node::Leaf(leaf) => {
            out.push(TAG_LEAF);
            out.push(HASH_LEN_MARKER);
            out.extend_from_slice(&leaf.account_key.0);
            out.push(HASH_LEN_MARKER);
            out.extend_from_slice(&leaf.value_hash.0);
            out.extend_from_slice(&leaf.version.0.to_le_bytes());
        }
        Node::Internal(internal) => {
            out.push(TAG_INTERNAL);
            out.extend_from_slice(&internal.existence_bitmap().to_le_bytes());
            out.extend_from_slice(&internal.leaf_bitmap().to_le_bytes());
            for child in internal.children().iter().flatten() {
                write_varint(child.version.0, &mut out);
                out.extend_from_slice(&child.hash.0);
                if let ChildKind::Internal { leaf_count } = child.kind {
                    write_varint(leaf_count, &mut out);
                }
            }
        }
        Node::Null => out.push(TAG_NULL),
    }
    out
}

pub fn decode_node(bytes: &[u8]) -> Result<Node, DecodeError> {
    let mut r = Reader::new(bytes, "node");
    r.format(NODE_FORMAT_V1)?;
    let node = match r.u8()? {
        TAG_LEAF => Node::Leaf(LeafNode {
            account_key: r.prefixed_hash()?,
            value_hash: r.prefixed_hash()?,
            version: Version(r.u64_le()?),
        }),
        TAG_INTERNAL => Node::Internal(decode_internal(&mut r)?),
        TAG_NULL => Node::Null,
        tag => return Err(DecodeError::UnknownNodeTag(tag)),
    };
    r.finish()?;
    Ok(node)
}

fn decode_internal(r: &mut Reader<'_>) -> Result<InternalNode, DecodeError> {
    let existence = r.u16_le()?;
    let leaf = r.u16_le()?;
    if existence == 0 {
        return Err(DecodeError::EmptyExistenceBitmap);
    }
    if leaf & !existence != 0 {
        return Err(DecodeError::LeafBitOutsideExistence { existence, leaf });
    }
    let mut children: [Option<Child>; 16] = Default::default();
    // InternalNode::new sums leaf counts unchecked; refuse overflowing inputs before it sees them.
    let mut total: u64 = 0;
    for (i, slot) in children.iter_mut().enumerate() {
        if existence & (1 << i) == 0 {
            continue;
        }
        let version = Version(r.varint()?);
        let hash = r.hash()?;
        let kind = if leaf & (1 << i) != 0 {
            ChildKind::Leaf
        } else {
            ChildKind::Internal {
                leaf_count: r.varint()?,
            }
        };
        let child = Child {
            hash,
            version,
            kind,
        };
        total = total
            .checked_add(child.leaf_count())
            .ok_or(DecodeError::LeafCountOverflow)?;
        *slot = Some(child);
    }
    Ok(InternalNode::new(children)?)
}

// ---------------------------------------------------------------------------------------------
// KV rows
// ---------------------------------------------------------------------------------------------

/// KV key: version u64 big-endian ‖ key hash, so one version's rows are contiguous and in
/// key-hash order.
pub fn encode_kv_key(version: Version, key_hash: &KeyHash) -> [u8; KV_KEY_LEN] {
    let mut out = [0u8; KV_KEY_LEN];
    out[..8].copy_from_slice(&version.0.to_be_bytes());
    out[8..].copy_from_slice(&key_hash.0);
    out
}

pub fn decode_kv_key(bytes: &[u8]) -> Result<(Version, KeyHash), DecodeError> {
    if bytes.len() != KV_KEY_LEN {
        return Err(DecodeError::WrongLength {
            what: "kv key",
            expected: KV_KEY_LEN,
            found: bytes.len(),
        });
    }
    let mut r = Reader::new(bytes, "kv key");
    let version = Version(r.u64_be()?);
    let key_hash = r.hash()?;
    r.finish()?;
    Ok((version, key_hash))
}

/// KV row value: format ‖ key length u32 LE ‖ key bytes ‖ value bytes (the rest). The key hash
/// lives in the row's key, so it is not repeated here.
pub fn encode_kv_row(item: &StateItem) -> Result<Vec<u8>, EncodeError> {
    let key_len =
        u32::try_from(item.key.len()).map_err(|_| EncodeError::KeyTooLong(item.key.len()))?;
    let mut out = Vec::with_capacity(5 + item.key.len() + item.value.len());
    out.push(KV_ROW_FORMAT_V1);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&item.key);
    out.extend_from_slice(&item.value);
    Ok(out)
}

/// Decodes a row stored under `key_hash`.
pub fn decode_kv_row(key_hash: KeyHash, bytes: &[u8]) -> Result<StateItem, DecodeError> {
    let mut r = Reader::new(bytes, "kv row");
    r.format(KV_ROW_FORMAT_V1)?;
    let key_len = r.u32_le()?;
    // u32 -> usize cannot fail on the 32/64-bit targets we build for; treat failure as truncation.
    let key_len =
        usize::try_from(key_len).map_err(|_| DecodeError::Truncated { what: "kv row" })?;
    let key = r.take(key_len)?.to_vec();
    let value = r.rest().to_vec();
    Ok(StateItem {
        key_hash,
        key,
        value,
    })
}

// ---------------------------------------------------------------------------------------------
// Progress and usage
// ---------------------------------------------------------------------------------------------

fn write_usage_fields(usage: &Usage, out: &mut Vec<u8>) {
    out.extend_from_slice(&usage.items.to_le_bytes());
    out.extend_from_slice(&usage.bytes.to_le_bytes());
}

fn read_usage_fields(r: &mut Reader<'_>) -> Result<Usage, DecodeError> {
    Ok(Usage {
        items: r.u64_le()?,
        bytes: r.u64_le()?,
    })
}

/// Progress record: format ‖ key hash ‖ items u64 LE ‖ bytes u64 LE.
pub fn encode_progress(progress: &Progress) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 32 + 16);
    out.push(PROGRESS_FORMAT_V1);
    out.extend_from_slice(&progress.key_hash.0);
    write_usage_fields(&progress.usage, &mut out);
    out
}

pub fn decode_progress(bytes: &[u8]) -> Result<Progress, DecodeError> {
    let mut r = Reader::new(bytes, "progress");
    r.format(PROGRESS_FORMAT_V1)?;
    let key_hash = r.hash()?;
    let usage = read_usage_fields(&mut r)?;
    r.finish()?;
    Ok(Progress { key_hash, usage })
}

/// Usage record: format ‖ items u64 LE ‖ bytes u64 LE.
pub fn encode_usage(usage: &Usage) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 16);
    out.push(USAGE_FORMAT_V1);
    write_usage_fields(usage, &mut out);
    out
}

pub fn decode_usage(bytes: &[u8]) -> Result<Usage, DecodeError> {
    let mut r = Reader::new(bytes, "usage");
    r.format(USAGE_FORMAT_V1)?;
    let usage = read_usage_fields(&mut r)?;
    r.finish()?;
    Ok(usage)
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
