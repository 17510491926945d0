//! The generated snapshot the real-store commands (`compare`, `restore`, `crash-test`, `limits`)
//! work on: its flags and the restore config built from them.
//!
//! A module of its own so that those commands share it without importing each other: `limits`
//! needs the snapshot flags, and `compare` needs the limit model, which used to make `limits`
//! and `real` import each other.

use std::path::PathBuf;

use clap::Args;
use restore_core::real::RealRestoreConfig;
use restore_core::snapshot::SnapshotSpec;
use restore_core::store::{Layout, RocksStoreOptions, SyncPolicy};
use restore_core::strategy::{CommitMode, CommitStrategy};
use restore_core::{HashScheme, Version};

#[derive(Args, Debug, Clone)]
pub struct SnapshotArgs {
    /// Number of keys in the generated snapshot.
    #[arg(long, default_value_t = 200_000)]
    pub(crate) keys: usize,
    /// Items per chunk (state sync uses 4,000).
    #[arg(long, default_value_t = 4_000)]
    pub(crate) chunk_size: usize,
    /// Seed of the generated snapshot.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Smallest and largest value size in bytes.
    #[arg(long, value_parser = parse_range, default_value = "24..=400")]
    pub(crate) value_len: (usize, usize),
    /// Hash scheme: aptos or jmt.
    #[arg(long, value_parser = parse_scheme, default_value = "aptos")]
    pub(crate) scheme: HashScheme,
}

/// How the RocksDB store is laid out and synced (`compare`, `restore`, `crash-test`, `limits`).
/// The defaults are what an Aptos node pays: 34 databases, every write synced.
#[derive(Args, Debug, Clone, Copy)]
pub struct StoreArgs {
    /// Store layout: one (a single database), split (KV and tree databases) or aptos (16 shard
    /// databases plus a metadata database per side).
    #[arg(long, default_value = "aptos")]
    pub(crate) layout: Layout,
    /// When writes are durable: always (every write synced), relaxed (none), barrier (relaxed
    /// writes plus a sync of each database where a safe strategy needs an order across them).
    #[arg(long, default_value = "always")]
    pub(crate) sync: SyncPolicy,
}

impl StoreArgs {
    pub(crate) fn rocks(&self) -> RocksStoreOptions {
        RocksStoreOptions::with(self.layout, self.sync)
    }
}

pub(crate) fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once("..=")
        .ok_or_else(|| format!("expected MIN..=MAX, got `{s}`"))?;
    let a = a.trim().parse().map_err(|_| format!("bad number `{a}`"))?;
    let b = b.trim().parse().map_err(|_| format!("bad number `{b}`"))?;
    Ok((a, b))
}

pub(crate) fn parse_scheme(s: &str) -> Result<HashScheme, String> {
    HashScheme::ALL
        .into_iter()
        .find(|h| h.name() == s)
        .ok_or_else(|| format!("unknown hash scheme `{s}`; expected aptos or jmt"))
}

pub(crate) fn config(
    s: &SnapshotArgs,
    store: &StoreArgs,
    dir: PathBuf,
    strategy: CommitStrategy,
    commit: Option<CommitMode>,
) -> RealRestoreConfig {
    RealRestoreConfig {
        dir,
        spec: SnapshotSpec {
            seed: s.seed,
            keys: s.keys,
            value_len: s.value_len,
            ..SnapshotSpec::default()
        },
        chunk_size: s.chunk_size,
        version: Version(1),
        scheme: s.scheme,
        strategy,
        commit,
        rocks: store.rocks(),
    }
}
