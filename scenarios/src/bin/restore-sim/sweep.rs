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
use harness::sweep::{SeedRange, SweepConfig, run_sweep};
use restore_core::store::{Layout, SyncPolicy};
use restore_core::strategy::CommitStrategy;

use crate::Verdict;

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Number of seeds (each runs every selected strategy on the same workload). Default 1,000;
    /// with `--time` and no `--seeds`, a soak: seeds run until the time is up.
    #[arg(long)]
    seeds: Option<u64>,
    /// Stop after this many seconds even if seeds remain (the report says how many ran).
    #[arg(long, value_parser = parse_seconds)]
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
    /// Fail (exit 1) when a required category of the fault space (fault effects and targets,
    /// crash kinds and where crashes landed, corrupted deliveries, tamper kinds) was never drawn.
    #[arg(long)]
    require_coverage: bool,
    /// Run the same cases with no scheduler (no interleaving, crashes or trace): measures the
    /// scheduler's cost only. It checks no trace, so it prints no verdict and exits 2.
    #[arg(long, hide = true)]
    inline: bool,
    /// Give every case this store layout (one, split, aptos) instead of the drawn one. The cases
    /// then differ from the default generator's, so no witness seed is checked.
    #[arg(long)]
    layout: Option<Layout>,
    /// Give every case this sync policy (always, relaxed, barrier) instead of the drawn one.
    #[arg(long)]
    sync: Option<SyncPolicy>,
}

/// The label of a forced store model, if any part of it is forced.
pub fn forced_model(layout: Option<Layout>, sync: Option<SyncPolicy>) -> Option<String> {
    let parts: Vec<String> = [
        layout.map(|l| format!("layout={l}")),
        sync.map(|p| format!("sync={p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Seeds of the default sweep, when neither `--seeds` nor `--time` is given.
const DEFAULT_SEEDS: u64 = 1_000;

fn parse_seconds(s: &str) -> Result<f64, String> {
    let t: f64 = s
        .parse()
        .map_err(|_| format!("expected seconds, got `{s}`"))?;
    if !t.is_finite() || t <= 0.0 || t > 1e9 {
        return Err(format!(
            "--time must be a positive number of seconds, got `{s}`"
        ));
    }
    Ok(t)
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
    // Generated cases must stay within the case-file limits, or a saved failure would not replay.
    let max = harness::case_limits::MAX_KEYS;
    if !(1..=max).contains(&args.max_keys) {
        bail!("--max-keys must be from 1 to {max}, got {}", args.max_keys);
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // A soak (`--time` without `--seeds`) runs every seed from the start on, until the time is up.
    let soak = args.seeds.is_none() && args.time.is_some();
    let count = match args.seeds {
        Some(n) => n,
        None if soak => u64::MAX - args.seed_start,
        None => DEFAULT_SEEDS,
    };
    let cfg = SweepConfig {
        seeds: SeedRange {
            start: args.seed_start,
            count,
            shard: args.shard,
        },
        strategies: strategies.clone(),
        stores: stores.clone(),
        jobs,
        generator: GenConfig {
            max_keys: args.max_keys,
            store: StoreKind::Mem,
            layout: args.layout,
            sync: args.sync,
        },
        mode: if args.inline {
            Mode::Inline
        } else {
            Mode::Scheduled
        },
    };
    let total = cfg.seeds.len();
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = args.time.map(Duration::from_secs_f64);
    let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let bar = tty.then(|| {
        let (b, template) = if soak {
            (
                indicatif::ProgressBar::no_length(),
                "{elapsed_precise} {pos} seeds ({per_sec}) {msg}",
            )
        } else {
            (
                indicatif::ProgressBar::new(total),
                "{elapsed_precise} [{bar:40}] {pos}/{len} seeds ({per_sec}) {msg}",
            )
        };
        b.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
        b
    });
    eprintln!(
        "sweep: {} from {} × {} strategies × {} store(s), {jobs} jobs{}",
        if soak {
            format!("soak for {}s, seeds", args.time.unwrap_or_default())
        } else {
            format!("{total} seeds")
        },
        args.seed_start,
        strategies.len(),
        stores.len(),
        args.shard
            .map_or(String::new(), |(k, n)| format!(", shard {k}/{n}"))
    );
    let summary = run_sweep(&cfg, &stop, &|_seed| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &bar {
            b.inc(1);
        } else if n == total
            || (if soak {
                n.is_multiple_of(10_000)
            } else {
                n.is_multiple_of(250)
            })
        {
            eprintln!(
                "  {n}/{} seeds, {:.0}s",
                if soak {
                    "?".to_string()
                } else {
                    total.to_string()
                },
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
    let ran = summary.seeds_run;
    if args.inline {
        let cases: u64 = summary.stats.values().map(|s| s.cases).sum();
        println!(
            "inline: {cases} cases in {elapsed:.1}s = {:.0} cases/s",
            cases as f64 / elapsed.max(1e-9)
        );
        bail!("no verdict: inline mode checks no trace (it measures the scheduler's cost only)");
    }

    let mut saved = std::collections::BTreeMap::new();
    if let Some(dir) = &args.save_failures {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (key, (seed, case)) in &summary.first_cases {
            let path = dir.join(format!(
                "{}-{}-seed{seed}.json",
                case.strategy.name(),
                store_label(case.store),
            ));
            std::fs::write(&path, case.to_json())
                .with_context(|| format!("writing {}", path.display()))?;
            saved.insert(*key, path.display().to_string());
        }
    }
    let mut reports = Vec::new();
    for &store in &stores {
        for &s in &strategies {
            let key = (s, store as u8);
            let st = summary.stats.get(&key).cloned().unwrap_or_default();
            reports.push(StrategyReport::new(s, store, &st, saved.get(&key).cloned()));
        }
    }
    let total_cases: u64 = reports.iter().map(|r| r.cases).sum();
    let report = SweepReport {
        schema: SCHEMA.to_string(),
        cases_per_second: total_cases as f64 / elapsed.max(1e-9),
        elapsed_seconds: elapsed,
        seeds: SeedsReport {
            start: args.seed_start,
            // A soak's range is the seeds it ran: they are a prefix (see `run_sweep`).
            count: if soak { ran } else { count },
            shard: args.shard.map(|(k, n)| format!("{k}/{n}")),
            run: ran,
        },
        strategies: reports,
        forced_model: forced_model(args.layout, args.sync),
    };
    if let Some(m) = &report.forced_model {
        println!("store model forced for every case: {m} (witness seeds not checked)");
    }
    print!("{}", report.table());
    let coverage = report.coverage();
    let never = harness::coverage::missing(&coverage);
    let required = harness::coverage::REQUIRED.len();
    if never.is_empty() {
        println!("coverage: all {required} required categories drawn");
    } else {
        println!(
            "coverage: {} of {required} required categories drawn; never: {}",
            required - never.len(),
            never.join(", ")
        );
    }
    // A time budget must not quietly skip a witness: the sweep would pass without checking it.
    let mut unreached = Vec::new();
    if soak {
        println!("soak: {ran} seeds in {elapsed:.0}s");
    } else if ran < total && report.forced_model.is_none() {
        println!("time budget reached after {ran} of {total} seeds");
        for &s in &strategies {
            for w in harness::expect::witnesses(s) {
                if cfg.seeds.index_of(w.seed).is_some_and(|i| i >= ran) {
                    unreached.push(format!(
                        "time budget stopped the sweep before witness seed {} ({} under {s})",
                        w.seed, w.oracle
                    ));
                }
            }
        }
        for line in &unreached {
            println!("{line}");
        }
    }
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&report).context("serializing the report")?;
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &args.junit {
        std::fs::write(p, report.junit()).with_context(|| format!("writing {}", p.display()))?;
    }
    let coverage_ok = !args.require_coverage || never.is_empty();
    Ok(
        if report.all_as_expected() && unreached.is_empty() && coverage_ok {
            Verdict::AsExpected
        } else {
            Verdict::Unexpected
        },
    )
}

fn store_label(s: StoreKind) -> &'static str {
    match s {
        StoreKind::Mem => "mem",
        StoreKind::Rocksdb => "rocksdb",
    }
}
