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
use harness::fault::{Corruption, CrashAt, CrashKind, Effect, Fault, TamperKind, Target};
use harness::oracle::Oracle;
use harness::sim::PolicyKind;
use restore_core::strategy::CommitStrategy;

use crate::{Expected, Scenario};

const PASS: Expected = Expected::Pass;
const PANIC: Expected = Expected::Violates(Oracle::NoPanic);
const DIVERGE: Expected = Expected::Violates(Oracle::ProgressDivergence);
const UNVERIF: Expected = Expected::Violates(Oracle::VerifiedOnly);
const SHAPE: Expected = Expected::Violates(Oracle::DurableShape);
const DISHONEST: Expected = Expected::Violates(Oracle::HonestResult);
const FINAL: Expected = Expected::Violates(Oracle::FinalState);
const STUCK: Expected = Expected::Violates(Oracle::ForwardProgress);

// Reasons (`why`) shared by several cells. Each names the code path that gives the verdict.

// Fault-free cases of more than one chunk: why each strategy keeps T <= K <= one chunk past
// the tree's completed prefix at every point (under the natural schedule, lowest task id
// first), and finish builds the expected root.
const CLEAN_JOIN_ASYNC: &str = "no fault: at each join the natural schedule runs batch N-1's writer (the lowest task id) before the KV arm writes chunk N, so K stays within one chunk of the tree";
const CLEAN_JOIN_SYNC: &str = "no fault: the natural schedule runs the KV arm before the tree arm's synchronous batch, so T <= K <= one chunk past the tree, and finish writes the right root";
const CLEAN_TREE_THEN_KV: &str = "no fault: each tree add awaits batch N-1 before KV writes chunk N, and the spawned batch N only runs when the driver next blocks, so T <= K <= one chunk";
const CLEAN_WAIT_THEN_JOIN: &str = "no fault: batch N-1 is awaited before the join and the KV arm runs before batch N's writer, so T <= K <= one chunk, and finish writes the right root";
const CLEAN_VERIFY_KV_TREE: &str = "no fault: each chunk awaits the previous batch, verifies, writes KV, then its own batch, so T <= K <= one chunk whatever the schedule; finish checks the root";
const CLEAN_PIPELINED: &str = "no fault: one background commit at a time writes chunk N's KV before its node batch, after commit N-1 finished, so T <= K <= one chunk; finish checks the root";

// Tree batch 1 fails (in full, or after a shard prefix) with chunks of three keys.
const B1_JOIN_ASYNC: &str = "chunk 2's join writes its KV rows while the tree arm awaits the failing batch 1: K reaches chunk 2 with only chunk 0 completed, two chunks past the tree";
const B1_JOIN_SYNC: &str = "batch 1 is written synchronously inside chunk 1's own join and fails there, so KV stops at chunk 1, one chunk ahead; the restart recovers from the rightmost durable leaf at min(K,T)";
const B1_TREE_THEN_KV: &str = "chunk 2's tree add awaits batch 1 and returns its error before the KV write, so K stays at chunk 1; the restart recovers from the rightmost durable leaf at min(K,T)";
const B1_WAIT_THEN_JOIN: &str = "batch 1 is awaited before chunk 2's join, so its error stops KV at chunk 1; the restart recovers from the rightmost durable leaf at min(K,T)";
const B1_VERIFY_KV_TREE: &str = "chunk 1's KV is written before its synchronous batch 1, which fails: K is at most one chunk past the tree; the restart recovers from the rightmost durable leaf at min(K,T)";
const B1_PIPELINED: &str = "commit 1 writes chunk 1's KV, then batch 1 fails; chunk 2 meets the error when it awaits commit 1, before spawning commit 2, so K stays within one chunk; the restart resumes at min(K,T)";

// Tree batch 0 fails: KV has progress, the tree no durable leaf (D1 for the Aptos strategies).
const B0_JOIN_ASYNC: &str = "chunk 1's join writes its KV rows while the tree arm awaits the failed batch 0: K reaches chunk 1 while the tree has completed no chunk, past the one chunk in flight";
const B0_JOIN_SYNC: &str = "batch 0 fails inside chunk 0's join, leaving KV progress and no tree leaf; D1 resumes the next process at K, skipping chunk 0, and its join commits chunk 1 to KV beside the empty tree's failing verify";
const B0_TREE_THEN_KV: &str = "chunk 1's tree add meets the failed batch 0 before its KV write, so K stays at chunk 0; D1 then resumes every process at K, skipping chunk 0, and chunk 1 fails verification before KV: stuck";
const B0_WAIT_THEN_JOIN: &str = "chunk 1 awaits the failed batch 0 before its join, so K stays at chunk 0; D1 resumes the next process at K, skipping chunk 0, and its join commits chunk 1 to KV beside the failing verify";
const B0_VERIFY_KV_TREE: &str = "batch 0 fails after chunk 0's KV write and before any later KV write, so K is one chunk ahead at most; with no tree leaf the Safe resume point is None, so the restart re-feeds chunk 0";
const B0_PIPELINED: &str = "commit 0 writes chunk 0's KV, then batch 0 fails; chunk 1 meets the error before spawning commit 1, and with no tree leaf the Safe resume point is None, so the restart re-feeds chunk 0";

// A corrupted delivery under the strategies that verify before KV sees the chunk.
const BAD_CHUNK_TREE_FIRST: &str = "tree-then-kv verifies the chunk before its KV write, so the bad delivery fails with KV untouched, and the restart gets a good delivery";
const BAD_CHUNK_VERIFY_KV_TREE: &str = "verify_chunk rejects the bad delivery and rolls back before kv.add_chunk, so KV never sees it; the restart gets a good delivery";
const BAD_CHUNK_PIPELINED: &str = "verify_chunk rejects the bad delivery before its commit is planned or spawned, so KV never sees it; the restart gets a good delivery";

// Crashes that lose nothing the restart needs.
const POWER_LOSS_SUFFIX: &str = "a power loss drops only the newest writes, a suffix of the global write order, so what survives is an earlier state the oracles accepted, with a durable leaf; the restart resumes at min(K,T)";
const ACK_LOST_SUFFIX: &str = "the crash drops batch 1 and every write queued after it, a suffix of the write order, leaving the earlier state with chunk 0's leaves durable; the restart resumes at min(K,T)";
const CRASH_AFTER_BATCH_0: &str = "a process crash keeps every completed write, and batch 0 has landed by step 30, so the tree has a durable leaf: the restart recovers from it at min(K,T), KV skipping what it has";

// Edge cases that no strategy can get wrong without a fault.
const EMPTY_FINISH: &str = "no chunks to feed: finish sees a root with no children and writes Null at the root key, the empty tree's hash, and KV finish records zero usage";
const ONE_KEY_ROOT: &str = "no fault, one chunk: it verifies and freezes nothing; finish finds a single leaf under the root and writes it at the root key, which is the expected root";

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

fn crash(c: Case, step: u64, kind: CrashKind) -> Case {
    c.with_crash(0, CrashAt::Start, step, kind)
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

/// A catalog entry. `why` holds one line per cell, in the same order as `expect`: the code path
/// that gives that verdict under that strategy.
pub(crate) fn entry(
    name: &'static str,
    about: &'static str,
    case: Case,
    expect: [Expected; 6],
    why: [&'static str; 6],
    golden: bool,
) -> Scenario {
    Scenario {
        name,
        about,
        case,
        expect: row(expect),
        why: CommitStrategy::ALL.into_iter().zip(why).collect(),
        golden,
    }
}

pub mod durability;
mod fault_space;

/// Every scenario, in catalog order: known defects, other faults, edge cases, Aptos tests, and
/// the wider fault space (several crashes, restore and commit modes, other versions, overwrite).
pub fn all() -> Vec<Scenario> {
    [
        known_defects(),
        faults(),
        edge_cases(),
        aptos_tests(),
        fault_space::all(),
        durability::all(),
    ]
    .concat()
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
            [
                B1_JOIN_ASYNC,
                B1_JOIN_SYNC,
                B1_TREE_THEN_KV,
                B1_WAIT_THEN_JOIN,
                B1_VERIFY_KV_TREE,
                B1_PIPELINED,
            ],
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
            [
                "the join does not wait for the slow batch 1: the random schedule runs chunk 2's KV arm while it is still being written, so K reaches chunk 2 with only chunk 0 completed",
                "the join has no order: the random schedule lets the tree arm's synchronous batch 2 land chunk 2's first leaves before the KV arm writes chunk 2, so KV is behind the tree",
                "the tree add spawns batch 2 before KV writes chunk 2, and the random schedule runs that writer first, landing chunk 2's leaves past K: KV behind the tree",
                "batch 1 is awaited before the join, but inside it the tree arm spawns batch 2 and the random schedule lands it before the KV arm writes: KV behind the tree",
                "the previous batch is awaited before the KV write and KV is written before the chunk's own batch, so T <= K <= one chunk whatever the schedule",
                "the one background commit writes KV before its node batch and starts only after the previous commit finished, so no schedule can reorder them",
            ],
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
            [
                "KV fails in chunk 1's join while the tree arm spawns batch 1; dropping the restore awaits that batch, which lands chunk 1's leaves past K: KV behind the tree",
                "the KV arm fails while the tree arm writes batch 1 synchronously (the join has no order), landing chunk 1's leaves past K: KV behind the tree",
                "the tree add spawns batch 1 before the KV write, which fails; the dropped restore awaits batch 1, which lands leaves past K: KV behind the tree",
                "awaiting batch 0 first does not help: in chunk 1's join KV fails while batch 1 is spawned, and drop's await lands it past K: KV behind the tree",
                "KV is written before commit_chunk, so its failure leaves batch 1 unwritten and T stays in chunk 0, below K; the restart resumes at min(K,T)",
                "commit 1 writes KV first and its error skips batch 1 (the `?`), so T never passes K; chunk 2 meets the error at its await and the restart resumes at min(K,T)",
            ],
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
            [
                B0_JOIN_ASYNC,
                B0_JOIN_SYNC,
                B0_TREE_THEN_KV,
                B0_WAIT_THEN_JOIN,
                B0_VERIFY_KV_TREE,
                B0_PIPELINED,
            ],
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
            [
                "the 1-key chunk 0 freezes nothing, so the crash leaves KV progress and no tree leaf; D1 resumes at K, and the restart's join commits chunk 1 (a 1-key chunk counts as completed, so in bound) but fails verify: stuck",
                "the 1-key chunk 0 freezes nothing (batch 0 is empty), so the crash leaves KV progress and no tree leaf; D1 resumes at K and chunk 1's verify fails forever, with KV within bound: stuck",
                "the 1-key chunk 0 freezes nothing, so the crash leaves KV progress and no tree leaf; D1 resumes at K, skipping chunk 0, and chunk 1 fails verification before its KV write: stuck",
                "the 1-key chunk 0 freezes nothing, so the crash leaves KV progress and no tree leaf; D1 resumes at K, and the restart's join commits chunk 1 in bound but fails verify: stuck",
                "with no durable tree leaf the Safe resume point is None, so the restart re-feeds chunk 0: KV skips its key, the tree re-adds it, and every chunk verifies",
                "with no durable tree leaf the Safe resume point is None, so the restart re-feeds chunk 0: KV's plan skips its key, the tree re-adds it, and every chunk verifies",
            ],
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
            [
                B0_JOIN_ASYNC,
                B0_JOIN_SYNC,
                B0_TREE_THEN_KV,
                B0_WAIT_THEN_JOIN,
                B0_VERIFY_KV_TREE,
                B0_PIPELINED,
            ],
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
            [
                B0_JOIN_ASYNC,
                B0_JOIN_SYNC,
                B0_TREE_THEN_KV,
                B0_WAIT_THEN_JOIN,
                B0_VERIFY_KV_TREE,
                B0_PIPELINED,
            ],
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
            [
                "the join's KV arm writes chunk 1's changed value without waiting for the tree arm, whose verify then fails (D2): the seam's row check flags the foreign row",
                "the join's KV arm writes chunk 1's changed value beside the tree arm's synchronous verify, which fails (D2): the seam's row check flags the foreign row",
                BAD_CHUNK_TREE_FIRST,
                "awaiting batch 0 before the join does not order KV after verify: the KV arm writes the changed value while the tree arm rejects it (D2): verified-only",
                BAD_CHUNK_VERIFY_KV_TREE,
                BAD_CHUNK_PIPELINED,
            ],
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
            [
                "the join's KV arm commits the delivery missing a key, progress included, beside the failing verify (D2); every resume skips keys up to that progress, so the row never lands: final-state",
                "the join's KV arm commits the delivery missing a key, progress included, while the synchronous tree rejects it (D2); KV then skips up to that progress, so the row never lands: final-state",
                BAD_CHUNK_TREE_FIRST,
                "awaiting batch 0 before the join does not order KV after verify: KV commits the delivery missing a key and its progress, then skips that key forever: final-state",
                BAD_CHUNK_VERIFY_KV_TREE,
                BAD_CHUNK_PIPELINED,
            ],
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
            [SHAPE, SHAPE, DIVERGE, SHAPE, PASS, PASS],
            [
                "batch 1 lands before chunk 2's KV arm (natural schedule), so K is in bound; the failed verify leaves the tree poisoned (D3), the retry is skipped unverified, and finish writes a leaf past the dropped key's gap",
                "batch 1 was written in chunk 1's join, so K is in bound; the failed verify leaves the tree poisoned (D3), the retry is skipped unverified, and finish (no root check) writes a leaf past the dropped key's gap",
                "the poisoned tree (D3) skips the whole retry, so it neither verifies nor awaits batch 1; KV then commits chunk 2 while batch 1 is unwritten: two chunks past the tree",
                "batch 1 is awaited before chunk 2's join, so K is in bound; the failed verify leaves the tree poisoned (D3), the retry is skipped unverified, and finish writes a leaf past the dropped key's gap",
                "the failed verify rolls back to its checkpoint before any KV write, so the retry re-verifies the good delivery; finish checks the complete tree's root",
                "the failed verify rolls back to its checkpoint before commit 2 is planned, so the retry re-verifies the good delivery; finish checks the complete tree's root",
            ],
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
            [
                "KV fails in chunk 1's join while the tree arm spawns batch 1; the error drops the restore, and drop awaits batch 1, which fails: panic (D4)",
                "batch 1 is written synchronously in the join and fails there, so nothing is pending at drop: no panic; the restart resumes at min(K,T)",
                "the tree add spawns batch 1, then chunk 1's KV write fails; the dropped restore awaits batch 1, which fails: panic (D4)",
                "batch 0 is awaited before the join, but batch 1 is spawned inside it while KV fails; drop awaits batch 1, which fails: panic (D4)",
                "the KV failure returns before commit_chunk, so batch 1 is not written in this process; its fault fires in the next, as a synchronous write with nothing pending at drop",
                "commit 1's KV write fails and its `?` skips batch 1; the fault hits batch 1 in a later process, and the pipeline's drop discards errors: no panic",
            ],
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
            [
                B1_JOIN_ASYNC,
                B1_JOIN_SYNC,
                B1_TREE_THEN_KV,
                B1_WAIT_THEN_JOIN,
                B1_VERIFY_KV_TREE,
                B1_PIPELINED,
            ],
            false,
        ),
        entry(
            "power-loss",
            "power fails after about three chunks and the last two unsynced writes are lost",
            one_life(crash(
                chunks(Pipelined, &SIZES),
                49,
                CrashKind::power_loss(2),
            )),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                POWER_LOSS_SUFFIX,
                POWER_LOSS_SUFFIX,
                POWER_LOSS_SUFFIX,
                POWER_LOSS_SUFFIX,
                POWER_LOSS_SUFFIX,
                POWER_LOSS_SUFFIX,
            ],
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
            [
                "the natural schedule lands batch 1 in full before chunk 2's KV arm writes, so chunks 0-1 are completed and K in bound; the reported error ends the process, the restart resumes at min(K,T)",
                "batch 1 lands in full inside chunk 1's join; its reported error ends the process with K at chunk 1, and the restart resumes at min(K,T) from the written nodes",
                "chunk 2's tree add awaits batch 1 (landed in full) and returns its error before the KV write; the restart recovers from its durable leaves at min(K,T)",
                "batch 1 is awaited before chunk 2's join and its error stops the chunk before any KV write; the restart recovers from its durable leaves at min(K,T)",
                "chunk 1's KV is written before its synchronous batch 1, which lands and reports an error; Safe poisons the object and the restart resumes at min(K,T)",
                "commit 1 writes chunk 1's KV, then batch 1 lands but errs; chunk 2 meets the error before spawning commit 2, and the restart resumes at min(K,T)",
            ],
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
            [
                "chunk 1's KV lands before its error, and drop awaits the spawned batch 1, which lands too: T stays below K, and the restart resumes at min(K,T)",
                "chunk 1's KV lands beside the synchronous batch 1 in the join; the reported KV error ends the process with T below K, and the restart resumes at min(K,T)",
                "batch 1 is spawned, then chunk 1's KV lands and errs; drop awaits batch 1 (it lands), T stays below K, and the restart resumes at min(K,T)",
                "inside chunk 1's join KV lands and errs while batch 1 is spawned; drop awaits batch 1 (it lands), T stays below K, and the restart resumes at min(K,T)",
                "chunk 1's KV lands but errs, returning before commit_chunk, so batch 1 is not written: K is one chunk ahead at most; the restart resumes at min(K,T)",
                "commit 1's KV lands but errs, and its `?` skips batch 1, so K is one chunk ahead at most; chunk 2 meets the error, the restart resumes at min(K,T)",
            ],
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
            [
                ACK_LOST_SUFFIX,
                ACK_LOST_SUFFIX,
                ACK_LOST_SUFFIX,
                ACK_LOST_SUFFIX,
                ACK_LOST_SUFFIX,
                ACK_LOST_SUFFIX,
            ],
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
            [
                "chunk 2's KV write meets the full disk while the tree arm spawns batch 2; the error drops the restore, and drop awaits batch 2, which fails too: panic (D4)",
                "batch 2 is written synchronously in the join and fails there, so nothing is pending at drop; the faults-off restart resumes at min(K,T)",
                "chunk 2's tree add spawns batch 2, then the KV write meets the full disk; drop awaits batch 2, which fails too: panic (D4)",
                "batch 1 is awaited before the join, but batch 2 is spawned inside it while KV meets the full disk; drop awaits batch 2, which fails: panic (D4)",
                "the KV write meets the full disk before commit_chunk, so no batch is in flight, and Safe drop never panics; the faults-off restart completes",
                "commit 2's KV write meets the full disk and its `?` skips the node batch; the error surfaces at the next await, and the pipeline's drop discards errors",
            ],
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
            [
                EMPTY_FINISH,
                EMPTY_FINISH,
                EMPTY_FINISH,
                EMPTY_FINISH,
                EMPTY_FINISH,
                EMPTY_FINISH,
            ],
            false,
        ),
        entry(
            "one-key",
            "a single key in a single chunk: the root is that leaf",
            chunks(Pipelined, &[1]),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                ONE_KEY_ROOT,
                ONE_KEY_ROOT,
                ONE_KEY_ROOT,
                ONE_KEY_ROOT,
                ONE_KEY_ROOT,
                ONE_KEY_ROOT,
            ],
            false,
        ),
        entry(
            "one-key-chunks",
            "eight chunks of one key: every chunk freezes exactly the previous leaf",
            case(Pipelined, 8, &[1]),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                CLEAN_JOIN_ASYNC,
                CLEAN_JOIN_SYNC,
                CLEAN_TREE_THEN_KV,
                CLEAN_WAIT_THEN_JOIN,
                CLEAN_VERIFY_KV_TREE,
                CLEAN_PIPELINED,
            ],
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
            [
                CLEAN_JOIN_ASYNC,
                CLEAN_JOIN_SYNC,
                CLEAN_TREE_THEN_KV,
                CLEAN_WAIT_THEN_JOIN,
                CLEAN_VERIFY_KV_TREE,
                CLEAN_PIPELINED,
            ],
            false,
        ),
        entry(
            "adjacent-keys",
            "consecutive key hashes: neighbours split only at the deepest levels",
            layout(chunks(Pipelined, &SIZES), LayoutCase::Adjacent),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                CLEAN_JOIN_ASYNC,
                CLEAN_JOIN_SYNC,
                CLEAN_TREE_THEN_KV,
                CLEAN_WAIT_THEN_JOIN,
                CLEAN_VERIFY_KV_TREE,
                CLEAN_PIPELINED,
            ],
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
            [
                B1_JOIN_ASYNC,
                B1_JOIN_SYNC,
                B1_TREE_THEN_KV,
                B1_WAIT_THEN_JOIN,
                B1_VERIFY_KV_TREE,
                B1_PIPELINED,
            ],
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
            [
                B1_JOIN_ASYNC,
                B1_JOIN_SYNC,
                B1_TREE_THEN_KV,
                B1_WAIT_THEN_JOIN,
                B1_VERIFY_KV_TREE,
                B1_PIPELINED,
            ],
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
            [
                CLEAN_JOIN_ASYNC,
                CLEAN_JOIN_SYNC,
                CLEAN_TREE_THEN_KV,
                CLEAN_WAIT_THEN_JOIN,
                CLEAN_VERIFY_KV_TREE,
                CLEAN_PIPELINED,
            ],
            false,
        ),
        entry(
            "aptos-restore-with-interruption",
            "test_restore_with_interruption: the process dies after the first batch; resume",
            crash(chunks(JoinAsync, &[7, 6, 7]), 30, CrashKind::Process),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                CRASH_AFTER_BATCH_0,
                CRASH_AFTER_BATCH_0,
                CRASH_AFTER_BATCH_0,
                CRASH_AFTER_BATCH_0,
                CRASH_AFTER_BATCH_0,
                CRASH_AFTER_BATCH_0,
            ],
            false,
        ),
        entry(
            "aptos-state-sync-varied-chunks",
            "test_restore (state sync): the same receiver fed chunks of varied sizes",
            retry_same_object(case(JoinSync, 30, &[2, 9, 1, 5, 13])),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                CLEAN_JOIN_ASYNC,
                CLEAN_JOIN_SYNC,
                CLEAN_TREE_THEN_KV,
                CLEAN_WAIT_THEN_JOIN,
                CLEAN_VERIFY_KV_TREE,
                CLEAN_PIPELINED,
            ],
            false,
        ),
        entry(
            "aptos-raw-restore-two-chunks",
            "test_raw_restore: two chunks, then finish; the root equals the source root",
            chunks(JoinAsync, &[6, 7]),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                CLEAN_JOIN_ASYNC,
                CLEAN_JOIN_SYNC,
                CLEAN_TREE_THEN_KV,
                CLEAN_WAIT_THEN_JOIN,
                CLEAN_VERIFY_KV_TREE,
                CLEAN_PIPELINED,
            ],
            false,
        ),
    ]
}
