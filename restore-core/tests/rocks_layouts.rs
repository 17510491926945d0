//! Real restores on every RocksDB layout: a partial restore reopened resumes, and what a stopped
//! restore leaves is readable per database.

use std::sync::Arc;

use restore_core::durable::{durable_in_dir, durable_progress_in_dir};
use restore_core::real::{
    PreparedSnapshot, RealRestoreConfig, audit_rocksdb, open_dir, restore_into_rocksdb,
};
use restore_core::runtime::ThreadRuntime;
use restore_core::snapshot::SnapshotSpec;
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
use restore_core::store::{DbRole, Layout, RocksStoreOptions, SyncPolicy};
use restore_core::strategy::CommitStrategy;
use restore_core::{HashScheme, Version};

const L: usize = 300;

fn cfg(
    dir: &std::path::Path,
    layout: Layout,
    sync: SyncPolicy,
    strategy: CommitStrategy,
) -> RealRestoreConfig {
    RealRestoreConfig {
        dir: dir.to_path_buf(),
        spec: SnapshotSpec {
            seed: 11,
            keys: 6_000,
            ..SnapshotSpec::default()
        },
        chunk_size: L,
        version: Version(1),
        scheme: HashScheme::Aptos,
        strategy,
        commit: None,
        rocks: RocksStoreOptions {
            layout,
            sync,
            write_buffer_size: 1 << 20,
            ..RocksStoreOptions::default()
        },
    }
}

/// Feeds the first `fed` chunks and drops the restore unfinished, as a stopped process would.
fn partial(cfg: &RealRestoreConfig, prepared: &PreparedSnapshot, fed: usize) {
    let store = Arc::new(open_dir(&cfg.dir, &cfg.rocks).expect("open"));
    let mut options = RestoreOptions::new(cfg.strategy);
    options.scheme = cfg.scheme;
    let snap = &prepared.snapshot;
    let mut restore = SnapshotRestore::open(
        store.clone(),
        store.clone(),
        Arc::new(ThreadRuntime::new()),
        snap.version,
        snap.root,
        options,
    )
    .expect("open restore");
    for chunk in &prepared.chunks[..fed] {
        restore.add_shared_chunk(chunk).expect("chunk");
    }
    drop(restore);
}

#[test]
fn a_reopened_directory_of_every_layout_resumes_and_audits() {
    for layout in Layout::ALL {
        for strategy in [CommitStrategy::Pipelined, CommitStrategy::JoinAsync] {
            let dir = tempfile::tempdir().expect("tempdir");
            let cfg = cfg(dir.path(), layout, SyncPolicy::Barrier, strategy);
            let prepared = PreparedSnapshot::generate(&cfg);
            partial(&cfg, &prepared, 7);
            let at = durable_progress_in_dir(dir.path(), &cfg.rocks, &prepared.snapshot)
                .expect("durable");
            // Every strategy writes KV progress for each chunk it was fed (7 × L keys).
            assert_eq!(at.k, 7 * L as u64, "{layout} {strategy}");
            let report = restore_into_rocksdb(&cfg, &prepared, &mut |_, _| {}).expect("resume");
            // The durable state covers chunks 0..=5 at least (the tree lags by at most one
            // chunk), so the resumed run skips at least 6 of the 20.
            assert!(
                report.chunks_skipped >= 6,
                "{layout} {strategy}: {report:?}"
            );
            assert_eq!(report.chunks_total, 20);
            audit_rocksdb(dir.path(), &cfg.rocks, &prepared.snapshot).expect("audit");
        }
    }
}

#[test]
fn a_stopped_aptos_restore_reads_per_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = cfg(
        dir.path(),
        Layout::Aptos,
        SyncPolicy::Always,
        CommitStrategy::Pipelined,
    );
    let prepared = PreparedSnapshot::generate(&cfg);
    partial(&cfg, &prepared, 9);
    let d = durable_in_dir(dir.path(), &cfg.rocks, &prepared.snapshot).expect("durable");
    assert!(!d.finished);
    assert_eq!(d.overall.k, 9 * L as u64);
    assert_eq!(d.overall.check(L), Ok(()));
    assert_eq!(d.rows.problems(), 0, "{:?}", d.rows);
    // K sits in kv-meta alone; the 17 tree databases each report a T.
    let ks: Vec<_> = d
        .per_db
        .iter()
        .filter_map(|p| p.k.map(|k| (p.role, k)))
        .collect();
    assert_eq!(ks, vec![(DbRole::KvMeta, 9 * L as u64)]);
    let ts: Vec<(DbRole, u64)> = d
        .per_db
        .iter()
        .filter_map(|p| p.t.map(|t| (p.role, t)))
        .collect();
    assert_eq!(ts.len(), 17);
    // The overall T is the largest per-database T (the shard holding the rightmost leaf). 9 of
    // 20 chunks are 2,700 of 6,000 uniformly random keys: the last one fed starts with nibble 7
    // (0.45 × 16 = 7.2), so shards 8..15 and the root database (written at finish) hold no leaf.
    assert_eq!(ts.iter().map(|(_, t)| *t).max(), Some(d.overall.t));
    for (role, t) in &ts {
        if let DbRole::TreeShard(n) = role
            && *n >= 8
        {
            assert_eq!(*t, 0, "{role:?}");
        }
    }
    assert_eq!(ts.last(), Some(&(DbRole::TreeMeta, 0)));
    // Finished: K = T = every key, and every durable row and leaf is the snapshot's.
    restore_into_rocksdb(&cfg, &prepared, &mut |_, _| {}).expect("finish");
    let d = durable_in_dir(dir.path(), &cfg.rocks, &prepared.snapshot).expect("durable");
    let n = prepared.snapshot.items.len() as u64;
    assert!(d.finished);
    assert_eq!((d.overall.k, d.overall.t), (n, n));
    assert_eq!(d.rows.problems(), 0);
    assert_eq!((d.rows.rows, d.rows.leaves), (n, n));
}
