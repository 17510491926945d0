//! Commit strategies: in what order a chunk's KV write, tree verification and tree batch write
//! happen, and whether the Aptos defects are kept or fixed.
//!
//! | strategy | order per chunk | models | safety |
//! |---|---|---|---|
//! | `join-async` | join(KV write, tree add with async batch) | Aptos backup restore (the audit) | Aptos |
//! | `join-sync` | join(KV write, tree add with sync batch) | Aptos state sync | Aptos |
//! | `tree-then-kv` | tree add (verifies, then awaits the previous batch and spawns its own; a chunk it already has does neither) then KV | audit fix (b) | Aptos |
//! | `wait-then-join` | await previous batch, then join | audit fix (c) | Aptos |
//! | `verify-kv-tree` | await previous, verify in memory, KV write, tree batch | Aptos PR #19625 | Safe |
//! | `pipelined` | verify ‖ previous chunk's commit; await it; spawn this chunk's commit (KV rows + progress, then node batch) | ours | Safe |

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// How a chunk is committed across the two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommitStrategy {
    JoinAsync,
    JoinSync,
    TreeThenKv,
    WaitThenJoin,
    VerifyKvTree,
    Pipelined,
}

/// Whether tree batches are written on the caller's thread or by a background task (one in
/// flight, awaited before the next and in `finish`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommitMode {
    Sync,
    Async,
}

/// Which behaviour the restore objects follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Safety {
    /// Aptos as of the spec, defects included: resume point = min of the sides even when one is
    /// missing (D1); KV written without waiting for verification in the join strategies (D2);
    /// add_chunk not transactional, object reusable after an error (D3); no root check in
    /// finish; panic on drop when a pending async write failed (D4).
    Aptos,
    /// Every defect fixed: restart from scratch when either side has no progress (Default
    /// mode); add_chunk rolls its in-memory changes back on bad input and the object refuses
    /// further use after a storage error; root checked in finish; drop never panics.
    Safe,
}

/// Which sides a restore writes (Aptos `StateSnapshotRestoreMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum RestoreMode {
    #[default]
    Default,
    KvOnly,
    TreeOnly,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("unknown {what} `{given}`; expected one of: {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: String,
}

impl CommitStrategy {
    pub const ALL: [CommitStrategy; 6] = [
        CommitStrategy::JoinAsync,
        CommitStrategy::JoinSync,
        CommitStrategy::TreeThenKv,
        CommitStrategy::WaitThenJoin,
        CommitStrategy::VerifyKvTree,
        CommitStrategy::Pipelined,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CommitStrategy::JoinAsync => "join-async",
            CommitStrategy::JoinSync => "join-sync",
            CommitStrategy::TreeThenKv => "tree-then-kv",
            CommitStrategy::WaitThenJoin => "wait-then-join",
            CommitStrategy::VerifyKvTree => "verify-kv-tree",
            CommitStrategy::Pipelined => "pipelined",
        }
    }

    /// The commit mode the strategy is named or designed for.
    pub fn default_commit(self) -> CommitMode {
        match self {
            CommitStrategy::JoinSync | CommitStrategy::VerifyKvTree => CommitMode::Sync,
            _ => CommitMode::Async,
        }
    }

    pub fn safety(self) -> Safety {
        match self {
            CommitStrategy::VerifyKvTree | CommitStrategy::Pipelined => Safety::Safe,
            _ => Safety::Aptos,
        }
    }
}

impl fmt::Display for CommitStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CommitStrategy {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CommitStrategy::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownName {
                what: "strategy",
                given: s.to_string(),
                expected: CommitStrategy::ALL.map(|c| c.name()).join(", "),
            })
    }
}

impl CommitMode {
    pub fn name(self) -> &'static str {
        match self {
            CommitMode::Sync => "sync",
            CommitMode::Async => "async",
        }
    }
}

impl FromStr for CommitMode {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sync" => Ok(CommitMode::Sync),
            "async" => Ok(CommitMode::Async),
            _ => Err(UnknownName {
                what: "commit mode",
                given: s.to_string(),
                expected: "sync, async".into(),
            }),
        }
    }
}

impl RestoreMode {
    pub fn name(self) -> &'static str {
        match self {
            RestoreMode::Default => "default",
            RestoreMode::KvOnly => "kv_only",
            RestoreMode::TreeOnly => "tree_only",
        }
    }
}

impl FromStr for RestoreMode {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            RestoreMode::Default,
            RestoreMode::KvOnly,
            RestoreMode::TreeOnly,
        ]
        .into_iter()
        .find(|m| m.name() == s)
        .ok_or_else(|| UnknownName {
            what: "restore mode",
            given: s.to_string(),
            expected: "default, kv_only, tree_only".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for s in CommitStrategy::ALL {
            assert_eq!(s.name().parse::<CommitStrategy>(), Ok(s));
        }
        let e = "join".parse::<CommitStrategy>().unwrap_err();
        assert!(e.to_string().contains("join-async"), "{e}");
        assert!("fast".parse::<CommitMode>().is_err());
        assert_eq!("kv_only".parse::<RestoreMode>(), Ok(RestoreMode::KvOnly));
    }
}
