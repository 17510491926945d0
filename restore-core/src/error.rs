//! Errors of the restore itself.

use thiserror::Error;

use crate::hash::HashValue;
use crate::node::NodeKey;
use crate::store::StoreError;
use crate::types::KeyHash;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RestoreError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("state keys must come in increasing order: {key:?} is not after {previous:?}")]
    KeysOutOfOrder { previous: KeyHash, key: KeyHash },

    #[error("range proof does not verify: {0}")]
    Proof(#[from] ProofError),

    #[error("previous completed restore has root hash {found}, expected {expected}")]
    PreviousRootMismatch {
        expected: HashValue,
        found: HashValue,
    },

    #[error("finished tree has root hash {found}, expected {expected}")]
    FinalRootMismatch {
        expected: HashValue,
        found: HashValue,
    },

    #[error("cannot recover from rightmost leaf at {0:?}: {1}")]
    Recovery(NodeKey, String),

    #[error("chunk is inconsistent with the restored tree: {0}")]
    Inconsistent(String),

    #[error("restore object is unusable after an earlier error: {0}")]
    Poisoned(String),

    #[error("background task panicked: {0}")]
    TaskPanicked(String),
}

/// Why a chunk's range proof was rejected.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("too many right siblings in the proof ({siblings} for {zero_bits} zero bits)")]
    TooManyRightSiblings { siblings: usize, zero_bits: usize },
    #[error("proof is missing a sibling at depth {0}")]
    MissingSibling(usize),
    #[error("root hashes do not match: computed {computed}, expected {expected}")]
    RootMismatch {
        computed: HashValue,
        expected: HashValue,
    },
    #[error("chunk has no keys to anchor the proof")]
    EmptyChunk,
}

pub type RestoreResult<T> = Result<T, RestoreError>;
