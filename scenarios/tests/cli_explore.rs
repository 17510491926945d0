//! `explore` as CI uses it: a safe strategy verifies, an Aptos strategy yields a counterexample
//! whose case file replays to the same violation and trace, `--json` keeps its fixed schema, and
//! bad bounds are refused with exit code 2.

mod support;

use support::{code, sim, stderr, stdout};

use serde_json::Value;

const SCHEMA: &str = "restore-sim/explore/v1";

#[test]
fn a_safe_strategy_verifies_with_the_fixed_json_schema() {
    let o = sim(&[
        "explore",
        "--strategy",
        "pipelined",
        "--keys",
        "1",
        "--chunks",
        "2",
        "--crashes",
        "0",
        "--faults",
        "0",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("stdout is only the JSON");
    assert_eq!(v["schema"], SCHEMA);
    assert_eq!(v["verdict"], "verified");
    assert!(v["reason"].is_null());
    assert!(v["counterexample"].is_null());
    // Not asked for (no --estimate-naive), so present and null: the fields are fixed.
    assert!(v["naive_estimate"].is_null());
    assert!(v["stats"]["executions"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["bounds"]["strategy"], "pipelined");
    assert_eq!(v["bounds"]["keys_per_chunk"], 1);
    assert_eq!(v["bounds"]["chunks"], 2);
    assert!(v["elapsed_s"].is_f64());
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bounds",
            "counterexample",
            "elapsed_s",
            "naive_estimate",
            "reason",
            "schema",
            "stats",
            "verdict"
        ]
    );
}

#[test]
fn an_aptos_strategy_yields_a_counterexample_that_replays() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ce.json");
    let o = sim(&[
        "explore",
        "--strategy",
        "join-async",
        "--keys",
        "2",
        "--chunks",
        "3",
        "--crashes",
        "0",
        "--faults",
        "0",
        "--expect",
        "counterexample",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert!(file.is_file(), "no case file at {}", file.display());
    let text = stdout(&o);
    let first = text.lines().next().unwrap();
    let oracle = first
        .strip_prefix("counterexample: ")
        .and_then(|rest| rest.split(" — ").next())
        .unwrap_or_else(|| panic!("first line names the oracle: {first}"));
    let hash = text
        .lines()
        .find_map(|l| {
            l.split_once("(trace hash ")
                .map(|(_, h)| h.trim_end_matches(')'))
        })
        .unwrap_or_else(|| panic!("the trace hash is printed: {text}"));
    assert!(
        text.contains(&format!("restore-sim replay {}", file.display())),
        "{text}"
    );

    let r = sim(&["replay", "--quiet", file.to_str().unwrap()]);
    // `replay` reports violations in its output and exits 0 for a failing case: its exit code
    // is about the replay itself (1 only when `--check-determinism` finds two runs differ).
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let summary = stdout(&r);
    assert!(
        summary.contains(&format!("VIOLATED {oracle} at event")),
        "{summary}"
    );
    assert!(summary.contains(&format!("trace hash {hash}")), "{summary}");
}

#[test]
fn a_counterexample_in_json_names_its_oracle_hash_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ce.json");
    let o = sim(&[
        "explore",
        "--strategy",
        "join-async",
        "--crashes",
        "0",
        "--faults",
        "0",
        "--json",
        "--out",
        file.to_str().unwrap(),
    ]);
    // The default expectation is `verified`: a counterexample does not meet it.
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("stdout is only the JSON");
    assert_eq!(v["schema"], SCHEMA);
    assert_eq!(v["verdict"], "counterexample");
    let ce = &v["counterexample"];
    assert!(ce["oracle"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    let hash = ce["trace_hash"].as_str().unwrap();
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
    assert_eq!(ce["case_file"], file.to_str().unwrap());
    assert!(file.is_file());
}

#[test]
fn a_bad_bound_is_refused_with_exit_code_2() {
    let o = sim(&["explore", "--strategy", "pipelined", "--chunks", "0"]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains("--chunks"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

/// The hunt flags of CI's defect table, both ways: join-async's known audit race (KV commits a
/// chunk while the tree's write of the one before is still failing) is a divergence with "KV
/// ahead" in its detail, so hunting that text finds it; verify-kv-tree orders its tree after
/// its KV and cannot let KV run ahead, so the same hunt verifies, and says it checked only that.
#[test]
fn hunting_one_defect_by_its_detail_finds_the_audit_race_and_nothing_in_a_safe_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ce.json");
    let hunt = |strategy: &str, expect: &str| {
        sim(&[
            "explore",
            "--strategy",
            strategy,
            "--chunks",
            "2",
            "--keys",
            "2",
            "--crashes",
            "0",
            "--faults",
            "1",
            "--oracle",
            "progress-divergence",
            "--detail",
            "KV ahead",
            "--expect",
            expect,
            "--out",
            file.to_str().unwrap(),
        ])
    };
    let o = hunt("join-async", "counterexample");
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let first = stdout(&o).lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with("counterexample: progress-divergence — ") && first.contains("KV ahead"),
        "{first}"
    );

    let o = hunt("verify-kv-tree", "verified");
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let first = stdout(&o).lines().next().unwrap_or_default().to_string();
    assert_eq!(
        first,
        "verified: no execution within the bounds violated progress-divergence with \"KV ahead\" in its detail"
    );
}
