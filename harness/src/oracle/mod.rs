//! The seven oracles: named properties a run must keep, each evaluated where it applies.

use std::fmt;
use std::str::FromStr;

use restore_core::audit::{AuditError, check_final_state};
use restore_core::node::NodeKey;
use restore_core::store::RestoreStore;
use restore_core::{Snapshot, StateItem};
use serde::{Deserialize, Serialize};

mod divergence;
mod shape;

pub use divergence::{ChunkEnds, divergence_at, progress_divergence};
pub use shape::durable_shape;

/// The oracles, in reporting priority (when two fire at the same step, the earlier one is the
/// headline: it names the more specific cause).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Oracle {
    /// No task, join or drop panics.
    NoPanic,
    /// At every scheduling point, on durable state: T ≤ K, and K at most one chunk past the
    /// chunk holding the tree's first missing leaf (see `divergence`).
    ProgressDivergence,
    /// No KV write lands a row that is not the snapshot's (checked at the store seam, as it
    /// lands), nor holds one when the restore completes.
    VerifiedOnly,
    /// Whenever the durable tree of the version changes: its leaves are a key-order prefix of
    /// the snapshot, every durable internal node has its children durable, and a durable root
    /// means a complete tree (see `shape`).
    DurableShape,
    /// A restore that reports success has the expected root (no swallowed error).
    HonestResult,
    /// After finish returns Ok: root, complete tree, leaves, KV bytes and usage all match.
    FinalState,
    /// After any fault or crash, a restart with faults off completes.
    ForwardProgress,
}

impl Oracle {
    pub const ALL: [Oracle; 7] = [
        Oracle::NoPanic,
        Oracle::ProgressDivergence,
        Oracle::VerifiedOnly,
        Oracle::DurableShape,
        Oracle::HonestResult,
        Oracle::FinalState,
        Oracle::ForwardProgress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Oracle::NoPanic => "no-panic",
            Oracle::ProgressDivergence => "progress-divergence",
            Oracle::VerifiedOnly => "verified-only",
            Oracle::DurableShape => "durable-shape",
            Oracle::HonestResult => "honest-result",
            Oracle::FinalState => "final-state",
            Oracle::ForwardProgress => "forward-progress",
        }
    }
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Oracle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Oracle::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown oracle `{s}`"))
    }
}

/// One oracle firing: which, where in the trace, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub oracle: Oracle,
    /// Index of the trace event at which it was detected.
    pub event: usize,
    pub life: u32,
    pub step: u64,
    pub detail: String,
}

/// Checks made the moment `finish` returns Ok: honest-result (the claimed root), verified-only
/// (no corrupted bytes in KV) and final-state (everything). Reads `store` directly.
pub fn on_finish_ok(
    store: &dyn RestoreStore,
    snapshot: &Snapshot,
    corrupted_items: &[StateItem],
) -> Vec<(Oracle, String)> {
    let mut out = Vec::new();
    match store.get_node(&NodeKey::root(snapshot.version)) {
        Ok(Some(root)) => {
            let h = root.hash(snapshot.scheme);
            if h != snapshot.root {
                out.push((
                    Oracle::HonestResult,
                    format!(
                        "finish reported success with root {h}, expected {}",
                        snapshot.root
                    ),
                ));
            }
        }
        Ok(None) => out.push((
            Oracle::HonestResult,
            "finish reported success but no root node exists".into(),
        )),
        Err(e) => out.push((Oracle::HonestResult, format!("cannot read the root: {e}"))),
    }
    if let Ok(rows) = store.kv_rows(snapshot.version) {
        let bad: Vec<&StateItem> = rows
            .iter()
            .filter(|r| corrupted_items.iter().any(|c| c == *r))
            .collect();
        if let Some(first) = bad.first() {
            out.push((
                Oracle::VerifiedOnly,
                format!(
                    "{} KV row(s) hold bytes of a corrupted chunk, first {:?}",
                    bad.len(),
                    first.key_hash
                ),
            ));
        }
    }
    if let Err(e) = check_final_state(store, store, snapshot) {
        out.push((Oracle::FinalState, describe(&e)));
    }
    out
}

pub(crate) fn describe(e: &AuditError) -> String {
    e.to_string()
}
