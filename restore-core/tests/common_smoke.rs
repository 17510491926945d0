use std::sync::Arc;

use restore_core::audit::check_final_state;
use restore_core::runtime::{InlineRuntime, Runtime, ThreadRuntime};
use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
use restore_core::store::MemStore;
use restore_core::strategy::{CommitMode, CommitStrategy};
use restore_core::{HashScheme, Snapshot, Version};

#[test]
fn every_strategy_restores_a_snapshot() {
    for layout in [
        KeyLayout::Random,
        KeyLayout::SharedPrefix { nibbles: 5 },
        KeyLayout::Adjacent,
    ] {
        let spec = SnapshotSpec {
            seed: 7,
            keys: 300,
            layout: layout.clone(),
            ..Default::default()
        };
        let snap = Snapshot::generate(&spec, Version(3), HashScheme::Aptos);
        let chunks = snap.chunks(&Chunking::Random {
            seed: 1,
            min: 1,
            max: 40,
        });
        for strategy in CommitStrategy::ALL {
            for commit in [CommitMode::Sync, CommitMode::Async] {
                for rt in [
                    Arc::new(InlineRuntime) as Arc<dyn Runtime>,
                    Arc::new(ThreadRuntime::new()),
                ] {
                    let store = Arc::new(MemStore::with_overwrite_check());
                    let mut opts = RestoreOptions::new(strategy);
                    opts.commit = Some(commit);
                    let mut r = SnapshotRestore::open(
                        store.clone(),
                        store.clone(),
                        rt,
                        snap.version,
                        snap.root,
                        opts,
                    )
                    .unwrap();
                    for c in &chunks {
                        r.add_chunk(c).unwrap_or_else(|e| {
                            panic!("{strategy} {commit:?} {layout:?} chunk {}: {e}", c.index)
                        });
                    }
                    r.finish().unwrap();
                    drop(r);
                    check_final_state(&*store, &*store, &snap)
                        .unwrap_or_else(|e| panic!("{strategy} {commit:?} {layout:?}: {e}"));
                }
            }
        }
    }
}
