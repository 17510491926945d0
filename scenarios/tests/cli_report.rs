//! Sweep reports a user cannot fool: `report merge` recomputes every verdict and insists that the
//! shards tile the range; a soak reports the seeds it ran; `--inline` gives no verdict.

mod support;

use support::{code, sim, stderr, stdout};

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Two strategies (one known-bad, one safe), 12 seeds from 40, sharded `shard` or whole.
fn shard_report(dir: &Path, name: &str, shard: Option<&str>) -> PathBuf {
    let json = dir.join(format!("{name}.json"));
    let mut args = vec![
        "sweep",
        "--seeds",
        "12",
        "--seed-start",
        "40",
        "--strategy",
        "join-async,pipelined",
        "--json",
        json.to_str().unwrap(),
    ];
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    let o = sim(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    json
}

fn merge(paths: &[&Path]) -> std::process::Output {
    let mut args = vec!["report", "merge"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    sim(&args)
}

fn edit(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn merge_rejects_shards_that_repeat_overlap_or_leave_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let a = shard_report(dir.path(), "a", Some("1/3"));
    let b = shard_report(dir.path(), "b", Some("2/3"));
    let c = shard_report(dir.path(), "c", Some("3/3"));
    let whole = shard_report(dir.path(), "whole", None);
    let o = merge(&[&a, &b, &c]);
    assert_eq!(
        code(&o),
        0,
        "the three shards tile the range: {}",
        stderr(&o)
    );
    for (parts, needle) in [
        (vec![&a, &b], "shards missing: 3/3"),
        (vec![&a, &b, &b, &c], "appears twice"),
        (vec![&a, &b, &c, &whole], "overlaps"),
        (vec![&whole, &whole], "overlaps"),
    ] {
        let o = merge(&parts.iter().map(|p| p.as_path()).collect::<Vec<_>>());
        assert_eq!(code(&o), 2, "{needle}: {}", stdout(&o));
        assert!(stderr(&o).contains(needle), "{needle}: {}", stderr(&o));
    }
    // A shard of another shard count does not fit either.
    let other = shard_report(dir.path(), "other", Some("1/2"));
    let o = merge(&[&a, &b, &other]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("shard count"), "{}", stderr(&o));
}

#[test]
fn merge_recomputes_verdicts_from_the_counts_not_from_the_shards_flags() {
    let dir = tempfile::tempdir().unwrap();
    let a = shard_report(dir.path(), "a", Some("1/2"));
    let b = shard_report(dir.path(), "b", Some("2/2"));
    // A shard that claims failure for a clean result does not make the merge fail: the counts
    // are clean, so the recomputed verdict is too.
    edit(&a, |v| {
        v["strategies"][1]["as_expected"] = Value::Bool(false)
    });
    let o = merge(&[&a, &b]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // A shard whose safe strategy violated an oracle but claims `as_expected` must fail the
    // merge: pipelined is expected clean, so one violation is unexpected.
    edit(&b, |v| {
        assert_eq!(v["strategies"][1]["strategy"], "pipelined");
        v["strategies"][1]["violations"]["final-state"] = Value::from(1);
        v["strategies"][1]["as_expected"] = Value::Bool(true);
    });
    let o = merge(&[&a, &b]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("UNEXPECTED"), "{}", stdout(&o));
}

#[test]
fn a_soak_runs_until_the_time_is_up_and_reports_the_seeds_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("soak.json");
    let o = sim(&[
        "sweep",
        "--time",
        "1",
        "--strategy",
        "pipelined",
        "--jobs",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let run = r["seeds"]["run"].as_u64().unwrap();
    // A worker always finishes the seed it took before it looks at the clock, so at least one.
    assert!(run >= 1);
    // The seeds run are a prefix of the range, so a soak's range is exactly what it ran.
    assert_eq!(r["seeds"]["count"].as_u64(), Some(run));
    assert_eq!(r["strategies"][0]["cases"].as_u64(), Some(run));
    assert!(
        stdout(&o).contains(&format!("soak: {run} seeds")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn inline_mode_gives_no_verdict() {
    let o = sim(&[
        "sweep",
        "--inline",
        "--seeds",
        "3",
        "--strategy",
        "pipelined",
    ]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("no verdict: inline mode checks no trace"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stdout(&o).contains("as expected"),
        "inline must not print verdicts: {}",
        stdout(&o)
    );
}

#[test]
fn bad_time_is_a_usage_error() {
    for t in ["0", "-3", "nan", "soon"] {
        let o = sim(&["sweep", "--time", t]);
        assert_eq!(code(&o), 2, "--time {t}");
        assert!(stderr(&o).contains(t), "--time {t}: {}", stderr(&o));
    }
}

#[test]
fn a_blind_harness_fails_the_sweep_on_its_witnesses() {
    // The test-only hook throws every violation away. The known-bad rows then look clean, and
    // only the witnesses (seeds that must violate) can tell: the sweep must exit 1 and name them.
    let blind = std::process::Command::new(env!("CARGO_BIN_EXE_restore-sim"))
        .args([
            "sweep",
            "--seeds",
            "200",
            "--strategy",
            "join-async,pipelined",
        ])
        .env("CI", "true")
        .env("RESTORE_SIM_TEST_BLIND_ORACLES", "1")
        .output()
        .unwrap();
    assert_eq!(code(&blind), 1, "{}", stdout(&blind));
    let out = stdout(&blind);
    for w in harness::expect::witnesses(restore_core::strategy::CommitStrategy::JoinAsync) {
        let line = format!(
            "expected {} at seed {} under join-async, saw none",
            w.oracle, w.seed
        );
        assert!(out.contains(&line), "missing `{line}`:\n{out}");
    }
    // The same sweep with its eyes open passes.
    let seeing = sim(&[
        "sweep",
        "--seeds",
        "200",
        "--strategy",
        "join-async,pipelined",
    ]);
    assert_eq!(code(&seeing), 0, "{}", stdout(&seeing));
}

#[test]
fn witnesses_are_reported_in_json_and_junit_and_checked_across_shards() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("w.json");
    let junit = dir.path().join("w.xml");
    let o = sim(&[
        "sweep",
        "--seeds",
        "200",
        "--strategy",
        "join-sync",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let s = &r["strategies"][0];
    let table = harness::expect::witnesses(restore_core::strategy::CommitStrategy::JoinSync);
    let in_range: Vec<_> = table.iter().filter(|w| w.seed < 200).collect();
    assert!(!in_range.is_empty());
    assert_eq!(s["expected"].as_object().unwrap().len(), in_range.len());
    for w in &in_range {
        assert_eq!(s["expected"][w.oracle.name()], w.seed);
    }
    assert_eq!(s["missing"].as_array().unwrap().len(), 0);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let witness_cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.attribute("name").is_some_and(|a| a.contains(".witness.")))
        .count();
    assert_eq!(witness_cases, in_range.len());
    // A shard that drops a witness it covered is refused by the merge.
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    for (shard, path) in [("1/2", &a), ("2/2", &b)] {
        let o = sim(&[
            "sweep",
            "--seeds",
            "200",
            "--strategy",
            "join-sync",
            "--shard",
            shard,
            "--json",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}", stdout(&o));
    }
    assert_eq!(code(&merge(&[&a, &b])), 0);
    edit(&a, |v| {
        v["strategies"][0]["expected"] = serde_json::json!({});
    });
    let o = merge(&[&a, &b]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains("witnesses"), "{}", stderr(&o));
}

#[test]
fn require_coverage_fails_a_range_too_small_to_draw_every_category() {
    // Three seeds hold at most three corruptions, so at most three of the six tamper kinds (and
    // far from every fault effect, target and crash placement) can have been drawn.
    let o = sim(&[
        "sweep",
        "--seeds",
        "3",
        "--strategy",
        "pipelined",
        "--require-coverage",
    ]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("never: "), "{}", stdout(&o));
    // Without the flag the same sweep passes and still reports what it missed.
    let o = sim(&["sweep", "--seeds", "3", "--strategy", "pipelined"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("required categories drawn"),
        "{}",
        stdout(&o)
    );
}
