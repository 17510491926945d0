//! The real-process crash test: `restore-sim crash-test` end to end, and the durable (K, T)
//! computation it relies on, checked on directories left by partial restores made in-process.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use restore_core::durable::{DivergenceError, durable_progress_in_dir, key_diff};
use restore_core::real::{PreparedSnapshot, RealRestoreConfig, restore_into_rocksdb};
use restore_core::runtime::ThreadRuntime;
use restore_core::snapshot::{Chunking, SnapshotSpec};
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
use restore_core::store::{KvStore, RocksStore, RocksStoreOptions};
use restore_core::strategy::{CommitStrategy, RestoreMode};
use restore_core::{Chunk, HashScheme, Snapshot, Version};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restore-sim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The summary row of `strategy`: kills, finished, failed, violations, min, max, L+1,
/// lost/wrong, audit (the verdict words after it are dropped).
fn row<'a>(stdout: &'a str, strategy: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(strategy))
        .unwrap_or_else(|| panic!("no summary row for {strategy} in:\n{stdout}"));
    line.split_whitespace().skip(1).take(9).collect()
}

#[test]
fn crash_test_kills_resumes_and_audits() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("crash");
    let o = sim(&[
        "crash-test",
        "--kills",
        "4",
        "--keys",
        "20000",
        "--chunk-size",
        "500",
        "--strategy",
        // Safe strategies only: where a real kill lands depends on the wall clock, and only the
        // safe strategies must survive every landing place (an Aptos strategy killed in its D1
        // window legitimately fails the final restore).
        "pipelined,verify-kv-tree",
        "--seed",
        "1",
        "--min-delay-ms",
        "60",
        "--max-delay-ms",
        "300",
        "--dir",
        base.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    for strategy in ["pipelined", "verify-kv-tree"] {
        let r = row(&out, strategy);
        assert_eq!(r[0], "4", "{strategy}: kills delivered\n{out}");
        assert_eq!(r[6], "501", "{strategy}: L + 1\n{out}");
        assert_eq!(r[7], "0", "{strategy}: lost or wrong keys\n{out}");
        assert_eq!(r[8], "ok", "{strategy}: final audit\n{out}");
        assert!(
            base.join(strategy).is_dir(),
            "{strategy}: its directories are under --dir"
        );
    }
    let p = row(&out, "pipelined");
    assert_eq!(p[2], "0", "pipelined: no child fails on its own\n{out}");
    assert_eq!(p[3], "0", "pipelined: divergence violations\n{out}");
    let (min, max): (i64, i64) = (p[4].parse().unwrap(), p[5].parse().unwrap());
    assert!(0 <= min && min <= max && max <= 501, "{out}");
    assert!(
        !out.lines()
            .any(|l| l.starts_with("pipelined: kill") && l.contains("VIOLATION")),
        "{out}"
    );
}

/// The defaults (aptos layout, every write synced, kills on progress) on a tiny snapshot: every
/// kill is checked per database, resumed, and the restore ends with nothing lost or wrong.
#[test]
fn crash_test_on_aptos_kills_on_progress_and_checks_every_database() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("crash");
    let o = sim(&[
        "crash-test",
        "--kills",
        "3",
        "--keys",
        "4000",
        "--chunk-size",
        "250",
        "--strategy",
        "pipelined",
        "--layout",
        "aptos",
        "--sync",
        "always",
        "--kill-on",
        "progress",
        "--verbose",
        "--dir",
        base.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("store aptos/always"), "{out}");
    let r = row(&out, "pipelined");
    assert_eq!(r[0], "3", "kills delivered\n{out}");
    assert_eq!(r[3], "0", "violations\n{out}");
    assert_eq!(r[6], "251", "L + 1\n{out}");
    assert_eq!(r[7], "0", "lost or wrong keys\n{out}");
    assert_eq!(r[8], "ok", "final audit\n{out}");
    // Each kill's line names the KV metadata database's K (it exists from the first open on).
    let kills: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("pipelined: kill "))
        .collect();
    assert_eq!(kills.len(), 3, "{out}");
    assert!(kills.iter().all(|l| l.contains("kv-meta K=")), "{out}");
    assert!(out.contains("kills landed mid-restore"), "{out}");
    // Every directory is an aptos store: databases in subdirectories, none at the path itself.
    let run0 = base.join("pipelined").join("run-0").join("db");
    if run0.exists() {
        assert!(run0.join("kv-meta").is_dir() && !run0.join("CURRENT").exists());
    }
}

#[test]
fn crash_test_rejects_bad_flags() {
    for (args, needle) in [
        (
            vec!["crash-test", "--min-delay-ms", "10", "--max-delay-ms", "5"],
            "--min-delay-ms",
        ),
        (vec!["crash-test", "--strategy", "join-fast"], "join-fast"),
        (vec!["crash-test", "--kill-on", "moon"], "moon"),
    ] {
        let o = sim(&args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

const L: usize = 200;

fn snapshot() -> (Snapshot, Vec<Chunk>) {
    let spec = SnapshotSpec {
        seed: 7,
        keys: 3_000,
        ..SnapshotSpec::default()
    };
    let snapshot = Snapshot::generate(&spec, Version(1), HashScheme::Aptos);
    let chunks = snapshot.chunks(&Chunking::Fixed(L));
    (snapshot, chunks)
}

/// Feeds the first `fed` chunks into `dir/db` and drops the restore without finishing, as a
/// process that stopped there would leave it (drop awaits the batch in flight).
fn partial_restore(
    dir: &Path,
    snapshot: &Snapshot,
    chunks: &[Chunk],
    strategy: CommitStrategy,
    mode: RestoreMode,
    fed: usize,
) {
    let store = Arc::new(RocksStore::open(dir.join("db"), RocksStoreOptions::default()).unwrap());
    let mut options = RestoreOptions::new(strategy);
    options.mode = mode;
    let mut restore = SnapshotRestore::open(
        store.clone(),
        store.clone(),
        Arc::new(ThreadRuntime::new()),
        snapshot.version,
        snapshot.root,
        options,
    )
    .unwrap();
    for chunk in &chunks[..fed] {
        restore.add_chunk(chunk).unwrap();
    }
    drop(restore);
    drop(store);
}

#[test]
fn durable_k_and_t_of_a_partial_restore_keep_the_bound() {
    let (snapshot, chunks) = snapshot();
    for strategy in [CommitStrategy::Pipelined, CommitStrategy::VerifyKvTree] {
        let dir = tempfile::tempdir().unwrap();
        partial_restore(
            dir.path(),
            &snapshot,
            &chunks,
            strategy,
            RestoreMode::Default,
            5,
        );
        let at =
            durable_progress_in_dir(dir.path(), &RocksStoreOptions::default(), &snapshot).unwrap();
        assert_eq!(at.k, 5 * L as u64, "{strategy}");
        assert_eq!(at.progress_key, chunks[4].last_key(), "{strategy}");
        // Every leaf but the last few (unfrozen until a later key arrives) is durable.
        assert!(
            at.t >= 1 && at.k - at.t <= L as u64 + 1,
            "{strategy}: {at:?}"
        );
        assert_eq!(
            at.rightmost_leaf,
            Some(snapshot.items[at.t as usize - 1].key_hash),
            "{strategy}: T counts keys up to the rightmost leaf"
        );
        assert_eq!(at.check(L), Ok(()), "{strategy}");
    }
}

#[test]
fn durable_bound_flags_one_sided_directories() {
    let (snapshot, chunks) = snapshot();
    let rocks = RocksStoreOptions::default();

    // KV without a tree: KV is ahead by five chunks.
    let kv_only = tempfile::tempdir().unwrap();
    partial_restore(
        kv_only.path(),
        &snapshot,
        &chunks,
        CommitStrategy::Pipelined,
        RestoreMode::KvOnly,
        5,
    );
    let at = durable_progress_in_dir(kv_only.path(), &rocks, &snapshot).unwrap();
    assert_eq!((at.k, at.t, at.rightmost_leaf), (1000, 0, None));
    assert_eq!(
        at.check(L),
        Err(DivergenceError::KvAhead {
            k: 1000,
            t: 0,
            bound: L as u64 + 1
        })
    );

    // A tree without KV: KV is behind.
    let tree_only = tempfile::tempdir().unwrap();
    partial_restore(
        tree_only.path(),
        &snapshot,
        &chunks,
        CommitStrategy::Pipelined,
        RestoreMode::TreeOnly,
        3,
    );
    let at = durable_progress_in_dir(tree_only.path(), &rocks, &snapshot).unwrap();
    assert_eq!((at.k, at.progress_key), (0, None));
    assert!(at.t > 0);
    assert_eq!(
        at.check(L),
        Err(DivergenceError::KvBehind { k: 0, t: at.t })
    );

    // Nothing at all: K = T = 0 holds.
    let empty = tempfile::tempdir().unwrap();
    let at = durable_progress_in_dir(empty.path(), &rocks, &snapshot).unwrap();
    assert_eq!((at.k, at.t), (0, 0));
    assert_eq!(at.check(L), Ok(()));
}

#[test]
fn finished_restore_has_k_equal_t_and_no_key_differences() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RealRestoreConfig {
        dir: dir.path().to_path_buf(),
        spec: SnapshotSpec {
            seed: 7,
            keys: 3_000,
            ..SnapshotSpec::default()
        },
        chunk_size: L,
        version: Version(1),
        scheme: HashScheme::Aptos,
        strategy: CommitStrategy::Pipelined,
        commit: None,
        rocks: RocksStoreOptions::default(),
    };
    let prepared = PreparedSnapshot::generate(&cfg);
    restore_into_rocksdb(&cfg, &prepared, &mut |_, _| {}).unwrap();
    let snap = &prepared.snapshot;
    let n = snap.items.len() as u64;
    let at = durable_progress_in_dir(dir.path(), &cfg.rocks, snap).unwrap();
    assert_eq!((at.k, at.t), (n, n));

    let store = RocksStore::open(dir.path().join("db"), cfg.rocks.clone()).unwrap();
    let diff = key_diff(&store, &store, snap).unwrap();
    assert!(diff.is_clean(), "{diff:?}");

    // One row overwritten with other bytes, one row the snapshot does not have.
    let mut wrong = snap.items[10].clone();
    wrong.value.push(0xff);
    let mut extra = snap.items[11].clone();
    extra.key_hash = restore_core::HashValue([0xee; 32]);
    store
        .write_kv_batch(snap.version, &[wrong, extra], None)
        .unwrap();
    let diff = key_diff(&store, &store, snap).unwrap();
    assert_eq!((diff.kv_wrong, diff.kv_extra, diff.kv_lost), (1, 1, 0));
    assert_eq!(diff.lost_or_wrong(), 1);
}
