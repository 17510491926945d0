//! One RocksDB instance of a store's layout: its column families, strict reads, and whether it
//! holds writes that are not yet durable.
//!
//! Every database has the same three column families, whatever its role, so that one code path
//! opens, reads and inspects any of them (an unused column family costs an empty memtable):
//! * `nodes` — key = encoded [`NodeKey`] (version BE ‖ depth ‖ path), value = encoded [`Node`].
//!   The key encoding sorts by (version, depth, path), so "last node of a depth" is one seek.
//! * `kv` — key = version BE ‖ key hash, value = encoded row (key bytes + value bytes).
//! * `meta` — `b'P'` ‖ version BE → progress record; `b'U'` ‖ version BE → usage record. The
//!   prefixes keep the two record kinds apart and each kind sorted by version.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, WriteBatch, WriteOptions};

use super::options::RocksStoreOptions;
use crate::codec::{self, node_key_depth_bound, version_prefix};
use crate::nibble::ROOT_NIBBLE_HEIGHT;
use crate::node::{LeafNode, Node, NodeKey};
use crate::store::{DbRole, StoreError, StoreResult};
use crate::types::Version;

pub(super) const CF_NODES: &str = "nodes";
pub(super) const CF_KV: &str = "kv";
pub(super) const CF_META: &str = "meta";
const OUR_CFS: [&str; 3] = [CF_NODES, CF_KV, CF_META];

pub(super) const META_PROGRESS: u8 = b'P';
pub(super) const META_USAGE: u8 = b'U';

pub(super) fn backend(e: impl fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(super) fn meta_key(prefix: u8, version: Version) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = prefix;
    key[1..].copy_from_slice(&version_prefix(version));
    key
}

/// One open database.
pub(super) struct Db {
    pub(super) db: DB,
    pub(super) role: DbRole,
    pub(super) path: PathBuf,
    /// Set by every unsynced write, cleared by the sync that makes it durable: a barrier syncs
    /// only the databases that need it, so a barrier over untouched databases costs nothing.
    dirty: AtomicBool,
}

impl Db {
    pub(super) fn open(path: &Path, role: DbRole, options: &RocksStoreOptions) -> StoreResult<Db> {
        std::fs::create_dir_all(path)
            .map_err(|e| backend(format!("creating {}: {e}", path.display())))?;
        let db_opts = options.db_options();
        // RocksDB refuses to open a database without naming every column family it has, so
        // carry over any that are already there (e.g. "default").
        let mut names: Vec<String> = OUR_CFS.iter().map(|s| s.to_string()).collect();
        if path.join("CURRENT").exists() {
            for existing in DB::list_cf(&db_opts, path).map_err(backend)? {
                if !names.contains(&existing) {
                    names.push(existing);
                }
            }
        }
        let descriptors = names
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, options.cf_options()));
        let db = DB::open_cf_descriptors(&db_opts, path, descriptors).map_err(backend)?;
        Ok(Db {
            db,
            role,
            path: path.to_path_buf(),
            dirty: AtomicBool::new(false),
        })
    }

    pub(super) fn cf(&self, name: &str) -> StoreResult<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| {
            backend(format!(
                "column family {name} missing in {}",
                self.path.display()
            ))
        })
    }

    /// Writes `batch`; `synced` says the write options sync it (so it leaves nothing dirty).
    pub(super) fn write(
        &self,
        batch: WriteBatch,
        opts: &WriteOptions,
        synced: bool,
    ) -> StoreResult<()> {
        if !synced {
            // Marked before the write: a concurrent barrier that clears the flag after this
            // point syncs a log that holds the write once it returns, or leaves the flag set.
            self.dirty.store(true, Ordering::Release);
        }
        self.db.write_opt(batch, opts).map_err(backend)
    }

    /// Makes every write that returned durable, if any is not: `true` when it synced. Without a
    /// WAL the memtables are flushed instead (there is no log to sync).
    pub(super) fn sync(&self, disable_wal: bool) -> StoreResult<bool> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        let result = if disable_wal {
            self.flush()
        } else {
            self.db.flush_wal(true).map_err(backend)
        };
        if result.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        result.map(|()| true)
    }

    pub(super) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Flushes all memtables to SST files.
    pub(super) fn flush(&self) -> StoreResult<()> {
        let cfs = OUR_CFS
            .iter()
            .map(|name| self.cf(name))
            .collect::<StoreResult<Vec<_>>>()?;
        self.db
            .flush_cfs_opt(&cfs, &rocksdb::FlushOptions::default())
            .map_err(backend)
    }

    pub(super) fn get_raw(&self, cf: &str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let cf = self.cf(cf)?;
        Ok(self
            .db
            .get_pinned_cf(cf, key)
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    /// Every `(key, value)` of `cf` whose key starts with `prefix`, in key order.
    pub(super) fn scan_prefix(
        &self,
        cf: &str,
        prefix: &[u8],
    ) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let cf = self.cf(cf)?;
        let mut it = self.db.raw_iterator_cf(cf);
        let mut out = Vec::new();
        it.seek(prefix);
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_vec(), value.to_vec()));
            it.next();
        }
        it.status().map_err(backend)?;
        Ok(out)
    }

    /// The last node of `depth` at `version`, if any.
    ///
    /// `seek_for_prev(bound)` lands on the greatest key `<= bound`, where `bound` is the header
    /// `(version, depth + 1)` with no path bytes. Every key of depth + 1 extends that header, so
    /// it sorts after it; every key of `depth` sorts before it. The bound itself is never a valid
    /// key (a key of depth >= 1 has path bytes), but a corrupt entry could equal it, so we step
    /// back over an exact match. The landing key may still belong to a shallower depth or an
    /// older version, hence the final check.
    fn last_at_depth(&self, version: Version, depth: u8) -> StoreResult<Option<(NodeKey, Node)>> {
        let cf = self.cf(CF_NODES)?;
        let bound = node_key_depth_bound(version, depth + 1);
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek_for_prev(bound);
        if it.key() == Some(&bound[..]) {
            it.prev();
        }
        let (Some(key), Some(value)) = (it.key(), it.value()) else {
            it.status().map_err(backend)?;
            return Ok(None);
        };
        let key = codec::decode_node_key(key)?;
        if key.version != version || key.path.len() != usize::from(depth) {
            return Ok(None);
        }
        Ok(Some((key, codec::decode_node(value)?)))
    }

    /// The rightmost leaf among this database's nodes at `version`. Same per-depth algorithm as
    /// the in-memory store: only the last node of each depth can be the rightmost leaf, and each
    /// is found with one `seek_for_prev`.
    pub(super) fn rightmost_leaf(
        &self,
        version: Version,
    ) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for depth in 0..=ROOT_NIBBLE_HEIGHT as u8 {
            if let Some((key, Node::Leaf(leaf))) = self.last_at_depth(version, depth)? {
                best = deeper_wins(best, Some((key, leaf)));
            }
        }
        Ok(best)
    }
}

/// The leaf with the larger key; on a tie the later (deeper) one, as `max_by_key` over nodes in
/// key order (the naive scan) picks it.
pub(super) fn deeper_wins(
    a: Option<(NodeKey, LeafNode)>,
    b: Option<(NodeKey, LeafNode)>,
) -> Option<(NodeKey, LeafNode)> {
    match (a, b) {
        (Some(x), Some(y)) => {
            if y.1.account_key >= x.1.account_key {
                Some(y)
            } else {
                Some(x)
            }
        }
        (x, None) => x,
        (None, y) => y,
    }
}
