//! `crash-test`: real processes, real kills. A child process (this binary's `restore` command)
//! restores a generated snapshot into a RocksDB directory; the parent kills it with SIGKILL at a
//! seeded random moment, opens the directory, checks the progress-divergence bound on what it
//! holds (K = snapshot keys at or below the durable KV progress key, T = snapshot keys at or below
//! the durable rightmost leaf, 0 <= K − T <= L + 1), and starts the next child, which resumes.
//! After the last kill the parent completes the restore itself and audits root, every node, KV
//! bytes and usage, and counts lost or wrong keys.
//!
//! When kills land (`--kill-on`):
//! * `progress` (default): the child (`restore --progress`) prints `fed <index>` after each chunk
//!   it fed. The parent draws a number of chunks k from ChaCha8 seeded with `--seed`, uniform over
//!   the chunks the child still has to feed (from the durable K the last kill left), and kills
//!   after reading the k-th line, plus a seeded jitter of up to `--jitter-us` so the kill does
//!   not always hit the same instant of the next chunk. So kills land *during* the restore on
//!   any machine and any layout, however long one restore takes; k = 0 kills right after the
//!   snapshot is generated (while the restore opens and recovers).
//! * `time`: as before — a delay uniform in [--min-delay-ms, --max-delay-ms] after the child's
//!   `generated …` line. Where that lands depends on how fast the machine restores; kills that
//!   land after the restore finished are counted, not mid-restore.
//!
//! A kill is *mid-restore* when the directory it leaves is not a finished restore (no usage
//! record or no root yet: both are written only by `finish`); the summary gives their share.
//! After a kill that landed after `finish`, the next child starts a fresh directory.
//!
//! After each kill the directory is read per database (`--layout`: the KV metadata database's
//! K, each tree database's T) and every durable row and leaf is checked against the snapshot:
//! a wrong or extra row, or a key up to K (rows) or T (leaves) that is missing, is a violation,
//! as is a broken divergence bound.
//!
//! Verdict. Safe strategies (verify-kv-tree, pipelined): no divergence violation, no child that
//! failed on its own, and a passing final audit. Aptos strategies: only the final audit counts.
//! Their divergence violations (KV ahead of or behind the tree) and failed resumes (D1) are
//! known, documented defects — the same ones the simulation's expectations table accepts — so
//! they are printed, not failed on; a restore that ends wrong is still a failure.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use restore_core::durable::{DirDurable, DurableProgress, durable_in_dir, key_diff};
use restore_core::real::{
    PreparedSnapshot, RealRestoreConfig, audit_rocksdb, open_dir, restore_into_rocksdb,
};
use restore_core::strategy::{CommitStrategy, Safety};
use restore_core::{HashScheme, Snapshot};

use crate::Verdict;
use crate::real::{FED_PREFIX, work_dir};
use crate::snapshot_args::{SnapshotArgs, StoreArgs, config, parse_range, parse_scheme};

/// The prefix of the line `restore` prints when the snapshot is generated (see `real.rs`).
const READY_PREFIX: &str = "generated ";

/// Children in a row that may finish (or fail) before their kill before the run gives up: the
/// delay is too long for the restore.
const MAX_ROUNDS_WITHOUT_KILL: u32 = 50;

#[derive(Args, Debug)]
pub struct CrashArgs {
    /// Kills to deliver per strategy (children that finish first do not count).
    #[arg(long, default_value_t = 20)]
    kills: u32,
    /// Number of keys in the generated snapshot.
    #[arg(long, default_value_t = 200_000)]
    keys: usize,
    /// Items per chunk; also L in the bound 0 <= K − T <= L + 1.
    #[arg(long, default_value_t = 4_000)]
    chunk_size: usize,
    /// Comma-separated strategies, each run in turn.
    #[arg(long, value_delimiter = ',', default_value = "pipelined")]
    strategy: Vec<CommitStrategy>,
    /// Seed of the kill delays (ChaCha8).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seed of the generated snapshot.
    #[arg(long, default_value_t = 1)]
    snapshot_seed: u64,
    /// Smallest and largest value size in bytes.
    #[arg(long, value_parser = parse_range, default_value = "24..=400")]
    value_len: (usize, usize),
    /// Hash scheme: aptos or jmt.
    #[arg(long, value_parser = parse_scheme, default_value = "aptos")]
    scheme: HashScheme,
    #[command(flatten)]
    store: StoreArgs,
    /// What triggers a kill: progress (after a seeded number of chunks the child reports fed)
    /// or time (a seeded delay after the snapshot is generated).
    #[arg(long, value_enum, default_value = "progress")]
    kill_on: KillOn,
    /// With --kill-on progress: after the k-th chunk, wait a seeded jitter uniform in
    /// [0, this] microseconds before the kill.
    #[arg(long, default_value_t = 2_000)]
    jitter_us: u64,
    /// With --kill-on time: kill delays are uniform in [--min-delay-ms, this] after the child
    /// reports the snapshot generated. Pick about one uninterrupted restore's duration.
    #[arg(long, default_value_t = 1_500)]
    max_delay_ms: u64,
    /// Smallest kill delay (see --max-delay-ms).
    #[arg(long, default_value_t = 0)]
    min_delay_ms: u64,
    /// Where the databases go (default: a temporary directory, removed after). Each strategy
    /// uses DIR/<strategy>/run-N, a new N whenever a child finished.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one line per round (delay, outcome, K, T).
    #[arg(long)]
    verbose: bool,
}

/// What triggers a kill (see the module docs).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillOn {
    Progress,
    Time,
}

/// When to kill one child.
#[derive(Clone, Copy, Debug)]
struct KillPoint {
    /// Chunks the child must report fed first (`--kill-on progress`); 0 = at the ready line.
    after_chunks: Option<u64>,
    /// Then wait this long.
    delay: Duration,
}

/// What the directory held after one kill.
struct KillRecord {
    delay: Duration,
    at: DurableProgress,
    /// The directory was not a finished restore.
    mid_restore: bool,
    violation: Option<String>,
}

#[derive(Default)]
struct StrategyReport {
    kills: Vec<KillRecord>,
    /// Children that exited 0 before their kill arrived.
    finished_first: u32,
    /// Children that exited non-zero on their own (the first message kept).
    child_errors: u32,
    first_child_error: Option<String>,
    lost_or_wrong: Option<u64>,
    /// `Ok` or why the final restore or audit failed.
    audit: Option<Result<(), String>>,
}

impl StrategyReport {
    fn violations(&self) -> usize {
        self.kills.iter().filter(|k| k.violation.is_some()).count()
    }

    fn mid_restore(&self) -> usize {
        self.kills.iter().filter(|k| k.mid_restore).count()
    }

    fn divergence_range(&self) -> Option<(i64, i64)> {
        let d = self.kills.iter().map(|k| k.at.divergence());
        Some((d.clone().min()?, d.max()?))
    }

    fn audit_ok(&self) -> bool {
        matches!(self.audit, Some(Ok(()))) && self.lost_or_wrong == Some(0)
    }

    fn passed(&self, strategy: CommitStrategy) -> bool {
        match strategy.safety() {
            Safety::Safe => self.audit_ok() && self.violations() == 0 && self.child_errors == 0,
            Safety::Aptos => self.audit_ok(),
        }
    }
}

/// How a child ended.
enum Ending {
    Killed,
    Finished,
    Failed(String),
}

fn killed_by_sigkill(status: &ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal() == Some(9)
    }
    // Elsewhere a kill cannot be told from a failure: every kill reports as a failed child.
    #[cfg(not(unix))]
    {
        let _ = status;
        false
    }
}

pub fn run(args: &CrashArgs) -> Result<Verdict> {
    if args.strategy.is_empty() {
        bail!("--strategy needs at least one strategy");
    }
    if args.min_delay_ms > args.max_delay_ms {
        bail!(
            "--min-delay-ms {} is above --max-delay-ms {}",
            args.min_delay_ms,
            args.max_delay_ms
        );
    }
    let exe = std::env::current_exe().context("locating this executable")?;
    let (_tmp, base) = work_dir(args.dir.as_ref())?;
    let snap = SnapshotArgs {
        keys: args.keys,
        chunk_size: args.chunk_size,
        seed: args.snapshot_seed,
        value_len: args.value_len,
        scheme: args.scheme,
    };
    let t0 = Instant::now();
    let prepared = PreparedSnapshot::generate(&config(
        &snap,
        &args.store,
        base.clone(),
        args.strategy[0],
        None,
    ));
    let largest_chunk = prepared.chunks.iter().map(|c| c.len()).max().unwrap_or(0);
    let when = match args.kill_on {
        KillOn::Progress => format!(
            "kills after a seeded number of chunks fed + up to {} µs",
            args.jitter_us
        ),
        KillOn::Time => format!(
            "delays uniform in [{}, {}] ms",
            args.min_delay_ms, args.max_delay_ms
        ),
    };
    println!(
        "crash-test: {} keys in {} chunks (L = {largest_chunk}), generated in {:.2}s; store {}/{}; \
         {} kills per strategy, {when}, seed {}",
        prepared.snapshot.items.len(),
        prepared.chunks.len(),
        t0.elapsed().as_secs_f64(),
        args.store.layout,
        args.store.sync,
        args.kills,
        args.seed
    );

    let mut reports = Vec::new();
    for &strategy in &args.strategy {
        let dir = base.join(strategy.name());
        if dir.exists() {
            bail!(
                "{} already exists; crash-test needs fresh directories",
                dir.display()
            );
        }
        let t = Instant::now();
        let report = run_strategy(args, &exe, &snap, &dir, strategy, &prepared, largest_chunk)?;
        println!("{strategy}: done in {:.1}s", t.elapsed().as_secs_f64());
        reports.push((strategy, report));
    }

    print_summary(
        &reports,
        largest_chunk,
        prepared.snapshot.items.len() as u64,
    );
    let all_passed = reports.iter().all(|(s, r)| r.passed(*s));
    Ok(if all_passed {
        Verdict::AsExpected
    } else {
        Verdict::Unexpected
    })
}

fn run_strategy(
    args: &CrashArgs,
    exe: &Path,
    snap: &SnapshotArgs,
    dir: &Path,
    strategy: CommitStrategy,
    prepared: &PreparedSnapshot,
    largest_chunk: usize,
) -> Result<StrategyReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut report = StrategyReport::default();
    let mut run = 0u32;
    let mut run_dir = dir.join(format!("run-{run}"));
    let mut rounds_without_kill = 0u32;
    let min_us = args.min_delay_ms.saturating_mul(1000);
    let span_us = args.max_delay_ms.saturating_mul(1000) - min_us;
    let total_chunks = prepared.chunks.len() as u64;
    let chunk_size = snap.chunk_size.max(1) as u64;
    // Chunks the durable state of the current directory already covers (the next child skips
    // about as many): the kill point is drawn over the chunks it still has to feed.
    let mut covered = 0u64;

    while report.kills.len() < args.kills as usize {
        let point = match args.kill_on {
            KillOn::Progress => {
                let remaining = total_chunks.saturating_sub(covered).max(1);
                KillPoint {
                    after_chunks: Some(rng.next_u64() % remaining),
                    delay: Duration::from_micros(rng.next_u64() % (args.jitter_us + 1)),
                }
            }
            KillOn::Time => KillPoint {
                after_chunks: None,
                delay: Duration::from_micros(min_us + rng.next_u64() % (span_us + 1)),
            },
        };
        let delay = point.delay;
        let ending = one_child(exe, snap, &args.store, &run_dir, strategy, point)?;
        match ending {
            Ending::Killed => {
                rounds_without_kill = 0;
                let cfg = config(snap, &args.store, run_dir.clone(), strategy, None);
                let found = durable_in_dir(&run_dir, &cfg.rocks, &prepared.snapshot)
                    .with_context(|| format!("reading {} after a kill", run_dir.display()))?;
                let at = found.overall;
                let violation = kill_violation(&found, largest_chunk);
                let n = report.kills.len() + 1;
                let per_db = per_db_line(&found);
                if let Some(v) = &violation {
                    println!(
                        "{strategy}: kill {n} after {} in {}: VIOLATION {v}; {per_db}",
                        describe(point),
                        run_dir.display()
                    );
                } else if args.verbose {
                    println!(
                        "{strategy}: kill {n} after {}: K={} T={} K-T={}{}; {per_db}",
                        describe(point),
                        at.k,
                        at.t,
                        at.divergence(),
                        if found.finished { " (finished)" } else { "" },
                    );
                }
                report.kills.push(KillRecord {
                    delay,
                    at,
                    mid_restore: !found.finished,
                    violation,
                });
                covered = at.k.min(at.t) / chunk_size;
                if found.finished {
                    // Nothing left to resume: the next child starts a fresh restore.
                    std::fs::remove_dir_all(&run_dir)
                        .with_context(|| format!("removing {}", run_dir.display()))?;
                    run += 1;
                    run_dir = dir.join(format!("run-{run}"));
                    covered = 0;
                }
            }
            Ending::Finished | Ending::Failed(_) => {
                rounds_without_kill += 1;
                if let Ending::Failed(why) = &ending {
                    report.child_errors += 1;
                    println!(
                        "{strategy}: child failed on its own in {} (kept): {why}",
                        run_dir.display()
                    );
                    report.first_child_error.get_or_insert_with(|| why.clone());
                } else {
                    report.finished_first += 1;
                    if args.verbose {
                        println!(
                            "{strategy}: child finished before its kill ({})",
                            describe(point)
                        );
                    }
                    // A finished restore is of no further use; keep the disk footprint small.
                    std::fs::remove_dir_all(&run_dir)
                        .with_context(|| format!("removing {}", run_dir.display()))?;
                }
                if rounds_without_kill >= MAX_ROUNDS_WITHOUT_KILL {
                    bail!(
                        "{strategy}: {rounds_without_kill} children in a row ended before their \
                         kill; lower --max-delay-ms (now {}) or use --kill-on progress",
                        args.max_delay_ms
                    );
                }
                run += 1;
                run_dir = dir.join(format!("run-{run}"));
                covered = 0;
            }
        }
    }

    // Complete the last killed restore in this process, then audit it.
    let cfg = config(snap, &args.store, run_dir.clone(), strategy, None);
    let outcome = restore_into_rocksdb(&cfg, prepared, &mut |_, _| {})
        .map_err(|e| format!("final restore failed: {e}"))
        .and_then(|_| {
            audit_rocksdb(&run_dir, &cfg.rocks, &prepared.snapshot).map_err(|e| e.to_string())
        });
    report.audit = Some(outcome);
    report.lost_or_wrong = Some(count_lost_or_wrong(&cfg, &prepared.snapshot)?);
    Ok(report)
}

fn count_lost_or_wrong(cfg: &RealRestoreConfig, snapshot: &Snapshot) -> Result<u64> {
    let store =
        open_dir(&cfg.dir, &cfg.rocks).with_context(|| format!("opening {}", cfg.dir.display()))?;
    Ok(key_diff(&store, &store, snapshot)?.lost_or_wrong())
}

/// A broken bound, or a durable row or leaf that is wrong, extra, or missing below K or T.
fn kill_violation(found: &DirDurable, largest_chunk: usize) -> Option<String> {
    if let Err(e) = found.overall.check(largest_chunk) {
        return Some(e.to_string());
    }
    let r = &found.rows;
    (r.problems() > 0).then(|| {
        format!(
            "durable rows: {} wrong, {} extra, {} missing up to K; leaves: {} wrong, {} extra, \
             {} missing up to T",
            r.rows_wrong,
            r.rows_extra,
            r.rows_missing_below_k,
            r.leaves_wrong,
            r.leaves_extra,
            r.leaves_missing_below_t
        )
    })
}

/// K and T per database, leaving out tree databases with no leaf (most of them under `aptos`).
fn per_db_line(found: &DirDurable) -> String {
    let parts: Vec<String> = found
        .per_db
        .iter()
        .filter(|p| p.k.is_some() || p.t.is_some_and(|t| t > 0))
        .map(|p| p.describe())
        .collect();
    if parts.is_empty() {
        "no durable progress in any database".to_string()
    } else {
        parts.join(", ")
    }
}

fn describe(point: KillPoint) -> String {
    match point.after_chunks {
        Some(k) => format!("{k} chunks + {:.0} µs", point.delay.as_secs_f64() * 1e6),
        None => format!("{:.1}ms", ms(point.delay)),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Starts a child restoring into `dir`, waits for its ready line (and, with a chunk count, for
/// that many `fed` lines), then the delay, then kills it.
fn one_child(
    exe: &Path,
    snap: &SnapshotArgs,
    store: &StoreArgs,
    dir: &Path,
    strategy: CommitStrategy,
    point: KillPoint,
) -> Result<Ending> {
    let mut child = Command::new(exe)
        .arg("restore")
        .arg("--dir")
        .arg(dir)
        .args(["--keys", &snap.keys.to_string()])
        .args(["--chunk-size", &snap.chunk_size.to_string()])
        .args(["--seed", &snap.seed.to_string()])
        .args([
            "--value-len",
            &format!("{}..={}", snap.value_len.0, snap.value_len.1),
        ])
        .args(["--scheme", snap.scheme.name()])
        .args(["--strategy", strategy.name()])
        .args(["--layout", store.layout.name()])
        .args(["--sync", store.sync.name()])
        .arg("--no-audit")
        .arg("--progress")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut stdout = BufReader::new(child.stdout.take().context("child stdout")?);
    let mut ready = wait_for_ready(&mut stdout)?;
    if let Some(k) = point.after_chunks {
        let mut fed = 0;
        while ready && fed < k {
            ready = wait_for_line(&mut stdout, FED_PREFIX)?;
            fed += 1;
        }
    }
    let delay = point.delay;
    if ready {
        // The one deliberate wall-clock wait in the project: a real process is killed at a
        // seeded random moment of its real run. Nothing simulated runs here, and no test
        // asserts on where the kill lands (only on invariants that must hold wherever it does).
        std::thread::sleep(delay);
    }
    // SIGKILL on unix; harmless if the child has already exited (it is not reaped yet).
    child.kill().context("killing the child")?;
    let status = child.wait().context("waiting for the child")?;
    Ok(classify(&mut child, &mut stdout, status))
}

/// Reads the child's stdout until the ready line (true) or end of file (false).
fn wait_for_ready(stdout: &mut BufReader<ChildStdout>) -> Result<bool> {
    wait_for_line(stdout, READY_PREFIX)
}

/// Reads the child's stdout until a line starting with `prefix` (true) or end of file (false).
fn wait_for_line(stdout: &mut BufReader<ChildStdout>, prefix: &str) -> Result<bool> {
    let mut line = String::new();
    loop {
        line.clear();
        if stdout
            .read_line(&mut line)
            .context("reading the child's stdout")?
            == 0
        {
            return Ok(false);
        }
        if line.starts_with(prefix) {
            return Ok(true);
        }
    }
}

fn classify(child: &mut Child, stdout: &mut BufReader<ChildStdout>, status: ExitStatus) -> Ending {
    if killed_by_sigkill(&status) {
        return Ending::Killed;
    }
    if status.success() {
        return Ending::Finished;
    }
    let mut out = String::new();
    let _ = stdout.read_to_string(&mut out);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let text = format!("{}{}", err.trim(), out.trim());
    let first: String = text
        .lines()
        .next()
        .unwrap_or("(no output)")
        .chars()
        .take(240)
        .collect();
    Ending::Failed(format!("{status}: {first}"))
}

fn print_summary(reports: &[(CommitStrategy, StrategyReport)], largest_chunk: usize, total: u64) {
    println!();
    println!(
        "{:<16} {:>6} {:>9} {:>7} {:>10} {:>8} {:>8} {:>6} {:>10}  {:<6} {:>5}  verdict",
        "strategy",
        "kills",
        "finished",
        "failed",
        "violations",
        "min K-T",
        "max K-T",
        "L+1",
        "lost/wrong",
        "audit",
        "mid"
    );
    for (s, r) in reports {
        let (lo, hi) = match r.divergence_range() {
            Some((lo, hi)) => (lo.to_string(), hi.to_string()),
            None => ("-".into(), "-".into()),
        };
        let audit = match &r.audit {
            Some(Ok(())) if r.lost_or_wrong == Some(0) => "ok".to_string(),
            _ => "FAILED".to_string(),
        };
        let verdict = match (s.safety(), r.passed(*s)) {
            (Safety::Safe, true) => "pass (safe: 0 violations, audit ok)",
            (Safety::Safe, false) => "FAIL (safe strategy)",
            (Safety::Aptos, true) => "pass (aptos: only the audit counts)",
            (Safety::Aptos, false) => "FAIL (aptos: audit)",
        };
        println!(
            "{:<16} {:>6} {:>9} {:>7} {:>10} {:>8} {:>8} {:>6} {:>10}  {:<6} {:>5}  {verdict}",
            s.name(),
            r.kills.len(),
            r.finished_first,
            r.child_errors,
            r.violations(),
            lo,
            hi,
            largest_chunk + 1,
            r.lost_or_wrong
                .map_or_else(|| "-".to_string(), |n| n.to_string()),
            audit,
            r.mid_restore(),
        );
    }
    for (s, r) in reports {
        if !r.kills.is_empty() {
            let count =
                |f: &dyn Fn(&DurableProgress) -> bool| r.kills.iter().filter(|k| f(&k.at)).count();
            println!(
                "{s}: {} of {} kills landed mid-restore ({:.0}%; the directory was not a finished restore)",
                r.mid_restore(),
                r.kills.len(),
                100.0 * r.mid_restore() as f64 / r.kills.len() as f64
            );
            println!(
                "{s}: kills landed with K=0: {}, 0<K<{total}: {}, K={total}: {}; delays {:.1}..{:.1} ms",
                count(&|a| a.k == 0),
                count(&|a| a.k > 0 && a.k < total),
                count(&|a| a.k >= total),
                r.kills
                    .iter()
                    .map(|k| ms(k.delay))
                    .fold(f64::INFINITY, f64::min),
                r.kills.iter().map(|k| ms(k.delay)).fold(0.0, f64::max),
            );
        }
        if let Some(first) = r.kills.iter().find_map(|k| k.violation.as_ref()) {
            println!("{s}: first violation: {first}");
        }
        if let Some(e) = &r.first_child_error {
            println!("{s}: first child failure: {e}");
        }
        if let Some(Err(e)) = &r.audit {
            println!("{s}: audit: {e}");
        }
    }
}
