//! Interrupt and resume at every chunk boundary.
//!
//! For each boundary `b`: restore chunks `[0, b)`, drop the restore without finishing (after
//! `wait_for_async_commit`, or letting drop wait), reopen the store, open a new restore, ask it
//! where to resume, and feed a re-cut tail that overlaps the already-restored keys. The result
//! must be the exact reference state. Also: resuming with the backup controller's chunk-skip
//! rule, finishing twice, and reopening a finished version.
//!
//! What is durable after `n` keys were added (every batch awaited) follows from the freezing
//! rule alone: every leaf but the last one (the last is frozen only when a key to its right
//! arrives), and on the KV side every row with the progress at the last key. The tests check
//! that, and derive the expected resume point from it by the rules of spec §5 / §9.2.

mod support;

use std::sync::Arc;

use restore_core::audit::{AuditError, check_final_state, check_tree};
use restore_core::chunk::first_chunk_to_feed;
use restore_core::runtime::Runtime;
use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
use restore_core::snapshot_restore::{RestoreOptions, SnapshotRestore};
use restore_core::store::{KvStore, MemStore, TreeStore};
use restore_core::strategy::{CommitStrategy, RestoreMode, Safety};
use restore_core::{Chunk, HashScheme, HashValue, KeyHash, RestoreError, Snapshot, Usage, Version};

use support::{
    Rt, all_combos, assert_restored, chunk_of, chunks_from, default_options, feed,
    first_item_after, open_restore, options, restore_all,
};

const VERSION: Version = Version(7);

/// How the interrupted restore goes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// `wait_for_async_commit()`, then drop.
    WaitThenDrop,
    /// Plain drop (it waits for the pending write internally).
    Drop,
}

/// How the resumed tail is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tail {
    /// Everything from the resume point minus the overlap as one chunk.
    OneChunk,
    /// The same items in chunks of 1, 3, 2, ….
    Rechunked,
}

/// The resumed tail: how it is cut and how many already-restored keys it repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TailPlan {
    tail: Tail,
    overlap: usize,
}

struct Case {
    name: &'static str,
    snap: Snapshot,
    chunks: Vec<Chunk>,
}

fn case(name: &'static str, spec: SnapshotSpec, chunking: Chunking) -> Case {
    let snap = Snapshot::generate(&spec, VERSION, HashScheme::Aptos);
    let chunks = snap.chunks(&chunking);
    Case { name, snap, chunks }
}

/// Small snapshots with 1-key chunks, shared prefixes, clusters and adjacent keys. The first
/// starts with a 1-key chunk (the tree has no durable leaf after it: spec §6.4-1).
fn mem_cases() -> Vec<Case> {
    vec![
        case(
            "random, mixed sizes starting with 1",
            SnapshotSpec {
                seed: 1,
                keys: 40,
                value_len: (0, 40),
                ..SnapshotSpec::default()
            },
            Chunking::Sizes(vec![1, 1, 4, 1, 7, 2]),
        ),
        case(
            "shared prefix 12, one key per chunk",
            SnapshotSpec {
                seed: 2,
                keys: 24,
                value_len: (0, 8),
                layout: KeyLayout::SharedPrefix { nibbles: 12 },
                ..SnapshotSpec::default()
            },
            Chunking::OneKey,
        ),
        case(
            "clustered, random 1..6",
            SnapshotSpec {
                seed: 3,
                keys: 36,
                value_len: (0, 16),
                layout: KeyLayout::Clustered {
                    clusters: 3,
                    nibbles: 7,
                },
                ..SnapshotSpec::default()
            },
            Chunking::Random {
                seed: 3,
                min: 1,
                max: 6,
            },
        ),
        case(
            "adjacent, sizes 2,1,3",
            SnapshotSpec {
                seed: 4,
                keys: 20,
                value_len: (1, 4),
                layout: KeyLayout::Adjacent,
                ..SnapshotSpec::default()
            },
            Chunking::Sizes(vec![2, 1, 3]),
        ),
    ]
}

fn rocks_cases() -> Vec<Case> {
    vec![
        case(
            "rocks: shared prefix 9, sizes 1,2,3",
            SnapshotSpec {
                seed: 11,
                keys: 14,
                value_len: (0, 24),
                layout: KeyLayout::SharedPrefix { nibbles: 9 },
                ..SnapshotSpec::default()
            },
            Chunking::Sizes(vec![1, 2, 3]),
        ),
        case(
            "rocks: random, one key per chunk",
            SnapshotSpec {
                seed: 12,
                keys: 8,
                value_len: (0, 24),
                ..SnapshotSpec::default()
            },
            Chunking::OneKey,
        ),
    ]
}

/// Number of keys in the first `b` chunks.
fn keys_in(chunks: &[Chunk], b: usize) -> usize {
    chunks[..b].iter().map(Chunk::len).sum()
}

/// The resume point spec §5 (Aptos) or §9.2 (Safe) gives after `n` keys were added, derived
/// from what is durable: tree up to key n−2, KV up to key n−1.
fn expected_resume(snap: &Snapshot, n: usize, opts: &RestoreOptions) -> Option<KeyHash> {
    let kv = n.checked_sub(1).map(|i| snap.items[i].key_hash);
    let tree = n.checked_sub(2).map(|i| snap.items[i].key_hash);
    match opts.safety() {
        Safety::Aptos => match (kv, tree) {
            (None, t) => t,
            (k, None) => k,
            (Some(k), Some(t)) => Some(k.min(t)),
        },
        Safety::Safe => match (kv, tree) {
            (Some(k), Some(t)) => Some(k.min(t)),
            _ => None,
        },
    }
}

/// After an interruption with `n` keys added and every batch landed: the rightmost durable leaf
/// is key n−2 (agreeing with the naive scan), and the KV progress is key n−1 with the usage of
/// the first n items.
fn assert_durable_after(store: &(impl TreeStore + KvStore), snap: &Snapshot, n: usize, ctx: &str) {
    let leaf = store.rightmost_leaf(VERSION).expect("store read");
    let naive = restore_core::store::rightmost_leaf_naive(store, VERSION).expect("store read");
    assert_eq!(leaf, naive, "{ctx}: rightmost leaf vs naive scan");
    assert_eq!(
        leaf.map(|(_, l)| l.account_key),
        n.checked_sub(2).map(|i| snap.items[i].key_hash),
        "{ctx}: rightmost durable leaf"
    );
    let progress = store.get_progress(VERSION).expect("store read");
    assert_eq!(
        progress.map(|p| (p.key_hash, p.usage)),
        n.checked_sub(1).map(|i| (
            snap.items[i].key_hash,
            support::usage_of_rows(&snap.items[..n])
        )),
        "{ctx}: KV progress"
    );
    assert!(
        store
            .get_node(&restore_core::node::NodeKey::root(VERSION))
            .expect("store read")
            .is_none(),
        "{ctx}: root written before finish"
    );
}

/// Restores chunks `[0, b)` and stops without finishing.
fn interrupt<S: TreeStore + KvStore + 'static>(
    store: &Arc<S>,
    rt: Arc<dyn Runtime>,
    c: &Case,
    b: usize,
    opts: RestoreOptions,
    stop: Stop,
) {
    let mut r = open_restore(store, rt, &c.snap, opts).expect("open");
    if let Err((i, e)) = feed(&mut r, &c.chunks[..b]) {
        panic!("{}: chunk {i} before the interruption: {e}", c.name);
    }
    if stop == Stop::WaitThenDrop {
        r.wait_for_async_commit().expect("wait");
    }
    drop(r);
}

/// Opens a new restore, checks its resume point, feeds the overlapping tail and finishes.
fn resume_with_tail<S: TreeStore + KvStore + 'static>(
    store: &Arc<S>,
    rt: Arc<dyn Runtime>,
    c: &Case,
    n: usize,
    opts: RestoreOptions,
    TailPlan { tail, overlap }: TailPlan,
    ctx: &str,
) {
    let mut r = open_restore(store, rt, &c.snap, opts).expect("reopen");
    let resume = r.previous_key_hash().expect("resume point");
    assert_eq!(
        resume,
        expected_resume(&c.snap, n, &opts),
        "{ctx}: resume point"
    );
    let after = first_item_after(&c.snap, resume);
    // Overlap the restored keys by `overlap`, or by all of them if there are fewer.
    let start = after - overlap.min(after);
    assert!(after == 0 || start < after, "{ctx}: no overlap");
    let tree = c.snap.reference_tree();
    let chunks = match tail {
        Tail::OneChunk => vec![chunk_of(&c.snap, &tree, start..c.snap.items.len(), 0)],
        Tail::Rechunked => chunks_from(&c.snap, &tree, start, &[1, 3, 2]),
    };
    if let Err((i, e)) = feed(&mut r, &chunks) {
        panic!("{ctx}: resumed chunk {i} (tail from item {start}): {e}");
    }
    r.finish()
        .unwrap_or_else(|e| panic!("{ctx}: finish after resume: {e}"));
}

#[test]
fn mem_resume_at_every_boundary_with_overlapping_tail() {
    let mut runs = 0;
    for c in mem_cases() {
        for (strategy, commit) in all_combos() {
            let opts = default_options(strategy, Some(commit), &c.snap);
            for stop in [Stop::WaitThenDrop, Stop::Drop] {
                for b in 0..=c.chunks.len() {
                    for tail in [Tail::OneChunk, Tail::Rechunked] {
                        let n = keys_in(&c.chunks, b);
                        let overlap = 1 + b % 3;
                        let rt = Rt::ALL[b % 2];
                        let ctx = format!(
                            "{}: {strategy} {commit:?} {stop:?} {tail:?} {rt:?}, boundary {b} ({n} keys), overlap {overlap}",
                            c.name
                        );
                        // The same Arc across the "restart": what was written is what survives.
                        let store = Arc::new(MemStore::with_overwrite_check());
                        interrupt(&store, rt.make(), &c, b, opts, stop);
                        assert_durable_after(&*store, &c.snap, n, &ctx);
                        resume_with_tail(
                            &store,
                            rt.make(),
                            &c,
                            n,
                            opts,
                            TailPlan { tail, overlap },
                            &ctx,
                        );
                        assert_restored(&*store, &*store, &c.snap, &ctx);
                        runs += 1;
                    }
                }
            }
        }
    }
    // 4 snapshots, 12 combinations, 2 stops, every boundary, 2 tails.
    assert!(runs > 4 * 12 * 2 * 2 * 5, "{runs} runs");
}

/// The same on RocksDB, closing and reopening the database at the "restart". Every open costs
/// tens of milliseconds of fsyncs, so each boundary runs one stop × tail × runtime variant,
/// rotated so that every variant occurs for every strategy.
#[test]
fn rocks_resume_at_every_boundary_after_reopening_the_database() {
    let mut seen = std::collections::BTreeSet::new();
    for c in rocks_cases() {
        for (si, strategy) in CommitStrategy::ALL.into_iter().enumerate() {
            let opts = default_options(strategy, None, &c.snap);
            for b in 0..=c.chunks.len() {
                let k = b + si;
                let stop = [Stop::WaitThenDrop, Stop::Drop][k % 2];
                let tail = [Tail::OneChunk, Tail::Rechunked][(k / 2) % 2];
                let rt = Rt::ALL[(k / 4) % 2];
                seen.insert((strategy, k % 4));
                let n = keys_in(&c.chunks, b);
                let overlap = 1 + b % 2;
                let ctx = format!(
                    "{}: {strategy} {stop:?} {tail:?} {rt:?}, boundary {b} ({n} keys), overlap {overlap}",
                    c.name
                );
                let dir = tempfile::tempdir().expect("tempdir");
                let store = Arc::new(support::open_rocks(dir.path()));
                interrupt(&store, rt.make(), &c, b, opts, stop);
                // Close the database: the restore is gone, so this is the last handle.
                let store = Arc::try_unwrap(store).expect("restore released the store");
                drop(store);
                let store = Arc::new(support::open_rocks(dir.path()));
                assert_durable_after(&*store, &c.snap, n, &ctx);
                resume_with_tail(
                    &store,
                    rt.make(),
                    &c,
                    n,
                    opts,
                    TailPlan { tail, overlap },
                    &ctx,
                );
                assert_restored(&*store, &*store, &c.snap, &ctx);
                if b % 3 == 0 {
                    // And what the finished restore left survives another restart.
                    let store = Arc::try_unwrap(store).expect("restore released the store");
                    drop(store);
                    let store = support::open_rocks(dir.path());
                    assert_restored(&store, &store, &c.snap, &format!("{ctx}, reopened"));
                }
            }
        }
    }
    assert_eq!(
        seen.len(),
        6 * 4,
        "every strategy saw every stop × tail variant"
    );
}

/// Resuming with the backup controller's rule: skip every leading original chunk whose last key
/// is at or below the resume point, feed the rest unchanged. The Safe strategies always finish
/// correctly. The Aptos ones do too, except after exactly one key (a 1-key first chunk): then
/// the tree has no durable leaf, the resume point is the KV progress (defect D1), chunk 0 is
/// skipped and the tree never sees key 0, so the next chunk's proof fails — the restore is
/// stuck (fails safe).
#[test]
fn mem_resume_with_controller_skip_rule() {
    let mut stuck = 0;
    let cases = mem_cases();
    // Aptos strategies × commit modes, for each case whose first chunk has one key of several.
    let expected_stuck = 8 * cases
        .iter()
        .filter(|c| c.chunks.len() > 1 && c.chunks[0].len() == 1)
        .count();
    assert!(expected_stuck > 0, "no case exercises D1");
    for c in &cases {
        for (strategy, commit) in all_combos() {
            let opts = default_options(strategy, Some(commit), &c.snap);
            for b in 0..=c.chunks.len() {
                let n = keys_in(&c.chunks, b);
                let rt = Rt::ALL[b % 2];
                let ctx = format!("{}: {strategy} {commit:?} {rt:?}, boundary {b}", c.name);
                let store = Arc::new(MemStore::with_overwrite_check());
                interrupt(&store, rt.make(), c, b, opts, Stop::Drop);
                let mut r = open_restore(&store, rt.make(), &c.snap, opts).expect("reopen");
                let resume = r.previous_key_hash().expect("resume");
                let first = first_chunk_to_feed(&c.chunks, resume);
                let d1 = opts.safety() == Safety::Aptos && n == 1 && b < c.chunks.len();
                if d1 {
                    assert_eq!(first, 1, "{ctx}: chunk 0 skipped");
                    let e = r.add_chunk(&c.chunks[first]).expect_err(&ctx);
                    assert!(
                        matches!(e, RestoreError::Proof(_)),
                        "{ctx}: expected a proof error, got {e}"
                    );
                    stuck += 1;
                    continue;
                }
                // Never more than one chunk is re-fed: the tree is at most one key behind.
                assert!(first + 1 >= b, "{ctx}: resumes at chunk {first}");
                if let Err((i, e)) = feed(&mut r, &c.chunks[first..]) {
                    panic!("{ctx}: chunk {} after resume: {e}", first + i);
                }
                r.finish().unwrap_or_else(|e| panic!("{ctx}: finish: {e}"));
                drop(r);
                assert_restored(&*store, &*store, &c.snap, &ctx);
            }
        }
    }
    assert_eq!(stuck, expected_stuck, "D1 cases");
}

/// Defect D1 at its worst: a one-key snapshot interrupted after its only chunk. Aptos resumes
/// at the KV progress, the controller skips the only chunk, and `finish` — which does not check
/// the root — writes an empty tree and reports success. Safe resumes from scratch and is right.
#[test]
fn one_key_snapshot_interrupted_before_finish() {
    let c = case(
        "one key",
        SnapshotSpec {
            seed: 21,
            keys: 1,
            ..SnapshotSpec::default()
        },
        Chunking::Whole,
    );
    for (strategy, commit) in all_combos() {
        let opts = default_options(strategy, Some(commit), &c.snap);
        let ctx = format!("{strategy} {commit:?}");
        let store = Arc::new(MemStore::with_overwrite_check());
        interrupt(&store, Rt::Inline.make(), &c, 1, opts, Stop::Drop);
        let mut r = open_restore(&store, Rt::Inline.make(), &c.snap, opts).expect("reopen");
        let resume = r.previous_key_hash().unwrap();
        let first = first_chunk_to_feed(&c.chunks, resume);
        feed(&mut r, &c.chunks[first..]).unwrap();
        r.finish().unwrap_or_else(|e| panic!("{ctx}: finish {e}"));
        drop(r);
        match opts.safety() {
            Safety::Safe => {
                assert_eq!(resume, None, "{ctx}");
                assert_restored(&*store, &*store, &c.snap, &ctx);
            }
            Safety::Aptos => {
                assert_eq!(resume, Some(c.snap.items[0].key_hash), "{ctx}");
                assert_eq!(first, 1, "{ctx}");
                let placeholder = HashScheme::Aptos.placeholder();
                assert_eq!(
                    check_final_state(&*store, &*store, &c.snap),
                    Err(AuditError::RootMismatch {
                        expected: c.snap.root,
                        found: placeholder
                    }),
                    "{ctx}: Aptos finishes an empty tree over one KV row"
                );
                assert_eq!(store.kv_count(), 1, "{ctx}");
            }
        }
    }
}

/// Restores fully, then: `finish` again on the same object, and reopen the finished version.
/// The tree reports all ones as its resume point, the controller skips every chunk, feeding
/// them anyway writes nothing, and `finish` succeeds with the state unchanged.
#[test]
fn finish_twice_and_reopen_a_finished_restore() {
    let mut cases = mem_cases();
    cases.push(case(
        "empty",
        SnapshotSpec {
            keys: 0,
            ..SnapshotSpec::default()
        },
        Chunking::Whole,
    ));
    for c in &cases {
        for (strategy, commit) in all_combos() {
            for mode in [RestoreMode::Default, RestoreMode::TreeOnly] {
                let opts = options(strategy, Some(commit), mode, c.snap.scheme);
                let ctx = format!("{}: {strategy} {commit:?} {mode:?}", c.name);
                let store = Arc::new(MemStore::with_overwrite_check());
                let mut r = open_restore(&store, Rt::Inline.make(), &c.snap, opts).unwrap();
                feed(&mut r, &c.chunks).unwrap();
                r.finish().unwrap();
                let done = store.clone_contents();
                r.finish()
                    .unwrap_or_else(|e| panic!("{ctx}: second finish: {e}"));
                assert!(store.clone_contents() == done, "{ctx}: second finish wrote");
                drop(r);

                let mut r = open_restore(&store, Rt::Inline.make(), &c.snap, opts).unwrap();
                assert_eq!(
                    r.tree().expect("tree side").previous_key_hash(),
                    Some(HashValue::MAX),
                    "{ctx}: finished tree resumes at all ones"
                );
                let resume = r.previous_key_hash().unwrap();
                let last = c.snap.items.last().map(|i| i.key_hash);
                let expected = match (mode, opts.safety(), last) {
                    (RestoreMode::TreeOnly, _, _) => Some(HashValue::MAX),
                    // min(KV progress, all ones) = the last key.
                    (_, _, Some(last)) => Some(last),
                    // Empty snapshot: the KV side never had progress.
                    (_, Safety::Aptos, None) => Some(HashValue::MAX),
                    (_, Safety::Safe, None) => None,
                };
                assert_eq!(resume, expected, "{ctx}: resume point");
                assert_eq!(
                    first_chunk_to_feed(&c.chunks, resume),
                    c.chunks.len(),
                    "{ctx}: every chunk skipped"
                );
                feed(&mut r, &c.chunks)
                    .unwrap_or_else(|(i, e)| panic!("{ctx}: re-fed chunk {i}: {e}"));
                assert!(store.clone_contents() == done, "{ctx}: re-fed chunks wrote");
                r.finish()
                    .unwrap_or_else(|e| panic!("{ctx}: finish after reopen: {e}"));
                drop(r);
                if mode == RestoreMode::Default {
                    assert_restored(&*store, &*store, &c.snap, &ctx);
                }
                assert!(
                    store.clone_contents() == done,
                    "{ctx}: reopen changed the state"
                );
            }
        }
    }
}

/// Reopening a finished version with another expected root is refused, naming both roots.
#[test]
fn reopen_finished_with_another_root_is_refused() {
    let c = &mem_cases()[0];
    let other = HashValue::sha3(b"not the root");
    for strategy in CommitStrategy::ALL {
        for mode in [RestoreMode::Default, RestoreMode::TreeOnly] {
            let opts = options(strategy, None, mode, c.snap.scheme);
            let dir = tempfile::tempdir().unwrap();
            let rocks = Arc::new(support::open_rocks(dir.path()));
            let mem = Arc::new(MemStore::with_overwrite_check());
            restore_all(&mem, Rt::Inline.make(), &c.snap, &c.chunks, opts);
            restore_all(&rocks, Rt::Thread.make(), &c.snap, &c.chunks, opts);
            let rocks = Arc::try_unwrap(rocks).expect("released");
            drop(rocks);
            let rocks = Arc::new(support::open_rocks(dir.path()));
            for (tree, kv) in [
                (
                    mem.clone() as Arc<dyn TreeStore>,
                    mem.clone() as Arc<dyn KvStore>,
                ),
                (
                    rocks.clone() as Arc<dyn TreeStore>,
                    rocks.clone() as Arc<dyn KvStore>,
                ),
            ] {
                let e = SnapshotRestore::open(tree, kv, Rt::Inline.make(), VERSION, other, opts)
                    .err()
                    .expect("reopen with another root must fail");
                assert_eq!(
                    e,
                    RestoreError::PreviousRootMismatch {
                        expected: other,
                        found: c.snap.root
                    },
                    "{strategy} {mode:?}"
                );
                let msg = e.to_string();
                assert!(
                    msg.contains("previous completed restore")
                        && msg.contains(&other.to_string())
                        && msg.contains(&c.snap.root.to_string()),
                    "{msg}"
                );
            }
            // The refusal changed nothing.
            if mode == RestoreMode::Default {
                assert_restored(&*rocks, &*rocks, &c.snap, "rocks after refusal");
                assert_restored(&*mem, &*mem, &c.snap, "mem after refusal");
            } else {
                assert_eq!(check_tree(&*rocks, &c.snap), Ok(()), "rocks after refusal");
                assert_eq!(check_tree(&*mem, &c.snap), Ok(()), "mem after refusal");
            }
        }
    }
}

/// Resume also works when the interruption happens while a batch write is still pending on a
/// real writer thread and the object is simply dropped: the drop waits, so the durable state
/// is the same as after an explicit wait.
#[test]
fn drop_with_pending_write_equals_wait_then_drop() {
    let c = &mem_cases()[2];
    for strategy in CommitStrategy::ALL {
        let opts = default_options(
            strategy,
            Some(restore_core::strategy::CommitMode::Async),
            &c.snap,
        );
        for b in 1..=c.chunks.len() {
            let waited = Arc::new(MemStore::with_overwrite_check());
            let dropped = Arc::new(MemStore::with_overwrite_check());
            interrupt(&waited, Rt::Thread.make(), c, b, opts, Stop::WaitThenDrop);
            interrupt(&dropped, Rt::Thread.make(), c, b, opts, Stop::Drop);
            assert!(
                waited.clone_contents() == dropped.clone_contents(),
                "{strategy}: boundary {b}"
            );
            let n = keys_in(&c.chunks, b);
            assert_eq!(
                dropped.get_progress(VERSION).unwrap().map(|p| p.usage),
                Some(Usage::of(&c.snap.items[..n]))
            );
        }
    }
}

/// A chunk fed twice in a row (the second time fully covered) is skipped by both sides and the
/// restore still ends right: the skip rule in a live object, not only after a restart.
#[test]
fn refeeding_the_previous_chunk_is_harmless() {
    let c = &mem_cases()[0];
    for (strategy, commit) in all_combos() {
        let opts = default_options(strategy, Some(commit), &c.snap);
        let store = Arc::new(MemStore::with_overwrite_check());
        let mut r = open_restore(&store, Rt::Inline.make(), &c.snap, opts).unwrap();
        for chunk in &c.chunks {
            r.add_chunk(chunk).unwrap();
            r.add_chunk(chunk)
                .unwrap_or_else(|e| panic!("{strategy} {commit:?}: re-fed chunk: {e}"));
        }
        r.finish().unwrap();
        drop(r);
        assert_restored(&*store, &*store, &c.snap, &format!("{strategy} {commit:?}"));
    }
}

// ----- injected write failures ----------------------------------------------------------------

/// Which write of a [`FailingStore`] fails (counting from 0, each kind separately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The n-th node-shard write.
    Node(usize),
    /// The n-th KV batch.
    Kv(usize),
    /// The n-th usage record.
    Usage(usize),
}

/// Forwards to a shared [`MemStore`], failing exactly one write: a node-shard write (the unit a
/// batch is split into, so a failure leaves a key-order prefix of the batch durable) or a KV
/// batch. Afterwards the store works again, as a process restart over the same disk would see.
struct FailingStore {
    inner: Arc<MemStore>,
    fault: Option<Fault>,
    node_writes: std::sync::atomic::AtomicUsize,
    kv_writes: std::sync::atomic::AtomicUsize,
    usage_writes: std::sync::atomic::AtomicUsize,
}

impl FailingStore {
    fn new(inner: Arc<MemStore>, fault: Option<Fault>) -> FailingStore {
        FailingStore {
            inner,
            fault,
            node_writes: Default::default(),
            kv_writes: Default::default(),
            usage_writes: Default::default(),
        }
    }

    /// Every fault this store's run could hit: one per write it made.
    fn possible_faults(&self) -> Vec<Fault> {
        use std::sync::atomic::Ordering::SeqCst;
        (0..self.node_writes.load(SeqCst))
            .map(Fault::Node)
            .chain((0..self.kv_writes.load(SeqCst)).map(Fault::Kv))
            .chain((0..self.usage_writes.load(SeqCst)).map(Fault::Usage))
            .collect()
    }
}

impl TreeStore for FailingStore {
    fn write_node_shard(
        &self,
        shard: restore_core::node::NodeShard,
        nodes: &[(restore_core::node::NodeKey, restore_core::node::Node)],
    ) -> restore_core::store::StoreResult<()> {
        let n = self
            .node_writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fault == Some(Fault::Node(n)) {
            return Err(restore_core::store::StoreError::Fault(format!(
                "node shard write {n}"
            )));
        }
        self.inner.write_node_shard(shard, nodes)
    }

    fn get_node(
        &self,
        key: &restore_core::node::NodeKey,
    ) -> restore_core::store::StoreResult<Option<restore_core::node::Node>> {
        self.inner.get_node(key)
    }

    fn rightmost_leaf(
        &self,
        version: Version,
    ) -> restore_core::store::StoreResult<
        Option<(restore_core::node::NodeKey, restore_core::node::LeafNode)>,
    > {
        self.inner.rightmost_leaf(version)
    }

    fn nodes_at(
        &self,
        version: Version,
    ) -> restore_core::store::StoreResult<
        Vec<(restore_core::node::NodeKey, restore_core::node::Node)>,
    > {
        self.inner.nodes_at(version)
    }
}

impl KvStore for FailingStore {
    fn write_kv_batch(
        &self,
        version: Version,
        rows: &[restore_core::StateItem],
        progress: Option<&restore_core::Progress>,
    ) -> restore_core::store::StoreResult<()> {
        let n = self
            .kv_writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fault == Some(Fault::Kv(n)) {
            return Err(restore_core::store::StoreError::Fault(format!(
                "kv write {n}"
            )));
        }
        self.inner.write_kv_batch(version, rows, progress)
    }

    fn get_progress(
        &self,
        version: Version,
    ) -> restore_core::store::StoreResult<Option<restore_core::Progress>> {
        self.inner.get_progress(version)
    }

    fn get_value(
        &self,
        version: Version,
        key_hash: &KeyHash,
    ) -> restore_core::store::StoreResult<Option<restore_core::StateItem>> {
        self.inner.get_value(version, key_hash)
    }

    fn kv_rows(
        &self,
        version: Version,
    ) -> restore_core::store::StoreResult<Vec<restore_core::StateItem>> {
        self.inner.kv_rows(version)
    }

    fn write_usage(&self, version: Version, usage: &Usage) -> restore_core::store::StoreResult<()> {
        let n = self
            .usage_writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fault == Some(Fault::Usage(n)) {
            return Err(restore_core::store::StoreError::Fault(format!(
                "usage write {n}"
            )));
        }
        self.inner.write_usage(version, usage)
    }

    fn get_usage(&self, version: Version) -> restore_core::store::StoreResult<Option<Usage>> {
        self.inner.get_usage(version)
    }
}

/// Runs a whole restore through `store`; returns the first error.
fn run_until_error(
    store: &Arc<FailingStore>,
    c: &Case,
    opts: RestoreOptions,
    rt: Rt,
) -> Result<(), RestoreError> {
    let mut r = open_restore(store, rt.make(), &c.snap, opts)?;
    feed(&mut r, &c.chunks).map_err(|(_, e)| e)?;
    r.finish()
}

/// Every single node-shard write, KV write and usage write fails once in turn (spec §7: "not
/// covered anywhere: injected write failures"). The restore stops at the first error and the
/// process "restarts" over what was written; a new restore resumes with the controller rule and
/// finishes. Safe strategies always end with the exact reference state. Aptos strategies do too
/// unless the restart finds KV progress but no durable tree leaf (D1): then they either get
/// stuck on a proof error or, with nothing left to feed, finish a wrong tree.
#[test]
fn single_write_failure_then_restart() {
    let cases = mem_cases();
    let mut d1_seen = 0;
    for c in [&cases[0], &cases[3]] {
        for (strategy, commit) in all_combos() {
            let opts = default_options(strategy, Some(commit), &c.snap);
            // A clean run counts the writes.
            let clean = Arc::new(FailingStore::new(
                Arc::new(MemStore::with_overwrite_check()),
                None,
            ));
            run_until_error(&clean, c, opts, Rt::Inline).unwrap();
            for (i, fault) in clean.possible_faults().into_iter().enumerate() {
                let rt = Rt::ALL[i % 2];
                let ctx = format!("{}: {strategy} {commit:?} {rt:?}, {fault:?}", c.name);
                let disk = Arc::new(MemStore::with_overwrite_check());
                let failing = Arc::new(FailingStore::new(disk.clone(), Some(fault)));
                let e = run_until_error(&failing, c, opts, rt)
                    .expect_err(&format!("{ctx}: the fault must surface"));
                assert!(
                    matches!(
                        &e,
                        RestoreError::Store(restore_core::store::StoreError::Fault(_))
                    ),
                    "{ctx}: {e}"
                );
                drop(failing);

                // Restart over what was written.
                let d1 = disk.rightmost_leaf(VERSION).unwrap().is_none()
                    && disk.get_progress(VERSION).unwrap().is_some()
                    && disk
                        .get_node(&restore_core::node::NodeKey::root(VERSION))
                        .unwrap()
                        .is_none();
                let mut r = open_restore(&disk, rt.make(), &c.snap, opts)
                    .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                let resume = r.previous_key_hash().unwrap();
                let first = first_chunk_to_feed(&c.chunks, resume);
                let outcome = feed(&mut r, &c.chunks[first..])
                    .map_err(|(_, e)| e)
                    .and_then(|()| r.finish());
                drop(r);
                let audit = check_final_state(&*disk, &*disk, &c.snap);
                if d1 && opts.safety() == Safety::Aptos && first > 0 {
                    d1_seen += 1;
                    match outcome {
                        Err(RestoreError::Proof(_)) => {}
                        Ok(()) => assert!(audit.is_err(), "{ctx}: D1 finished right?"),
                        Err(e) => panic!("{ctx}: D1 with an unexpected error: {e}"),
                    }
                } else {
                    outcome.unwrap_or_else(|e| panic!("{ctx}: resume from chunk {first}: {e}"));
                    assert_eq!(audit, Ok(()), "{ctx}: resumed from chunk {first}");
                }
            }
        }
    }
    assert!(d1_seen > 0, "no fault produced the D1 situation");
}

/// D4: an Aptos restore dropped while its last async batch write failed and nobody awaited it
/// panics in drop. A Safe restore waits and discards the error (the durable state is a valid
/// recovery point), and a restart then finishes correctly.
#[test]
fn drop_after_an_unawaited_failed_write() {
    let c = &mem_cases()[0];
    for strategy in CommitStrategy::ALL {
        let opts = default_options(
            strategy,
            Some(restore_core::strategy::CommitMode::Async),
            &c.snap,
        );
        // Fail the first node write of the batch spawned by the last chunk fed.
        let b = c.chunks.len() - 2;
        let probe = Arc::new(FailingStore::new(
            Arc::new(MemStore::with_overwrite_check()),
            None,
        ));
        let mut r = open_restore(&probe, Rt::Inline.make(), &c.snap, opts).unwrap();
        feed(&mut r, &c.chunks[..b - 1]).unwrap();
        r.wait_for_async_commit().unwrap();
        let fault = Fault::Node(
            probe
                .possible_faults()
                .iter()
                .filter(|f| matches!(f, Fault::Node(_)))
                .count(),
        );
        drop(r);

        let disk = Arc::new(MemStore::with_overwrite_check());
        let failing = Arc::new(FailingStore::new(disk.clone(), Some(fault)));
        let mut r = open_restore(&failing, Rt::Inline.make(), &c.snap, opts).unwrap();
        feed(&mut r, &c.chunks[..b]).unwrap_or_else(|(i, e)| {
            panic!("{strategy}: chunk {i}: the failed write must still be pending: {e}")
        });
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(r)));
        match strategy.safety() {
            Safety::Aptos => {
                let payload = dropped.expect_err("Aptos drop panics on a failed pending write");
                let msg = restore_core::runtime::panic_message(payload.as_ref());
                assert!(
                    msg.contains("async tree batch write failed"),
                    "{strategy}: {msg}"
                );
            }
            Safety::Safe => {
                assert!(dropped.is_ok(), "{strategy}: Safe drop must not panic");
            }
        }
        drop(failing);
        let mut r = open_restore(&disk, Rt::Inline.make(), &c.snap, opts).unwrap();
        let first = first_chunk_to_feed(&c.chunks, r.previous_key_hash().unwrap());
        assert!(first < b, "{strategy}: the lost batch's chunk is fed again");
        feed(&mut r, &c.chunks[first..]).unwrap();
        r.finish().unwrap();
        drop(r);
        assert_restored(
            &*disk,
            &*disk,
            &c.snap,
            &format!("{strategy} after restart"),
        );
    }
}

/// Restores of neighbouring versions share one store and are interleaved chunk by chunk, with
/// a restart of both in the middle: neither sees the other's nodes, rows or progress. Versions
/// at both ends of the range, on both stores.
#[test]
fn neighbouring_versions_do_not_interfere() {
    for (va, vb) in [(0, 1), (u64::MAX - 1, u64::MAX)] {
        let make = |seed, v| {
            let snap = Snapshot::generate(
                &SnapshotSpec {
                    seed,
                    keys: 60,
                    value_len: (0, 30),
                    layout: KeyLayout::Clustered {
                        clusters: 2,
                        nibbles: 3,
                    },
                    ..SnapshotSpec::default()
                },
                Version(v),
                HashScheme::Aptos,
            );
            let chunks = snap.chunks(&Chunking::Sizes(vec![1, 5, 3]));
            Case {
                name: "neighbour",
                snap,
                chunks,
            }
        };
        let (a, b) = (make(40, va), make(41, vb));
        for strategy in CommitStrategy::ALL {
            let dir = tempfile::tempdir().unwrap();
            let mem = Arc::new(MemStore::with_overwrite_check());
            let rocks = Arc::new(support::open_rocks(dir.path()));
            neighbours_on(&mem, &a, &b, strategy);
            neighbours_on(&rocks, &a, &b, strategy);
            drop(Arc::try_unwrap(rocks).expect("released"));
            let rocks = support::open_rocks(dir.path());
            for c in [&a, &b] {
                assert_restored(
                    &rocks,
                    &rocks,
                    &c.snap,
                    &format!("{strategy} v{}", c.snap.version),
                );
            }
        }
    }
}

fn neighbours_on<S: TreeStore + KvStore + 'static>(
    store: &Arc<S>,
    a: &Case,
    b: &Case,
    strategy: CommitStrategy,
) {
    let open = |c: &Case| {
        SnapshotRestore::open(
            store.clone(),
            store.clone(),
            Rt::Inline.make(),
            c.snap.version,
            c.snap.root,
            default_options(strategy, None, &c.snap),
        )
        .unwrap()
    };
    let half = a.chunks.len().min(b.chunks.len()) / 2;
    let (mut ra, mut rb) = (open(a), open(b));
    for i in 0..half {
        ra.add_chunk(&a.chunks[i]).unwrap();
        rb.add_chunk(&b.chunks[i]).unwrap();
    }
    drop((ra, rb));
    let (mut ra, mut rb) = (open(a), open(b));
    let fa = first_chunk_to_feed(&a.chunks, ra.previous_key_hash().unwrap());
    let fb = first_chunk_to_feed(&b.chunks, rb.previous_key_hash().unwrap());
    // Each is one key behind on the tree side, so each re-feeds its own last chunk.
    assert_eq!(
        (fa, fb),
        (half - 1, half - 1),
        "{strategy}: each resumes from its own progress"
    );
    for i in 0..a.chunks.len().max(b.chunks.len()) {
        if i >= fa && i < a.chunks.len() {
            ra.add_chunk(&a.chunks[i]).unwrap();
        }
        if i >= fb && i < b.chunks.len() {
            rb.add_chunk(&b.chunks[i]).unwrap();
        }
    }
    ra.finish().unwrap();
    rb.finish().unwrap();
    drop((ra, rb));
    for c in [a, b] {
        assert_restored(
            &**store,
            &**store,
            &c.snap,
            &format!("{strategy} v{}", c.snap.version),
        );
    }
}

/// Two-phase restore with an interruption in each phase: KvOnly resumes from its progress, TreeOnly
/// from its rightmost durable leaf (KV untouched by the tree phase); the end state is exact.
#[test]
fn two_phase_restore_interrupted_in_each_phase() {
    for c in mem_cases() {
        for (strategy, commit) in all_combos() {
            for b in [1, c.chunks.len() / 2, c.chunks.len()] {
                let ctx = format!("{}: {strategy} {commit:?}, boundary {b}", c.name);
                let n = keys_in(&c.chunks, b);
                let store = Arc::new(MemStore::with_overwrite_check());
                for (mode, expected) in [
                    (RestoreMode::KvOnly, n.checked_sub(1)),
                    (RestoreMode::TreeOnly, n.checked_sub(2)),
                ] {
                    let opts = options(strategy, Some(commit), mode, c.snap.scheme);
                    interrupt(&store, Rt::Inline.make(), &c, b, opts, Stop::Drop);
                    let mut r = open_restore(&store, Rt::Inline.make(), &c.snap, opts).unwrap();
                    let resume = r.previous_key_hash().unwrap();
                    assert_eq!(
                        resume,
                        expected.map(|i| c.snap.items[i].key_hash),
                        "{ctx}: {mode:?} resume"
                    );
                    let first = first_chunk_to_feed(&c.chunks, resume);
                    feed(&mut r, &c.chunks[first..]).unwrap_or_else(|(i, e)| {
                        panic!("{ctx}: {mode:?} chunk {}: {e}", first + i)
                    });
                    r.finish().unwrap();
                }
                assert_restored(&*store, &*store, &c.snap, &ctx);
            }
        }
    }
}

/// A Default restore run over a version whose tree was already finished by a TreeOnly restore
/// (KV side never started). Aptos resumes at min-with-a-missing-side = the tree's all ones
/// (the `(None, tree)` arm of D1), skips every chunk, and finishes "successfully" with no KV
/// rows and zero usage. Safe starts over (either side missing ⇒ no resume point) and restores
/// KV fully.
#[test]
fn default_restore_after_a_finished_tree_only_restore() {
    let c = &mem_cases()[2];
    for (strategy, commit) in all_combos() {
        let ctx = format!("{strategy} {commit:?}");
        let store = Arc::new(MemStore::with_overwrite_check());
        let tree_only = options(strategy, Some(commit), RestoreMode::TreeOnly, c.snap.scheme);
        restore_all(&store, Rt::Inline.make(), &c.snap, &c.chunks, tree_only);

        let opts = default_options(strategy, Some(commit), &c.snap);
        let mut r = open_restore(&store, Rt::Inline.make(), &c.snap, opts).unwrap();
        let resume = r.previous_key_hash().unwrap();
        let first = first_chunk_to_feed(&c.chunks, resume);
        feed(&mut r, &c.chunks[first..]).unwrap();
        r.finish().unwrap_or_else(|e| panic!("{ctx}: finish: {e}"));
        drop(r);
        match strategy.safety() {
            Safety::Aptos => {
                assert_eq!(resume, Some(HashValue::MAX), "{ctx}");
                assert_eq!(first, c.chunks.len(), "{ctx}: every chunk skipped");
                assert_eq!(store.kv_count(), 0, "{ctx}");
                assert_eq!(
                    store.get_usage(VERSION).unwrap(),
                    Some(Usage::default()),
                    "{ctx}"
                );
                assert!(
                    matches!(
                        check_final_state(&*store, &*store, &c.snap),
                        Err(AuditError::Kv(_))
                    ),
                    "{ctx}"
                );
            }
            Safety::Safe => {
                assert_eq!(resume, None, "{ctx}");
                assert_restored(&*store, &*store, &c.snap, &ctx);
            }
        }
    }
}

/// A restart that calls `finish` without feeding the rest (say, a controller that wrongly
/// believes every chunk was applied). The durable tree lacks the last key, so finishing it
/// gives the root of all items but the last — computed here from the reference. Safe refuses
/// (`FinalRootMismatch`, nothing written); Aptos has no final check and writes that wrong root.
#[test]
fn finish_without_the_tail_after_a_restart() {
    let c = &mem_cases()[0];
    let n = c.snap.items.len();
    let short =
        restore_core::reference::ReferenceTree::new(c.snap.scheme, &c.snap.leaf_pairs()[..n - 1])
            .root();
    assert_ne!(short, c.snap.root);
    for (strategy, commit) in all_combos() {
        for mode in [RestoreMode::Default, RestoreMode::TreeOnly] {
            let ctx = format!("{strategy} {commit:?} {mode:?}");
            let opts = options(strategy, Some(commit), mode, c.snap.scheme);
            let store = Arc::new(MemStore::with_overwrite_check());
            interrupt(
                &store,
                Rt::Inline.make(),
                c,
                c.chunks.len(),
                opts,
                Stop::Drop,
            );
            let before = store.clone_contents();
            let mut r = open_restore(&store, Rt::Inline.make(), &c.snap, opts).unwrap();
            let result = r.finish();
            drop(r);
            let root = store
                .get_node(&restore_core::node::NodeKey::root(VERSION))
                .unwrap();
            match strategy.safety() {
                Safety::Safe => {
                    assert_eq!(
                        result,
                        Err(RestoreError::FinalRootMismatch {
                            expected: c.snap.root,
                            found: short
                        }),
                        "{ctx}"
                    );
                    assert!(
                        store.clone_contents() == before,
                        "{ctx}: refused finish wrote"
                    );
                }
                Safety::Aptos => {
                    assert_eq!(result, Ok(()), "{ctx}");
                    assert_eq!(root.map(|r| r.hash(c.snap.scheme)), Some(short), "{ctx}");
                }
            }
        }
    }
}
