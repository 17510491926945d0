//! The model checker shares fault sets out among threads and merges their results in set order:
//! nothing it reports — verdict, counts, counterexample — may depend on how many threads ran.

mod support;

use harness::case::Case;
use harness::check::{self, Bounds, Options, Report, Verdict};
use harness::oracle::Oracle;
use restore_core::store::Layout;
use restore_core::strategy::CommitStrategy;

fn tiny(strategy: CommitStrategy, keys: usize, chunks: usize) -> Case {
    support::checker_case(strategy, Layout::Aptos, keys, chunks)
}

fn run(case: &Case, bounds: &Bounds, want: Option<Oracle>, threads: usize) -> Report {
    check::check_with(
        case,
        bounds,
        Options {
            want,
            threads,
            ..Options::default()
        },
    )
    .unwrap()
}

#[test]
fn a_verified_search_counts_the_same_on_one_thread_and_on_three() {
    let case = tiny(CommitStrategy::Pipelined, 1, 2);
    let bounds = Bounds {
        crashes: 1,
        faults: 1,
        ..Bounds::default()
    };
    let one = run(&case, &bounds, None, 1);
    let three = run(&case, &bounds, None, 3);
    assert!(
        matches!(one.verdict, Verdict::Verified),
        "{:?}",
        one.verdict
    );
    assert!(matches!(three.verdict, Verdict::Verified));
    // Evidence that there was something to share: several fault sets, each with executions.
    assert!(one.stats.fault_sets > 3, "{:?}", one.stats);
    assert!(one.stats.executions > one.stats.fault_sets);
    assert_eq!(one.stats, three.stats);
}

#[test]
fn the_first_counterexample_is_the_same_on_any_number_of_threads() {
    // join-async writes KV rows of a chunk before its proof verifies (D2): a corrupted
    // delivery or a failed verification is the fault that shows it, in some later fault set,
    // while earlier sets are clean. Every thread count must report that same set's case.
    let case = tiny(CommitStrategy::JoinAsync, 1, 1);
    let bounds = Bounds {
        crashes: 0,
        faults: 1,
        ..Bounds::default()
    };
    let want = Some(Oracle::VerifiedOnly);
    let one = run(&case, &bounds, want, 1);
    let two = run(&case, &bounds, want, 2);
    let (Verdict::Counterexample(a), Verdict::Counterexample(b)) = (&one.verdict, &two.verdict)
    else {
        panic!(
            "expected counterexamples: {:?} / {:?}",
            one.verdict, two.verdict
        );
    };
    assert_eq!(a.oracle, Oracle::VerifiedOnly);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.case.to_json(), b.case.to_json());
    assert_eq!(one.stats, two.stats);
    // The counterexample is not in the fault-free set: merging in order had work to do.
    assert!(one.stats.fault_sets > 1, "{:?}", one.stats);
}
