//! restore-core: a faithful re-implementation of an Aptos-style state-snapshot restore.
//!
//! A snapshot arrives as sorted chunks with range proofs. Two sides are restored from each chunk:
//! the KV side ([`kv::KvRestore`]) and the Jellyfish Merkle tree ([`tree::TreeRestore`]), joined by
//! [`snapshot_restore::SnapshotRestore`] under a selectable [`strategy::CommitStrategy`]. Storage
//! ([`store`]) and concurrency ([`runtime`]) are traits so the harness can run the same code under a
//! deterministic scheduler with injected faults.
//!
//! See ARCHITECTURE.md at the repository root for the layer map.

pub mod audit;
pub mod chunk;
pub mod codec;
pub mod durable;
pub mod error;
pub mod hash;
pub mod kv;
pub mod limits;
pub mod nibble;
pub mod node;
mod pipeline;
pub mod proof;
pub mod real;
pub mod reference;
pub mod runtime;
pub mod snapshot;
pub mod snapshot_restore;
pub mod store;
pub mod strategy;
pub mod tree;
pub mod types;

pub use chunk::{Chunk, Snapshot};
pub use error::{ProofError, RestoreError, RestoreResult};
pub use hash::{HashScheme, HashValue};
pub use types::{ChunkIndex, KeyHash, Progress, StateItem, Usage, Version};
