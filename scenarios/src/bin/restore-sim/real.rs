//! `compare` and `restore`: real restores into RocksDB with real threads.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use restore_core::audit::check_final_state;
use restore_core::limits::LimitModel;
use restore_core::real::{
    PreparedSnapshot, RealRestoreConfig, audit_rocksdb, restore_into_memory, restore_into_rocksdb,
};
use restore_core::strategy::{CommitMode, CommitStrategy};
use serde::Serialize;

use crate::limits::{self, TargetStore, Work};
use crate::snapshot_args::{SnapshotArgs, StoreArgs, config};

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    store_args: StoreArgs,
    /// Comma-separated strategies (default: all six).
    #[arg(long, value_delimiter = ',')]
    strategy: Vec<CommitStrategy>,
    /// Where the per-strategy databases go (default: a temporary directory, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also draw keys/s per strategy as a bar chart (a self-contained SVG) here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Also write the table's numbers as JSON (schema restore-sim/compare/v1) here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where to restore: rocksdb (a fresh database per strategy) or mem (a fresh in-memory
    /// store per strategy: the CPU side alone).
    #[arg(long, value_enum, default_value = "rocksdb")]
    store: TargetStore,
    /// Also measure the limit model (`restore-sim limits`) on the same snapshot and store in
    /// this run, and give each strategy's rate as a share of it.
    #[arg(long)]
    limits: bool,
    /// Restore with every strategy this many times, in a rotated order each round, and report
    /// the median (and the spread) per strategy.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    store_args: StoreArgs,
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
    /// Print `fed <chunk index>` after every chunk fed (what `crash-test` kills on).
    #[arg(long, hide = true)]
    progress: bool,
}

/// The prefix of the line `restore --progress` prints after each chunk it fed.
pub(crate) const FED_PREFIX: &str = "fed ";

/// `dir`, or a temporary directory (returned too: it is removed when dropped).
pub(crate) fn work_dir(dir: Option<&PathBuf>) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    Ok(match dir {
        Some(d) => (None, d.clone()),
        None => {
            let tmp = tempfile::tempdir().context("creating a temporary directory")?;
            let path = tmp.path().to_path_buf();
            (Some(tmp), path)
        }
    })
}

pub fn run_restore(args: &RestoreArgs) -> Result<()> {
    let cfg = config(
        &args.snapshot,
        &args.store_args,
        args.dir.clone(),
        args.strategy,
        args.commit,
    );
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
    let progress = args.progress;
    let report = restore_into_rocksdb(&cfg, &prepared, &mut |index, _| {
        if progress {
            // stdout is line-buffered: the parent reads each line as the chunk is fed.
            println!("{FED_PREFIX}{}", index.0);
        }
    })?;
    let secs = t1.elapsed().as_secs_f64();
    println!(
        "{} on {}/{}: restored {} keys ({} chunks fed, {} skipped as already durable) in {:.2}s = {:.0} keys/s, {} fsyncs",
        cfg.strategy,
        args.store_args.layout,
        args.store_args.sync,
        report.keys_fed,
        report.chunks_fed,
        report.chunks_skipped,
        secs,
        report.keys_fed as f64 / secs.max(1e-9),
        report.fsyncs
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
    let (_tmp, base) = work_dir(args.dir.as_ref())?;
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let probe = config(
        &args.snapshot,
        &args.store_args,
        base.clone(),
        strategies[0],
        None,
    );
    let t0 = Instant::now();
    let prepared = PreparedSnapshot::generate(&probe);
    println!(
        "snapshot: {} keys, {} chunks of {}, generated in {:.2}s; store {}",
        prepared.snapshot.items.len(),
        prepared.chunks.len(),
        args.snapshot.chunk_size,
        t0.elapsed().as_secs_f64(),
        args.store.label(&args.store_args)
    );
    let limit = if args.limits {
        let work = Work::of(&prepared)?;
        let costs = work.measure(
            &prepared,
            args.snapshot.chunk_size,
            args.store,
            &base,
            &args.store_args,
        )?;
        limits::print_model(&args.store.label(&args.store_args), &work.counts, &costs);
        let m = LimitModel::new(&work.counts, &costs);
        Some(LimitRates {
            serial_keys_per_sec: m.serial_keys_per_sec,
            overlapped_keys_per_sec: m.overlapped_keys_per_sec,
        })
    } else {
        None
    };
    let rounds = args.repeat.max(1) as usize;
    // samples[i]: (seconds, keys/s, fsyncs per chunk) of every run of strategies[i].
    let mut samples: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); strategies.len()];
    let mut audits: Vec<Result<(), String>> = vec![Ok(()); strategies.len()];
    for round in 0..rounds {
        // Rotate the order every round so no strategy always runs first (cold caches) or last
        // (after the most background I/O).
        for k in 0..strategies.len() {
            let i = (k + round) % strategies.len();
            let s = strategies[i];
            let name = if rounds == 1 {
                s.name().to_string()
            } else {
                format!("{}-{}", s.name(), round + 1)
            };
            let dir = base.join(name);
            if dir.exists() {
                bail!(
                    "{} already exists; compare needs fresh directories",
                    dir.display()
                );
            }
            let cfg = config(&args.snapshot, &args.store_args, dir.clone(), s, None);
            let (secs, keys, fsyncs_per_chunk, audit) = run_one(args.store, &cfg, &prepared)?;
            if args.dir.is_none() && dir.exists() {
                // Deleting a temporary database also drops its unwritten dirty pages, which
                // would otherwise be flushed while the next strategy is being measured.
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            let kps = keys as f64 / secs.max(1e-9);
            if rounds > 1 {
                println!(
                    "  round {}/{rounds}: {:<16} {:>8.2} s {:>10.0} keys/s {:>7.2} fsyncs/chunk",
                    round + 1,
                    s.name(),
                    secs,
                    kps,
                    fsyncs_per_chunk
                );
            }
            samples[i].push((secs, kps, fsyncs_per_chunk));
            if audits[i].is_ok() {
                audits[i] = audit;
            }
        }
    }
    if rounds > 1 {
        println!("median of {rounds} runs:");
    }
    println!(
        "{:<16} {:>10} {:>12} {:>13}  {}{}audit",
        "strategy",
        "seconds",
        "keys/s",
        "fsyncs/chunk",
        if rounds > 1 {
            "     min–max keys/s  "
        } else {
            ""
        },
        if limit.is_some() {
            "% limit serial/overlapped  "
        } else {
            ""
        }
    );
    let mut all_ok = true;
    let mut rows = Vec::new();
    for (i, s) in strategies.iter().enumerate() {
        let runs = &samples[i];
        let seconds = median(runs.iter().map(|r| r.0).collect());
        let keys_per_sec = median(runs.iter().map(|r| r.1).collect());
        let fsyncs_per_chunk = median(runs.iter().map(|r| r.2).collect());
        let lo = runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
        let hi = runs.iter().map(|r| r.1).fold(0.0, f64::max);
        let audit = std::mem::replace(&mut audits[i], Ok(()));
        all_ok &= audit.is_ok();
        let row = CompareRow {
            strategy: s.name().to_string(),
            seconds,
            keys_per_sec,
            fsyncs_per_chunk,
            runs_keys_per_sec: if rounds > 1 {
                runs.iter().map(|r| r.1).collect()
            } else {
                Vec::new()
            },
            percent_of_limit: limit.map(|l| PercentOfLimit {
                serial: 100.0 * keys_per_sec / l.serial_keys_per_sec,
                overlapped: 100.0 * keys_per_sec / l.overlapped_keys_per_sec,
            }),
            audit: match audit {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("FAILED: {e}"),
            },
        };
        let spread = if rounds > 1 {
            format!("{:>9.0}–{:<9.0}  ", lo, hi)
        } else {
            String::new()
        };
        let pct = row.percent_of_limit.map_or(String::new(), |p| {
            format!("{:>5.0}% / {:>5.0}%           ", p.serial, p.overlapped)
        });
        println!(
            "{:<16} {:>10.2} {:>12.0} {:>13.2}  {spread}{pct}{}",
            row.strategy, row.seconds, row.keys_per_sec, row.fsyncs_per_chunk, row.audit
        );
        rows.push(row);
    }
    let table = CompareTable {
        schema: "restore-sim/compare/v1",
        store: args.store.name(),
        layout: args.store_args.layout.name(),
        sync: args.store_args.sync.name(),
        keys: prepared.snapshot.items.len(),
        chunk_size: args.snapshot.chunk_size,
        seed: args.snapshot.seed,
        value_len: args.snapshot.value_len,
        scheme: args.snapshot.scheme.name(),
        limit,
        rows,
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&table)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, compare_svg(&table))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(all_ok)
}

/// One restore of `cfg.strategy` into a fresh store: (seconds, keys fed, fsyncs per chunk fed,
/// audit verdict).
fn run_one(
    store: TargetStore,
    cfg: &RealRestoreConfig,
    prepared: &PreparedSnapshot,
) -> Result<(f64, usize, f64, Result<(), String>)> {
    let t = Instant::now();
    Ok(match store {
        TargetStore::Rocksdb => {
            let report = restore_into_rocksdb(cfg, prepared, &mut |_, _| {})?;
            let secs = t.elapsed().as_secs_f64();
            let audit =
                audit_rocksdb(&cfg.dir, &cfg.rocks, &prepared.snapshot).map_err(|e| e.to_string());
            let per_chunk = report.fsyncs as f64 / report.chunks_fed.max(1) as f64;
            (secs, report.keys_fed, per_chunk, audit)
        }
        TargetStore::Mem => {
            let (mem, report) = restore_into_memory(cfg, prepared)?;
            let secs = t.elapsed().as_secs_f64();
            let audit =
                check_final_state(&*mem, &*mem, &prepared.snapshot).map_err(|e| e.to_string());
            (secs, report.keys_fed, 0.0, audit)
        }
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    assert!(!xs.is_empty(), "a median of no runs");
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The limit model's rates, measured in the same run as the restores.
#[derive(Clone, Copy, Debug, Serialize)]
struct LimitRates {
    serial_keys_per_sec: f64,
    overlapped_keys_per_sec: f64,
}

/// A strategy's rate as a percentage of each limit.
#[derive(Clone, Copy, Debug, Serialize)]
struct PercentOfLimit {
    serial: f64,
    overlapped: f64,
}

/// One strategy's result in `compare`.
#[derive(Debug, Serialize)]
struct CompareRow {
    strategy: String,
    seconds: f64,
    keys_per_sec: f64,
    /// fsyncs the store issued per chunk fed (median over runs; 0 on the in-memory store).
    fsyncs_per_chunk: f64,
    /// keys/s of every run, with `--repeat` > 1 (`seconds` and `keys_per_sec` are medians).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    runs_keys_per_sec: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    percent_of_limit: Option<PercentOfLimit>,
    audit: String,
}

/// What `compare --json` writes.
#[derive(Debug, Serialize)]
struct CompareTable {
    schema: &'static str,
    store: &'static str,
    /// RocksDB layout and sync policy (given but unused with `--store mem`).
    layout: &'static str,
    sync: &'static str,
    keys: usize,
    chunk_size: usize,
    seed: u64,
    value_len: (usize, usize),
    scheme: &'static str,
    /// Present with `--limits`.
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<LimitRates>,
    rows: Vec<CompareRow>,
}

/// A horizontal bar chart of keys/s per strategy: plain SVG, no scripts, no external fonts.
fn compare_svg(t: &CompareTable) -> String {
    const BAR_H: f64 = 28.0;
    const GAP: f64 = 10.0;
    const LEFT: f64 = 130.0;
    const PLOT_W: f64 = 520.0;
    const TOP: f64 = 56.0;
    let width = LEFT + PLOT_W + 110.0;
    let height = TOP + t.rows.len() as f64 * (BAR_H + GAP) + 40.0;
    let max = t
        .rows
        .iter()
        .map(|r| r.keys_per_sec)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let mut svg = String::new();
    svg.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"13\">\n"
    ));
    svg.push_str(&format!(
        "<rect width=\"{width:.0}\" height=\"{height:.0}\" fill=\"white\"/>\n"
    ));
    svg.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Restore throughput into \
         {} (keys/s, higher is better)</text>\n",
        t.store
    ));
    svg.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"42\" fill=\"#555\">{} keys, chunks of {}, values {}..={} B, \
         seed {}, scheme {}</text>\n",
        t.keys, t.chunk_size, t.value_len.0, t.value_len.1, t.seed, t.scheme
    ));
    for (i, r) in t.rows.iter().enumerate() {
        let y = TOP + i as f64 * (BAR_H + GAP);
        let w = (r.keys_per_sec / max * PLOT_W).max(1.0);
        let color = if r.audit == "ok" {
            "#4878a8"
        } else {
            "#c0504d"
        };
        svg.push_str(&format!(
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            LEFT - 8.0,
            y + BAR_H * 0.65,
            xml_escape(&r.strategy)
        ));
        svg.push_str(&format!(
            "<rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR_H}\" fill=\"{color}\">\
             <title>{}: {:.0} keys/s, audit {}</title></rect>\n",
            xml_escape(&r.strategy),
            r.keys_per_sec,
            xml_escape(&r.audit)
        ));
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">{:.0}</text>\n",
            LEFT + w + 6.0,
            y + BAR_H * 0.65,
            r.keys_per_sec
        ));
    }
    let axis_y = TOP + t.rows.len() as f64 * (BAR_H + GAP);
    svg.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{LEFT}\" y2=\"{axis_y:.1}\" stroke=\"#333\"/>\n",
        TOP - 4.0
    ));
    svg.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{:.1}\" fill=\"#555\">0</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\">{:.0} keys/s</text>\n",
        axis_y + 18.0,
        LEFT + PLOT_W,
        axis_y + 18.0,
        max
    ));
    svg.push_str("</svg>\n");
    svg
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
