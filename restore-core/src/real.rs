//! Real use: restore a generated snapshot into a RocksDB directory with real threads, resumable
//! after the process is killed (rerun with the same parameters and it continues where the
//! durable state says).
//!
//! The directory holds a small manifest of the parameters so that a rerun with different ones is
//! refused instead of failing verification half-way. Timing is left to the caller, so nothing in
//! this crate reads a clock.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::audit::{AuditError, check_final_state};
use crate::chunk::{Chunk, Snapshot, first_chunk_to_feed};
use crate::error::RestoreError;
use crate::hash::HashScheme;
use crate::runtime::{Runtime, ThreadRuntime};
use crate::snapshot::{Chunking, SnapshotSpec};
use crate::snapshot_restore::{RestoreOptions, SnapshotRestore};
use crate::store::{
    KvStore, Layout, MemStore, RocksStore, RocksStoreOptions, StoreError, TreeStore,
};
use crate::strategy::{CommitMode, CommitStrategy};
use crate::types::{ChunkIndex, Version};

/// Parameters of a real restore; the snapshot is regenerated from them deterministically.
#[derive(Clone, Debug)]
pub struct RealRestoreConfig {
    pub dir: PathBuf,
    pub spec: SnapshotSpec,
    pub chunk_size: usize,
    pub version: Version,
    pub scheme: HashScheme,
    pub strategy: CommitStrategy,
    pub commit: Option<CommitMode>,
    pub rocks: RocksStoreOptions,
}

#[derive(Debug, Error)]
pub enum RealError {
    #[error("{0}")]
    Restore(#[from] RestoreError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("restored state failed the audit: {0}")]
    Audit(#[from] AuditError),
    #[error(
        "directory {dir} holds a restore of different parameters ({found}); use another directory or remove it"
    )]
    ManifestMismatch { dir: PathBuf, found: String },
    #[error("cannot use directory {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// The snapshot and its chunks, generated once and reusable across runs of the same config.
/// Chunks are shared (`Arc`), as a backup reader would hand them over: a restore can keep a
/// chunk alive past `add_chunk` (`pipelined` commits it in the background) without copying it.
pub struct PreparedSnapshot {
    pub snapshot: Snapshot,
    pub chunks: Vec<Arc<Chunk>>,
}

impl PreparedSnapshot {
    pub fn generate(cfg: &RealRestoreConfig) -> PreparedSnapshot {
        let snapshot = Snapshot::generate(&cfg.spec, cfg.version, cfg.scheme);
        let chunks = snapshot.chunks(&Chunking::Fixed(cfg.chunk_size.max(1)));
        PreparedSnapshot::new(snapshot, chunks)
    }

    pub fn new(snapshot: Snapshot, chunks: Vec<Chunk>) -> PreparedSnapshot {
        PreparedSnapshot {
            snapshot,
            chunks: chunks.into_iter().map(Arc::new).collect(),
        }
    }
}

/// What one run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealRestoreReport {
    pub total_keys: usize,
    pub chunks_total: usize,
    /// Chunks skipped because the durable state already covered them (a resumed run).
    pub chunks_skipped: usize,
    pub chunks_fed: usize,
    pub keys_fed: usize,
    /// fsyncs the store issued during this run ([`RocksStore::fsyncs`]; 0 in memory).
    pub fsyncs: u64,
}

const MANIFEST: &str = "restore-sim.manifest";

/// The parameters a resumed run must share with the first. The store layout is named only when
/// it is not `one`, so directories written before layouts existed keep matching (`layout=` is
/// the snapshot's key layout; the store's is `store=`). The sync policy is not recorded: any
/// policy may resume any directory.
fn manifest_text(cfg: &RealRestoreConfig) -> String {
    let store = match cfg.rocks.layout {
        Layout::One => String::new(),
        other => format!(" store={other}"),
    };
    format!(
        "seed={} keys={} value_len={:?} key_len={:?} layout={:?} chunk={} version={} scheme={}{store}\n",
        cfg.spec.seed,
        cfg.spec.keys,
        cfg.spec.value_len,
        cfg.spec.key_len,
        cfg.spec.layout,
        cfg.chunk_size,
        cfg.version.0,
        cfg.scheme.name()
    )
}

fn check_manifest(cfg: &RealRestoreConfig) -> Result<(), RealError> {
    let io = |e| RealError::Io(cfg.dir.clone(), e);
    fs::create_dir_all(&cfg.dir).map_err(io)?;
    let path = cfg.dir.join(MANIFEST);
    let want = manifest_text(cfg);
    match fs::read_to_string(&path) {
        Ok(found) if found == want => Ok(()),
        Ok(found) => Err(RealError::ManifestMismatch {
            dir: cfg.dir.clone(),
            found: found.trim().to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Write-then-rename, so a kill mid-write never leaves a truncated manifest that
            // would make every later resume refuse the directory.
            let tmp = cfg.dir.join(format!("{MANIFEST}.tmp"));
            fs::write(&tmp, want).map_err(io)?;
            fs::rename(&tmp, &path).map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

/// The store path of a restore directory: `dir/db` (the databases of `cfg.rocks.layout` are
/// there or under it, see [`RocksStore`]).
pub fn store_path(dir: &Path) -> PathBuf {
    dir.join("db")
}

/// Opens the store of a restore directory with `rocks` (its layout and sync policy).
pub fn open_dir(dir: &Path, rocks: &RocksStoreOptions) -> Result<RocksStore, StoreError> {
    RocksStore::open(store_path(dir), rocks.clone())
}

/// Restores (or resumes restoring) `prepared` into `cfg.dir`, calling `on_chunk` after every
/// chunk fed, then finishes. Killing the process at any point and calling this again resumes.
pub fn restore_into_rocksdb(
    cfg: &RealRestoreConfig,
    prepared: &PreparedSnapshot,
    on_chunk: &mut dyn FnMut(ChunkIndex, usize),
) -> Result<RealRestoreReport, RealError> {
    check_manifest(cfg)?;
    let store = Arc::new(open_dir(&cfg.dir, &cfg.rocks)?);
    let mut report = feed_and_finish(Arc::clone(&store), cfg, prepared, on_chunk)?;
    report.fsyncs = store.fsyncs();
    store.flush()?;
    Ok(report)
}

/// The same restore into a fresh [`MemStore`] (`cfg.dir` is not used): the CPU side of the
/// restore without storage costs, and what the `jmt` peer comparison runs on.
pub fn restore_into_memory(
    cfg: &RealRestoreConfig,
    prepared: &PreparedSnapshot,
) -> Result<(Arc<MemStore>, RealRestoreReport), RealError> {
    let store = Arc::new(MemStore::new());
    let report = feed_and_finish(Arc::clone(&store), cfg, prepared, &mut |_, _| {})?;
    Ok((store, report))
}

/// Opens a restore on `store` with real threads, feeds every chunk the durable state does not
/// cover yet, and finishes (dropping the restore, which awaits any write still in flight).
fn feed_and_finish<S: TreeStore + KvStore + 'static>(
    store: Arc<S>,
    cfg: &RealRestoreConfig,
    prepared: &PreparedSnapshot,
    on_chunk: &mut dyn FnMut(ChunkIndex, usize),
) -> Result<RealRestoreReport, RealError> {
    let runtime: Arc<dyn Runtime> = Arc::new(ThreadRuntime::new());
    let mut options = RestoreOptions::new(cfg.strategy);
    options.commit = cfg.commit;
    options.scheme = cfg.scheme;
    let snap = &prepared.snapshot;
    let mut restore = SnapshotRestore::open(
        store.clone(),
        store,
        runtime,
        snap.version,
        snap.root,
        options,
    )?;
    let first = first_chunk_to_feed(&prepared.chunks, restore.previous_key_hash()?);
    let mut keys_fed = 0;
    for chunk in &prepared.chunks[first..] {
        restore.add_shared_chunk(chunk)?;
        keys_fed += chunk.len();
        on_chunk(chunk.index, chunk.len());
    }
    restore.finish()?;
    drop(restore);
    Ok(RealRestoreReport {
        total_keys: snap.items.len(),
        chunks_total: prepared.chunks.len(),
        chunks_skipped: first,
        chunks_fed: prepared.chunks.len() - first,
        keys_fed,
        fsyncs: 0,
    })
}

/// Audits a directory restored by [`restore_into_rocksdb`] against the snapshot.
pub fn audit_rocksdb(
    dir: &Path,
    rocks: &RocksStoreOptions,
    snapshot: &Snapshot,
) -> Result<(), RealError> {
    let store = open_dir(dir, rocks)?;
    check_final_state(&store, &store, snapshot)?;
    Ok(())
}
