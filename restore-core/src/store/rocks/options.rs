//! Tuning and durability settings of a [`super::RocksStore`].

use rocksdb::{BlockBasedOptions, DBCompressionType, Options, WriteOptions};

use crate::store::{Layout, SyncPolicy};

const MIB: usize = 1 << 20;

/// Tuning of a [`super::RocksStore`].
///
/// Restore writes are large batches of keys that arrive *almost* sorted (nodes per version in
/// post-order, KV rows in key-hash order), are never updated and are rarely read back. So the
/// knobs that matter are the ones that let big memtables absorb batches and flush them as few,
/// large, already-ordered SST files, and that keep background compaction from stalling writers.
#[derive(Clone, Debug, PartialEq)]
pub struct RocksStoreOptions {
    /// Which databases the store consists of (see [`Layout`]). Default `one`: a single database
    /// at the store path itself, which is what directories written before layouts existed hold.
    pub layout: Layout,
    /// When a returned write is durable (see [`SyncPolicy`]). Default `relaxed`: restore can
    /// resume from whatever prefix survived, so the library pays no fsync unless asked to; the
    /// CLI defaults to `always`, which is what an Aptos node pays.
    pub sync: SyncPolicy,
    /// Skip the WAL entirely (data is durable only once memtables are flushed; see
    /// [`super::RocksStore::flush`]). Off by default. Atomic flush is always enabled so that, even
    /// without a WAL, a kv batch's rows and its progress record become durable together when they
    /// share a database. Without a WAL there is no log to sync: `always` cannot sync writes (RocksDB
    /// refuses synced writes without a WAL), and a `barrier` flushes the memtables instead.
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
            layout: Layout::One,
            sync: SyncPolicy::Relaxed,
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
    /// The defaults with this layout and policy.
    pub fn with(layout: Layout, sync: SyncPolicy) -> RocksStoreOptions {
        RocksStoreOptions {
            layout,
            sync,
            ..RocksStoreOptions::default()
        }
    }

    /// Whether every write is synced to the WAL as it is made (and counted as an fsync).
    pub(super) fn syncs_writes(&self) -> bool {
        self.sync.syncs_every_write() && !self.disable_wal
    }

    pub(super) fn cf_options(&self) -> Options {
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

    pub(super) fn db_options(&self) -> Options {
        let mut db = self.cf_options();
        db.create_if_missing(true);
        db.create_missing_column_families(true);
        db.set_max_background_jobs(self.max_background_jobs);
        db.set_bytes_per_sync(self.bytes_per_sync);
        // Without a WAL, per-CF flushes could persist a progress record without its rows.
        db.set_atomic_flush(true);
        db
    }

    pub(super) fn write_options(&self) -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(self.syncs_writes());
        w.disable_wal(self.disable_wal);
        w
    }
}
