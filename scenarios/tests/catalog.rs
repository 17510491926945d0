//! The scenario catalog as a specification: every entry runs under every strategy and must give
//! its expected verdict; the table itself must be well formed (names, one expectation per
//! strategy, every oracle covered, the safe strategies clean); the timelines of the
//! known-defect entries are golden files under `tests/snapshots/`.
//!
//! Golden files: a changed timeline fails `golden_timelines`. To accept a deliberate change,
//! run `INSTA_UPDATE=always cargo test -p scenarios --test catalog golden` and review the diff
//! of `scenarios/tests/snapshots/` before committing it. Under `CI=true` nothing is written.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use harness::case::Case;
use harness::expect::{PolicyClass, cell};
use harness::fault::{CrashKind, Effect};
use harness::oracle::Oracle;
use harness::run::{Outcome, run_case};
use harness::trace::{DriverStep, Op, Point, Res};
use restore_core::store::SyncPolicy;
use restore_core::strategy::{CommitStrategy, Safety};
use scenarios::{Expected, Scenario, ScenarioRun, catalog};

/// Every scenario under every strategy it has an expectation for.
fn run_all() -> Vec<(Scenario, Vec<ScenarioRun>)> {
    catalog::all()
        .into_iter()
        .map(|s| {
            let runs = s
                .run()
                .unwrap_or_else(|e| panic!("scenario {} could not run: {e}", s.name));
            (s, runs)
        })
        .collect()
}

fn describe(s: &Scenario, strategy: CommitStrategy, o: &Outcome) -> String {
    let violations: Vec<String> = o
        .violations
        .iter()
        .map(|v| format!("{} at event {}: {}", v.oracle, v.event, v.detail))
        .collect();
    format!(
        "    violations: {violations:#?}\n    replay: restore-sim scenario run {} --timeline\n    case:\n{}",
        s.name,
        s.case_for(strategy).to_json()
    )
}

#[test]
fn every_scenario_gives_its_expected_verdict_under_every_strategy() {
    let mut mismatches = Vec::new();
    let mut runs = 0;
    for (s, rs) in run_all() {
        for r in rs {
            runs += 1;
            if !r.as_expected() {
                mismatches.push(format!(
                    "{} under {}: expected {}, got {}\n{}",
                    s.name,
                    r.strategy,
                    r.expected,
                    r.got(),
                    describe(&s, r.strategy, &r.outcome)
                ));
            }
        }
    }
    assert!(runs > 0, "the catalog is empty");
    assert!(
        mismatches.is_empty(),
        "{} of {runs} runs are not as expected:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}

#[test]
fn the_safe_strategies_are_expected_to_pass_every_scenario_and_do() {
    let mut bad = Vec::new();
    for (s, rs) in run_all() {
        // Relaxed writes across databases: the safe strategies may show what their cell allows.
        let class = PolicyClass::of(&s.case.durability);
        for r in rs.iter().filter(|r| r.strategy.safety() == Safety::Safe) {
            let allowed = cell(r.strategy, class).known;
            if !allowed.is_empty() {
                let fired: Vec<Oracle> = r.outcome.violations.iter().map(|v| v.oracle).collect();
                if let Some(o) = fired.iter().find(|o| !allowed.contains(o)) {
                    bad.push(format!(
                        "{} under {}: {o} fired, which {} does not allow\n{}",
                        s.name,
                        r.strategy,
                        class.name(),
                        describe(&s, r.strategy, &r.outcome)
                    ));
                }
                continue;
            }
            if r.expected != Expected::Pass {
                bad.push(format!(
                    "{} expects {} under the safe strategy {}",
                    s.name, r.expected, r.strategy
                ));
            }
            // Stronger than the headline: no oracle fires at all.
            if !r.outcome.passed() {
                bad.push(format!(
                    "{} under {}: BUG in a safe strategy\n{}",
                    s.name,
                    r.strategy,
                    describe(&s, r.strategy, &r.outcome)
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}

/// A scenario that plans a crash, a fault or a corruption that never happens tests nothing of
/// what its `about` says (crash steps in particular must land on a scheduling point of every
/// strategy's first process).
#[test]
fn every_planned_crash_fault_and_corruption_happens_under_every_strategy() {
    let mut bad = Vec::new();
    for (s, rs) in run_all() {
        let plan = &s.case.faults;
        // A store that syncs may give a power loss nothing to take, and a store of several
        // databases may resume past the chunk whose re-delivery is corrupted (Aptos resumes from
        // the tree): the durability scenarios assert what happened themselves.
        let synced = s.case.durability.sync != SyncPolicy::Relaxed;
        let loses_writes = !synced
            && s.case.durability.is_legacy()
            && !plan.crashes.is_empty()
            && (plan
                .crashes
                .iter()
                .any(|c| matches!(c.kind, CrashKind::PowerLoss { .. }))
                || plan.faults.iter().any(|f| f.effect == Effect::AckThenLost));
        let corrupted: u32 = if synced || !s.case.durability.is_legacy() {
            0
        } else {
            plan.corruptions.iter().map(|c| c.deliveries).sum()
        };
        for r in rs {
            let c = r.outcome.counters;
            let mut why = Vec::new();
            if (c.crashes as usize) < plan.crashes.len() {
                why.push(format!("{} of {} crashes", c.crashes, plan.crashes.len()));
            }
            if (c.faults_injected as usize) < plan.faults.len() {
                why.push(format!(
                    "{} of {} faults injected",
                    c.faults_injected,
                    plan.faults.len()
                ));
            }
            if loses_writes && c.lost_writes == 0 {
                why.push("no write was lost in the crash".to_string());
            }
            if c.corrupted_deliveries < corrupted {
                why.push(format!(
                    "{} of {corrupted} corrupted deliveries",
                    c.corrupted_deliveries
                ));
            }
            if !why.is_empty() {
                bad.push(format!(
                    "{} under {}: {}",
                    s.name,
                    r.strategy,
                    why.join(", ")
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

fn is_kebab_case(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[test]
fn names_are_unique_kebab_case_and_every_about_is_one_line() {
    let all = catalog::all();
    let mut seen = BTreeSet::new();
    for s in &all {
        assert!(is_kebab_case(s.name), "`{}` is not kebab-case", s.name);
        assert!(seen.insert(s.name), "`{}` appears twice", s.name);
        assert!(
            !s.about.trim().is_empty() && !s.about.contains('\n'),
            "{}: about must be one non-empty line",
            s.name
        );
        assert!(
            scenarios::find(s.name).is_some_and(|f| f.name == s.name),
            "find({}) does not return it",
            s.name
        );
    }
    for bad in ["Audit-race", "audit_race", "-audit", "audit-", "a--b", ""] {
        assert!(!is_kebab_case(bad), "`{bad}` passed the kebab-case check");
    }
    assert!(scenarios::find("no-such-scenario").is_none());
}

#[test]
fn every_scenario_has_exactly_one_expectation_per_strategy() {
    for s in catalog::all() {
        let strategies: Vec<CommitStrategy> = s.expect.iter().map(|(st, _)| *st).collect();
        assert_eq!(
            strategies,
            CommitStrategy::ALL.to_vec(),
            "{}: one expectation per strategy, in CommitStrategy::ALL order",
            s.name
        );
    }
}

#[test]
fn every_cell_has_a_reason_of_its_own() {
    for s in catalog::all() {
        let strategies: Vec<CommitStrategy> = s.why.iter().map(|(st, _)| *st).collect();
        assert_eq!(strategies, CommitStrategy::ALL.to_vec(), "{}", s.name);
        for (st, why) in &s.why {
            // A reason is a sentence about the code path, not a placeholder or the verdict.
            assert!(
                why.split_whitespace().count() >= 5,
                "{} under {st}: the reason `{why}` is too short to say why",
                s.name
            );
        }
    }
}

#[test]
fn every_oracle_is_the_headline_of_some_known_bad_expectation() {
    let all = catalog::all();
    for oracle in Oracle::ALL {
        let witnesses: Vec<String> = all
            .iter()
            .flat_map(|s| {
                s.expect
                    .iter()
                    .filter(|(_, e)| *e == Expected::Violates(oracle))
                    .map(|(st, _)| format!("{} under {st}", s.name))
            })
            .collect();
        assert!(
            !witnesses.is_empty(),
            "no scenario expects {oracle} as its headline"
        );
    }
}

#[test]
fn the_required_scenarios_are_in_the_catalog() {
    let required = [
        // The audit race and the known defects.
        "audit-race",
        "audit-race-slow-batch",
        "kv-behind-tree-join-sync",
        "d1-stuck-restore",
        "d1-d2-false-success",
        "d2-unverified-kv-bytes",
        "d3-poisoned-reuse",
        "d4-panic-on-drop",
        // Fault kinds.
        "torn-shard-prefix-write",
        "power-loss",
        "failed-but-persisted",
        "acknowledged-then-lost",
        "disk-full-mid-restore",
        // Edge cases.
        "empty-snapshot",
        "one-key",
        "one-key-chunks",
        "long-shared-prefixes",
        "adjacent-keys",
        // Aptos test equivalents.
        "aptos-restore-without-interruption",
        "aptos-restore-with-interruption",
        "aptos-state-sync-varied-chunks",
        "aptos-raw-restore-two-chunks",
    ];
    for name in required {
        assert!(scenarios::find(name).is_some(), "`{name}` is missing");
    }
}

/// The D1+D2 false success: the join strategies report success on a tree that was never
/// restored. The headline may be an earlier finding, so this checks the finding itself.
#[test]
fn the_false_success_is_reported_as_success_with_a_wrong_root() {
    for name in ["d1-d2-false-success", "d1-d2-false-success-two-chunks"] {
        let s = scenarios::find(name).expect("in the catalog");
        for strategy in [CommitStrategy::JoinAsync, CommitStrategy::JoinSync] {
            let c: Case = s.case_for(strategy);
            let o = run_case(&c).expect("runs");
            assert!(
                o.violated(Oracle::HonestResult) && o.violated(Oracle::FinalState),
                "{name} under {strategy}: expected a dishonest success\n{}",
                o.timeline()
            );
        }
    }
}

/// The Aptos interruption test drops the restore after its first batch is durable and resumes
/// with an overlap: the hard-coded crash step must land between the first tree batch and the
/// end of the last chunk under every strategy, and the resumed process must re-feed.
#[test]
fn the_interruption_comes_after_the_first_batch_and_the_restore_resumes() {
    let s = scenarios::find("aptos-restore-with-interruption").expect("in the catalog");
    let last = s.case.chunking.sizes.len() as u32 - 1;
    for strategy in CommitStrategy::ALL {
        let o = run_case(&s.case_for(strategy)).expect("runs");
        let ev = &o.trace.events;
        let crash = ev
            .iter()
            .position(|e| matches!(e.what, Point::Crash { .. }))
            .unwrap_or_else(|| panic!("{strategy}: no crash\n{}", o.timeline()));
        let batch_landed = ev[..crash].iter().any(|e| {
            matches!(e.what, Point::After(Op::NodeBatch { .. }, None, Res::Ok))
                && e.chunk == Some(0)
        });
        let last_done = ev[..crash].iter().any(|e| {
            e.chunk == Some(last) && matches!(e.what, Point::Driver(DriverStep::ChunkDone(_)))
        });
        assert!(
            batch_landed && !last_done,
            "{strategy}: the crash must come after batch 0 and before the last chunk\n{}",
            o.timeline()
        );
        let resumed = ev[crash..].iter().find_map(|e| match e.what {
            Point::Driver(DriverStep::Opened { resume_chunk }) => Some(resume_chunk),
            _ => None,
        });
        assert!(
            resumed.is_some_and(|r| r <= last),
            "{strategy}: the restart must re-feed a chunk, resumed at {resumed:?}\n{}",
            o.timeline()
        );
        assert!(o.completed, "{strategy}\n{}", o.timeline());
    }
}

#[test]
fn golden_scenarios_are_known_bad_under_their_golden_strategy() {
    let golden: Vec<Scenario> = catalog::all().into_iter().filter(|s| s.golden).collect();
    assert!(!golden.is_empty(), "no golden scenarios");
    for s in &golden {
        let st = s.golden_strategy().expect("golden");
        assert_eq!(st.safety(), Safety::Aptos, "{}: golden under {st}", s.name);
        assert!(
            matches!(s.expected(st), Some(Expected::Violates(_))),
            "{}: the golden strategy {st} must be expected to violate an oracle",
            s.name
        );
    }
    for s in catalog::all().iter().filter(|s| !s.golden) {
        assert_eq!(s.golden_strategy(), None, "{}", s.name);
    }
}

fn snapshot_name(s: &Scenario, strategy: CommitStrategy) -> String {
    format!("{}@{}", s.name, strategy)
}

#[test]
fn golden_timelines() {
    let mut failed = Vec::new();
    for s in catalog::all().into_iter().filter(|s| s.golden) {
        let strategy = s.golden_strategy().expect("golden");
        let outcome = run_case(&s.case_for(strategy)).expect("runs");
        let name = snapshot_name(&s, strategy);
        let timeline = outcome.timeline();
        // Check every golden file, then report all that differ.
        let r = catch_unwind(AssertUnwindSafe(|| {
            insta::assert_snapshot!(name.clone(), timeline);
        }));
        if r.is_err() {
            failed.push(name);
        }
    }
    assert!(
        failed.is_empty(),
        "golden timelines differ (diffs above): {}",
        failed.join(", ")
    );
}

/// No stale golden file outlives its scenario, and every golden scenario has its file.
#[test]
fn golden_files_match_the_golden_scenarios() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|f| f.starts_with("catalog__") && f.ends_with(".snap"))
        .collect();
    let wanted: BTreeSet<String> = catalog::all()
        .iter()
        .filter_map(|s| {
            s.golden_strategy()
                .map(|st| format!("catalog__{}.snap", snapshot_name(s, st)))
        })
        .collect();
    assert_eq!(files, wanted, "golden files in {}", dir.display());
}
