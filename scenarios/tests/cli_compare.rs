//! `compare --json/--svg` and `limits` on tiny snapshots: the files are well-formed and carry one
//! row (one bar) per strategy. No timing is asserted, only shape.

use std::process::{Command, Output};

use serde_json::Value;

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restore-sim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The command succeeded; otherwise fail with what it printed on stderr.
fn assert_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compare_writes_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("compare.json");
    let svg = dir.path().join("compare.svg");
    let out = sim(&[
        "compare",
        "--keys",
        "1500",
        "--chunk-size",
        "400",
        "--strategy",
        "join-async,pipelined",
        "--json",
        json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["schema"], "restore-sim/compare/v1");
    assert_eq!(v["keys"], 1500);
    assert_eq!(v["chunk_size"], 400);
    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["join-async", "pipelined"]);
    // The defaults: what an Aptos node pays.
    assert_eq!(
        (v["layout"].as_str(), v["sync"].as_str()),
        (Some("aptos"), Some("always"))
    );
    for r in rows {
        assert_eq!(r["audit"], "ok");
        assert!(r["keys_per_sec"].as_f64().unwrap() > 0.0);
        // Under always every write is synced: at least a KV shard batch and the progress
        // record per chunk.
        assert!(r["fsyncs_per_chunk"].as_f64().unwrap() >= 2.0, "{r}");
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed SVG");
    let bars = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.children().any(|c| c.has_tag_name("title")))
        .count();
    assert_eq!(bars, 2);
}

#[test]
fn limits_prints_the_model() {
    let out = sim(&["limits", "--keys", "2000", "--chunk-size", "500", "--mem"]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("work: 2000 keys in 4 chunks of 500"),
        "{text}"
    );
    assert!(
        text.contains("rocksdb aptos/always: per key hash"),
        "{text}"
    );
    assert!(text.contains("rocksdb aptos/always: fsync"), "{text}");
    assert!(text.contains("mem: per key hash"), "{text}");
}

/// Relaxed writes sync nothing: 0 fsyncs per chunk for every strategy, and no fsync share in
/// the model (the fsyncs per chunk are counted on a relaxed store: 0).
#[test]
fn compare_on_one_relaxed_counts_no_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("compare.json");
    let out = sim(&[
        "compare",
        "--keys",
        "1500",
        "--chunk-size",
        "400",
        "--strategy",
        "verify-kv-tree,pipelined",
        "--layout",
        "one",
        "--sync",
        "relaxed",
        "--limits",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fsync share 0 ns"), "{text}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (v["layout"].as_str(), v["sync"].as_str()),
        (Some("one"), Some("relaxed"))
    );
    for r in v["rows"].as_array().unwrap() {
        assert_eq!(r["audit"], "ok");
        assert_eq!(r["fsyncs_per_chunk"].as_f64(), Some(0.0), "{r}");
    }
}

#[test]
fn real_commands_reject_unknown_layouts_and_policies() {
    for cmd in ["compare", "restore", "crash-test", "limits"] {
        for (flag, bad) in [("--layout", "two"), ("--sync", "never")] {
            let out = sim(&[cmd, "--keys", "10", flag, bad]);
            assert_eq!(out.status.code(), Some(2), "{cmd} {flag} {bad}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(bad) && err.contains(flag),
                "{cmd} {flag}: {err}"
            );
        }
    }
}

/// `--store mem --repeat 2 --limits`: every run audited, the median and each run in the JSON,
/// and the share of the limit model consistent with the limit and the median printed beside it.
#[test]
fn compare_in_memory_repeats_and_relates_to_the_limit_model() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("compare.json");
    let out = sim(&[
        "compare",
        "--keys",
        "1200",
        "--chunk-size",
        "300",
        "--strategy",
        "verify-kv-tree,pipelined",
        "--store",
        "mem",
        "--repeat",
        "2",
        "--limits",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mem: per key hash"), "{text}");
    assert_eq!(text.matches("round ").count(), 4, "{text}");
    assert_eq!(
        text.matches("strategy ").count(),
        1,
        "one table header\n{text}"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["store"], "mem");
    let serial = v["limit"]["serial_keys_per_sec"].as_f64().unwrap();
    let overlapped = v["limit"]["overlapped_keys_per_sec"].as_f64().unwrap();
    assert!(serial > 0.0 && overlapped >= serial, "{v}");
    for r in v["rows"].as_array().unwrap() {
        assert_eq!(r["audit"], "ok");
        let runs: Vec<f64> = r["runs_keys_per_sec"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(runs.len(), 2);
        let median = r["keys_per_sec"].as_f64().unwrap();
        assert!(
            (median - (runs[0] + runs[1]) / 2.0).abs() <= 1e-6 * median,
            "{r}"
        );
        let pct = r["percent_of_limit"]["overlapped"].as_f64().unwrap();
        assert!(
            (pct - 100.0 * median / overlapped).abs() < 1e-6 * pct.max(1.0),
            "{r}"
        );
    }
}

#[test]
fn compare_rejects_zero_repeats_and_unknown_stores() {
    for bad in [["--repeat", "0"], ["--store", "tape"]] {
        let out = sim(&["compare", "--keys", "10", bad[0], bad[1]]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(bad[0]), "{bad:?}: {err}");
    }
}
