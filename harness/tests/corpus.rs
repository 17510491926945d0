//! The regression corpus: the committed entries (fixtures/corpus) check clean and the safe
//! strategies pass all of them; a wrong expectation is reported as a mismatch; malformed,
//! truncated or misnamed files give errors naming the file and the field; `add` records the
//! verdict of every strategy and the entry reads back.

mod support;

use std::path::{Path, PathBuf};

use harness::case::{Case, GenConfig};
use harness::corpus::{
    self, CORPUS_FORMAT, CorpusError, Entry, EntryError, Expect, add, check_dir, load_dir,
    load_file,
};
use harness::oracle::Oracle;
use restore_core::strategy::{CommitStrategy, Safety};
use support::run;

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/corpus")
}

fn read_entry(name: &str) -> Entry {
    load_file(&committed().join(format!("{name}.json"))).unwrap()
}

/// The known defects the corpus must keep covering, with the oracle join-async or join-sync
/// must show.
const REQUIRED: [(&str, CommitStrategy, Oracle); 9] = [
    (
        "audit-race",
        CommitStrategy::JoinAsync,
        Oracle::ProgressDivergence,
    ),
    (
        "audit-race-slow-batch",
        CommitStrategy::JoinAsync,
        Oracle::ProgressDivergence,
    ),
    (
        "kv-behind-tree",
        CommitStrategy::JoinSync,
        Oracle::ProgressDivergence,
    ),
    (
        "d1-one-key-chunk-then-crash",
        CommitStrategy::JoinAsync,
        Oracle::ForwardProgress,
    ),
    (
        "d1-first-batch-fails",
        CommitStrategy::JoinSync,
        Oracle::ForwardProgress,
    ),
    // The false successes write their root over an incomplete tree one event before finish
    // returns: durable-shape heads them, honest-result follows.
    (
        "false-success-after-restarts",
        CommitStrategy::JoinAsync,
        Oracle::DurableShape,
    ),
    (
        "d2-unverified-kv",
        CommitStrategy::JoinAsync,
        Oracle::VerifiedOnly,
    ),
    (
        "d3-retry-same-object",
        CommitStrategy::JoinSync,
        Oracle::DurableShape,
    ),
    (
        "d4-panic-on-drop",
        CommitStrategy::JoinAsync,
        Oracle::NoPanic,
    ),
];

const MUST_PASS: [&str; 4] = [
    "torn-batch",
    "power-loss",
    "ack-then-lost-crash",
    "disk-full",
];

#[test]
fn the_committed_corpus_checks_clean_and_the_safe_strategies_pass_every_entry() {
    let mut seen = 0;
    let report = check_dir(&committed(), &mut |_| seen += 1).unwrap();
    for l in &report.lines {
        println!("{l}");
    }
    assert!(
        report.ok(),
        "{:#?}",
        report.mismatches().collect::<Vec<_>>()
    );
    assert_eq!(seen, report.lines.len());
    assert!(report.entries >= REQUIRED.len() + MUST_PASS.len());
    assert!(report.safe_failures.is_empty());
    for l in &report.lines {
        if l.strategy.safety() == Safety::Safe {
            assert_eq!(l.got, Expect::Pass, "{l}");
        }
    }
    for (_, e) in load_dir(&committed()).unwrap() {
        // Every entry is checked under all six strategies.
        let listed: Vec<CommitStrategy> = e.expect.iter().map(|(s, _)| *s).collect();
        assert_eq!(listed, CommitStrategy::ALL.to_vec(), "{}", e.name);
        assert!(!e.about.is_empty(), "{}", e.name);
    }
    for (name, strategy, oracle) in REQUIRED {
        let e = read_entry(name);
        assert!(
            e.expect.contains(&(strategy, Expect::Violates(oracle))),
            "{name}: {:?}",
            e.expect
        );
        // Minimised: a few chunks.
        assert!(e.case.chunking.sizes.len() <= 3, "{name}");
    }
    for name in MUST_PASS {
        let e = read_entry(name);
        assert!(!e.case.faults.is_empty(), "{name}");
        assert!(e.safe_failures().is_empty(), "{name}");
    }
}

#[test]
fn committed_entries_read_back_unchanged() {
    for (path, e) in load_dir(&committed()).unwrap() {
        assert_eq!(
            Entry::from_json(&e.to_json()).unwrap(),
            e,
            "{}",
            path.display()
        );
        // The case is a valid case file on its own.
        assert_eq!(Case::from_json(&e.case.to_json()).unwrap(), e.case);
    }
}

/// A temporary corpus holding `entries`.
fn temp_corpus(entries: &[Entry]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in entries {
        std::fs::write(dir.path().join(format!("{}.json", e.name)), e.to_json()).unwrap();
    }
    dir
}

fn set_expect(e: &mut Entry, s: CommitStrategy, x: Expect) {
    for (k, v) in &mut e.expect {
        if *k == s {
            *v = x;
        }
    }
}

#[test]
fn a_wrong_expectation_is_reported_as_a_mismatch() {
    let good = read_entry("audit-race");
    let mut bad = good.clone();
    set_expect(&mut bad, CommitStrategy::JoinAsync, Expect::Pass);
    let power = read_entry("power-loss");
    let dir = temp_corpus(&[bad, power]);
    let report = check_dir(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(report.entries, 2);
    assert!(!report.ok());
    let m: Vec<_> = report.mismatches().collect();
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].entry, "audit-race");
    assert_eq!(m[0].strategy, CommitStrategy::JoinAsync);
    assert_eq!(m[0].expected, Expect::Pass);
    assert_eq!(m[0].got, Expect::Violates(Oracle::ProgressDivergence));
    assert!(m[0].detail.as_deref().unwrap().contains("KV ahead"));
    assert!(m[0].to_string().starts_with("MISMATCH"), "{}", m[0]);
    // The other lines are fine.
    assert_eq!(report.lines.iter().filter(|l| l.ok()).count(), 11);
    assert!(report.safe_failures.is_empty());
}

#[test]
fn a_safe_strategy_expected_to_fail_is_reported_even_when_the_verdict_matches() {
    // Record a violation for pipelined: a mismatch (it passes) and a policy failure.
    let mut e = read_entry("d2-unverified-kv");
    set_expect(
        &mut e,
        CommitStrategy::Pipelined,
        Expect::Violates(Oracle::VerifiedOnly),
    );
    let dir = temp_corpus(&[e.clone()]);
    let report = check_dir(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(report.mismatches().count(), 1);
    assert_eq!(
        report.safe_failures,
        vec![(
            e.name.clone(),
            CommitStrategy::Pipelined,
            Expect::Violates(Oracle::VerifiedOnly)
        )]
    );
    assert!(!report.ok());
    // A policy failure alone (verdicts all as recorded) still fails the check.
    let only_policy = corpus::CheckReport {
        safe_failures: report.safe_failures.clone(),
        ..Default::default()
    };
    assert!(!only_policy.ok());
}

/// The text of a committed entry with `edit` applied to its JSON.
fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let text = std::fs::read_to_string(committed().join(format!("{name}.json"))).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

fn err_of(text: &str) -> EntryError {
    Entry::from_json(text).expect_err("must be rejected")
}

#[test]
fn malformed_entries_give_errors_naming_the_field() {
    use serde_json::json;
    let n = "audit-race";
    let cases: Vec<(&str, String, &str)> = vec![
        ("not an object", "[1, 2]".into(), "must be a JSON object"),
        (
            "missing format",
            edited(n, |v| {
                v.as_object_mut().unwrap().remove("format");
            }),
            "field `format` is missing",
        ),
        (
            "wrong format",
            edited(n, |v| v["format"] = json!("restore-sim/corpus/v0")),
            "unsupported corpus format `restore-sim/corpus/v0`",
        ),
        (
            "format not a string",
            edited(n, |v| v["format"] = json!(1)),
            "field `format`: expected a string, got a number",
        ),
        (
            "missing name",
            edited(n, |v| {
                v.as_object_mut().unwrap().remove("name");
            }),
            "field `name` is missing",
        ),
        (
            "bad name",
            edited(n, |v| v["name"] = json!("Audit Race")),
            "field `name`: `Audit Race` is not a valid name",
        ),
        (
            "missing about",
            edited(n, |v| {
                v.as_object_mut().unwrap().remove("about");
            }),
            "field `about` is missing",
        ),
        (
            "unknown field",
            edited(n, |v| v["expects"] = json!({})),
            "unknown field `expects`",
        ),
        (
            "missing expect",
            edited(n, |v| {
                v.as_object_mut().unwrap().remove("expect");
            }),
            "field `expect` is missing",
        ),
        (
            "expect not an object",
            edited(n, |v| v["expect"] = json!(["pass"])),
            "field `expect`: expected an object",
        ),
        (
            "empty expect",
            edited(n, |v| v["expect"] = json!({})),
            "field `expect`: lists no strategy",
        ),
        (
            "unknown strategy",
            edited(n, |v| v["expect"]["join-asink"] = json!("pass")),
            "join-asink",
        ),
        (
            "bad verdict",
            edited(n, |v| v["expect"]["join-sync"] = json!("fails")),
            "field `expect.join-sync`: expected \"pass\" or an oracle name",
        ),
        (
            "verdict not a string",
            edited(n, |v| v["expect"]["join-sync"] = json!(true)),
            "field `expect.join-sync`: expected a string, got a boolean",
        ),
        (
            "missing case",
            edited(n, |v| {
                v.as_object_mut().unwrap().remove("case");
            }),
            "field `case` is missing",
        ),
        (
            "case not an object",
            edited(n, |v| v["case"] = json!("seed 1")),
            "field `case`: expected an object",
        ),
        (
            "case missing a nested field",
            edited(n, |v| {
                v["case"]["snapshot"]
                    .as_object_mut()
                    .unwrap()
                    .remove("keys");
            }),
            "field `case.snapshot`: missing field `keys`",
        ),
        (
            "case with a bad fault",
            edited(n, |v| {
                v["case"]["faults"]["faults"][0]["effect"] = json!("meteor")
            }),
            "field `case.faults`",
        ),
        (
            "case missing a top-level field",
            edited(n, |v| {
                v["case"].as_object_mut().unwrap().remove("strategy");
            }),
            "field `case`: missing field `strategy`",
        ),
        (
            "case of another format",
            edited(n, |v| v["case"]["format"] = json!("restore-sim/case/v9")),
            "field `case.format`: unsupported case format `restore-sim/case/v9`",
        ),
    ];
    for (what, text, want) in cases {
        let e = err_of(&text);
        assert!(
            e.to_string().contains(want),
            "{what}: got `{e}`, wanted `{want}`"
        );
    }
    // The unedited text is fine (the edits above are what break it).
    Entry::from_json(&edited(n, |_| {})).unwrap();
    assert!(matches!(err_of("{}"), EntryError::Missing("format")));
}

#[test]
fn truncated_and_misnamed_files_are_errors_naming_the_file() {
    let text = std::fs::read_to_string(committed().join("audit-race.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit-race.json");
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let e = load_dir(dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            &e,
            CorpusError::Entry {
                error: EntryError::Json { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(msg.contains("audit-race.json"), "{msg}");
    assert!(msg.contains("not valid JSON (line"), "{msg}");
    assert!(msg.contains("EOF"), "{msg}");
    // check_dir stops on the same error.
    assert!(check_dir(dir.path(), &mut |_| {}).is_err());

    // An empty file.
    std::fs::write(&path, "").unwrap();
    let msg = load_dir(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("not valid JSON"), "{msg}");

    // A valid entry under another file name.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(dir.path().join("renamed.json"), &text).unwrap();
    let e = load_dir(dir.path()).unwrap_err();
    assert!(matches!(e, CorpusError::NameMismatch { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("field `name`: `audit-race` does not match the file name"),
        "{e}"
    );
}

#[test]
fn empty_and_missing_directories_are_errors_and_other_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("README.md"), "not an entry").unwrap();
    std::fs::create_dir(dir.path().join("sources")).unwrap();
    std::fs::write(dir.path().join("sources/x.json"), "not even json").unwrap();
    assert!(load_dir(dir.path()).unwrap().is_empty());
    let e = check_dir(dir.path(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, CorpusError::Empty(_)), "{e:?}");
    assert!(e.to_string().contains("no corpus entries"), "{e}");
    let missing = dir.path().join("nope");
    let e = load_dir(&missing).unwrap_err();
    assert!(matches!(e, CorpusError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn add_records_the_verdict_of_every_strategy_and_the_entry_reads_back() {
    // What a sweep's --save-failures writes: the first failing join-async case, as a file.
    let (seed, found) = (0..1_000u64)
        .map(|s| {
            (
                s,
                Case::generate(s, CommitStrategy::JoinAsync, &GenConfig::default()),
            )
        })
        .find(|(_, c)| !run(c).passed())
        .unwrap();
    let saved = Case::from_json(&found.to_json()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let corpus_dir = dir.path().join("corpus");
    let name = format!("join-async-seed{seed}");
    let (path, entry) = add(&corpus_dir, &name, "found by a sweep", &saved).unwrap();
    assert_eq!(path, corpus_dir.join(format!("{name}.json")));
    assert_eq!(entry.case, saved);
    // One expectation per strategy, each the verdict of a run.
    assert_eq!(entry.expect.len(), 6);
    for (s, x) in &entry.expect {
        let o = run(&Case {
            strategy: *s,
            ..saved.clone()
        });
        assert_eq!(*x, Expect::of(&o), "{s}");
    }
    assert!(matches!(
        entry.expect[0],
        (CommitStrategy::JoinAsync, Expect::Violates(_))
    ));
    assert!(entry.safe_failures().is_empty());
    // The file reads back to the same entry, and checks clean.
    assert_eq!(load_file(&path).unwrap(), entry);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(CORPUS_FORMAT));
    assert!(check_dir(&corpus_dir, &mut |_| {}).unwrap().ok());
    // No overwriting, no bad names.
    assert!(matches!(
        add(&corpus_dir, &name, "again", &saved),
        Err(CorpusError::Exists(_))
    ));
    for bad in ["", "Has Caps", "-dash-first", "under_score", "a/b"] {
        assert!(
            matches!(
                add(&corpus_dir, bad, "x", &saved),
                Err(CorpusError::BadName(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(load_dir(&corpus_dir).unwrap().len(), 1);
}
