//! Nibble paths: the position of a JMT node, one nibble (4 bits) per level.

use std::fmt;

use crate::hash::HashValue;

/// Maximum depth of a JMT in nibbles (256 bits / 4).
pub const ROOT_NIBBLE_HEIGHT: usize = 64;

/// A path of up to 64 nibbles, packed two per byte, high nibble first. Unused nibbles are zero,
/// so the derived ordering (length first, then bytes) is the order of the encoded node keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NibblePath {
    len: u8,
    bytes: [u8; 32],
}

impl NibblePath {
    pub const EMPTY: NibblePath = NibblePath {
        len: 0,
        bytes: [0; 32],
    };

    /// The first `len` nibbles of a key hash.
    pub fn prefix_of(hash: &HashValue, len: usize) -> NibblePath {
        assert!(len <= ROOT_NIBBLE_HEIGHT);
        let mut bytes = [0u8; 32];
        let full = len / 2;
        bytes[..full].copy_from_slice(&hash.0[..full]);
        if len % 2 == 1 {
            bytes[full] = hash.0[full] & 0xF0;
        }
        NibblePath {
            len: len as u8,
            bytes,
        }
    }

    /// Builds a path from packed bytes, rejecting a length over 64 or a non-zero pad nibble.
    pub fn from_packed(len: usize, packed: &[u8]) -> Option<NibblePath> {
        if len > ROOT_NIBBLE_HEIGHT || packed.len() != len.div_ceil(2) {
            return None;
        }
        if len % 2 == 1 && packed[packed.len() - 1] & 0x0F != 0 {
            return None;
        }
        let mut bytes = [0u8; 32];
        bytes[..packed.len()].copy_from_slice(packed);
        Some(NibblePath {
            len: len as u8,
            bytes,
        })
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed bytes, exactly `ceil(len / 2)` of them.
    pub fn packed(&self) -> &[u8] {
        &self.bytes[..self.len().div_ceil(2)]
    }

    pub fn get(&self, i: usize) -> u8 {
        assert!(i < self.len());
        let b = self.bytes[i / 2];
        if i.is_multiple_of(2) {
            b >> 4
        } else {
            b & 0x0F
        }
    }

    /// This path extended by one nibble.
    pub fn child(&self, nibble: u8) -> NibblePath {
        assert!(nibble < 16 && self.len() < ROOT_NIBBLE_HEIGHT);
        let mut out = *self;
        let i = self.len();
        if i.is_multiple_of(2) {
            out.bytes[i / 2] = nibble << 4;
        } else {
            out.bytes[i / 2] |= nibble;
        }
        out.len += 1;
        out
    }

    /// This path without its last nibble.
    pub fn parent(&self) -> Option<NibblePath> {
        if self.is_empty() {
            return None;
        }
        Some(self.truncate(self.len() - 1))
    }

    pub fn truncate(&self, len: usize) -> NibblePath {
        assert!(len <= self.len());
        let mut out = NibblePath::EMPTY;
        let full = len / 2;
        out.bytes[..full].copy_from_slice(&self.bytes[..full]);
        if len % 2 == 1 {
            out.bytes[full] = self.bytes[full] & 0xF0;
        }
        out.len = len as u8;
        out
    }

    /// The first nibble, which selects the storage shard; `None` for the root path.
    pub fn first_nibble(&self) -> Option<u8> {
        (!self.is_empty()).then(|| self.get(0))
    }
}

impl PartialOrd for NibblePath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NibblePath {
    /// Length first, then packed bytes: the order RocksDB sees for encoded node keys.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.len
            .cmp(&other.len)
            .then_with(|| self.bytes.cmp(&other.bytes))
    }
}

impl fmt::Debug for NibblePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for i in 0..self.len() {
            write!(f, "{:x}", self.get(i))?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_parent_round_trip() {
        let h = HashValue([0xAB; 32]);
        for len in 0..ROOT_NIBBLE_HEIGHT {
            let p = NibblePath::prefix_of(&h, len);
            let c = p.child(h.nibble(len));
            assert_eq!(c, NibblePath::prefix_of(&h, len + 1));
            assert_eq!(c.parent(), Some(p));
        }
    }

    #[test]
    fn from_packed_rejects_bad_padding_and_length() {
        assert!(NibblePath::from_packed(1, &[0x1F]).is_none());
        assert!(NibblePath::from_packed(1, &[0x10]).is_some());
        assert!(NibblePath::from_packed(2, &[0x10, 0x00]).is_none());
        assert!(NibblePath::from_packed(65, &[0; 33]).is_none());
    }
}
