//! `replay` as a developer meets it: every violated oracle is listed (headline first), `--json`
//! gives the same list in a fixed schema, and `--help` says what the tool does.

mod support;

use support::{code, sim, stderr, stdout};

use harness::oracle::Oracle;
use harness::run::run_case;
use restore_core::strategy::CommitStrategy;
use serde_json::Value;

/// `d1-d2-false-success` under join-async: tree batch 0 fails while the KV side commits the
/// following chunks (KV runs past the bound: progress-divergence); on restart D1 takes the resume
/// point from KV, so every chunk is skipped and finish reports success on an empty tree
/// (honest-result), and the final state lacks the tree (final-state). Three oracles.
fn several_violations_case() -> harness::case::Case {
    scenarios::find("d1-d2-false-success")
        .expect("catalog entry")
        .case_for(CommitStrategy::JoinAsync)
}

#[test]
fn replay_lists_every_violated_oracle_with_event_process_and_step() {
    let case = several_violations_case();
    let outcome = run_case(&case).unwrap();
    let mut fired: Vec<Oracle> = outcome.violations.iter().map(|v| v.oracle).collect();
    fired.dedup();
    for o in [
        Oracle::ProgressDivergence,
        Oracle::HonestResult,
        Oracle::FinalState,
    ] {
        assert!(fired.contains(&o), "{o} should fire (see the doc comment)");
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.json");
    std::fs::write(&file, case.to_json()).unwrap();
    let o = sim(&["replay", "--quiet", file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let head = outcome.first_violation().unwrap();
    let first_line = text.lines().next().unwrap();
    assert!(
        first_line.contains(&format!("VIOLATED {} at event {}", head.oracle, head.event)),
        "{first_line}"
    );
    assert!(
        text.contains(&format!("violations ({}):", outcome.violations.len())),
        "{text}"
    );
    for v in &outcome.violations {
        let line = format!(
            "event {}, process {}, step {}: {}",
            v.event, v.life, v.step, v.detail
        );
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(v.oracle.name()) && l.contains(&line)),
            "{} missing: {text}",
            v.oracle
        );
    }
}

#[test]
fn replay_json_has_the_fixed_schema_and_every_violation() {
    let case = several_violations_case();
    let outcome = run_case(&case).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.json");
    std::fs::write(&file, case.to_json()).unwrap();
    let o = sim(&["replay", file.to_str().unwrap(), "--json", "-"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("stdout is only the JSON");
    assert_eq!(v["schema"], "restore-sim/replay/v1");
    assert_eq!(v["strategy"], "join-async");
    assert_eq!(v["verdict"], "violated");
    assert_eq!(
        v["headline"],
        outcome.first_violation().unwrap().oracle.name()
    );
    assert_eq!(v["trace_hash"], outcome.trace_hash().to_string());
    assert_eq!(v["events"], outcome.trace.events.len());
    let listed = v["violations"].as_array().unwrap();
    assert_eq!(listed.len(), outcome.violations.len());
    for (got, want) in listed.iter().zip(&outcome.violations) {
        assert_eq!(got["oracle"], want.oracle.name());
        assert_eq!(got["event"], want.event);
        assert_eq!(got["process"], want.life);
        assert_eq!(got["step"], want.step);
        assert_eq!(got["detail"], want.detail.as_str());
    }
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let mut want = vec![
        "schema",
        "seed",
        "strategy",
        "store",
        "verdict",
        "headline",
        "violations",
        "events",
        "processes",
        "steps",
        "completed",
        "trace_hash",
    ];
    want.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, want);
}

#[test]
fn replay_json_of_a_passing_case_says_pass() {
    // A fault-free case under the safe strategy: nothing can fire.
    let case = harness::case::Case::small(CommitStrategy::Pipelined, 6, &[3]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.json");
    std::fs::write(&file, case.to_json()).unwrap();
    let json = dir.path().join("out.json");
    let o = sim(&[
        "replay",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("all oracles held"), "{}", stdout(&o));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert!(v["headline"].is_null());
    assert_eq!(v["violations"].as_array().unwrap().len(), 0);
    assert_eq!(v["completed"], true);
}

#[test]
fn help_opens_with_what_the_tool_does_and_the_main_job() {
    let o = sim(&["--help"]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("Finds, replays and measures bugs"),
        "first line: {first}"
    );
    assert!(!text.contains("top of the crate graph"), "{text}");
    let main_job = text.find("default sweep").expect("names the main job");
    let commands = text.find("Commands:").expect("lists commands");
    assert!(main_job < commands, "the main job comes before the list");
}

/// `replay --seed 1 --strategy join-async` plus `extra`.
fn seed1(extra: &[&str]) -> std::process::Output {
    sim(&[
        &["replay", "--seed", "1", "--strategy", "join-async"][..],
        extra,
    ]
    .concat())
}

/// The event count the verdict line gives: `... (1109 events, ...`.
fn events_of(text: &str) -> usize {
    text.lines()
        .next()
        .and_then(|l| {
            l.split(" events, ")
                .next()?
                .rsplit('(')
                .next()?
                .parse()
                .ok()
        })
        .expect("the verdict line gives the event count")
}

/// Seed 1 under join-async, the first case a developer meets: a trace of over a thousand events,
/// mostly recovery probes. By default the replay leads with the verdict and the case and folds
/// the probes, so the whole output fits in 200 lines; `--full` prints every event.
#[test]
fn replay_leads_with_the_verdict_and_folds_probe_runs() {
    let o = seed1(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 200, "{} lines:\n{text}", lines.len());
    assert!(
        lines[0].starts_with("case seed 1 strategy join-async: "),
        "{}",
        lines[0]
    );
    let violated = lines[0].contains(": VIOLATED ");
    assert_eq!(
        lines[1].starts_with("violations ("),
        violated,
        "{}",
        lines[1]
    );
    // The head comes before the timeline: case, hash, commands, durable state.
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in\n{text}"))
    };
    assert!(pos("case:\n") < pos("timeline ("));
    assert!(
        pos("reproduce:  restore-sim replay --seed 1 --strategy join-async\n") < pos("timeline (")
    );
    if violated {
        assert!(pos("durable at event") < pos("timeline ("));
    }
    assert!(text.contains("node-read ×"), "the recovery probes fold");

    // Seed 2 is join-async's progress-divergence witness (`harness/src/witnesses.rs`: node
    // batch #2 fails while KV commits chunk 3): its head names the oracle, and what was durable
    // there comes before the timeline.
    let two = stdout(&sim(&["replay", "--seed", "2", "--strategy", "join-async"]));
    assert!(
        two.starts_with("case seed 2 strategy join-async: VIOLATED progress-divergence at event "),
        "{two}"
    );
    assert!(two.find("durable at event").unwrap() < two.find("timeline (").unwrap());

    let full = stdout(&seed1(&["--full"]));
    // Every event on a line of its own, plus the head and the closing verdict.
    assert!(
        full.lines().count() > events_of(&text),
        "{}",
        full.lines().count()
    );
    assert!(!full.contains(" ×"), "nothing folds with --full");
}

#[test]
fn replay_at_shows_what_was_durable_and_rejects_an_event_past_the_trace() {
    let events = events_of(&stdout(&seed1(&["--quiet"])));
    let o = seed1(&["--at", "5", "--at", "100"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("durable at event 5 "), "{text}");
    // An event asked for is never folded away: it has a line of its own.
    for n in ["5", "100"] {
        assert!(
            text.lines().any(|l| l.split_whitespace().next() == Some(n)),
            "no line for event {n}\n{text}"
        );
    }
    // `--quiet` keeps the durable blocks, drops the timeline.
    let quiet = stdout(&seed1(&["--at", "5", "--quiet"]));
    assert!(
        quiet.contains("durable at event 5 ") && !quiet.contains("timeline ("),
        "{quiet}"
    );
    let past = events.to_string();
    let o = seed1(&["--at", &past]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains(&format!("--at {past}: the trace has {events} events")),
        "{}",
        stderr(&o)
    );
}

/// A reader that closes the pipe at once (`replay ... | head -0`): the page is still written,
/// and the command ends with an error message and exit code 2, not a panic (101).
#[test]
fn a_closed_pipe_is_an_error_and_the_page_is_still_written() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("run.html");
    let mut child = Command::new(env!("CARGO_BIN_EXE_restore-sim"))
        .args([
            "replay",
            "--seed",
            "1",
            "--strategy",
            "join-async",
            "--html",
        ])
        .arg(&page)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the read end closes before the replay writes a byte
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("writing to standard output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let html = std::fs::read_to_string(&page).expect("the page was written first");
    assert!(html.ends_with("</html>\n"));
}
