//! Fuzzing case files through the path `restore-sim replay FILE` takes: `Case::from_json`, then
//! `run_case`. Every input must end in a run (all oracles held, or a violation — a verdict about
//! the restore, including a `no-panic` finding for a panic caught inside the simulation) or a
//! clean `CaseError` / `RunError`. A panic or an abort of the tool fails the test: nothing here
//! catches unwinds, so the process dies with the offending input printed by [`Current`].
//!
//! Two sources, both deterministic and both counted in cases, never in time:
//! * `proptest` builds typed cases, mostly small and valid, with fields now and then at or just
//!   past their limit or at a type's extreme; failures are kept in
//!   `tests/proptest-regressions/case_fuzz.txt` and replayed first on the next run.
//! * The regression corpus (and a few generated cases) mutated as JSON by a seeded ChaCha
//!   stream: fields replaced by extreme values (0, −1, 2^31, 2^63−1, u64::MAX, 1e300, strings,
//!   arrays, null, every limit and one past it), fields deleted, arrays stretched past their
//!   limits, enum tags swapped, bytes flipped, inserted and cut.
//!
//! Work is bounded per case by construction (the limits); the test checks the evidence: every
//! case that runs is within the documented limits and took at most `MAX_CASE_STEPS` scheduling
//! steps and `MAX_LIVES + 1` processes, a limit error names the field that was mutated, and each
//! outcome class was reached many times, so the test cannot pass on zero evidence.

use std::collections::BTreeMap;
use std::path::Path;

use harness::case::{
    CASE_FORMAT, Case, CaseError, ChunkingCase, DriverPolicy, GenConfig, LayoutCase, OnError,
    RestorePlan, SnapshotCase, StoreKind,
};
use harness::case_limits::*;
use harness::fault::{
    Corruption, Crash, CrashAt, CrashKind, Durability, Effect, Fault, FaultPlan, Side, Spread,
    TamperKind, Target,
};
use harness::others::OtherVersion;
use harness::run::run_case;
use harness::sim::PolicyKind;
use proptest::prelude::*;
use proptest::test_runner::{
    Config as ProptestConfig, FileFailurePersistence, RngSeed, TestCaseError, TestRunner,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use restore_core::store::{Layout, SyncPolicy};
use restore_core::strategy::{CommitMode, CommitStrategy};
use serde_json::{Value, json};

/// Typed cases per run.
const PROPTEST_CASES: u32 = 1_500;
/// Mutated case files per run.
const MUTATIONS: u32 = 3_000;

/// How one input ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// Not UTF-8: `replay` fails reading the file, before parsing.
    NotText,
    Parse,
    Format,
    /// Rejected by a documented limit.
    Limit,
    /// Ran; every oracle held.
    Passed,
    /// Ran; an oracle reported a violation (a verdict about the restore, not a tool failure).
    Violation,
    /// `run_case` returned an error.
    RunError,
}

#[derive(Default)]
struct Tally {
    classes: BTreeMap<Class, u32>,
    /// Limit errors per field path, with list indices dropped (`faults.faults[].effect.points`).
    limit_fields: BTreeMap<String, u32>,
    /// Largest number of scheduling steps one case took.
    most_steps: u64,
}

impl Tally {
    fn total(&self) -> u32 {
        self.classes.values().sum()
    }

    fn count(&self, c: Class) -> u32 {
        self.classes.get(&c).copied().unwrap_or(0)
    }

    fn print(&self, name: &str) {
        println!("{name}: {} case files", self.total());
        for (c, n) in &self.classes {
            println!("  {c:?}: {n}");
        }
        println!(
            "  limit errors by field ({} fields): {:?}",
            self.limit_fields.len(),
            self.limit_fields
        );
        println!("  most scheduling steps in one case: {}", self.most_steps);
    }
}

/// Prints the input being replayed if the process panics while it runs, so a failure names its
/// input without catching the unwind.
struct Current<'a> {
    what: &'a str,
    text: &'a str,
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let cut: String = self.text.chars().take(20_000).collect();
            eprintln!("case_fuzz: panicked on {}:\n{cut}", self.what);
        }
    }
}

fn without_indices(field: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for ch in field.chars() {
        match ch {
            '[' => {
                in_index = true;
                out.push_str("[]");
            }
            ']' => in_index = false,
            _ if !in_index => out.push(ch),
            _ => {}
        }
    }
    out
}

/// The documented limits, restated from the constants, for a case that was accepted.
fn assert_within_limits(c: &Case) {
    assert!(c.snapshot.keys <= MAX_KEYS);
    assert!(c.snapshot.value_len.0 <= c.snapshot.value_len.1);
    assert!(c.snapshot.value_len.1 <= MAX_VALUE_LEN);
    assert!(c.snapshot.key_len.0 <= c.snapshot.key_len.1);
    assert!(c.snapshot.key_len.1 <= MAX_KEY_LEN);
    assert!(c.chunking.sizes.len() <= MAX_CHUNKS);
    assert!(
        c.chunking
            .sizes
            .iter()
            .all(|&s| (1..=MAX_CHUNK_SIZE).contains(&s))
    );
    assert!(c.faults.faults.len() <= MAX_FAULTS);
    assert!(c.faults.crashes.len() <= MAX_CRASHES);
    assert!(c.faults.corruptions.len() <= MAX_CORRUPTIONS);
    assert!((1..=MAX_LIVES).contains(&c.driver.max_lives));
    assert!(c.driver.retries <= MAX_RETRIES);
    for f in &c.faults.faults {
        if let Effect::Slow { points } = f.effect {
            assert!(points <= MAX_SLOW_POINTS);
        }
    }
    match &c.schedule {
        PolicyKind::Pct { depth, horizon, .. } => {
            assert!((1..=MAX_PCT_DEPTH).contains(depth));
            assert!((1..=MAX_PCT_HORIZON).contains(horizon));
        }
        PolicyKind::Replay { decisions: d } | PolicyKind::Dfs { prefix: d } => {
            assert!(d.len() <= MAX_DECISIONS);
        }
        PolicyKind::RandomWalk { .. } | PolicyKind::FirstRunnable => {}
    }
}

/// Replays one case file the way `restore-sim replay` does and classifies the result. A panic
/// or abort anywhere in here fails the test.
fn replay(bytes: &[u8], what: &str, tally: &mut Tally) -> Result<Class, CaseError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        *tally.classes.entry(Class::NotText).or_default() += 1;
        return Ok(Class::NotText);
    };
    let _current = Current { what, text };
    let class = match Case::from_json(text) {
        Err(e) => {
            let class = match &e {
                CaseError::Parse { .. } => Class::Parse,
                CaseError::Format(_) => Class::Format,
                CaseError::Limit { field, .. } => {
                    *tally
                        .limit_fields
                        .entry(without_indices(field))
                        .or_default() += 1;
                    Class::Limit
                }
            };
            *tally.classes.entry(class).or_default() += 1;
            return Err(e);
        }
        Ok(case) => {
            assert_within_limits(&case);
            match run_case(&case) {
                Err(_) => Class::RunError,
                Ok(o) => {
                    let c = o.counters;
                    assert!(c.steps <= MAX_CASE_STEPS, "{what}: {} steps", c.steps);
                    assert!(c.lives <= case.driver.max_lives + 1, "{what}: {c:?}");
                    assert!(o.stops.len() <= MAX_LIVES as usize + 1, "{what}");
                    tally.most_steps = tally.most_steps.max(c.steps);
                    if o.passed() {
                        Class::Passed
                    } else {
                        Class::Violation
                    }
                }
            }
        }
    };
    *tally.classes.entry(class).or_default() += 1;
    Ok(class)
}

// ---------------------------------------------------------------------------------------------
// Typed cases (proptest)

/// Mostly a value in `small`, sometimes one at a limit or an extreme of the type.
fn num(small: std::ops::RangeInclusive<u64>, limit: u64) -> BoxedStrategy<u64> {
    prop_oneof![
        80 => small,
        1 => Just(0),
        1 => Just(limit),
        1 => Just(limit.saturating_add(1)),
        1 => Just(u64::from(u32::MAX)),
        1 => Just(u64::MAX),
    ]
    .boxed()
}

fn num32(small: std::ops::RangeInclusive<u64>, limit: u64) -> BoxedStrategy<u32> {
    num(small, limit)
        .prop_map(|v| u32::try_from(v).unwrap_or(u32::MAX))
        .boxed()
}

fn num_usize(small: std::ops::RangeInclusive<u64>, limit: u64) -> BoxedStrategy<usize> {
    num(small, limit).prop_map(|v| v as usize).boxed()
}

/// An inclusive length range: mostly ordered and small, sometimes reversed or huge.
fn len_range(small_max: usize, limit: usize) -> BoxedStrategy<(usize, usize)> {
    prop_oneof![
        30 => (0..=small_max).prop_flat_map(move |lo| (Just(lo), lo..=small_max)),
        1 => (num_usize(0..=8, limit as u64), num_usize(0..=8, limit as u64)),
    ]
    .boxed()
}

fn snapshot() -> impl Strategy<Value = SnapshotCase> {
    let keys = prop_oneof![
        40 => 0..=40usize,
        // Past the limit only: a snapshot at the limit takes a second to run and the boundary
        // itself is unit-tested in `case_limits`.
        1 => Just(MAX_KEYS + 1),
        1 => Just(1usize << 31),
        1 => Just(usize::MAX),
    ];
    let layout = prop_oneof![
        3 => Just(LayoutCase::Random),
        1 => Just(LayoutCase::Adjacent),
        1 => num_usize(0..=64, MAX_NIBBLES as u64)
            .prop_map(|nibbles| LayoutCase::SharedPrefix { nibbles }),
        1 => (num_usize(1..=6, MAX_CLUSTERS as u64), num_usize(0..=64, MAX_NIBBLES as u64))
            .prop_map(|(clusters, nibbles)| LayoutCase::Clustered { clusters, nibbles }),
    ];
    (
        any::<u64>(),
        keys,
        len_range(64, MAX_VALUE_LEN),
        len_range(24, MAX_KEY_LEN),
        layout,
        num(0..=10, MAX_VERSION),
    )
        .prop_map(
            |(seed, keys, value_len, key_len, layout, version)| SnapshotCase {
                seed,
                keys,
                value_len,
                key_len,
                layout,
                version,
            },
        )
}

fn chunking() -> impl Strategy<Value = ChunkingCase> {
    prop_oneof![
        20 => prop::collection::vec(1..=8usize, 0..=8),
        1 => prop::collection::vec(num_usize(1..=8, MAX_CHUNK_SIZE as u64), 0..=8),
        1 => Just(vec![1; MAX_CHUNKS + 1]),
    ]
    .prop_map(|sizes| ChunkingCase { sizes })
}

fn fault() -> impl Strategy<Value = Fault> {
    let nth = || num32(0..=12, u64::from(MAX_NTH));
    let target = prop_oneof![
        nth().prop_map(|nth| Target::NodeBatch { nth }),
        num32(0..=8, u64::from(MAX_CHUNK_INDEX)).prop_map(|chunk| Target::ChunkBatch { chunk }),
        nth().prop_map(|nth| Target::KvWrite { nth }),
        nth().prop_map(|nth| Target::ProgressRead { nth }),
        nth().prop_map(|nth| Target::NodeRead { nth }),
        nth().prop_map(|nth| Target::RightmostLeaf { nth }),
    ];
    let effect = prop_oneof![
        Just(Effect::IoError),
        Just(Effect::DiskFull),
        num32(0..=4, u64::from(MAX_TORN_SHARDS)).prop_map(|shards| Effect::Torn { shards }),
        Just(Effect::FailedButPersisted),
        Just(Effect::AckThenLost),
        num32(0..=40, u64::from(MAX_SLOW_POINTS)).prop_map(|points| Effect::Slow { points }),
    ];
    (target, effect).prop_map(|(target, effect)| Fault { target, effect })
}

fn crash() -> impl Strategy<Value = Crash> {
    let kind = prop_oneof![
        Just(CrashKind::Process),
        (
            num32(0..=4, u64::from(MAX_LOST_WRITES)),
            prop_oneof![
                Just(None),
                any::<u64>().prop_map(|seed| Some(Spread::Seeded { seed })),
                Just(Some(Spread::OneSide { loses: Side::Kv })),
                Just(Some(Spread::OneSide { loses: Side::Tree })),
            ]
        )
            .prop_map(|(lost_writes, spread)| CrashKind::PowerLoss {
                lost_writes,
                spread
            }),
    ];
    let at = prop_oneof![
        Just(CrashAt::Start),
        Just(CrashAt::Finish),
        Just(CrashAt::AfterFinish),
    ];
    (
        num32(0..=3, u64::from(MAX_LIVES - 1)),
        num(0..=200, MAX_CRASH_STEP),
        kind,
        at,
    )
        .prop_map(|(life, step, kind, at)| Crash {
            life,
            step,
            kind,
            at,
        })
}

fn corruption() -> impl Strategy<Value = Corruption> {
    let item = || num_usize(0..=8, MAX_TAMPER_ITEM as u64);
    let tamper = prop_oneof![
        item().prop_map(|item| TamperKind::ChangeValue { item }),
        item().prop_map(|item| TamperKind::DropKey { item }),
        num_usize(0..=8, MAX_TAMPER_SIBLING as u64)
            .prop_map(|sibling| TamperKind::WrongSibling { sibling }),
        item().prop_map(|item| TamperKind::SwapOrder { item }),
        Just(TamperKind::TruncateProof),
        Just(TamperKind::ExtraSibling),
    ];
    (
        num32(0..=8, u64::from(MAX_CHUNK_INDEX)),
        tamper,
        num32(0..=3, u64::from(MAX_DELIVERIES)),
    )
        .prop_map(|(chunk, tamper, deliveries)| Corruption {
            chunk,
            tamper,
            deliveries,
            first: 0,
        })
}

fn faults() -> impl Strategy<Value = FaultPlan> {
    let faults = prop_oneof![
        30 => prop::collection::vec(fault(), 0..=3),
        1 => prop::collection::vec(fault(), MAX_FAULTS + 1),
    ];
    let crashes = prop_oneof![
        30 => prop::collection::vec(crash(), 0..=2),
        1 => prop::collection::vec(crash(), MAX_CRASHES + 1),
    ];
    let corruptions = prop_oneof![
        30 => prop::collection::vec(corruption(), 0..=2),
        1 => prop::collection::vec(corruption(), MAX_CORRUPTIONS + 1),
    ];
    (faults, crashes, corruptions).prop_map(|(faults, crashes, corruptions)| FaultPlan {
        faults,
        crashes,
        corruptions,
    })
}

fn schedule() -> impl Strategy<Value = PolicyKind> {
    let decisions = || prop::collection::vec(0..8u16, 0..=40);
    prop_oneof![
        any::<u64>().prop_map(|seed| PolicyKind::RandomWalk { seed }),
        (
            any::<u64>(),
            num32(1..=5, u64::from(MAX_PCT_DEPTH)),
            num(1..=500, MAX_PCT_HORIZON),
        )
            .prop_map(|(seed, depth, horizon)| PolicyKind::Pct {
                seed,
                depth,
                horizon
            }),
        Just(PolicyKind::FirstRunnable),
        decisions().prop_map(|decisions| PolicyKind::Replay { decisions }),
        decisions().prop_map(|prefix| PolicyKind::Dfs { prefix }),
    ]
}

fn driver() -> impl Strategy<Value = DriverPolicy> {
    (
        prop_oneof![Just(OnError::Restart), Just(OnError::RetrySameObject)],
        num32(0..=3, u64::from(MAX_RETRIES)),
        num32(1..=5, u64::from(MAX_LIVES)),
    )
        .prop_map(|(on_error, retries, max_lives)| DriverPolicy {
            on_error,
            retries,
            max_lives,
        })
}

fn case() -> impl Strategy<Value = Case> {
    let head = (
        any::<u64>(),
        prop::sample::select(CommitStrategy::ALL.to_vec()),
        prop_oneof![
            Just(None),
            Just(Some(CommitMode::Sync)),
            Just(Some(CommitMode::Async))
        ],
        // RocksDB now and then: the same limits hold, each run just opens a real database.
        prop_oneof![30 => Just(StoreKind::Mem), 1 => Just(StoreKind::Rocksdb)],
    );
    let others = prop::collection::vec(
        (
            num(0..=8, MAX_VERSION),
            any::<u64>(),
            num_usize(0..=40, MAX_KEYS as u64),
            any::<bool>(),
        )
            .prop_map(|(version, seed, keys, finished)| OtherVersion {
                version,
                seed,
                keys,
                finished,
            }),
        0..=3,
    );
    (
        head,
        snapshot(),
        chunking(),
        faults(),
        schedule(),
        (
            driver(),
            others,
            any::<bool>(),
            prop::sample::select(vec![
                RestorePlan::Default,
                RestorePlan::KvThenTree,
                RestorePlan::TreeThenDefault,
            ]),
            (
                prop::sample::select(Layout::ALL.to_vec()),
                prop::sample::select(SyncPolicy::ALL.to_vec()),
                prop::option::of(0u32..8),
            )
                .prop_map(|(layout, sync, window)| Durability {
                    layout,
                    sync,
                    window,
                }),
        ),
    )
        .prop_map(
            |(
                (seed, strategy, commit, store),
                snapshot,
                chunking,
                faults,
                schedule,
                (driver, others, overwrite, plan, durability),
            )| Case {
                format: CASE_FORMAT.to_string(),
                seed,
                strategy,
                commit,
                store,
                snapshot,
                chunking,
                faults,
                schedule,
                driver,
                others,
                overwrite,
                plan,
                durability,
            },
        )
}

#[test]
fn typed_cases_end_in_a_verdict_or_a_clean_error() {
    let config = ProptestConfig {
        cases: PROPTEST_CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/proptest-regressions/case_fuzz.txt"
        )))),
        rng_seed: RngSeed::Fixed(0x0ca5_ef22),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = std::cell::RefCell::new(Tally::default());
    let result = runner.run(&case(), |case| {
        let text = case.to_json();
        let mut tally = tally.borrow_mut();
        match replay(text.as_bytes(), "a proptest case", &mut tally) {
            Ok(_) => Ok(()),
            Err(CaseError::Limit { .. }) => Ok(()),
            Err(e) => Err(TestCaseError::fail(format!(
                "a well-formed case failed to parse: {e}"
            ))),
        }
    });
    let tally = tally.into_inner();
    tally.print("proptest");
    if let Err(e) = result {
        panic!("{e}");
    }
    // Evidence: the run made its cases, and both the running and the rejecting paths were
    // exercised many times, on many different limits.
    assert!(tally.total() >= PROPTEST_CASES, "{}", tally.total());
    let ran = tally.count(Class::Passed) + tally.count(Class::Violation);
    assert!(ran >= PROPTEST_CASES / 5, "ran {ran}");
    assert!(tally.count(Class::Violation) >= 20);
    assert!(tally.count(Class::Limit) >= PROPTEST_CASES / 5);
    assert!(
        tally.limit_fields.len() >= 20,
        "{:?}",
        tally.limit_fields.keys()
    );
}

// ---------------------------------------------------------------------------------------------
// Mutated case files

/// One step of a JSON path.
#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A path as `CaseError::Limit` names fields: `faults.faults[0].effect.points`.
fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Whether `a` is `b` or a field inside it.
fn within_path(a: &str, b: &str) -> bool {
    a == b || (a.starts_with(b) && matches!(a.as_bytes()[b.len()], b'.' | b'['))
}

fn all_paths(v: &Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(Seg::Key(k.clone()));
                all_paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(Seg::Index(i));
                all_paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn get_mut<'a>(v: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Seg::Key(k) => &mut v[k.as_str()],
        Seg::Index(i) => &mut v[*i],
    })
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[(rng.next_u64() % items.len() as u64) as usize]
}

/// Numbers and other values to put into a field: type extremes, and every documented limit
/// with one past it.
fn extremes() -> Vec<Value> {
    let mut v: Vec<Value> = vec![
        json!(0),
        json!(1),
        json!(2),
        json!(-1),
        json!(i64::MIN),
        json!(1u64 << 31),
        json!(1u64 << 32),
        json!(u64::from(u32::MAX)),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e300),
        json!(-1e300),
        json!(0.5),
        json!("x"),
        json!(""),
        json!("18446744073709551616"),
        json!([]),
        json!([0]),
        json!([1, 2, 3]),
        json!({}),
        json!({"kind": "pct"}),
        Value::Null,
        json!(true),
    ];
    // Heavy-but-valid values (MAX_KEYS keys) are left out on purpose: one costs a second, and
    // the boundary is unit-tested in `case_limits`; one past it still comes in.
    let limits: [u64; 21] = [
        MAX_KEY_LEN as u64,
        MAX_VALUE_LEN as u64,
        MAX_CHUNK_SIZE as u64,
        MAX_NIBBLES as u64,
        MAX_CLUSTERS as u64,
        MAX_VERSION,
        MAX_FAULTS as u64,
        MAX_CRASHES as u64,
        MAX_CORRUPTIONS as u64,
        u64::from(MAX_NTH),
        u64::from(MAX_CHUNK_INDEX),
        u64::from(MAX_TORN_SHARDS),
        u64::from(MAX_SLOW_POINTS),
        u64::from(MAX_LOST_WRITES),
        MAX_CRASH_STEP,
        u64::from(MAX_LIVES),
        u64::from(MAX_RETRIES),
        u64::from(MAX_DELIVERIES),
        MAX_TAMPER_SIBLING as u64,
        u64::from(MAX_PCT_DEPTH),
        MAX_PCT_HORIZON,
    ];
    for l in limits {
        if l != MAX_KEYS as u64 {
            v.push(json!(l));
        }
        v.push(json!(l + 1));
    }
    v.push(json!(MAX_KEYS as u64 + 1));
    v
}

/// Enum tags a case file uses, to swap one for another.
const TAGS: [&str; 24] = [
    "random",
    "shared-prefix",
    "clustered",
    "adjacent",
    "node-batch",
    "chunk-batch",
    "kv-write",
    "progress-read",
    "node-read",
    "rightmost-leaf",
    "io-error",
    "disk-full",
    "torn",
    "slow",
    "process",
    "power-loss",
    "change-value",
    "wrong-sibling",
    "random-walk",
    "pct",
    "first-runnable",
    "replay",
    "dfs",
    "retry-same-object",
];

/// What a mutation did, for the limit-error check.
enum Edit {
    /// The value at this path was replaced or stretched: a limit error must name it (or a field
    /// inside it).
    Field(String),
    /// Anything else (deletions, tag swaps, byte edits): only "no panic" is checked.
    Other,
}

/// Applies one structural mutation to `v`.
fn mutate_value(rng: &mut ChaCha8Rng, v: &mut Value, extremes: &[Value]) -> Edit {
    let mut paths = Vec::new();
    all_paths(v, &mut Vec::new(), &mut paths);
    let path = pick(rng, &paths[1..]).clone();
    let text = path_text(&path);
    match rng.next_u64() % 8 {
        // Replace the value (three times as often as the rest).
        0..=2 => {
            *get_mut(v, &path) = pick(rng, extremes).clone();
            Edit::Field(text)
        }
        // Delete a field of an object.
        3 => {
            let objects: Vec<_> = paths
                .iter()
                .filter(|p| get_mut(v, p).as_object().is_some_and(|m| !m.is_empty()))
                .cloned()
                .collect();
            let at = pick(rng, &objects).clone();
            let obj = get_mut(v, &at).as_object_mut().expect("an object");
            let keys: Vec<String> = obj.keys().cloned().collect();
            obj.remove(pick(rng, &keys));
            Edit::Other
        }
        // Stretch an array: duplicate its entries (chunk sizes, faults, decisions, …) to a
        // length just past a list limit, or double it.
        4 => {
            let arrays: Vec<_> = paths
                .iter()
                .filter(|p| get_mut(v, p).as_array().is_some_and(|a| !a.is_empty()))
                .cloned()
                .collect();
            let Some(at) = arrays.get((rng.next_u64() % arrays.len().max(1) as u64) as usize)
            else {
                return Edit::Other;
            };
            let text = path_text(at);
            // A schedule's record may be long (one decision per step); stretching anything
            // else that far only makes a big file that fails the same way as `MAX_CHUNKS + 1`.
            let longest = if text.ends_with("decisions") || text.ends_with("prefix") {
                MAX_DECISIONS + 1
            } else {
                MAX_CHUNKS + 1
            };
            let lens = [0, MAX_FAULTS + 1, MAX_CRASHES + 1, longest];
            let a = get_mut(v, at).as_array_mut().expect("an array");
            let want = match *pick(rng, &lens) {
                0 => a.len() * 2,
                n => n,
            };
            let stretched: Vec<Value> = a.iter().cycle().take(want).cloned().collect();
            *a = stretched;
            Edit::Field(text)
        }
        // Swap an enum tag for another one.
        5 => {
            let tagged: Vec<_> = paths
                .iter()
                .filter(|p| {
                    get_mut(v, p)
                        .as_str()
                        .is_some_and(|s| TAGS.contains(&s) || s == "restart")
                })
                .cloned()
                .collect();
            if let Some(at) = tagged.get((rng.next_u64() % tagged.len().max(1) as u64) as usize) {
                *get_mut(v, at) = json!(pick(rng, &TAGS));
            }
            Edit::Other
        }
        // Add a fault, crash or corruption with extreme numbers.
        6 => {
            let n = pick(rng, extremes).clone();
            let (list, item) = match rng.next_u64() % 3 {
                0 => (
                    "faults",
                    json!({"target": {"op": "node-read", "nth": 0},
                           "effect": {"effect": "slow", "points": n}}),
                ),
                1 => (
                    "crashes",
                    json!({"life": 0, "step": n, "kind": {"kind": "power-loss", "lost_writes": 1}}),
                ),
                _ => (
                    "corruptions",
                    json!({"chunk": 0, "tamper": {"tamper": "swap-order", "item": n},
                           "deliveries": 1}),
                ),
            };
            let lists = v.get_mut("faults").and_then(|f| f.get_mut(list));
            match lists.and_then(Value::as_array_mut) {
                Some(a) => {
                    a.push(item);
                    Edit::Field(format!("faults.{list}[{}]", a.len() - 1))
                }
                None => Edit::Other,
            }
        }
        // Replace a number by a nearby one (off-by-one edits of valid files).
        _ => {
            let numbers: Vec<_> = paths
                .iter()
                .filter(|p| get_mut(v, p).is_u64())
                .cloned()
                .collect();
            let Some(at) = numbers.get((rng.next_u64() % numbers.len().max(1) as u64) as usize)
            else {
                return Edit::Other;
            };
            let x = get_mut(v, at);
            let n = x.as_u64().expect("a number");
            *x = json!(match rng.next_u64() % 3 {
                0 => n.saturating_add(1),
                1 => n.saturating_sub(1),
                _ => n.saturating_mul(1 + rng.next_u64() % 1000),
            });
            Edit::Field(path_text(at))
        }
    }
}

/// Byte-level edits of a case file's text.
fn mutate_bytes(rng: &mut ChaCha8Rng, text: &mut Vec<u8>) {
    if text.is_empty() {
        text.push(b'{');
        return;
    }
    let at = (rng.next_u64() % text.len() as u64) as usize;
    match rng.next_u64() % 5 {
        0 => text[at] ^= 1 << (rng.next_u64() % 8),
        1 => text[at] = (rng.next_u64() & 0xFF) as u8,
        2 => {
            text.remove(at);
        }
        3 => text.truncate(at),
        _ => {
            let len = (rng.next_u64() % 16) as usize;
            let end = (at + len).min(text.len());
            let piece = text[at..end].to_vec();
            text.splice(at..at, piece);
        }
    }
}

/// The cases to mutate: every corpus entry's case, and generated cases with the layouts,
/// schedules and fault kinds the corpus lacks.
fn bases() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the corpus directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for p in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("readable"))
            .expect("corpus files are JSON");
        out.push((p.display().to_string(), v["case"].clone()));
    }
    assert!(out.len() >= 10, "the corpus has {} entries", out.len());
    for seed in 0..12 {
        let c = Case::generate(
            seed,
            CommitStrategy::ALL[seed as usize % 6],
            &GenConfig {
                max_keys: 40,
                store: StoreKind::Mem,
                ..GenConfig::default()
            },
        );
        out.push((
            format!("generated seed {seed}"),
            serde_json::to_value(&c).expect("serializes"),
        ));
    }
    out
}

#[test]
fn mutated_case_files_end_in_a_verdict_or_a_clean_error() {
    let bases = bases();
    let mut tally = Tally::default();
    // Every base itself is valid and runs.
    for (name, v) in &bases {
        let text = serde_json::to_string_pretty(v).expect("serializes");
        let class = replay(text.as_bytes(), name, &mut tally);
        assert!(
            matches!(class, Ok(Class::Passed | Class::Violation)),
            "{name}: {class:?}"
        );
    }
    let extremes = extremes();
    let mut rng = ChaCha8Rng::seed_from_u64(0xf022_ca5e);
    let mut named = 0;
    for i in 0..MUTATIONS {
        let (name, base) = pick(&mut rng, &bases);
        let mut v = base.clone();
        // One structural edit most of the time, sometimes two or three stacked.
        let edits = 1 + (rng.next_u64() % 4).saturating_sub(2);
        let mut edit = Edit::Other;
        for _ in 0..edits {
            edit = mutate_value(&mut rng, &mut v, &extremes);
        }
        let pretty = rng.next_u64() % 2 == 0;
        let mut text = if pretty {
            serde_json::to_string_pretty(&v)
        } else {
            serde_json::to_string(&v)
        }
        .expect("serializes")
        .into_bytes();
        let bytes_edited = rng.next_u64() % 5 == 0;
        if bytes_edited {
            for _ in 0..1 + rng.next_u64() % 3 {
                mutate_bytes(&mut rng, &mut text);
            }
        }
        let what = format!("mutation {i} of {name}");
        let result = replay(&text, &what, &mut tally);
        // A single edit of one field that trips a limit must be reported at that field.
        if let (Err(CaseError::Limit { field, .. }), Edit::Field(at), 1, false) =
            (&result, &edit, edits, bytes_edited)
        {
            assert!(
                within_path(field, at) || within_path(at, field),
                "{what}: edited `{at}`, but the error names `{field}`"
            );
            named += 1;
        }
    }
    tally.print("mutated corpus");
    println!("  limit errors checked to name the edited field: {named}");
    // Floors, well below what this deterministic run reaches (so that a new corpus entry does
    // not break them), but far from zero: each path was taken many times.
    assert_eq!(tally.total(), MUTATIONS + bases.len() as u32);
    let ran = tally.count(Class::Passed) + tally.count(Class::Violation);
    assert!(ran >= MUTATIONS / 10, "ran {ran}");
    assert!(tally.count(Class::Violation) >= 20);
    assert!(tally.count(Class::Parse) >= MUTATIONS / 10);
    assert!(tally.count(Class::Limit) >= MUTATIONS / 20);
    assert!(named >= MUTATIONS / 40, "{named}");
    assert!(
        tally.limit_fields.len() >= 12,
        "{:?}",
        tally.limit_fields.keys()
    );
}

#[test]
fn every_corpus_case_and_generated_case_is_within_the_limits() {
    for (name, v) in bases() {
        let text = serde_json::to_string(&v).expect("serializes");
        assert_eq!(
            Case::from_json(&text).map(|_| ()),
            Ok(()),
            "{name} is rejected"
        );
    }
}
