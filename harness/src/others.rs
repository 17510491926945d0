//! Other versions already in the store before a case's restore begins: older and newer
//! snapshots, finished or left half-way. A restore of version V must read and write only V; a
//! bug that reads another version's nodes (a rightmost-leaf lookup without a version bound, a
//! recovery probe at the wrong version) shows up only when other versions are there.

use std::sync::Arc;

use restore_core::runtime::InlineRuntime;
use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
use restore_core::store::RestoreStore;
use restore_core::strategy::CommitStrategy;
use restore_core::{HashScheme, RestoreError, Snapshot, Version};
use serde::{Deserialize, Serialize};

/// A snapshot of another version, restored into the store before the case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherVersion {
    pub version: u64,
    /// Seed of its (random-layout) snapshot: a different seed from the case's gives other keys.
    pub seed: u64,
    pub keys: usize,
    /// Finished (root written, usage recorded) or stopped after about half its chunks, as a
    /// restore that was interrupted and never resumed.
    pub finished: bool,
}

/// Keys per chunk of a planted restore.
const CHUNK: usize = 4;

impl OtherVersion {
    pub fn snapshot(&self) -> Snapshot {
        let spec = SnapshotSpec {
            seed: self.seed,
            keys: self.keys,
            value_len: (0, 32),
            key_len: (4, 24),
            layout: KeyLayout::Random,
        };
        Snapshot::generate(&spec, Version(self.version), HashScheme::Aptos)
    }

    /// Restores this version into `store` with a safe strategy, straight through on this thread
    /// (no scheduling points, no faults: this is the store's past, not the case).
    pub fn plant(&self, store: &Arc<dyn RestoreStore>) -> Result<(), RestoreError> {
        let snap = self.snapshot();
        let chunks = snap.chunks(&Chunking::Fixed(CHUNK));
        let mut r = SnapshotRestore::open(
            Arc::clone(store) as _,
            Arc::clone(store) as _,
            Arc::new(InlineRuntime),
            snap.version,
            snap.root,
            RestoreOptions::new(CommitStrategy::VerifyKvTree),
        )?;
        let feed = if self.finished {
            chunks.len()
        } else {
            chunks.len().div_ceil(2)
        };
        for c in &chunks[..feed] {
            r.add_chunk(c)?;
        }
        if self.finished {
            r.finish()?;
        } else {
            r.wait_for_async_commit()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use restore_core::audit::check_final_state;
    use restore_core::node::NodeKey;
    use restore_core::store::MemStore;

    #[test]
    fn a_finished_plant_is_a_whole_restore_and_an_unfinished_one_stops_half_way() {
        let store: Arc<dyn RestoreStore> = Arc::new(MemStore::new());
        let done = OtherVersion {
            version: 2,
            seed: 7,
            keys: 20,
            finished: true,
        };
        let half = OtherVersion {
            version: 4,
            seed: 8,
            keys: 30,
            finished: false,
        };
        done.plant(&store).unwrap();
        half.plant(&store).unwrap();
        let snap = done.snapshot();
        check_final_state(&*store, &*store, &snap).unwrap();
        assert!(
            store
                .get_node(&NodeKey::root(Version(4)))
                .unwrap()
                .is_none()
        );
        let progress = store.get_progress(Version(4)).unwrap().unwrap();
        let rows = store.kv_rows(Version(4)).unwrap();
        // Four keys per chunk, four of eight chunks fed: 16 rows, progress at the 16th key.
        assert_eq!(rows.len(), 16);
        assert_eq!(progress.key_hash, rows[15].key_hash);
        assert!(!store.nodes_at(Version(4)).unwrap().is_empty());
    }
}
