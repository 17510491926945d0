//! Corrupted chunks (every [`Tamper`] kind) under every strategy.
//!
//! * `add_chunk` fails with the variant that names what is wrong, and its message says so.
//! * Safe strategies (verify-kv-tree, pipelined): nothing of the bad chunk reaches either store,
//!   and the same object then accepts the good chunk and finishes correctly.
//! * Aptos strategies: documented as they behave with `InlineRuntime` (the join runs the KV side
//!   first, deterministically). The join strategies write the bad chunk's KV rows and progress
//!   before the tree rejects it (defect D2); tree-then-kv writes nothing. The in-memory tree has
//!   moved on (defect D3), so reusing the object accepts the good chunk unverified.

mod support;

use std::sync::Arc;

use restore_core::audit::{AuditError, check_final_state};
use restore_core::chunk::first_chunk_to_feed;
use restore_core::proof::RangeProof;
use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec, Tamper, tamper};
use restore_core::snapshot_restore::SnapshotRestore;
use restore_core::store::{KvStore, MemStore, TreeStore};
use restore_core::strategy::{CommitMode, CommitStrategy, Safety};
use restore_core::{
    Chunk, HashScheme, HashValue, Progress, ProofError, RestoreError, Snapshot, Version,
};

use support::{Rt, all_combos, assert_restored, default_options, feed, open_restore};

const VERSION: Version = Version(3);

fn snapshots() -> Vec<(Snapshot, Vec<Chunk>)> {
    let specs = [
        SnapshotSpec {
            seed: 31,
            keys: 120,
            value_len: (0, 64),
            ..SnapshotSpec::default()
        },
        SnapshotSpec {
            seed: 32,
            keys: 90,
            value_len: (0, 16),
            layout: KeyLayout::SharedPrefix { nibbles: 10 },
            ..SnapshotSpec::default()
        },
    ];
    specs
        .iter()
        .map(|spec| {
            let snap = Snapshot::generate(spec, VERSION, HashScheme::Aptos);
            let chunks = snap.chunks(&Chunking::Fixed(10));
            (snap, chunks)
        })
        .collect()
}

/// Every tamper kind, at the first, a middle and the last position where it has one.
fn tampers(chunk: &Chunk) -> Vec<Tamper> {
    let n = chunk.len();
    let s = chunk.proof.right_siblings.len();
    let mut out = Vec::new();
    for item in [0, n / 2, n - 1] {
        out.push(Tamper::ChangeValue { item });
        out.push(Tamper::DropKey { item });
    }
    for item in [0, n.saturating_sub(2)] {
        out.push(Tamper::SwapOrder { item });
    }
    for sibling in [0, s / 2, s.saturating_sub(1)] {
        out.push(Tamper::WrongSibling { sibling });
    }
    out.push(Tamper::TruncateProof);
    out.push(Tamper::ExtraSibling);
    out.dedup();
    out
}

/// Checks that `e` is the error `t` must cause and that its message says what went wrong.
fn assert_error_names_the_fault(
    e: &RestoreError,
    t: &Tamper,
    good: &Chunk,
    snap: &Snapshot,
    ctx: &str,
) {
    let msg = e.to_string();
    match t {
        Tamper::SwapOrder { item } => {
            let (a, b) = (good.items[*item].key_hash, good.items[item + 1].key_hash);
            assert_eq!(
                *e,
                RestoreError::KeysOutOfOrder {
                    previous: b,
                    key: a
                },
                "{ctx}"
            );
            assert!(
                msg.contains("must come in increasing order")
                    && msg.contains(&format!("{a:?}"))
                    && msg.contains(&format!("{b:?}")),
                "{ctx}: {msg}"
            );
        }
        // The path shape is unchanged, only a hash differs: the recomputed root is wrong.
        Tamper::ChangeValue { .. } | Tamper::WrongSibling { .. } => {
            match e {
                RestoreError::Proof(ProofError::RootMismatch { computed, expected }) => {
                    assert_eq!(*expected, snap.root, "{ctx}");
                    assert_ne!(*computed, snap.root, "{ctx}");
                }
                other => panic!("{ctx}: expected a root mismatch, got {other:?}"),
            }
            assert!(
                msg.contains("range proof does not verify")
                    && msg.contains("root hashes do not match")
                    && msg.contains(&snap.root.to_string()),
                "{ctx}: {msg}"
            );
        }
        // The path shape changes too: either a sibling is missing for the shape the verifier
        // rebuilt, or the root comes out wrong.
        Tamper::DropKey { .. } | Tamper::TruncateProof | Tamper::ExtraSibling => {
            match e {
                RestoreError::Proof(ProofError::RootMismatch { expected, .. }) => {
                    assert_eq!(*expected, snap.root, "{ctx}");
                    assert!(msg.contains("root hashes do not match"), "{ctx}: {msg}");
                }
                RestoreError::Proof(ProofError::MissingSibling(_)) => {
                    assert!(msg.contains("missing a sibling"), "{ctx}: {msg}");
                }
                other => panic!("{ctx}: expected a proof error, got {other:?}"),
            }
            assert!(msg.contains("range proof does not verify"), "{ctx}: {msg}");
        }
    }
}

/// A restore with the chunks before `at` fed and every write awaited.
fn restore_up_to(
    store: &Arc<MemStore>,
    rt: Rt,
    snap: &Snapshot,
    chunks: &[Chunk],
    at: usize,
    strategy: CommitStrategy,
    commit: CommitMode,
) -> SnapshotRestore {
    let mut r = open_restore(
        store,
        rt.make(),
        snap,
        default_options(strategy, Some(commit), snap),
    )
    .unwrap();
    feed(&mut r, &chunks[..at]).unwrap();
    r.wait_for_async_commit().unwrap();
    r
}

/// Safe strategies: the bad chunk is rejected with the right error, leaves both stores exactly
/// as they were, and the same object then takes the good chunk and finishes correctly. Bad
/// chunks at the first, a middle and the last position; both runtimes and commit modes.
#[test]
fn safe_strategies_reject_bad_chunks_without_a_trace() {
    let mut checked = 0;
    for (snap, chunks) in snapshots() {
        for at in [0, chunks.len() / 2, chunks.len() - 1] {
            for t in tampers(&chunks[at]) {
                let Some(bad) = tamper(&chunks[at], &t) else {
                    continue;
                };
                for (strategy, commit) in all_combos() {
                    if strategy.safety() != Safety::Safe {
                        continue;
                    }
                    for rt in Rt::ALL {
                        let ctx = format!("{strategy} {commit:?} {rt:?}, chunk {at}, {t:?}");
                        let store = Arc::new(MemStore::with_overwrite_check());
                        let mut r = restore_up_to(&store, rt, &snap, &chunks, at, strategy, commit);
                        let before = store.clone_contents();
                        let e = r.add_chunk(&bad).expect_err(&ctx);
                        assert_error_names_the_fault(&e, &t, &chunks[at], &snap, &ctx);
                        r.wait_for_async_commit().unwrap();
                        assert!(
                            store.clone_contents() == before,
                            "{ctx}: bad chunk left a trace"
                        );
                        // A second bad attempt is rejected the same way (nothing half-applied).
                        assert_eq!(r.add_chunk(&bad).expect_err(&ctx), e, "{ctx}: retry");
                        r.add_chunk(&chunks[at])
                            .unwrap_or_else(|e| panic!("{ctx}: good chunk after the bad one: {e}"));
                        feed(&mut r, &chunks[at + 1..]).unwrap_or_else(|(i, e)| {
                            panic!("{ctx}: chunk {} after recovery: {e}", at + 1 + i)
                        });
                        r.finish().unwrap_or_else(|e| panic!("{ctx}: finish: {e}"));
                        drop(r);
                        assert_restored(&*store, &*store, &snap, &ctx);
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 200, "{checked}");
}

/// Aptos strategies, bad middle chunk, `InlineRuntime`: the error names the fault; no node of the
/// bad chunk is written; the KV side holds the bad chunk's rows and progress under the join
/// strategies (D2: KV is written without waiting for the tree's verification) and nothing under
/// tree-then-kv (the tree fails first).
#[test]
fn aptos_strategies_reject_bad_chunks_and_join_writes_kv_first() {
    for (snap, chunks) in snapshots() {
        let at = chunks.len() / 2;
        for t in tampers(&chunks[at]) {
            let Some(bad) = tamper(&chunks[at], &t) else {
                continue;
            };
            for (strategy, commit) in all_combos() {
                if strategy.safety() != Safety::Aptos {
                    continue;
                }
                let ctx = format!("{strategy} {commit:?}, chunk {at}, {t:?}");
                let store = Arc::new(MemStore::with_overwrite_check());
                let mut r = restore_up_to(&store, Rt::Inline, &snap, &chunks, at, strategy, commit);
                let before = store.clone_contents();
                let nodes_before = store.nodes_at(VERSION).unwrap();
                let rows_before = store.kv_rows(VERSION).unwrap();
                let progress_before = store.get_progress(VERSION).unwrap().expect("progress");

                let e = r.add_chunk(&bad).expect_err(&ctx);
                assert_error_names_the_fault(&e, &t, &chunks[at], &snap, &ctx);
                r.wait_for_async_commit().unwrap();
                assert_eq!(
                    store.nodes_at(VERSION).unwrap(),
                    nodes_before,
                    "{ctx}: nodes"
                );

                let joins = matches!(
                    strategy,
                    CommitStrategy::JoinAsync
                        | CommitStrategy::JoinSync
                        | CommitStrategy::WaitThenJoin
                );
                if joins {
                    // D2: every row of the bad chunk is stored, and the progress passed it.
                    for item in &bad.items {
                        assert_eq!(
                            store.get_value(VERSION, &item.key_hash).unwrap().as_ref(),
                            Some(item),
                            "{ctx}: bad row"
                        );
                    }
                    let mut usage = progress_before.usage;
                    for item in &bad.items {
                        usage.add_item(item);
                    }
                    assert_eq!(
                        store.get_progress(VERSION).unwrap(),
                        Some(Progress {
                            key_hash: bad.items.last().unwrap().key_hash,
                            usage
                        }),
                        "{ctx}: progress"
                    );
                    assert_eq!(
                        store.kv_rows(VERSION).unwrap().len(),
                        rows_before.len() + bad.items.len(),
                        "{ctx}: row count"
                    );
                } else {
                    assert!(
                        store.clone_contents() == before,
                        "{ctx}: tree-then-kv wrote"
                    );
                }
            }
        }
    }
}

/// D2 made permanent: after a join strategy wrote a bad chunk's values to KV, the operator
/// restarts and resumes with good data. The tree (which verifies) ends right; the KV side skips
/// the keys at or below its progress and keeps the bad bytes, so the audit fails on KV. The
/// other strategies end with a correct state. `InlineRuntime`, bad value in the middle chunk.
#[test]
fn bad_values_written_by_join_survive_a_restart() {
    let (snap, chunks) = snapshots().swap_remove(0);
    let at = chunks.len() / 2;
    let t = Tamper::ChangeValue { item: 3 };
    let bad = tamper(&chunks[at], &t).unwrap();
    for (strategy, commit) in all_combos() {
        let ctx = format!("{strategy} {commit:?}");
        let store = Arc::new(MemStore::with_overwrite_check());
        let mut r = restore_up_to(&store, Rt::Inline, &snap, &chunks, at, strategy, commit);
        r.add_chunk(&bad).expect_err(&ctx);
        drop(r);

        let mut r = open_restore(
            &store,
            Rt::Inline.make(),
            &snap,
            default_options(strategy, Some(commit), &snap),
        )
        .unwrap();
        let first = first_chunk_to_feed(&chunks, r.previous_key_hash().unwrap());
        assert!(first <= at, "{ctx}: resumes at chunk {first}");
        feed(&mut r, &chunks[first..]).unwrap_or_else(|(i, e)| panic!("{ctx}: chunk {i}: {e}"));
        r.finish().unwrap();
        drop(r);
        let joins = matches!(
            strategy,
            CommitStrategy::JoinAsync | CommitStrategy::JoinSync | CommitStrategy::WaitThenJoin
        );
        let audit = check_final_state(&*store, &*store, &snap);
        if joins {
            assert!(
                matches!(&audit, Err(AuditError::Kv(m)) if m.contains("differs")),
                "{ctx}: {audit:?}"
            );
            let key = bad.items[3].key_hash;
            assert_eq!(
                store.get_value(VERSION, &key).unwrap().as_ref(),
                Some(&bad.items[3]),
                "{ctx}: the bad value is what KV holds"
            );
            // The tree itself is right: only KV is wrong.
            assert_eq!(
                restore_core::audit::check_tree(&*store, &snap),
                Ok(()),
                "{ctx}"
            );
        } else {
            assert_eq!(audit, Ok(()), "{ctx}");
        }
    }
}

/// D3: an Aptos object reused after a rejected chunk. Its tree already holds the bad chunk's
/// keys in memory, so the good chunk with the same last key is skipped entirely — accepted
/// without verification — and every later chunk fails. When the bad chunk is the last one,
/// `finish` (no root check) succeeds and leaves a wrong root. Safe strategies roll back instead.
#[test]
fn reusing_an_object_after_a_rejected_chunk() {
    let (snap, chunks) = snapshots().swap_remove(0);
    for at in [chunks.len() / 2, chunks.len() - 1] {
        let bad = tamper(&chunks[at], &Tamper::ChangeValue { item: 1 }).unwrap();
        for (strategy, commit) in all_combos() {
            let ctx = format!("{strategy} {commit:?}, bad chunk {at}");
            let store = Arc::new(MemStore::with_overwrite_check());
            let mut r = restore_up_to(&store, Rt::Inline, &snap, &chunks, at, strategy, commit);
            r.add_chunk(&bad).expect_err(&ctx);
            r.add_chunk(&chunks[at])
                .unwrap_or_else(|e| panic!("{ctx}: good chunk: {e}"));
            let rest = feed(&mut r, &chunks[at + 1..]);
            match (strategy.safety(), at + 1 < chunks.len()) {
                (Safety::Safe, _) => {
                    rest.unwrap();
                    r.finish().unwrap();
                    drop(r);
                    assert_restored(&*store, &*store, &snap, &ctx);
                }
                (Safety::Aptos, true) => {
                    let (i, e) = rest.expect_err(&ctx);
                    assert_eq!(i, 0, "{ctx}: the very next chunk fails");
                    assert!(
                        matches!(e, RestoreError::Proof(ProofError::RootMismatch { .. })),
                        "{ctx}: {e}"
                    );
                }
                (Safety::Aptos, false) => {
                    rest.unwrap();
                    r.finish()
                        .unwrap_or_else(|e| panic!("{ctx}: Aptos finish has no root check: {e}"));
                    drop(r);
                    let audit = check_final_state(&*store, &*store, &snap);
                    assert!(
                        matches!(audit, Err(AuditError::RootMismatch { expected, .. }) if expected == snap.root),
                        "{ctx}: {audit:?}"
                    );
                }
            }
        }
    }
}

/// More right siblings than the last key has zero bits: rejected before any hashing, and the
/// error reports both counts (the zero-bit count computed here from the key).
#[test]
fn too_many_right_siblings() {
    let (snap, chunks) = snapshots().swap_remove(1);
    let at = chunks.len() / 2;
    let mut bad = chunks[at].clone();
    let bogus = HashValue::sha3(b"bogus");
    bad.proof = RangeProof {
        right_siblings: vec![bogus; 257],
    };
    let last = bad.items.last().unwrap().key_hash;
    let zero_bits = (0..256).filter(|&i| !last.bit(i)).count();
    for (strategy, commit) in all_combos() {
        let ctx = format!("{strategy} {commit:?}");
        let store = Arc::new(MemStore::with_overwrite_check());
        let mut r = restore_up_to(&store, Rt::Inline, &snap, &chunks, at, strategy, commit);
        let e = r.add_chunk(&bad).expect_err(&ctx);
        assert_eq!(
            e,
            RestoreError::Proof(ProofError::TooManyRightSiblings {
                siblings: 257,
                zero_bits
            }),
            "{ctx}"
        );
        assert!(
            e.to_string().contains("too many right siblings"),
            "{ctx}: {e}"
        );
        if strategy.safety() == Safety::Safe {
            r.add_chunk(&chunks[at]).unwrap();
            feed(&mut r, &chunks[at + 1..]).unwrap();
            r.finish().unwrap();
            drop(r);
            assert_restored(&*store, &*store, &snap, &ctx);
        }
    }
}

/// A chunk with values but no proof at all is rejected too (the verifier cannot rebuild the
/// right side), and an empty chunk is a no-op that writes nothing.
#[test]
fn missing_proof_and_empty_chunk() {
    let (snap, chunks) = snapshots().swap_remove(0);
    let at = 4;
    for (strategy, commit) in all_combos() {
        let ctx = format!("{strategy} {commit:?}");
        let store = Arc::new(MemStore::with_overwrite_check());
        let mut r = restore_up_to(&store, Rt::Inline, &snap, &chunks, at, strategy, commit);
        let before = store.clone_contents();
        let empty = Chunk {
            index: chunks[at].index,
            items: vec![],
            proof: RangeProof::default(),
        };
        r.add_chunk(&empty)
            .unwrap_or_else(|e| panic!("{ctx}: empty chunk: {e}"));
        r.wait_for_async_commit().unwrap();
        assert!(store.clone_contents() == before, "{ctx}: empty chunk wrote");
        let mut bare = chunks[at].clone();
        bare.proof = RangeProof::default();
        let e = r.add_chunk(&bare).expect_err(&ctx);
        assert!(matches!(e, RestoreError::Proof(_)), "{ctx}: {e}");
        if strategy.safety() == Safety::Safe {
            r.wait_for_async_commit().unwrap();
            assert!(
                store.clone_contents() == before,
                "{ctx}: proof-less chunk wrote"
            );
            feed(&mut r, &chunks[at..]).unwrap();
            r.finish().unwrap();
            drop(r);
            assert_restored(&*store, &*store, &snap, &ctx);
        }
    }
}
