//! Hand-written cases for the sharper oracles and the new fault dimensions: each fires on the
//! strategy it should, at the event it should, and is silent on the safe strategies.
//!
//! * verified-only at the store seam: a corrupted chunk's bytes are caught as they are written,
//!   even when a power loss erases them before anything else could see them;
//! * a corrupted *re-delivery* (corruption of the k-th delivery, not the first): tree-then-kv
//!   writes unverified bytes, which the old table said it could not;
//! * chunk-exact progress-divergence: KV two small chunks ahead passes the key bound, not this.

use harness::case::{Case, GenConfig, LayoutCase, SnapshotCase};
use harness::fault::{Corruption, Crash, CrashAt, CrashKind, Effect, Fault, TamperKind, Target};
use harness::oracle::{Oracle, Violation};
use harness::run::{Outcome, run_case};
use harness::trace::{DriverStep, Op, Point};
use restore_core::strategy::CommitStrategy::{self, *};

const SAFE: [CommitStrategy; 2] = [VerifyKvTree, Pipelined];

/// Six keys in chunks of two, the natural schedule, up to four processes.
fn base(strategy: CommitStrategy) -> Case {
    let mut c = Case::small(strategy, 6, &[2]);
    c.snapshot = SnapshotCase {
        seed: 24301,
        keys: 6,
        value_len: (1, 8),
        key_len: (4, 8),
        layout: LayoutCase::Random,
        version: 1,
    };
    c
}

fn corrupt_first_key_of_chunk_1(c: &mut Case, first: u32) {
    c.faults.corruptions.push(Corruption {
        chunk: 1,
        tamper: TamperKind::ChangeValue { item: 0 },
        deliveries: 1,
        first,
    });
}

/// The same case under each safe strategy holds every oracle.
fn assert_safe_pass(c: &Case) {
    for s in SAFE {
        let mut c = c.clone();
        c.strategy = s;
        let o = run_case(&c).unwrap();
        assert!(o.passed(), "{s}: {:?}", o.violations);
    }
}

fn find(o: &Outcome, oracle: Oracle) -> Option<&Violation> {
    o.violations.iter().find(|v| v.oracle == oracle)
}

/// The violation's event is a KV write that landed (its `After` point, result ok).
fn assert_at_kv_write(o: &Outcome, v: &Violation) {
    let e = &o.trace.events[v.event];
    assert!(
        matches!(e.what, Point::After(Op::KvWrite { .. }, _, _)),
        "expected the KV write's completion, got {e}"
    );
}

/// The driver's last `AddChunk` before event `at` in the same process.
fn delivery_before(o: &Outcome, at: usize) -> Option<bool> {
    let life = o.trace.events[at].life;
    o.trace.events[..at]
        .iter()
        .rev()
        .take_while(|e| e.life == life)
        .find_map(|e| match e.what {
            Point::Driver(DriverStep::AddChunk { corrupted, .. }) => Some(corrupted),
            _ => None,
        })
}

#[test]
fn verified_only_fires_at_the_write_even_when_a_power_loss_erases_it() {
    // join-async writes KV in parallel with verification (D2): chunk 1's corrupted first
    // delivery lands in KV before the tree rejects it. The process then loses power and the
    // last write — that KV write — is gone, so the final state is right and only the seam saw
    // the bytes. Step 28 is the first point after the write completes (step 27) under the
    // natural schedule.
    let mut c = base(JoinAsync);
    corrupt_first_key_of_chunk_1(&mut c, 0);
    c.faults.crashes.push(Crash {
        life: 0,
        step: 28,
        kind: CrashKind::power_loss(1),
        at: CrashAt::Start,
    });
    let o = run_case(&c).unwrap();
    let v = find(&o, Oracle::VerifiedOnly).expect("the seam sees the unverified write");
    assert_at_kv_write(&o, v);
    assert_eq!(v.life, 0);
    assert_eq!(
        delivery_before(&o, v.event),
        Some(true),
        "a corrupted delivery"
    );
    assert!(
        !o.violated(Oracle::FinalState),
        "the power loss erased the bad row: only the seam can tell: {:?}",
        o.violations
    );
    assert_safe_pass(&c);
}

#[test]
fn tree_then_kv_writes_a_corrupted_redelivery_unverified() {
    // tree-then-kv: chunk 1's tree batch lands, then its KV write fails (K=2 < T=3). The
    // restart re-feeds chunk 1 — corrupted this time (delivery 1). The tree already has the
    // chunk's first key, skips it and verifies only the rest, which is intact; KV has no
    // progress past key 2 and writes the whole chunk, bad key included.
    let mut c = base(TreeThenKv);
    c.faults.faults.push(Fault {
        target: Target::KvWrite { nth: 1 },
        effect: Effect::IoError,
    });
    corrupt_first_key_of_chunk_1(&mut c, 1);
    let o = run_case(&c).unwrap();
    let head = o.first_violation().expect("K < T first");
    assert_eq!(head.oracle, Oracle::ProgressDivergence);
    assert!(head.detail.contains("behind"), "{}", head.detail);
    let v = find(&o, Oracle::VerifiedOnly).expect("the re-delivered bad key lands in KV");
    assert_at_kv_write(&o, v);
    assert!(v.life >= 1, "only a restart re-delivers the chunk");
    assert_eq!(delivery_before(&o, v.event), Some(true));
    assert!(o.violated(Oracle::FinalState), "the bad row stays");
    assert_safe_pass(&c);
}

#[test]
fn a_corruption_of_a_later_delivery_leaves_the_first_one_good() {
    // With `first: 1` the first delivery of chunk 1 is intact: a fault-free run delivers each
    // chunk once, so nothing is corrupted and every strategy passes.
    for s in CommitStrategy::ALL {
        let mut c = base(s);
        corrupt_first_key_of_chunk_1(&mut c, 1);
        let o = run_case(&c).unwrap();
        assert_eq!(o.counters.corrupted_deliveries, 0, "{s}");
        assert!(o.passed(), "{s}: {:?}", o.violations);
    }
}

#[test]
fn kv_two_small_chunks_ahead_breaks_the_chunk_bound() {
    // Generated join-async seed 2 has chunks [3, 1, 1, 1]. Its KV side commits chunk 3 (K=6)
    // while the tree has completed chunks 0 and 1 only (T=3): two chunks ahead. The key bound
    // K − T ≤ L + 1 = 4 let it pass; the chunk bound allows K ≤ end of chunk 2 = 5.
    let c = Case::generate(2, JoinAsync, &GenConfig::default());
    assert_eq!(
        c.chunking.sizes,
        vec![3, 1, 1, 1],
        "the generator changed seed 2"
    );
    let o = run_case(&c).unwrap();
    let v = find(&o, Oracle::ProgressDivergence).expect("KV two chunks ahead");
    let e = &o.trace.events[v.event];
    assert!(e.k > e.t, "ahead, not behind: {}", v.detail);
    assert!(
        e.k > o.chunk_ends.upper_bound(e.t).unwrap(),
        "K={} beyond the chunk bound at T={}",
        e.k,
        e.t
    );
    assert!(
        e.k - e.t <= e.l + 1,
        "the key bound alone would have passed it (K={}, T={}, L={})",
        e.k,
        e.t,
        e.l
    );
    assert!(v.detail.contains("completed chunk"), "{}", v.detail);
    for s in SAFE {
        let c = Case::generate(2, s, &GenConfig::default());
        let o = run_case(&c).unwrap();
        assert!(o.passed(), "{s}: {:?}", o.violations);
    }
}
