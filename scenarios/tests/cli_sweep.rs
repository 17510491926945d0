//! The `restore-sim` binary as a user meets it: exit codes, bad input, sharding, job-count
//! independence, report merging and the JUnit file.

mod support;

use support::{code, sim, stderr};

use std::path::Path;

use serde_json::Value;

/// A small sweep: two strategies (one known-bad, one safe), few seeds.
fn sweep(dir: &Path, name: &str, extra: &[&str]) -> Value {
    let json = dir.join(format!("{name}.json"));
    let mut args = vec![
        "sweep",
        "--seeds",
        "24",
        "--seed-start",
        "100",
        "--strategy",
        "join-async,pipelined",
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = sim(&args);
    assert_eq!(code(&o), 0, "sweep {extra:?} failed: {}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// The report without wall-clock fields (and without the shard label).
fn untimed(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("cases_per_second");
    o.remove("elapsed_seconds");
    o["seeds"].as_object_mut().unwrap().remove("shard");
    v
}

#[test]
fn bad_usage_exits_2_with_a_clear_message() {
    for (args, needle) in [
        (vec!["sweep", "--no-such-flag"], "--no-such-flag"),
        (vec!["sweep", "--strategy", "join-fast"], "join-fast"),
        (vec!["sweep", "--shard", "3/2"], "3/2"),
        (vec!["sweep", "--shard", "x"], "K/N"),
        (vec!["sweep", "--store", "postgres"], "postgres"),
        (vec!["replay", "--seed", "1", "--strategy", "nope"], "nope"),
        (vec!["no-such-command"], "no-such-command"),
    ] {
        let o = sim(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{args:?}: message should name `{needle}`: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{args:?} panicked");
    }
}

#[test]
fn bad_case_files_exit_2_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = harness::case::Case::generate(
        1,
        restore_core::strategy::CommitStrategy::JoinAsync,
        &harness::case::GenConfig::default(),
    )
    .to_json();
    // The good case with the field at `path` set to `value`.
    let with_field = |path: &[&str], value: Value| {
        let mut v: Value = serde_json::from_str(&good).unwrap();
        let field = path.iter().fold(&mut v, |v, k| &mut v[*k]);
        assert!(!field.is_null(), "{path:?} is not in the case file");
        *field = value;
        serde_json::to_string_pretty(&v).unwrap()
    };
    let cases = [
        ("truncated.json", good[..good.len() / 2].to_string(), "line"),
        ("garbage.json", "not json at all".to_string(), "line"),
        (
            "strategy.json",
            good.replace("\"join-async\"", "\"join-slow\""),
            "join-slow",
        ),
        (
            "format.json",
            good.replace("restore-sim/case/v1", "restore-sim/case/v0"),
            "v0",
        ),
        // Past the documented limits (docs/case-limits.md): these used to abort on a huge
        // allocation or run for minutes; now they are refused before anything is allocated.
        (
            "keys.json",
            with_field(&["snapshot", "keys"], 2_147_483_648u64.into()),
            "snapshot.keys",
        ),
        (
            "value-len.json",
            with_field(
                &["snapshot", "value_len"],
                serde_json::json!([9_223_372_036_854_775_807u64, 32]),
            ),
            "snapshot.value_len",
        ),
        (
            "value-len-huge.json",
            with_field(
                &["snapshot", "value_len"],
                serde_json::json!([1, 2_147_483_648u64]),
            ),
            "snapshot.value_len",
        ),
        (
            "chunk-size.json",
            with_field(
                &["chunking", "sizes"],
                serde_json::json!([1, 1_000_000_000_000u64]),
            ),
            "chunking.sizes[1]",
        ),
        (
            "lives.json",
            with_field(&["driver", "max_lives"], 4_000_000_000u64.into()),
            "driver.max_lives",
        ),
    ];
    for (name, text, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let o = sim(&["replay", p.to_str().unwrap()]);
        assert_eq!(code(&o), 2, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{name} panicked");
    }
    let missing = sim(&["replay", "/nonexistent/case.json"]);
    assert_eq!(code(&missing), 2);
    // A generated case is bounded the same way: --max-keys above the keys limit is refused.
    let over = (harness::case_limits::MAX_KEYS + 1).to_string();
    let o = sim(&[
        "replay",
        "--seed",
        "1",
        "--strategy",
        "join-async",
        "--max-keys",
        &over,
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--max-keys"), "{}", stderr(&o));
}

#[test]
fn shards_cover_the_unsharded_run_and_merge_to_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let whole = sweep(dir.path(), "whole", &[]);
    let a = sweep(dir.path(), "a", &["--shard", "1/2"]);
    let b = sweep(dir.path(), "b", &["--shard", "2/2"]);
    // Disjoint and complete: case counts add up per strategy.
    for i in 0..2 {
        let n = |v: &Value| v["strategies"][i]["cases"].as_u64().unwrap();
        assert_eq!(n(&a) + n(&b), n(&whole));
        assert!(n(&a) > 0 && n(&b) > 0);
    }
    let merged_path = dir.path().join("merged.json");
    let o = sim(&[
        "report",
        "merge",
        dir.path().join("a.json").to_str().unwrap(),
        dir.path().join("b.json").to_str().unwrap(),
        "--json",
        merged_path.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(merged_path).unwrap()).unwrap();
    assert_eq!(untimed(merged), untimed(whole));
}

#[test]
fn job_count_does_not_change_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let one = sweep(dir.path(), "one", &["--jobs", "1"]);
    let two = sweep(dir.path(), "two", &["--jobs", "2"]);
    assert_eq!(untimed(one), untimed(two));
}

#[test]
fn json_report_has_the_fixed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let r = sweep(dir.path(), "r", &[]);
    assert_eq!(r["schema"], "restore-sim/sweep/v1");
    assert!(r["cases_per_second"].as_f64().unwrap() > 0.0);
    let strategies = r["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 2);
    for s in strategies {
        let v = s["violations"].as_object().unwrap();
        let names: Vec<&str> = v.keys().map(|k| k.as_str()).collect();
        for o in harness::oracle::Oracle::ALL {
            assert!(
                names.contains(&o.name()),
                "{} missing from {names:?}",
                o.name()
            );
        }
        assert!(s["first_failure"].is_null() || s["first_failure"]["seed"].is_u64());
        assert!(s["expected_clean"].is_boolean() && s["as_expected"].is_boolean());
    }
    let ja = &strategies[0];
    assert_eq!(ja["strategy"], "join-async");
    assert_eq!(ja["expected_clean"], false);
    assert!(
        !ja["first_failure"].is_null(),
        "24 seeds are enough to trip join-async"
    );
    assert_eq!(strategies[1]["strategy"], "pipelined");
    assert_eq!(strategies[1]["expected_clean"], true);
    assert!(strategies[1]["first_failure"].is_null());
}

#[test]
fn junit_parses_and_has_one_case_per_strategy_and_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    sweep(dir.path(), "j", &["--junit", junit.to_str().unwrap()]);
    let text = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2 * harness::oracle::Oracle::ALL.len());
    for c in &cases {
        assert!(c.attribute("name").is_some() && c.attribute("classname").is_some());
    }
    // Known-bad join-async findings are expected, so no test case fails.
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("failure"))
            .count(),
        0
    );
    // One test case per strategy (2) and oracle.
    let tests = (2 * harness::oracle::Oracle::ALL.len()).to_string();
    assert_eq!(root.attribute("tests"), Some(tests.as_str()));
}
