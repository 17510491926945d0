//! `restore-sim scenario`: exit codes, the list table, one line per run with the trace hash,
//! timelines, and case files that read back.

mod support;

use support::{code, sim, stderr, stdout};

use harness::case::Case;
use harness::run::run_case;
use restore_core::strategy::CommitStrategy;
use scenarios::catalog;

#[test]
fn an_unknown_scenario_exits_2_and_names_every_scenario() {
    for args in [
        vec!["scenario", "run", "no-such-scenario"],
        vec!["scenario", "case", "no-such-scenario"],
    ] {
        let o = sim(&args);
        assert_eq!(code(&o), 2, "{args:?}\n{}{}", stdout(&o), stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("unknown scenario `no-such-scenario`"), "{err}");
        for s in catalog::all() {
            assert!(err.contains(s.name), "{} is not listed in: {err}", s.name);
        }
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    }
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        vec!["scenario", "run"],
        vec!["scenario", "run", "audit-race", "--all"],
        vec!["scenario", "run", "--no-such-flag"],
        vec!["scenario", "case", "audit-race", "--strategy", "join-fast"],
    ] {
        let o = sim(&args);
        assert_eq!(code(&o), 2, "{args:?}\n{}{}", stdout(&o), stderr(&o));
    }
}

#[test]
fn run_all_exits_0_with_one_line_per_run_and_the_in_process_trace_hashes() {
    let o = sim(&["scenario", "run", "--all"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    let all = catalog::all();
    let runs: usize = all.iter().map(|s| s.expect.len()).sum();
    assert!(
        out.contains(&format!(
            "{runs} runs of {} scenario(s): {runs} as expected, 0 unexpected",
            all.len()
        )),
        "{out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    for s in &all {
        let at = lines
            .iter()
            .position(|l| *l == s.name)
            .unwrap_or_else(|| panic!("no header line for {}\n{out}", s.name));
        for (i, (strategy, expected)) in s.expect.iter().enumerate() {
            let line = lines[at + 1 + i];
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words[0], strategy.name(), "{line}");
            assert!(line.contains(&format!("expected {expected} ")), "{line}");
            assert!(!line.contains("UNEXPECTED"), "{line}");
            assert_eq!(words[words.len() - 2], "trace", "{line}");
        }
    }
    // The hashes printed are the hashes of the same runs made in this process.
    let s = scenarios::find("d4-panic-on-drop").expect("in the catalog");
    for strategy in CommitStrategy::ALL {
        let h = run_case(&s.case_for(strategy)).expect("runs").trace_hash();
        let line = lines
            .iter()
            .skip_while(|l| **l != s.name)
            .find(|l| l.split_whitespace().next() == Some(strategy.name()))
            .expect("a line per strategy");
        assert!(line.ends_with(&format!("trace {h}")), "{line} vs {h}");
    }
}

#[test]
fn run_one_with_timeline_prints_each_runs_timeline() {
    let o = sim(&["scenario", "run", "audit-race", "--timeline"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(out.starts_with("audit-race\n"), "{out}");
    assert!(
        out.contains("6 runs of 1 scenario(s): 6 as expected, 0 unexpected"),
        "{out}"
    );
    // One timeline per strategy (every run opens the restore first), and the known-bad one
    // ends with its violation.
    let lines: Vec<&str> = out.lines().collect();
    for strategy in CommitStrategy::ALL {
        let at = lines
            .iter()
            .position(|l| l.split_whitespace().next() == Some(strategy.name()))
            .unwrap_or_else(|| panic!("no line for {strategy}\n{out}"));
        // The timeline's heading, then its first event: number 0, process 0 step 1.
        let (head, first) = (lines[at + 1], lines[at + 2]);
        let mut words = first.split_whitespace();
        assert!(
            head.starts_with("timeline (")
                && words.next() == Some("0")
                && words.next() == Some("0.1")
                && first.contains("driver Open"),
            "the timeline follows the line of {strategy}: {head} / {first}"
        );
    }
    assert_eq!(out.matches("VIOLATION ").count(), 1, "{out}");
    assert!(out.contains("VIOLATION progress-divergence"), "{out}");
    assert!(out.contains(">> "), "the bad step is marked\n{out}");

    let quiet = stdout(&sim(&["scenario", "run", "audit-race"]));
    assert!(!quiet.contains("VIOLATION"), "{quiet}");
    assert_eq!(quiet.lines().count(), 1 + 6 + 1, "{quiet}");
}

#[test]
fn list_shows_every_scenario_with_its_expected_verdicts_and_about() {
    let o = sim(&["scenario", "list"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    let names: Vec<&str> = CommitStrategy::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(header[1..], names[..], "{}", lines[0]);
    for s in catalog::all() {
        let at = lines
            .iter()
            .position(|l| l.split_whitespace().next() == Some(s.name))
            .unwrap_or_else(|| panic!("{} is not listed\n{out}", s.name));
        let cells: Vec<&str> = lines[at].split_whitespace().skip(1).collect();
        // The golden strategy's cell is starred.
        let want: Vec<String> = s
            .expect
            .iter()
            .map(|(st, e)| {
                let star = if s.golden_strategy() == Some(*st) {
                    "*"
                } else {
                    ""
                };
                format!("{}{star}", e.short())
            })
            .collect();
        assert_eq!(cells, want, "{}", lines[at]);
        assert!(
            !lines[at].ends_with(' '),
            "trailing blanks: {:?}",
            lines[at]
        );
        assert_eq!(lines[at + 1].trim(), s.about, "{out}");
    }
}

#[test]
fn case_prints_a_case_file_that_reads_back() {
    let s = scenarios::find("d3-poisoned-reuse").expect("in the catalog");
    for (args, strategy) in [
        (vec!["scenario", "case", s.name], s.case.strategy),
        (
            vec!["scenario", "case", s.name, "--strategy", "pipelined"],
            CommitStrategy::Pipelined,
        ),
    ] {
        let o = sim(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let c = Case::from_json(&stdout(&o)).expect("a valid case file");
        assert_eq!(c, s.case_for(strategy));
    }
}
