//! `compare` and `restore`: real restores into RocksDB with real threads.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use restore_core::real::{
    PreparedSnapshot, RealRestoreConfig, audit_rocksdb, restore_into_rocksdb,
};
use restore_core::snapshot::SnapshotSpec;
use restore_core::store::RocksStoreOptions;
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

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    /// Comma-separated strategies (default: all six).
    #[arg(long, value_delimiter = ',')]
    strategy: Vec<CommitStrategy>,
    /// Where the per-strategy databases go (default: a temporary directory, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    /// Target directory; rerunning with the same parameters resumes.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "pipelined")]
    strategy: CommitStrategy,
    /// Override the strategy's commit mode (sync or async).
    #[arg(long)]
    commit: Option<CommitMode>,
    /// Skip the final audit of root, KV bytes and usage.
    #[arg(long)]
    no_audit: bool,
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
        rocks: RocksStoreOptions::default(),
    }
}

pub fn run_restore(args: &RestoreArgs) -> Result<()> {
    let cfg = config(&args.snapshot, args.dir.clone(), args.strategy, args.commit);
    let t0 = Instant::now();
    let prepared = PreparedSnapshot::generate(&cfg);
    println!(
        "generated {} keys in {} chunks in {:.2}s (root {})",
        prepared.snapshot.items.len(),
        prepared.chunks.len(),
        t0.elapsed().as_secs_f64(),
        prepared.snapshot.root
    );
    let t1 = Instant::now();
    let report = restore_into_rocksdb(&cfg, &prepared, &mut |_, _| {})?;
    let secs = t1.elapsed().as_secs_f64();
    println!(
        "{}: restored {} keys ({} chunks fed, {} skipped as already durable) in {:.2}s = {:.0} keys/s",
        cfg.strategy,
        report.keys_fed,
        report.chunks_fed,
        report.chunks_skipped,
        secs,
        report.keys_fed as f64 / secs.max(1e-9)
    );
    if !args.no_audit {
        audit_rocksdb(&cfg.dir, &cfg.rocks, &prepared.snapshot).context("audit")?;
        println!("audit: root, tree, KV bytes and usage match the snapshot");
    }
    Ok(())
}

pub fn run_compare(args: &CompareArgs) -> Result<bool> {
    let strategies = if args.strategy.is_empty() {
        CommitStrategy::ALL.to_vec()
    } else {
        args.strategy.clone()
    };
    let tmp;
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let probe = config(&args.snapshot, base.clone(), strategies[0], None);
    let t0 = Instant::now();
    let prepared = PreparedSnapshot::generate(&probe);
    println!(
        "snapshot: {} keys, {} chunks of {}, generated in {:.2}s",
        prepared.snapshot.items.len(),
        prepared.chunks.len(),
        args.snapshot.chunk_size,
        t0.elapsed().as_secs_f64()
    );
    println!(
        "{:<16} {:>10} {:>12}  audit",
        "strategy", "seconds", "keys/s"
    );
    let mut all_ok = true;
    for s in strategies {
        let dir = base.join(s.name());
        if dir.exists() {
            bail!(
                "{} already exists; compare needs fresh directories",
                dir.display()
            );
        }
        let cfg = config(&args.snapshot, dir, s, None);
        let t = Instant::now();
        let report = restore_into_rocksdb(&cfg, &prepared, &mut |_, _| {})?;
        let secs = t.elapsed().as_secs_f64();
        let audit = audit_rocksdb(&cfg.dir, &cfg.rocks, &prepared.snapshot);
        all_ok &= audit.is_ok();
        println!(
            "{:<16} {:>10.2} {:>12.0}  {}",
            s.name(),
            secs,
            report.keys_fed as f64 / secs.max(1e-9),
            match audit {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("FAILED: {e}"),
            }
        );
    }
    Ok(all_ok)
}
