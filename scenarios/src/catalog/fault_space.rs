//! Scenarios of the wider fault space: a dishonest result with a sound shape, several crashes in
//! one case, crashes during open, `finish` and after it, the restore and commit modes, stores
//! that hold other versions, and an overwrite. Each cell's reason follows the code path.

use harness::case::{Case, RestorePlan};
use harness::fault::{CrashAt, CrashKind, Effect, TamperKind, Target};
use harness::others::OtherVersion;
use restore_core::strategy::{CommitMode, CommitStrategy};

use super::{
    DISHONEST, PANIC, PASS, SHAPE, STUCK, UNVERIF, chunks, corrupt, entry, fail, retry_same_object,
};
use crate::Scenario;

/// The safe strategies: verification with a checkpoint (a failed chunk leaves no trace in
/// memory), KV written only from verified chunks, the root checked before finish returns.
const SAFE_RETRY: &str = "verify rolls back to the checkpoint, so the retry re-verifies the good delivery and the tree is right";

pub(super) fn all() -> Vec<Scenario> {
    [
        dishonest(),
        crashes(),
        commit_modes(),
        overwrite(),
        two_phase(),
    ]
    .concat()
}

/// Restoring a different snapshot again at the same version, with the overwrite constructor.
fn overwrite() -> Vec<Scenario> {
    use CommitStrategy::*;
    let mut c = chunks(JoinAsync, &[3, 3, 3, 3]);
    c.others = vec![OtherVersion {
        version: c.snapshot.version,
        seed: 99,
        keys: 12,
        finished: true,
    }];
    c.overwrite = true;
    vec![entry(
        "overwrite-different-snapshot",
        "a finished restore of another snapshot holds the version; restoring this one over it with the overwrite constructor",
        c,
        [SHAPE, SHAPE, STUCK, SHAPE, PASS, PASS],
        [
            OVERWRITE_APTOS,
            OVERWRITE_APTOS,
            "the fresh tree has no leaf, so the resume point is the old KV progress alone (D1); KV waits for the tree, which cannot verify that late chunk from an empty left side, so every process fails the same way (forward-progress)",
            OVERWRITE_APTOS,
            OVERWRITE_SAFE,
            OVERWRITE_SAFE,
        ],
        true,
    )]
}

/// Aptos's overwrite: a fresh tree written among the old one, KV skipping by the old progress.
const OVERWRITE_APTOS: &str = "the fresh tree has no leaf, so the resume point is the old KV progress alone (D1): the empty tree fails to verify that late chunk while the join writes its rows (D2); the next process skips every chunk and finish writes an empty tree's root among the old tree's nodes (durable-shape), with the old rows kept below the old progress";

/// The safe overwrite clears the version first.
const OVERWRITE_SAFE: &str = "the safe overwrite clears the version's nodes, rows, progress and usage first, then restores as into an empty store";

/// The strategies with the commit mode they do not default to.
fn commit_modes() -> Vec<Scenario> {
    use CommitStrategy::*;
    vec![entry(
        "d4-under-async-commits-for-all",
        "d4-panic-on-drop with asynchronous commits forced on every strategy: join-sync now has a batch in flight to drop",
        Case {
            commit: Some(CommitMode::Async),
            ..fail(
                fail(
                    chunks(JoinSync, &[3, 3, 3, 3]),
                    Target::KvWrite { nth: 1 },
                    Effect::IoError,
                ),
                Target::ChunkBatch { chunk: 1 },
                Effect::IoError,
            )
        },
        [PANIC, PANIC, PANIC, PANIC, PASS, PASS],
        [
            D4_ASYNC,
            "with async commits join-sync is join-async: chunk 1's KV write fails, the restore is dropped with batch 1 failing in the background, and the drop panics (D4)",
            "tree-then-kv spawns batch 1 before chunk 1's KV write fails; the drop finds it failed and panics (D4)",
            "wait-then-join awaits a batch only before the next chunk; chunk 1's KV write fails first, so the drop meets the failed batch 1 (D4)",
            "verify-kv-tree awaits the pending batch before verifying and writing KV, and a safe drop reports a failed write instead of panicking",
            "pipelined's background commit is awaited on drop and its error is returned, never a panic",
        ],
        false,
    )]
}

const D4_ASYNC: &str = "chunk 1's KV write fails while batch 1 fails in the background; the dropped restore finds the failed async write and panics (D4)";

/// honest-result as the headline: a complete tree of the right shape with a wrong leaf.
fn dishonest() -> Vec<Scenario> {
    use CommitStrategy::*;
    vec![entry(
        "d3-poisoned-reuse-changed-value",
        "D3 with a changed value: the tree has every key, but a leaf holds the corrupted value's hash; finish reports a wrong root",
        // One chunk: with more, every later chunk fails verification against the poisoned left
        // side and its retry skips the keys that attempt inserted, so the tree writes nothing
        // until finish while KV commits chunk after chunk (progress-divergence would come first).
        retry_same_object(corrupt(
            chunks(TreeThenKv, &[3]),
            0,
            TamperKind::ChangeValue { item: 1 },
        )),
        [UNVERIF, UNVERIF, DISHONEST, UNVERIF, PASS, PASS],
        [
            "the join writes the corrupted delivery's rows to KV beside the tree's failing verification (D2): verified-only at that KV write",
            "the join writes the corrupted delivery's rows to KV beside the tree's failing verification (D2): verified-only at that KV write",
            "KV waits for the tree, so no bad row lands; the tree keeps the bad leaf (D3), the retry skips every key, finish writes a complete tree with a wrong leaf hash: honest-result (the shape is sound, K stays within one chunk of T)",
            "the join writes the corrupted delivery's rows to KV beside the tree's failing verification (D2): verified-only at that KV write",
            SAFE_RETRY,
            SAFE_RETRY,
        ],
        true,
    )]
}

/// A crash of process `life`, `step` points after `at` (see [`Case::with_crash`]).
fn crash_in(c: Case, life: u32, at: CrashAt, step: u64, kind: CrashKind) -> Case {
    c.with_crash(life, at, step, kind)
}

/// Crashes at `finish`, after it, and in more than one process.
pub(super) fn crashes() -> Vec<Scenario> {
    use CommitStrategy::*;
    vec![
        entry(
            "crash-at-finish-before-the-batch-lands",
            "one chunk; the process dies as finish is called, with the chunk's async batch not yet written: KV has progress, the tree no leaf",
            crash_in(
                chunks(JoinAsync, &[3]),
                0,
                CrashAt::Finish,
                0,
                CrashKind::Process,
            ),
            [SHAPE, PASS, SHAPE, SHAPE, PASS, PASS],
            [
                "the async batch of chunk 0 runs only when finish awaits it, so the crash loses it; the restart resumes from KV's progress alone (D1), skips the chunk and finish writes the empty tree's root: durable-shape",
                "sync commits write chunk 0's batch inside add_chunk, so the restart finds a leaf, resumes from min(K, T) and re-feeds the chunk",
                "tree-then-kv's batch is async too and still unwritten at the crash: D1 skips the chunk and finish writes an empty root (durable-shape)",
                "wait-then-join awaits a batch only before the next chunk; with one chunk it is unwritten at the crash: D1, empty root (durable-shape)",
                "verify-kv-tree commits synchronously and resumes from min(K, T) only when both sides have progress",
                "pipelined resumes from scratch when the tree has no leaf (each side skips what it has), so the chunk is verified and written",
            ],
            true,
        ),
        entry(
            "crashes-in-three-processes",
            "the first process dies feeding, the second while opening (recovering the partial tree), the third inside finish; the fourth completes",
            crash_in(
                crash_in(
                    crash_in(
                        chunks(Pipelined, &[3, 3, 3, 3]),
                        0,
                        CrashAt::Start,
                        30,
                        CrashKind::Process,
                    ),
                    1,
                    CrashAt::Start,
                    3,
                    CrashKind::Process,
                ),
                2,
                CrashAt::Finish,
                4,
                CrashKind::Process,
            ),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                PASS_CRASHES,
                PASS_CRASHES,
                PASS_CRASHES,
                PASS_CRASHES,
                PASS_CRASHES,
                PASS_CRASHES,
            ],
            false,
        ),
        entry(
            "crash-after-finish",
            "finish returns Ok and the process dies at once: what survives is judged again, then the restart reopens a finished restore",
            crash_in(
                chunks(Pipelined, &[3, 3, 3]),
                0,
                CrashAt::AfterFinish,
                0,
                CrashKind::Process,
            ),
            [PASS, PASS, PASS, PASS, PASS, PASS],
            [
                AFTER_FINISH,
                AFTER_FINISH,
                AFTER_FINISH,
                AFTER_FINISH,
                AFTER_FINISH,
                AFTER_FINISH,
            ],
            false,
        ),
    ]
}

/// Why a run of process crashes with a durable leaf at every restart passes everywhere.
const PASS_CRASHES: &str = "a process crash keeps every write that returned; the first crash comes after chunk 1's batch is durable, so every restart finds a leaf and resumes from min(K, T) (D1 never applies), and reopening only reads";

/// Why a crash after a successful finish passes everywhere.
const AFTER_FINISH: &str = "a process crash keeps the finished tree and KV; the re-check finds them whole and the restart sees the root, resumes past every chunk and finishes at once";

/// Aptos's two-phase restore: KV alone to the end, then the tree alone.
fn two_phase() -> Vec<Scenario> {
    use CommitStrategy::*;
    let c = Case {
        plan: RestorePlan::KvThenTree,
        ..corrupt(
            chunks(Pipelined, &[3, 3, 3]),
            1,
            TamperKind::ChangeValue { item: 0 },
        )
    };
    vec![entry(
        "kv-then-tree-corrupt-chunk",
        "the coordinator's two-phase restore (KV alone, then the tree alone) with chunk 1 corrupted once",
        c,
        [UNVERIF, UNVERIF, UNVERIF, UNVERIF, PASS, PASS],
        [
            KV_ONLY_APTOS,
            KV_ONLY_APTOS,
            KV_ONLY_APTOS,
            KV_ONLY_APTOS,
            KV_ONLY_SAFE,
            KV_ONLY_SAFE,
        ],
        false,
    )]
}

/// Aptos's KV-only phase, whatever the strategy.
const KV_ONLY_APTOS: &str = "Aptos's KV-only phase verifies nothing: the corrupted delivery's changed row is written (verified-only at that KV write) and stays, since the tree phase never writes KV";

/// The safe KV-only phase.
const KV_ONLY_SAFE: &str = "the safe KV-only phase verifies each chunk with an in-memory tree before KV writes it, so the corrupted delivery is refused and the good re-delivery lands";
