//! The catalog entries: hand-written cases, each with the verdict expected under every commit
//! strategy. Expectations are written as six-column rows in [`CommitStrategy::ALL`] order:
//!
//! ```text
//!  join-async  join-sync  tree-then-kv  wait-then-join  verify-kv-tree  pipelined
//! ```
//!
//! They were established by running each case, and they are the specification: the two safe
//! strategies pass every entry, and a known-bad entry names the headline (earliest) oracle.
//!
//! A `golden` entry shows a known defect; its case's own `strategy` field names the strategy
//! whose timeline is the golden file (see [`Scenario::golden_strategy`]).

use harness::case::{Case, LayoutCase, OnError};
use harness::fault::{Corruption, Crash, CrashKind, Effect, Fault, TamperKind, Target};
use harness::oracle::Oracle;
use harness::sim::PolicyKind;
use restore_core::strategy::CommitStrategy;

use crate::{Expected, Scenario};

const PASS: Expected = Expected::Pass;
const PANIC: Expected = Expected::Violates(Oracle::NoPanic);
const DIVERGE: Expected = Expected::Violates(Oracle::ProgressDivergence);
const UNVERIF: Expected = Expected::Violates(Oracle::VerifiedOnly);
const DISHONEST: Expected = Expected::Violates(Oracle::HonestResult);
const FINAL: Expected = Expected::Violates(Oracle::FinalState);
const STUCK: Expected = Expected::Violates(Oracle::ForwardProgress);

/// Four chunks of three keys: enough for a failure in the middle to have chunks on both sides.
const SIZES: [usize; 4] = [3, 3, 3, 3];

/// A hand-written case: a random-layout snapshot of `keys` keys cut into `sizes` (the list
/// repeats if it runs out), no faults, the natural schedule, and the backup controller (drop
/// and restart on any error, up to four processes).
fn case(strategy: CommitStrategy, keys: usize, sizes: &[usize]) -> Case {
    Case::small(strategy, keys, sizes)
}

/// [`case`] with as many keys as the sizes add up to.
fn chunks(strategy: CommitStrategy, sizes: &[usize]) -> Case {
    case(strategy, sizes.iter().sum(), sizes)
}

fn fail(mut c: Case, target: Target, effect: Effect) -> Case {
    c.faults.faults.push(Fault { target, effect });
    c
}

fn crash(mut c: Case, step: u64, kind: CrashKind) -> Case {
    c.faults.crashes.push(Crash {
        life: 0,
        step,
        kind,
    });
    c
}

fn corrupt(mut c: Case, chunk: u32, tamper: TamperKind) -> Case {
    c.faults.corruptions.push(Corruption {
        chunk,
        tamper,
        deliveries: 1,
        first: 0,
    });
    c
}

/// One faulty process only: whatever the fault leaves behind, the faults-off restart must
/// complete from it.
fn one_life(mut c: Case) -> Case {
    c.driver.max_lives = 1;
    c
}

/// The state-sync driver: retry a failed chunk once on the same restore object.
fn retry_same_object(mut c: Case) -> Case {
    c.driver.on_error = OnError::RetrySameObject;
    c.driver.retries = 1;
    c
}

fn layout(mut c: Case, layout: LayoutCase) -> Case {
    c.snapshot.layout = layout;
    c
}

/// Expectations in [`CommitStrategy::ALL`] order.
fn row(e: [Expected; 6]) -> Vec<(CommitStrategy, Expected)> {
    CommitStrategy::ALL.into_iter().zip(e).collect()
}

fn entry(
    name: &'static str,
    about: &'static str,
    case: Case,
    expect: [Expected; 6],
    golden: bool,
) -> Scenario {
    Scenario {
        name,
        about,
        case,
        expect: row(expect),
        golden,
    }
}

/// Every scenario, in catalog order: known defects, other faults, edge cases, Aptos tests.
pub fn all() -> Vec<Scenario> {
    [known_defects(), faults(), edge_cases(), aptos_tests()].concat()
}

/// The audit race and defects D1–D4 (spec §6): golden timelines.
fn known_defects() -> Vec<Scenario> {
    use CommitStrategy::*;
    vec![
        entry(
            "audit-race",
            "tree batch N fails while the KV side commits chunk N+1: KV runs past the bound",
            fail(
                chunks(JoinAsync, &SIZES),
                Target::ChunkBatch { chunk: 1 },
                Effect::IoError,
            ),
            [DIVERGE, PASS, PASS, PASS, PASS, PASS],
            true,
        ),
        entry(
            "audit-race-slow-batch",
            "no failure at all: tree batch N is merely slow and KV commits chunk N+1 meanwhile",
            Case {
                // A random schedule under which join-async's KV side commits chunk 2 while
                // batch 1 is still being written.
                schedule: PolicyKind::RandomWalk { seed: 4 },
                ..fail(
                    chunks(JoinAsync, &SIZES),
                    Target::ChunkBatch { chunk: 1 },
                    Effect::Slow { points: 40 },
                )
            },
            [DIVERGE, DIVERGE, DIVERGE, DIVERGE, PASS, PASS],
            true,
        ),
        entry(
            "kv-behind-tree-join-sync",
            "the KV write of chunk 1 fails while the synchronous tree side writes its batch",
            fail(
                chunks(JoinSync, &SIZES),
                Target::KvWrite { nth: 1 },
                Effect::IoError,
            ),
            [DIVERGE, DIVERGE, DIVERGE, DIVERGE, PASS, PASS],
            true,
        ),
        entry(
            "d1-stuck-restore",
            "D1: tree batch 0 fails; KV has progress, the tree no leaf: the restart is stuck",
            one_life(fail(
                chunks(TreeThenKv, &SIZES),
                Target::ChunkBatch { chunk: 0 },
                Effect::IoError,
            )),
            [DIVERGE, DIVERGE, STUCK, DIVERGE, PASS, PASS],
            true,
        ),
        entry(
            "d1-one-key-first-chunk-crash",
            "D1: a 1-key first chunk freezes nothing; a crash after it leaves no leaf: stuck",
            one_life(crash(
                chunks(JoinAsync, &[1, 3, 3, 3]),
                19,
                CrashKind::Process,
            )),
            [STUCK, STUCK, STUCK, STUCK, PASS, PASS],
            true,
        ),
        entry(
            "d1-d2-false-success",
            "D1+D2: restarts let KV cover every chunk, all are skipped, an empty tree is 'success'",
            fail(
                chunks(JoinAsync, &SIZES),
                Target::ChunkBatch { chunk: 0 },
                Effect::IoError,
            ),
            [DIVERGE, DIVERGE, STUCK, DIVERGE, PASS, PASS],
            true,
        ),
        entry(
            "d1-d2-false-success-two-chunks",
            "D1+D2 with chunks of 3 and 1 keys: KV commits chunk 1 while the tree has completed no chunk, then an empty tree is 'success'",
            fail(
                chunks(JoinAsync, &[3, 1]),
                Target::ChunkBatch { chunk: 0 },
                Effect::IoError,
            ),
            // The join strategies write KV beside the failing batch 0, so K=4 with the tree's
            // chunk 0 incomplete: two chunks ahead of the completed prefix (chunk-exact bound;
            // the old key bound K − T ≤ L + 1 = 4 let it pass and the false success led).
            // tree-then-kv writes KV only after its tree step, so it stops at D1 (stuck).
            [DIVERGE, DIVERGE, STUCK, DIVERGE, PASS, PASS],
            true,
        ),
        entry(
            "d2-unverified-kv-bytes",
            "D2: a corrupted chunk's values land in KV before the tree rejects it, and stay",
            corrupt(
                chunks(JoinAsync, &[3, 3, 3]),
                1,
                TamperKind::ChangeValue { item: 1 },
            ),
            [UNVERIF, UNVERIF, PASS, UNVERIF, PASS, PASS],
            true,
        ),
        entry(
            "d2-dropped-key-missing-from-kv",
            "D2: a chunk missing a key commits to KV, then fails; the resume skips it: row lost",
            corrupt(
                chunks(JoinAsync, &[3, 3, 3]),
                1,
                TamperKind::DropKey { item: 1 },
            ),
            [FINAL, FINAL, PASS, FINAL, PASS, PASS],
            true,
        ),
        entry(
            "d3-poisoned-reuse",
            "D3: a retry on the same object after a bad last chunk skips it unverified; wrong root",
            retry_same_object(corrupt(
                chunks(JoinSync, &[3, 3, 3]),
                2,
                TamperKind::DropKey { item: 1 },
            )),
            [DISHONEST, DISHONEST, DIVERGE, DISHONEST, PASS, PASS],
            true,
        ),
        entry(
            "d4-panic-on-drop",
            "D4: chunk 1's KV write fails, the restore is dropped with batch 1 in flight, it fails",
            fail(
                fail(
                    chunks(JoinAsync, &SIZES),
                    Target::KvWrite { nth: 1 },
                    Effect::IoError,
                ),
                Target::ChunkBatch { chunk: 1 },
                Effect::IoError,
            ),
            [PANIC, PASS, PANIC, PANIC, PASS, PASS],
            true,
        ),
    ]
}

/// The other fault kinds, each in one faulty process followed by the faults-off restart.
fn faults() -> Vec<Scenario> {
    use CommitStrategy::*;
    vec![
        entry(
            "torn-shard-prefix-write",
            "tree batch 1 writes one shard group, then fails: a key-order prefix is durable",
            one_life(fail(
                chunks(Pipelined, &SIZES),
                Target::ChunkBatch { chunk: 1 },
                Effect::Torn { shards: 1 },
            )),
            [DIVERGE, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "power-loss",
            "power fails after about three chunks and the last two unsynced writes are lost",
            one_life(crash(
                chunks(Pipelined, &SIZES),
                49,
                CrashKind::PowerLoss { lost_writes: 2 },
            )),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "failed-but-persisted",
            "tree batch 1 is written in full but reports an error",
            one_life(fail(
                chunks(Pipelined, &SIZES),
                Target::ChunkBatch { chunk: 1 },
                Effect::FailedButPersisted,
            )),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "failed-but-persisted-kv",
            "chunk 1's KV write (rows and progress) lands in full but reports an error",
            one_life(fail(
                chunks(Pipelined, &SIZES),
                Target::KvWrite { nth: 1 },
                Effect::FailedButPersisted,
            )),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "acknowledged-then-lost",
            "tree batch 1 is acknowledged, then lost with every later write in a process crash",
            one_life(crash(
                fail(
                    chunks(Pipelined, &SIZES),
                    Target::ChunkBatch { chunk: 1 },
                    Effect::AckThenLost,
                ),
                49,
                CrashKind::Process,
            )),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "disk-full-mid-restore",
            "the disk fills up at the third KV write: every write from there on fails",
            one_life(fail(
                chunks(Pipelined, &SIZES),
                Target::KvWrite { nth: 2 },
                Effect::DiskFull,
            )),
            [PANIC, PASS, PANIC, PANIC, PASS, PASS],
            false,
        ),
    ]
}

/// Snapshot shapes at the edges, restored without faults (and two with a restart).
fn edge_cases() -> Vec<Scenario> {
    use CommitStrategy::*;
    vec![
        entry(
            "empty-snapshot",
            "no keys, no chunks: finish alone must write the empty tree's root",
            case(Pipelined, 0, &[]),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "one-key",
            "a single key in a single chunk: the root is that leaf",
            chunks(Pipelined, &[1]),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "one-key-chunks",
            "eight chunks of one key: every chunk freezes exactly the previous leaf",
            case(Pipelined, 8, &[1]),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "long-shared-prefixes",
            "every key shares its first 56 nibbles: a deep spine of single-child nodes",
            layout(
                chunks(Pipelined, &SIZES),
                LayoutCase::SharedPrefix { nibbles: 56 },
            ),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "adjacent-keys",
            "consecutive key hashes: neighbours split only at the deepest levels",
            layout(chunks(Pipelined, &SIZES), LayoutCase::Adjacent),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "long-shared-prefixes-restart",
            "the 56-nibble spine with tree batch 1 failing: the restart recovers deep partial nodes",
            one_life(fail(
                layout(
                    chunks(Pipelined, &SIZES),
                    LayoutCase::SharedPrefix { nibbles: 56 },
                ),
                Target::ChunkBatch { chunk: 1 },
                Effect::IoError,
            )),
            [DIVERGE, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "adjacent-keys-restart",
            "adjacent keys with tree batch 1 failing: the restart recovers the deepest splits",
            one_life(fail(
                layout(chunks(Pipelined, &SIZES), LayoutCase::Adjacent),
                Target::ChunkBatch { chunk: 1 },
                Effect::IoError,
            )),
            [DIVERGE, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
    ]
}

/// Equivalents of the Aptos restore tests (spec §7).
fn aptos_tests() -> Vec<Scenario> {
    use CommitStrategy::*;
    vec![
        entry(
            "aptos-restore-without-interruption",
            "test_restore_without_interruption: one key per chunk, each with its proof, then finish",
            case(JoinAsync, 40, &[1]),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "aptos-restore-with-interruption",
            "test_restore_with_interruption: the process dies after the first batch; resume",
            crash(chunks(JoinAsync, &[7, 6, 7]), 30, CrashKind::Process),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "aptos-state-sync-varied-chunks",
            "test_restore (state sync): the same receiver fed chunks of varied sizes",
            retry_same_object(case(JoinSync, 30, &[2, 9, 1, 5, 13])),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
        entry(
            "aptos-raw-restore-two-chunks",
            "test_raw_restore: two chunks, then finish; the root equals the source root",
            chunks(JoinAsync, &[6, 7]),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            false,
        ),
    ]
}
