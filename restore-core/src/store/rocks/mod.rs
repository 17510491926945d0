//! A RocksDB store for both sides: the "real disk" backend, laid out like Aptos's.
//!
//! The store is one or more RocksDB instances, chosen by its [`Layout`]:
//! * `one` — a single database at the store path itself (so directories written before layouts
//!   existed still open as they are);
//! * `split` — `kv/` and `tree/` under the store path;
//! * `aptos` — `kv-shard-00/` … `kv-shard-15/`, `kv-meta/`, `tree-shard-00/` … `tree-shard-15/`,
//!   `tree-meta/` under the store path (names from [`DbRole::name`]).
//!
//! Opening a path that holds another layout's databases is refused, so a wrong `--layout` cannot
//! silently start a fresh restore beside an old one. Column families and encodings are in
//! [`db`]; they are the same in every database.
//!
//! Writes. KV rows go to [`Layout::kv_row_db`], the progress record and usage to
//! [`Layout::kv_meta_db`], node shard groups to [`Layout::node_db`]. Under `aptos` a KV batch is
//! written as the Aptos KV commit does it: the per-shard row batches in parallel (one scoped
//! thread per non-empty shard), then the progress record — data before progress, not atomic
//! together. Under `one` and `split` rows and progress are one atomic `WriteBatch`. A node batch
//! is written as ordered shard groups (0..15, then the root) under `one` (Aptos without sharding:
//! 17 handles on one database) and `aptos`; under `split` it is one `WriteBatch` in the tree
//! database (atomic, which is stronger than the contract).
//!
//! Durability ([`SyncPolicy`]): `always` syncs every write; `relaxed` none; `barrier` writes
//! relaxed, and [`KvStore::sync_kv`], [`TreeStore::sync_tree`] and
//! [`TreeStore::write_node_batch_ordered`] sync (`flush_wal(true)`) each database of that side
//! written since its last sync. [`RocksStore::fsyncs`] counts synced writes plus explicit syncs.
//!
//! Every read decodes strictly and reports bad bytes as [`StoreError::Corrupt`]; every RocksDB
//! failure is a [`StoreError::Backend`]. Nothing read from disk can make this code panic.

mod db;
mod options;

pub use options::RocksStoreOptions;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{WriteBatch, WriteOptions};

use self::db::{
    CF_KV, CF_META, CF_NODES, Db, META_PROGRESS, META_USAGE, backend, deeper_wins, meta_key,
};
use super::mem::check_shard;
use super::{
    DbId, DbRole, KvStore, Layout, StoreError, StoreResult, SyncPolicy, TreeStore, group_by_shard,
};
use crate::codec::{self, version_prefix};
use crate::node::{LeafNode, Node, NodeBatch, NodeKey, NodeShard};
use crate::types::{KeyHash, Progress, StateItem, Usage, Version};

/// RocksDB-backed [`TreeStore`] + [`KvStore`]. Dropping it closes every database (flushing
/// memtables first if the WAL is disabled), so the same path can be reopened right after.
pub struct RocksStore {
    /// Indexed by [`DbId`].
    dbs: Vec<Db>,
    write_opts: WriteOptions,
    options: RocksStoreOptions,
    path: PathBuf,
    fsyncs: AtomicU64,
}

impl fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish()
    }
}

/// A file or directory only a store of `layout` has at its path: how a path's layout is told.
fn marker(layout: Layout) -> &'static str {
    match layout {
        Layout::One => "CURRENT",
        Layout::Split => "kv",
        Layout::Aptos => "kv-meta",
    }
}

/// The directory of database `role` of a store of `layout` at `path`.
pub fn database_dir(path: &Path, layout: Layout, role: DbRole) -> PathBuf {
    match layout {
        Layout::One => path.to_path_buf(),
        Layout::Split | Layout::Aptos => path.join(role.name()),
    }
}

impl RocksStore {
    /// Opens the store at `path` with `options.layout`, creating directories and column families
    /// if missing. An existing store is reopened as is, which is how a restore resumes after a
    /// restart; a path holding another layout's store is refused.
    pub fn open(path: impl AsRef<Path>, options: RocksStoreOptions) -> StoreResult<RocksStore> {
        let path = path.as_ref().to_path_buf();
        let layout = options.layout;
        if let Some(other) = Layout::ALL
            .into_iter()
            .find(|&l| l != layout && path.join(marker(l)).exists())
        {
            return Err(backend(format!(
                "{} holds a store of layout {other}, not {layout}",
                path.display()
            )));
        }
        std::fs::create_dir_all(&path)
            .map_err(|e| backend(format!("creating {}: {e}", path.display())))?;
        // In parallel: creating or reopening a database syncs several small files (manifest,
        // options, current), and 34 of them one after the other pay 34 rounds of fsync latency.
        let roles: Vec<DbRole> = layout.databases().map(|(_, role)| role).collect();
        let dbs = std::thread::scope(|s| {
            let handles: Vec<_> = roles
                .iter()
                .map(|&role| {
                    let dir = database_dir(&path, layout, role);
                    let options = &options;
                    s.spawn(move || Db::open(&dir, role, options))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(backend("a database open thread panicked")))
                })
                .collect::<StoreResult<Vec<_>>>()
        })?;
        let store = RocksStore {
            dbs,
            write_opts: options.write_options(),
            options,
            path,
            fsyncs: AtomicU64::new(0),
        };
        // Under `barrier`, what an earlier process wrote and never synced is still only in the
        // OS's cache (the log RocksDB replayed at open). A restart resumes from it, and the safe
        // strategies' barriers at open must make it durable: flushing the recovered memtables
        // writes synced SST files, which syncing the new, empty log would not.
        if store.options.sync.honours_barriers() {
            store.flush()?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn options(&self) -> &RocksStoreOptions {
        &self.options
    }

    pub fn layout(&self) -> Layout {
        self.options.layout
    }

    pub fn sync_policy(&self) -> SyncPolicy {
        self.options.sync
    }

    /// fsyncs issued so far: synced writes (policy `always`) plus barrier syncs of a database
    /// (policy `barrier`). Writes that do not sync count nothing.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Flushes all memtables of every database to SST files: the durability point when the WAL
    /// is disabled.
    pub fn flush(&self) -> StoreResult<()> {
        match self.dbs.as_slice() {
            [one] => one.flush(),
            // In parallel, for the same reason as the opens (see `open`).
            many => std::thread::scope(|s| {
                let handles: Vec<_> = many.iter().map(|d| s.spawn(move || d.flush())).collect();
                join_all(handles)
            }),
        }
    }

    /// Flushes, then closes. Unlike a plain drop, this reports a failed final flush.
    pub fn close(self) -> StoreResult<()> {
        self.flush()
    }

    /// The rightmost leaf at `version` among the nodes of database `id` alone (`None` for a
    /// database that holds no nodes): the per-database view of the tree's progress.
    pub fn rightmost_leaf_in(
        &self,
        id: DbId,
        version: Version,
    ) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        match self.dbs.get(usize::from(id.0)) {
            Some(db) if db.role.holds_nodes() => db.rightmost_leaf(version),
            _ => Ok(None),
        }
    }

    fn db(&self, id: DbId) -> &Db {
        &self.dbs[usize::from(id.0)]
    }

    fn write(&self, id: DbId, batch: WriteBatch) -> StoreResult<()> {
        let synced = self.options.syncs_writes();
        self.db(id).write(batch, &self.write_opts, synced)?;
        if synced {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Under `barrier`, syncs every dirty database `which` selects, in parallel when there are
    /// several (they are independent logs, and a barrier waits for all of them anyway).
    fn barrier(&self, which: impl Fn(DbRole) -> bool) -> StoreResult<()> {
        if !self.options.sync.honours_barriers() {
            return Ok(());
        }
        let dirty: Vec<&Db> = self
            .dbs
            .iter()
            .filter(|d| which(d.role) && d.is_dirty())
            .collect();
        match dirty.as_slice() {
            [] => Ok(()),
            [one] => self.sync_one(one),
            many => std::thread::scope(|s| {
                let handles: Vec<_> = many
                    .iter()
                    .map(|d| s.spawn(move || self.sync_one(d)))
                    .collect();
                join_all(handles)
            }),
        }
    }

    fn sync_one(&self, db: &Db) -> StoreResult<()> {
        if db.sync(self.options.disable_wal)? {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// A barrier on one database, whatever side it holds (the ordered node batch, clears).
    fn barrier_on(&self, id: DbId) -> StoreResult<()> {
        if self.options.sync.honours_barriers() {
            self.sync_one(self.db(id))?;
        }
        Ok(())
    }

    fn node_group_batch(
        &self,
        id: DbId,
        nodes: &[(NodeKey, Node)],
        batch: &mut WriteBatch,
    ) -> StoreResult<()> {
        let cf = self.db(id).cf(CF_NODES)?;
        for (key, node) in nodes {
            batch.put_cf(cf, codec::encode_node_key(key), codec::encode_node(node));
        }
        Ok(())
    }

    fn tree_dbs(&self) -> impl Iterator<Item = &Db> {
        self.dbs.iter().filter(|d| d.role.holds_nodes())
    }

    fn kv_row_dbs(&self) -> impl Iterator<Item = (DbId, &Db)> {
        self.dbs.iter().enumerate().filter_map(|(i, d)| {
            matches!(d.role, DbRole::All | DbRole::Kv | DbRole::KvShard(_))
                .then_some((DbId(i as u8), d))
        })
    }
}

/// Joins scoped threads, returning the first error; a panicked writer is a backend error (the
/// panic came from RocksDB's bindings, not from bytes we read).
fn join_all(handles: Vec<std::thread::ScopedJoinHandle<'_, StoreResult<()>>>) -> StoreResult<()> {
    let mut first = Ok(());
    for h in handles {
        let r = h
            .join()
            .unwrap_or_else(|_| Err(backend("a shard writer thread panicked")));
        if first.is_ok() {
            first = r;
        }
    }
    first
}

impl TreeStore for RocksStore {
    fn write_node_shard(&self, shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()> {
        check_shard(shard, nodes)?;
        let id = self.layout().node_db(shard);
        let mut batch = WriteBatch::default();
        self.node_group_batch(id, nodes, &mut batch)?;
        self.write(id, batch)
    }

    fn write_node_batch(&self, batch: &NodeBatch) -> StoreResult<()> {
        if self.layout() != Layout::Split {
            return super::write_batch_by_shard(self, batch);
        }
        // One tree database: the groups in one WriteBatch, atomic and one (synced) write.
        let id = self.layout().node_db(NodeShard::Top);
        let mut wb = WriteBatch::default();
        for (shard, group) in group_by_shard(batch) {
            check_shard(shard, &group)?;
            self.node_group_batch(id, &group, &mut wb)?;
        }
        self.write(id, wb)
    }

    /// Under `barrier` and a layout with more than one tree database, every other tree database
    /// with unsynced writes is synced before the first group, and each group's database before
    /// the next group is written to a different one; the last group is left for the caller's
    /// [`TreeStore::sync_tree`].
    fn write_node_batch_ordered(&self, batch: &NodeBatch) -> StoreResult<()> {
        if !self.options.sync.honours_barriers() || self.layout() != Layout::Aptos {
            return self.write_node_batch(batch);
        }
        let groups = group_by_shard(batch);
        // Earlier batches' unsynced groups come before this batch in key order too.
        if let Some((first, _)) = groups.first() {
            let first_db = self.layout().node_db(*first);
            let ids: Vec<DbId> = self.layout().databases().map(|(id, _)| id).collect();
            for id in ids {
                if id != first_db && self.db(id).role.holds_nodes() && self.db(id).is_dirty() {
                    self.barrier_on(id)?;
                }
            }
        }
        for (i, (shard, group)) in groups.iter().enumerate() {
            self.write_node_shard(*shard, group)?;
            let id = self.layout().node_db(*shard);
            if let Some((next, _)) = groups.get(i + 1)
                && self.layout().node_db(*next) != id
            {
                self.barrier_on(id)?;
            }
        }
        Ok(())
    }

    fn sync_tree(&self) -> StoreResult<()> {
        self.barrier(DbRole::holds_nodes)
    }

    fn get_node(&self, key: &NodeKey) -> StoreResult<Option<Node>> {
        self.db(self.layout().node_db(key.shard()))
            .get_raw(CF_NODES, &codec::encode_node_key(key))?
            .map(|bytes| codec::decode_node(&bytes).map_err(StoreError::from))
            .transpose()
    }

    /// Per database, the per-depth algorithm of [`Db::rightmost_leaf`]. Under `aptos`, as Aptos
    /// does, the shards are scanned from 15 down to 0 and the scan stops at the first shard with
    /// a leaf: every leaf of shard n has a key starting with nibble n, so it beats every leaf of
    /// a lower shard. The root (tree metadata) is read too — it can be a leaf of a one-key tree —
    /// so the answer always equals the naive scan's.
    fn rightmost_leaf(&self, version: Version) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        let layout = self.layout();
        if layout != Layout::Aptos {
            let mut best = None;
            for db in self.tree_dbs() {
                best = deeper_wins(best, db.rightmost_leaf(version)?);
            }
            return Ok(best);
        }
        let root = self
            .db(layout.node_db(NodeShard::Top))
            .rightmost_leaf(version)?;
        for n in (0..16u8).rev() {
            let hit = self
                .db(layout.node_db(NodeShard::Nibble(n)))
                .rightmost_leaf(version)?;
            if hit.is_some() {
                // A shard leaf is deeper than the root: it wins a tie, as in the naive scan.
                return Ok(deeper_wins(root, hit));
            }
        }
        Ok(root)
    }

    fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>> {
        let mut out = Vec::new();
        for db in self.tree_dbs() {
            for (k, v) in db.scan_prefix(CF_NODES, &version_prefix(version))? {
                out.push((codec::decode_node_key(&k)?, codec::decode_node(&v)?));
            }
        }
        if self.dbs.len() > 1 {
            out.sort_by_key(|(k, _)| *k);
        }
        Ok(out)
    }

    /// One batch of point deletes of the version's keys per tree database (every node key
    /// starts with the version). Across databases, the root goes first, then shards 15 down to
    /// 0, each made durable before the next under `barrier`: whatever a crash leaves is a
    /// key-order prefix of the tree without its root, a state recovery accepts.
    fn clear_nodes(&self, version: Version) -> StoreResult<()> {
        let layout = self.layout();
        let order = std::iter::once(NodeShard::Top).chain((0..16u8).rev().map(NodeShard::Nibble));
        let mut done: Vec<DbId> = Vec::new();
        for shard in order {
            let id = layout.node_db(shard);
            if done.contains(&id) {
                continue;
            }
            done.push(id);
            let db = self.db(id);
            let cf = db.cf(CF_NODES)?;
            let mut batch = WriteBatch::default();
            for (k, _) in db.scan_prefix(CF_NODES, &version_prefix(version))? {
                batch.delete_cf(cf, k);
            }
            self.write(id, batch)?;
            self.barrier_on(id)?;
        }
        Ok(())
    }
}

impl KvStore for RocksStore {
    fn write_kv_batch(
        &self,
        version: Version,
        rows: &[StateItem],
        progress: Option<&Progress>,
    ) -> StoreResult<()> {
        let layout = self.layout();
        let meta_id = layout.kv_meta_db();
        let progress_into = |batch: &mut WriteBatch| -> StoreResult<()> {
            if let Some(p) = progress {
                let meta = self.db(meta_id).cf(CF_META)?;
                batch.put_cf(
                    meta,
                    meta_key(META_PROGRESS, version),
                    codec::encode_progress(p),
                );
            }
            Ok(())
        };
        if !layout.shards_kv() {
            let id = layout.kv_row_db(&KeyHash::ZERO);
            let kv = self.db(id).cf(CF_KV)?;
            let mut batch = WriteBatch::default();
            for row in rows {
                let key = codec::encode_kv_key(version, &row.key_hash);
                batch.put_cf(kv, key, codec::encode_kv_row(row)?);
            }
            progress_into(&mut batch)?;
            return self.write(id, batch);
        }
        // Aptos: one batch per shard database, written in parallel; progress after all of them.
        let mut shards: Vec<(DbId, WriteBatch)> = Vec::new();
        for row in rows {
            let id = layout.kv_row_db(&row.key_hash);
            let slot = match shards.iter().position(|(d, _)| *d == id) {
                Some(i) => i,
                None => {
                    shards.push((id, WriteBatch::default()));
                    shards.len() - 1
                }
            };
            let kv = self.db(id).cf(CF_KV)?;
            let key = codec::encode_kv_key(version, &row.key_hash);
            shards[slot].1.put_cf(kv, key, codec::encode_kv_row(row)?);
        }
        if shards.len() == 1 {
            let (id, batch) = shards.pop().expect("one shard");
            self.write(id, batch)?;
        } else if !shards.is_empty() {
            std::thread::scope(|s| {
                let handles: Vec<_> = shards
                    .into_iter()
                    .map(|(id, batch)| s.spawn(move || self.write(id, batch)))
                    .collect();
                join_all(handles)
            })?;
        }
        if progress.is_some() {
            let mut batch = WriteBatch::default();
            progress_into(&mut batch)?;
            self.write(meta_id, batch)?;
        }
        Ok(())
    }

    fn get_progress(&self, version: Version) -> StoreResult<Option<Progress>> {
        self.db(self.layout().kv_meta_db())
            .get_raw(CF_META, &meta_key(META_PROGRESS, version))?
            .map(|bytes| codec::decode_progress(&bytes).map_err(StoreError::from))
            .transpose()
    }

    fn get_value(&self, version: Version, key_hash: &KeyHash) -> StoreResult<Option<StateItem>> {
        self.db(self.layout().kv_row_db(key_hash))
            .get_raw(CF_KV, &codec::encode_kv_key(version, key_hash))?
            .map(|bytes| codec::decode_kv_row(*key_hash, &bytes).map_err(StoreError::from))
            .transpose()
    }

    fn kv_rows(&self, version: Version) -> StoreResult<Vec<StateItem>> {
        let mut out = Vec::new();
        for (_, db) in self.kv_row_dbs() {
            for (k, v) in db.scan_prefix(CF_KV, &version_prefix(version))? {
                let (_, key_hash) = codec::decode_kv_key(&k)?;
                out.push(codec::decode_kv_row(key_hash, &v)?);
            }
        }
        if self.dbs.len() > 1 {
            out.sort_by_key(|r| r.key_hash);
        }
        Ok(out)
    }

    fn write_usage(&self, version: Version, usage: &Usage) -> StoreResult<()> {
        let id = self.layout().kv_meta_db();
        let meta = self.db(id).cf(CF_META)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            meta,
            meta_key(META_USAGE, version),
            codec::encode_usage(usage),
        );
        self.write(id, batch)
    }

    fn get_usage(&self, version: Version) -> StoreResult<Option<Usage>> {
        self.db(self.layout().kv_meta_db())
            .get_raw(CF_META, &meta_key(META_USAGE, version))?
            .map(|bytes| codec::decode_usage(&bytes).map_err(StoreError::from))
            .transpose()
    }

    /// Atomic within a database. Across databases the progress and usage go first (made durable
    /// under `barrier`), then the rows: a crash in between leaves rows without progress, which a
    /// restore starts over from, never progress that claims rows already deleted.
    fn clear_kv(&self, version: Version) -> StoreResult<()> {
        let meta_id = self.layout().kv_meta_db();
        let mut pending: Vec<(DbId, WriteBatch)> = Vec::new();
        {
            let meta = self.db(meta_id).cf(CF_META)?;
            let mut batch = WriteBatch::default();
            batch.delete_cf(meta, meta_key(META_PROGRESS, version));
            batch.delete_cf(meta, meta_key(META_USAGE, version));
            pending.push((meta_id, batch));
        }
        for (id, db) in self.kv_row_dbs() {
            let kv = db.cf(CF_KV)?;
            let rows = db.scan_prefix(CF_KV, &version_prefix(version))?;
            let slot = match pending.iter().position(|(d, _)| *d == id) {
                Some(i) => i,
                None => {
                    pending.push((id, WriteBatch::default()));
                    pending.len() - 1
                }
            };
            for (k, _) in rows {
                pending[slot].1.delete_cf(kv, k);
            }
        }
        for (id, batch) in pending {
            self.write(id, batch)?;
            self.barrier_on(id)?;
        }
        Ok(())
    }

    fn sync_kv(&self) -> StoreResult<()> {
        self.barrier(DbRole::holds_kv)
    }
}
