//! The scheduler silences the panic hook while a simulated process runs (task panics are
//! findings, reported by no-panic). After the process it must be loud again, or every later
//! panic on the thread — a failing assertion in a test, for one — vanishes without a message.
//!
//! Its own test binary: the panic hook is process-wide, and this test must install its
//! recording hook before any simulated process installs the quiet one on top.

mod support;

use std::panic::catch_unwind;
use std::sync::atomic::{AtomicU32, Ordering};

use harness::run::run_case;
use restore_core::strategy::CommitStrategy;

static HOOK_CALLS: AtomicU32 = AtomicU32::new(0);

/// Regression: `sim::run_process` used to leave the hook silenced (fixed in a06f4a0).
#[test]
fn panics_after_a_simulated_process_still_reach_the_panic_hook() {
    std::panic::set_hook(Box::new(|_| {
        HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
    }));
    let _ = catch_unwind(|| panic!("before any simulated process"));
    assert_eq!(HOOK_CALLS.load(Ordering::SeqCst), 1, "control");

    let c = support::case(CommitStrategy::Pipelined, &[2, 2]);
    let o = run_case(&c).expect("runs");
    assert!(o.passed());

    let _ = catch_unwind(|| panic!("after the simulated process ended"));
    let calls = HOOK_CALLS.load(Ordering::SeqCst);
    // Loud again before asserting, so a failure here is not silenced by the bug it reports.
    harness::sim::set_quiet_panics(false);
    assert_eq!(
        calls, 2,
        "a panic after run_case returned never reached the panic hook"
    );
}
