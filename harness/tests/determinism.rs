//! Determinism: a case is a pure function of its description. Running it twice, replaying its
//! recorded scheduling decisions, and reading it back from its case file all give the same trace
//! hash; and a deliberately nondeterministic store is caught, with the first differing event
//! named.

mod support;

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use harness::case::{Case, GenConfig};
use harness::run::{self, Divergence, Outcome, check_determinism, compare, run_on_store};
use harness::sim::PolicyKind;
use restore_core::node::{LeafNode, Node, NodeKey, NodeShard};
use restore_core::store::{KvStore, MemStore, StoreError, StoreResult, TreeStore};
use restore_core::strategy::CommitStrategy;
use restore_core::{KeyHash, Progress, StateItem, Usage, Version};
use support::{report, run};

/// Seed `seed` of a mix of every strategy.
fn mixed(seed: u64) -> Case {
    let all = CommitStrategy::ALL;
    Case::generate(
        seed,
        all[(seed % all.len() as u64) as usize],
        &GenConfig::default(),
    )
}

#[test]
fn random_cases_run_twice_give_identical_traces() {
    let mut faulty = 0;
    for seed in 0..1_000 {
        let c = mixed(seed);
        match check_determinism(&c).expect("runs") {
            Ok(_) => {}
            Err(d) => panic!("seed {seed} is nondeterministic: {d:?}\n{}", c.to_json()),
        }
        faulty += u32::from(!c.faults.is_empty());
    }
    // The sample covers faulty cases, not just clean ones.
    assert!(faulty > 100, "{faulty}");
}

/// The same case with its schedule replaced by a replay of `decisions`.
fn replaying(c: &Case, decisions: Vec<u16>) -> Case {
    Case {
        schedule: PolicyKind::Replay { decisions },
        ..c.clone()
    }
}

#[test]
fn replaying_recorded_decisions_reproduces_the_trace() {
    // Decisions are recorded per process (`Outcome::decisions[life]`), but one policy object
    // serves every process of a run, crashes and the faults-off restart included, so the
    // concatenation is exactly the sequence the policy was asked for.
    let mut multi_process = 0;
    let mut schedule_matters = 0;
    for seed in 0..500 {
        let c = mixed(seed);
        let o = run(&c);
        assert_eq!(o.decisions.len(), o.stops.len(), "one record per process");
        let recorded = o.decisions.concat();
        assert_eq!(recorded.len() as u64, o.counters.decisions);
        let r = run(&replaying(&c, recorded.clone()));
        if let Err(d) = compare(&o, &r) {
            panic!(
                "seed {seed}: replay diverged at {d:?}\noriginal:\n{}\nreplay:\n{}",
                report(&c, &o),
                r.timeline()
            );
        }
        assert_eq!(r.decisions.concat(), recorded, "seed {seed}");
        multi_process += u32::from(o.decisions.iter().filter(|d| !d.is_empty()).count() > 1);
        // Control: replaying nothing (always the lowest runnable task) usually differs, so the
        // replay is really what reproduces the schedule.
        if !recorded.is_empty() && recorded.iter().any(|&d| d != 0) {
            let natural = run(&replaying(&c, Vec::new()));
            schedule_matters += u32::from(natural.trace_hash() != o.trace_hash());
        }
    }
    assert!(multi_process > 20, "{multi_process}");
    assert!(schedule_matters > 100, "{schedule_matters}");
}

#[test]
fn a_case_read_back_from_its_file_replays_with_the_same_hash() {
    for seed in 0..200 {
        let c = mixed(seed);
        let text = c.to_json();
        let back = Case::from_json(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        assert_eq!(back, c, "seed {seed}");
        let (a, b) = (run(&c), run(&back));
        assert_eq!(a.trace_hash(), b.trace_hash(), "seed {seed}\n{text}");
        assert_eq!(a.violations, b.violations, "seed {seed}");
    }
}

// ---------------------------------------------------------------------------------------------
// A deliberately nondeterministic store.

/// How the flaky store misbehaves.
#[derive(Clone, Copy)]
enum Flake {
    /// Every store after the first fails one progress read.
    FailOnLaterRuns,
    /// Every store fails one progress read, with the global count of such failures in the
    /// message.
    CountInMessage,
}

/// The progress read that misbehaves (the faulty store's own probe on construction is the
/// first, the open's is the second, the KV side of chunk 0 makes the third).
const FLAKY_READ: u64 = 3;

/// MemStore plus behaviour that depends on process-wide state persisting across runs.
struct FlakyStore {
    inner: MemStore,
    flake: Flake,
    instance: u64,
    progress_reads: AtomicU64,
}

/// Stores created so far, per test (each test uses its own counters).
static FAIL_ON_LATER_RUNS_CREATED: AtomicU64 = AtomicU64::new(0);
static COUNT_IN_MESSAGE_FAILURES: AtomicU64 = AtomicU64::new(0);

impl FlakyStore {
    fn new(flake: Flake) -> FlakyStore {
        let instance = match flake {
            Flake::FailOnLaterRuns => FAIL_ON_LATER_RUNS_CREATED.fetch_add(1, Ordering::SeqCst),
            Flake::CountInMessage => 0,
        };
        FlakyStore {
            inner: MemStore::new(),
            flake,
            instance,
            progress_reads: AtomicU64::new(0),
        }
    }
}

impl TreeStore for FlakyStore {
    fn write_node_shard(&self, shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()> {
        self.inner.write_node_shard(shard, nodes)
    }

    fn get_node(&self, key: &NodeKey) -> StoreResult<Option<Node>> {
        self.inner.get_node(key)
    }

    fn rightmost_leaf(&self, version: Version) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        self.inner.rightmost_leaf(version)
    }

    fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>> {
        self.inner.nodes_at(version)
    }
}

impl KvStore for FlakyStore {
    fn write_kv_batch(
        &self,
        version: Version,
        rows: &[StateItem],
        progress: Option<&Progress>,
    ) -> StoreResult<()> {
        self.inner.write_kv_batch(version, rows, progress)
    }

    fn get_progress(&self, version: Version) -> StoreResult<Option<Progress>> {
        let n = self.progress_reads.fetch_add(1, Ordering::SeqCst) + 1;
        if n == FLAKY_READ {
            match self.flake {
                Flake::FailOnLaterRuns if self.instance > 0 => {
                    return Err(StoreError::Backend("flaky read".into()));
                }
                Flake::CountInMessage => {
                    let k = COUNT_IN_MESSAGE_FAILURES.fetch_add(1, Ordering::SeqCst);
                    return Err(StoreError::Backend(format!("flaky read #{k}")));
                }
                Flake::FailOnLaterRuns => {}
            }
        }
        self.inner.get_progress(version)
    }

    fn get_value(&self, version: Version, key_hash: &KeyHash) -> StoreResult<Option<StateItem>> {
        self.inner.get_value(version, key_hash)
    }

    fn kv_rows(&self, version: Version) -> StoreResult<Vec<StateItem>> {
        self.inner.kv_rows(version)
    }

    fn write_usage(&self, version: Version, usage: &Usage) -> StoreResult<()> {
        self.inner.write_usage(version, usage)
    }

    fn get_usage(&self, version: Version) -> StoreResult<Option<Usage>> {
        self.inner.get_usage(version)
    }
}

/// Runs `c` twice, each time over a fresh flaky store, and compares.
fn run_flaky_twice(c: &Case, flake: Flake) -> (Outcome, Outcome, Result<(), Divergence>) {
    let (snapshot, chunks) = c.materialize();
    let (snapshot, chunks) = (Rc::new(snapshot), Rc::new(chunks));
    let once = || {
        run_on_store(
            c,
            Rc::clone(&snapshot),
            Rc::clone(&chunks),
            Arc::new(FlakyStore::new(flake)),
        )
        .expect("runs")
    };
    let a = once();
    let b = once();
    let d = run::compare(&a, &b).map(|_| ());
    (a, b, d)
}

/// Checks that `d` names the first event at which the traces differ, with both lines.
fn assert_names_first_difference(a: &Outcome, b: &Outcome, d: &Divergence) {
    let (ea, eb) = (&a.trace.events, &b.trace.events);
    assert!(
        ea.iter().zip(eb).take(d.event).all(|(x, y)| x == y),
        "events before {} must agree",
        d.event
    );
    assert_ne!(
        ea.get(d.event),
        eb.get(d.event),
        "event {} differs",
        d.event
    );
    let (first, second) = (
        d.first.as_deref().expect("first run's line"),
        d.second.as_deref().expect("second run's line"),
    );
    assert_ne!(first, second);
    assert_eq!(first, ea[d.event].to_string());
    assert_eq!(second, eb[d.event].to_string());
}

/// A small fault-free case: the only source of difference is the store.
fn plain_case() -> Case {
    support::case(CommitStrategy::Pipelined, &[3, 3, 3])
}

#[test]
fn a_store_that_fails_only_on_the_second_run_is_caught() {
    let c = plain_case();
    let (a, b, d) = run_flaky_twice(&c, Flake::FailOnLaterRuns);
    let d = d.expect_err("the second run must differ");
    assert_names_first_difference(&a, &b, &d);
    // The first difference is the result of the flaky read itself.
    let (first, second) = (d.first.unwrap(), d.second.unwrap());
    assert!(first.contains("progress-read -> ok"), "{first}");
    assert!(
        second.contains("progress-read -> ERR") && second.contains("flaky read"),
        "{second}"
    );
    assert!(a.passed(), "{}", a.timeline());
}

#[test]
fn a_store_whose_error_message_changes_between_runs_is_caught() {
    let c = plain_case();
    let (a, b, d) = run_flaky_twice(&c, Flake::CountInMessage);
    let d = d.expect_err("only the message differs, and the hash covers it");
    assert_names_first_difference(&a, &b, &d);
    let (first, second) = (d.first.unwrap(), d.second.unwrap());
    assert!(first.contains("progress-read -> ERR"), "{first}");
    assert!(second.contains("progress-read -> ERR"), "{second}");
    // Same operation, same failure, different text.
    let (ea, eb) = (&a.trace.events[d.event], &b.trace.events[d.event]);
    assert_eq!((ea.life, ea.step, ea.task), (eb.life, eb.step, eb.task));
}

#[test]
fn a_deterministic_store_over_the_same_seam_is_not_flagged() {
    // Control for the two tests above: the same seam (`run_on_store`, fresh stores) with a
    // plain MemStore agrees with itself and with `run_case`.
    let c = plain_case();
    let (snapshot, chunks) = c.materialize();
    let (snapshot, chunks) = (Rc::new(snapshot), Rc::new(chunks));
    let once = || {
        run_on_store(
            &c,
            Rc::clone(&snapshot),
            Rc::clone(&chunks),
            Arc::new(MemStore::new()),
        )
        .expect("runs")
    };
    let (a, b) = (once(), once());
    assert_eq!(compare(&a, &b), Ok(a.trace_hash()));
    assert_eq!(run(&c).trace_hash(), a.trace_hash());
}
