//! A RocksDB store for both sides: the "real disk" backend, laid out like Aptos's.
//!
//! Column families:
//! * `nodes` — key = encoded [`NodeKey`] (version BE ‖ depth ‖ path), value = encoded [`Node`].
//!   The key encoding sorts by (version, depth, path), so "last node of a depth" is one seek.
//! * `kv` — key = version BE ‖ key hash, value = encoded row (key bytes + value bytes).
//! * `meta` — `b'P'` ‖ version BE → progress record; `b'U'` ‖ version BE → usage record. The
//!   prefixes keep the two record kinds apart and each kind sorted by version.
//!
//! Every read decodes strictly and reports bad bytes as [`StoreError::Corrupt`]; every RocksDB
//! failure is a [`StoreError::Backend`]. Nothing read from disk can make this code panic.

use std::fmt;
use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Options,
    WriteBatch, WriteOptions,
};

use super::mem::check_shard;
use super::{KvStore, StoreError, StoreResult, TreeStore};
use crate::codec::{self, node_key_depth_bound, version_prefix};
use crate::nibble::ROOT_NIBBLE_HEIGHT;
use crate::node::{LeafNode, Node, NodeKey, NodeShard};
use crate::types::{KeyHash, Progress, StateItem, Usage, Version};

const CF_NODES: &str = "nodes";
const CF_KV: &str = "kv";
const CF_META: &str = "meta";
const OUR_CFS: [&str; 3] = [CF_NODES, CF_KV, CF_META];

const META_PROGRESS: u8 = b'P';
const META_USAGE: u8 = b'U';

const MIB: usize = 1 << 20;

/// Tuning of a [`RocksStore`].
///
/// Restore writes are large batches of keys that arrive *almost* sorted (nodes per version in
/// post-order, KV rows in key-hash order), are never updated and are rarely read back. So the
/// knobs that matter are the ones that let big memtables absorb batches and flush them as few,
/// large, already-ordered SST files, and that keep background compaction from stalling writers.
#[derive(Clone, Debug, PartialEq)]
pub struct RocksStoreOptions {
    /// fsync the WAL on every write. Off by default: restore can resume from whatever prefix
    /// survived, so paying an fsync per batch buys nothing but latency.
    pub sync_writes: bool,
    /// Skip the WAL entirely (data is durable only once memtables are flushed; see
    /// [`RocksStore::flush`]). Off by default. Atomic flush is always enabled so that, even
    /// without a WAL, a kv batch's rows and its progress record become durable together.
    pub disable_wal: bool,
    /// Memtable size per column family. Larger memtables mean fewer, larger L0 files for the
    /// same bulk load, hence less compaction work. Default 64 MiB.
    pub write_buffer_size: usize,
    /// Memtables per column family that may be full and waiting to flush before writes stall.
    /// Default 4, so a flush in progress does not block the next batches.
    pub max_write_buffer_number: i32,
    /// Flush + compaction threads. Default 4: bulk loads are compaction-bound.
    pub max_background_jobs: i32,
    /// Target SST size at L1. Default 64 MiB, matching the memtable so flushed files are not
    /// immediately split or merged.
    pub target_file_size_base: u64,
    /// Write OS pages back every this many bytes, smoothing I/O instead of one large burst at
    /// file close. Default 1 MiB; 0 disables.
    pub bytes_per_sync: u64,
    /// LZ4-compress SST blocks. Default on: hashes do not compress, but row values often do, and
    /// LZ4 is cheap enough not to slow flushes.
    pub lz4_compression: bool,
    /// Bloom filter bits per key for point lookups (`get_node`, `get_value`, recovery reads).
    /// Default `Some(10.0)` (~1% false positives); `None` disables.
    pub bloom_bits_per_key: Option<f64>,
}

impl Default for RocksStoreOptions {
    fn default() -> Self {
        RocksStoreOptions {
            sync_writes: false,
            disable_wal: false,
            write_buffer_size: 64 * MIB,
            max_write_buffer_number: 4,
            max_background_jobs: 4,
            target_file_size_base: 64 * MIB as u64,
            bytes_per_sync: MIB as u64,
            lz4_compression: true,
            bloom_bits_per_key: Some(10.0),
        }
    }
}

impl RocksStoreOptions {
    fn cf_options(&self) -> Options {
        let mut cf = Options::default();
        cf.set_write_buffer_size(self.write_buffer_size);
        cf.set_max_write_buffer_number(self.max_write_buffer_number);
        cf.set_target_file_size_base(self.target_file_size_base);
        cf.set_level_compaction_dynamic_level_bytes(true);
        cf.set_compression_type(if self.lz4_compression {
            DBCompressionType::Lz4
        } else {
            DBCompressionType::None
        });
        if let Some(bits) = self.bloom_bits_per_key {
            let mut table = BlockBasedOptions::default();
            table.set_bloom_filter(bits, false);
            cf.set_block_based_table_factory(&table);
        }
        cf
    }

    fn db_options(&self) -> Options {
        let mut db = self.cf_options();
        db.create_if_missing(true);
        db.create_missing_column_families(true);
        db.set_max_background_jobs(self.max_background_jobs);
        db.set_bytes_per_sync(self.bytes_per_sync);
        // Without a WAL, per-CF flushes could persist a progress record without its rows.
        db.set_atomic_flush(true);
        db
    }

    fn write_options(&self) -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(self.sync_writes);
        w.disable_wal(self.disable_wal);
        w
    }
}

/// RocksDB-backed [`TreeStore`] + [`KvStore`]. Dropping it closes the database (flushing
/// memtables first if the WAL is disabled), so the same path can be reopened right after.
pub struct RocksStore {
    db: DB,
    write_opts: WriteOptions,
    options: RocksStoreOptions,
    path: PathBuf,
}

impl fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish()
    }
}

fn backend(e: impl fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn meta_key(prefix: u8, version: Version) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = prefix;
    key[1..].copy_from_slice(&version_prefix(version));
    key
}

impl RocksStore {
    /// Opens the store at `path`, creating the directory and column families if missing. An
    /// existing directory is reopened as is, which is how a restore resumes after a restart.
    pub fn open(path: impl AsRef<Path>, options: RocksStoreOptions) -> StoreResult<RocksStore> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path)
            .map_err(|e| backend(format!("creating {}: {e}", path.display())))?;
        let db_opts = options.db_options();
        // RocksDB refuses to open a database without naming every column family it has, so
        // carry over any that are already there (e.g. "default").
        let mut names: Vec<String> = OUR_CFS.iter().map(|s| s.to_string()).collect();
        if path.join("CURRENT").exists() {
            for existing in DB::list_cf(&db_opts, &path).map_err(backend)? {
                if !names.contains(&existing) {
                    names.push(existing);
                }
            }
        }
        let descriptors = names
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, options.cf_options()));
        let db = DB::open_cf_descriptors(&db_opts, &path, descriptors).map_err(backend)?;
        Ok(RocksStore {
            db,
            write_opts: options.write_options(),
            options,
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn options(&self) -> &RocksStoreOptions {
        &self.options
    }

    /// Flushes all memtables to SST files: the durability point when the WAL is disabled.
    pub fn flush(&self) -> StoreResult<()> {
        let cfs = OUR_CFS
            .iter()
            .map(|name| self.cf(name))
            .collect::<StoreResult<Vec<_>>>()?;
        self.db
            .flush_cfs_opt(&cfs, &rocksdb::FlushOptions::default())
            .map_err(backend)
    }

    /// Flushes, then closes. Unlike a plain drop, this reports a failed final flush.
    pub fn close(self) -> StoreResult<()> {
        self.flush()
    }

    fn cf(&self, name: &str) -> StoreResult<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| backend(format!("column family {name} missing")))
    }

    fn write(&self, batch: WriteBatch) -> StoreResult<()> {
        self.db.write_opt(batch, &self.write_opts).map_err(backend)
    }

    fn get_raw(&self, cf: &str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let cf = self.cf(cf)?;
        Ok(self
            .db
            .get_pinned_cf(cf, key)
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    /// Every `(key, value)` of `cf` whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, cf: &str, prefix: &[u8]) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
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
}

impl TreeStore for RocksStore {
    fn write_node_shard(&self, shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()> {
        check_shard(shard, nodes)?;
        let cf = self.cf(CF_NODES)?;
        let mut batch = WriteBatch::default();
        for (key, node) in nodes {
            batch.put_cf(cf, codec::encode_node_key(key), codec::encode_node(node));
        }
        self.write(batch)
    }

    fn get_node(&self, key: &NodeKey) -> StoreResult<Option<Node>> {
        self.get_raw(CF_NODES, &codec::encode_node_key(key))?
            .map(|bytes| codec::decode_node(&bytes).map_err(StoreError::from))
            .transpose()
    }

    /// Same per-depth algorithm as the in-memory store: only the last node of each depth can be
    /// the rightmost leaf, and each is found with one `seek_for_prev`.
    fn rightmost_leaf(&self, version: Version) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for depth in 0..=ROOT_NIBBLE_HEIGHT as u8 {
            // `>=` so a tie goes to the deeper leaf, as `max_by_key` (and the naive scan) does.
            if let Some((key, Node::Leaf(leaf))) = self.last_at_depth(version, depth)?
                && best.is_none_or(|(_, b)| leaf.account_key >= b.account_key)
            {
                best = Some((key, leaf));
            }
        }
        Ok(best)
    }

    fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>> {
        self.scan_prefix(CF_NODES, &version_prefix(version))?
            .into_iter()
            .map(|(k, v)| Ok((codec::decode_node_key(&k)?, codec::decode_node(&v)?)))
            .collect()
    }

    /// One batch of point deletes of the version's keys (every node key starts with the
    /// version): atomic like any other write batch.
    fn clear_nodes(&self, version: Version) -> StoreResult<()> {
        let cf = self.cf(CF_NODES)?;
        let mut batch = WriteBatch::default();
        for (k, _) in self.scan_prefix(CF_NODES, &version_prefix(version))? {
            batch.delete_cf(cf, k);
        }
        self.write(batch)
    }
}

impl KvStore for RocksStore {
    fn write_kv_batch(
        &self,
        version: Version,
        rows: &[StateItem],
        progress: Option<&Progress>,
    ) -> StoreResult<()> {
        let kv = self.cf(CF_KV)?;
        let mut batch = WriteBatch::default();
        for row in rows {
            let key = codec::encode_kv_key(version, &row.key_hash);
            batch.put_cf(kv, key, codec::encode_kv_row(row)?);
        }
        if let Some(p) = progress {
            let meta = self.cf(CF_META)?;
            batch.put_cf(
                meta,
                meta_key(META_PROGRESS, version),
                codec::encode_progress(p),
            );
        }
        self.write(batch)
    }

    fn get_progress(&self, version: Version) -> StoreResult<Option<Progress>> {
        self.get_raw(CF_META, &meta_key(META_PROGRESS, version))?
            .map(|bytes| codec::decode_progress(&bytes).map_err(StoreError::from))
            .transpose()
    }

    fn get_value(&self, version: Version, key_hash: &KeyHash) -> StoreResult<Option<StateItem>> {
        self.get_raw(CF_KV, &codec::encode_kv_key(version, key_hash))?
            .map(|bytes| codec::decode_kv_row(*key_hash, &bytes).map_err(StoreError::from))
            .transpose()
    }

    fn kv_rows(&self, version: Version) -> StoreResult<Vec<StateItem>> {
        self.scan_prefix(CF_KV, &version_prefix(version))?
            .into_iter()
            .map(|(k, v)| {
                let (_, key_hash) = codec::decode_kv_key(&k)?;
                Ok(codec::decode_kv_row(key_hash, &v)?)
            })
            .collect()
    }

    fn write_usage(&self, version: Version, usage: &Usage) -> StoreResult<()> {
        let meta = self.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            meta,
            meta_key(META_USAGE, version),
            codec::encode_usage(usage),
        );
        self.write(batch)
    }

    fn get_usage(&self, version: Version) -> StoreResult<Option<Usage>> {
        self.get_raw(CF_META, &meta_key(META_USAGE, version))?
            .map(|bytes| codec::decode_usage(&bytes).map_err(StoreError::from))
            .transpose()
    }

    fn clear_kv(&self, version: Version) -> StoreResult<()> {
        let kv = self.cf(CF_KV)?;
        let meta = self.cf(CF_META)?;
        let mut batch = WriteBatch::default();
        for (k, _) in self.scan_prefix(CF_KV, &version_prefix(version))? {
            batch.delete_cf(kv, k);
        }
        batch.delete_cf(meta, meta_key(META_PROGRESS, version));
        batch.delete_cf(meta, meta_key(META_USAGE, version));
        self.write(batch)
    }
}
