//! `sweep`: seeds × strategies (× stores) under the deterministic scheduler.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use harness::case::{GenConfig, StoreKind};
use harness::report::{SCHEMA, SeedsReport, StrategyReport, SweepReport};
use harness::run::Mode;
use harness::sweep::{SeedRange, SweepConfig, aggregate, run_sweep};
use restore_core::strategy::CommitStrategy;

use crate::Verdict;

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Number of seeds (each runs every selected strategy on the same workload).
    #[arg(long, default_value_t = 1_000)]
    seeds: u64,
    /// Stop after this many seconds even if seeds remain (the report says how many ran).
    #[arg(long)]
    time: Option<f64>,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
    /// Comma-separated strategies (default: all six).
    #[arg(long, value_delimiter = ',')]
    strategy: Vec<CommitStrategy>,
    /// Store under test: mem, rocksdb or both.
    #[arg(long, default_value = "mem", value_parser = ["mem", "rocksdb", "both"])]
    store: String,
    /// Run only shard K of N (1-based): seeds with seed % N == K-1. N shards are disjoint and
    /// cover the unsharded run.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Parallel workers (default: the number of cores). Results do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// Largest snapshot of a generated case, in keys.
    #[arg(long, default_value_t = 200)]
    max_keys: usize,
    /// Write the JSON report (schema restore-sim/sweep/v1) here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a JUnit XML report here (one test case per strategy × oracle expectation).
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Save the first failing case of every strategy here, as replayable case files.
    #[arg(long)]
    save_failures: Option<PathBuf>,
    /// Run the same cases with no scheduler (no interleaving, crashes or trace): measures the
    /// scheduler's cost; its verdicts are not a sweep's.
    #[arg(long, hide = true)]
    inline: bool,
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("expected K/N, got `{s}`"))?;
    let k: u64 = k.parse().map_err(|_| format!("bad shard index `{k}`"))?;
    let n: u64 = n.parse().map_err(|_| format!("bad shard count `{n}`"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {k}/{n} is out of range: need 1 <= K <= N"));
    }
    Ok((k, n))
}

impl SweepArgs {
    pub fn defaults() -> SweepArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            a: SweepArgs,
        }
        Only::parse_from(["restore-sim"]).a
    }
}

pub fn run(args: &SweepArgs) -> Result<Verdict> {
    let strategies = if args.strategy.is_empty() {
        CommitStrategy::ALL.to_vec()
    } else {
        args.strategy.clone()
    };
    let stores = match args.store.as_str() {
        "mem" => vec![StoreKind::Mem],
        "rocksdb" => vec![StoreKind::Rocksdb],
        "both" => vec![StoreKind::Mem, StoreKind::Rocksdb],
        other => bail!("unknown store `{other}`"),
    };
    if args.max_keys == 0 {
        bail!("--max-keys must be at least 1");
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let cfg = SweepConfig {
        seeds: SeedRange {
            start: args.seed_start,
            count: args.seeds,
            shard: args.shard,
        },
        strategies: strategies.clone(),
        stores: stores.clone(),
        jobs,
        generator: GenConfig {
            max_keys: args.max_keys,
            store: StoreKind::Mem,
        },
        mode: if args.inline {
            Mode::Inline
        } else {
            Mode::Scheduled
        },
    };
    let total = cfg.seeds.seeds().count() as u64;
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = args.time.map(Duration::from_secs_f64);
    let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} seeds ({per_sec}) {msg}",
            )
            .expect("valid template"),
        );
        b
    });
    eprintln!(
        "sweep: {} seeds from {} × {} strategies × {} store(s), {jobs} jobs{}",
        total,
        args.seed_start,
        strategies.len(),
        stores.len(),
        args.shard
            .map_or(String::new(), |(k, n)| format!(", shard {k}/{n}"))
    );
    let results = run_sweep(&cfg, &stop, &|_seed| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &bar {
            b.inc(1);
        } else if n.is_multiple_of(250) || n == total {
            eprintln!(
                "  {n}/{total} seeds, {:.0}s",
                started.elapsed().as_secs_f64()
            );
        }
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            stop.store(true, Ordering::Relaxed);
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = aggregate(&results);

    let mut saved = std::collections::BTreeMap::new();
    if let Some(dir) = &args.save_failures {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for r in &results {
            let key = (r.strategy, r.store as u8);
            if let Some(case) = &r.case
                && !saved.contains_key(&key)
            {
                let path = dir.join(format!(
                    "{}-{}-seed{}.json",
                    r.strategy.name(),
                    store_label(r.store),
                    r.seed
                ));
                std::fs::write(&path, case.to_json())
                    .with_context(|| format!("writing {}", path.display()))?;
                saved.insert(key, path.display().to_string());
            }
        }
    }
    let mut reports = Vec::new();
    for &store in &stores {
        for &s in &strategies {
            let key = (s, store as u8);
            let st = stats.get(&key).cloned().unwrap_or_default();
            reports.push(StrategyReport::new(s, store, &st, saved.get(&key).cloned()));
        }
    }
    let ran = done.load(Ordering::Relaxed);
    let total_cases: u64 = reports.iter().map(|r| r.cases).sum();
    let report = SweepReport {
        schema: SCHEMA.to_string(),
        cases_per_second: total_cases as f64 / elapsed.max(1e-9),
        elapsed_seconds: elapsed,
        seeds: SeedsReport {
            start: args.seed_start,
            count: args.seeds,
            shard: args.shard.map(|(k, n)| format!("{k}/{n}")),
            run: ran,
        },
        strategies: reports,
    };
    print!("{}", report.table());
    if ran < total {
        println!("time budget reached after {ran} of {total} seeds");
    }
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&report).context("serializing the report")?;
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &args.junit {
        std::fs::write(p, report.junit()).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(if report.all_as_expected() {
        Verdict::AsExpected
    } else {
        Verdict::Unexpected
    })
}

fn store_label(s: StoreKind) -> &'static str {
    match s {
        StoreKind::Mem => "mem",
        StoreKind::Rocksdb => "rocksdb",
    }
}
