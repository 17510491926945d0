//! An adapter from sha3 0.12 to the `jmt` crate's hasher trait.
//!
//! jmt implements `SimpleHasher` only for digest-0.10 hashers, and our sha3 is 0.12 (digest
//! 0.11). The adapter forwards to the same SHA3-256 function, so roots are unchanged.

use jmt::SimpleHasher;
use sha3::Digest;

/// SHA3-256 as jmt's hasher.
pub struct Sha3(sha3::Sha3_256);

impl SimpleHasher for Sha3 {
    fn new() -> Self {
        Sha3(sha3::Sha3_256::new())
    }

    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    fn finalize(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}
