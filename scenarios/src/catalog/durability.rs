//! Scenarios of the store model: separate KV and tree databases (`split`, `aptos`), and what each
//! sync policy lets a power loss keep or drop. Each cell's reason follows the code path.

use harness::case::Case;
use harness::fault::{
    Corruption, CrashAt, CrashKind, Durability, Effect, Side, Spread, TamperKind, Target,
};
use restore_core::store::{Layout, SyncPolicy};
use restore_core::strategy::CommitStrategy;

use super::{DIVERGE, PASS, chunks, entry, fail};
use crate::Scenario;

pub(super) fn all() -> Vec<Scenario> {
    vec![
        kv_loses_what_the_tree_kept(SyncPolicy::Relaxed),
        kv_loses_what_the_tree_kept(SyncPolicy::Barrier),
        kv_loses_what_the_tree_kept(SyncPolicy::Always),
        kv_shards_in_flight(),
        torn_batch_across_shard_databases(),
    ]
}

/// Chunks of three keys; the first process dies by a power loss that only the KV database
/// feels, after chunk 1's commit (pipelined: step 34, once chunk 1's node batch returned), and
/// the first re-delivery of chunk 0 is corrupted.
pub fn kv_power_loss_case(sync: SyncPolicy) -> Case {
    let mut c = chunks(CommitStrategy::Pipelined, &[3, 3, 3]).with_crash(
        0,
        CrashAt::Start,
        34,
        CrashKind::PowerLoss {
            lost_writes: 16,
            spread: Some(Spread::OneSide { loses: Side::Kv }),
        },
    );
    c.durability = Durability::new(Layout::Split, sync, 16);
    c.faults.corruptions.push(Corruption {
        chunk: 0,
        tamper: TamperKind::ChangeValue { item: 1 },
        deliveries: 1,
        first: 1,
    });
    c
}

/// (a) and (b): KV and the tree in separate databases, each with its own log.
fn kv_loses_what_the_tree_kept(sync: SyncPolicy) -> Scenario {
    let c = kv_power_loss_case(sync);
    match sync {
        SyncPolicy::Relaxed => entry(
            "split-relaxed-kv-loses-what-the-tree-kept",
            "split databases, relaxed writes: a power loss drops the KV database's unsynced writes and keeps the tree's, so K falls behind T; chunk 0 comes back corrupted",
            c,
            [DIVERGE; 6],
            [
                "the join's KV and tree writes sit unsynced in two logs; a loss of KV's alone could leave K=0 under a durable leaf (diverge); its KV arm later writes the corrupted re-delivery beside the tree's skip (D2)",
                "the KV and tree writes of chunk 0 sit unsynced in two logs, so a KV-only loss could leave K=0 under the tree's leaf (diverge); after the real loss Aptos resumes from the tree's leaf, so chunk 0 is never re-fed and the rows KV lost are gone for good",
                "the tree's batch lands before KV's write of the chunk, both unsynced: a KV-only loss could leave K=0 under a durable leaf (diverge); the restart resumes from the tree's leaf and never re-feeds the rows KV lost",
                "the joined KV and tree writes are unsynced in two logs: a KV-only loss could leave K=0 under a durable leaf (diverge); the join later writes the corrupted re-delivery (D2)",
                "KV is written before its batch, but relaxed writes are never synced, so nothing orders them on disk: a KV-only loss could leave K=0 under the leaf (diverge); the restart's verifier (tree ahead of KV) refuses the corrupted chunk 0",
                "commit 0 writes KV then its batch, both unsynced in different logs: a KV-only loss could leave K=0 under the leaf (diverge); after the real loss the verifier rebuilt from KV checks the re-fed chunk 0 and refuses the corrupted delivery",
            ],
            false,
        ),
        SyncPolicy::Barrier => entry(
            "split-barrier-kv-synced-before-the-tree",
            "the same case with barriers: the safe strategies sync KV before its node batch and the tree before the next chunk's KV, so the KV-only loss has nothing the tree depends on",
            c,
            [DIVERGE, DIVERGE, DIVERGE, DIVERGE, PASS, PASS],
            [
                "Aptos issues no barriers, so its writes are as unsynced as under relaxed: a KV-only loss could leave K=0 under a durable leaf (diverge)",
                "no barriers: the KV and tree writes of chunk 0 sit unsynced in two logs (diverge)",
                "no barriers: the tree's batch lands before KV's write, both unsynced (diverge)",
                "no barriers: the joined writes are unsynced in two logs (diverge)",
                "kv.sync() follows each KV write and tree.sync() precedes the next, so every durable leaf has its KV progress durable: the loss only drops writes past the tree, and the restart resumes without re-feeding chunk 0",
                "each commit syncs KV before its node batch and the tree before it ends: the loss takes only chunk 1's KV write, whose sync was in flight, leaving K ≥ T; the re-fed chunk 0 adds only its last key to the tree and KV skips it",
            ],
            false,
        ),
        SyncPolicy::Always => entry(
            "split-always-nothing-to-lose",
            "the same case with every write synced (Aptos's policy): a power loss can only take writes in flight, and none is in flight at the crash",
            c,
            [PASS; 6],
            [
                ALWAYS_PASS,
                ALWAYS_PASS,
                ALWAYS_PASS,
                ALWAYS_PASS,
                "every write is durable when it returns: the crash leaves K ≥ T and the restart resumes past chunk 0",
                "every write is durable when it returns, and the commit waits for KV before its batch: the crash leaves K ≥ T, and no chunk the tree has is re-fed",
            ],
            false,
        ),
    }
}

const ALWAYS_PASS: &str = "every write is durable when it returns and none is in flight at the crash, so the power loss keeps everything and the restart resumes from min(K, T) as after a process crash";

/// (c): a KV write under `aptos` is shard writes issued together, then the progress record.
fn kv_shards_in_flight() -> Scenario {
    let mut c = chunks(CommitStrategy::Pipelined, &[3, 3, 3]).with_crash(
        0,
        CrashAt::Start,
        33,
        CrashKind::PowerLoss {
            lost_writes: 0,
            spread: Some(Spread::Seeded { seed: 0 }),
        },
    );
    c.durability = Durability::new(Layout::Aptos, SyncPolicy::Always, 0);
    entry(
        "aptos-kv-shards-in-flight-at-power-loss",
        "aptos layout, synced writes: a power loss while chunk 1's KV shard writes are in flight; some land, the progress record was never issued",
        c,
        [PASS; 6],
        [
            SHARDS_IN_FLIGHT,
            SHARDS_IN_FLIGHT,
            SHARDS_IN_FLIGHT,
            SHARDS_IN_FLIGHT,
            SHARDS_IN_FLIGHT,
            "the crash finds chunk 1's rows in flight to shards a and b (one lands, one does not) after shard 7 returned; progress is still chunk 0's, so the resume rewrites chunk 1's rows in full and the final state is the snapshot",
        ],
        false,
    )
}

const SHARDS_IN_FLIGHT: &str = "data is written before progress, so whichever shard rows land, the durable progress still marks the last complete chunk: the resume rewrites the rows above it, identical bytes, and finish checks out";

/// (d): a node batch torn after its first shard group, each group in its own database.
fn torn_batch_across_shard_databases() -> Scenario {
    let mut c = fail(
        chunks(CommitStrategy::Pipelined, &[3, 3, 3]),
        Target::ChunkBatch { chunk: 1 },
        Effect::Torn { shards: 1 },
    );
    c.durability = Durability::new(Layout::Aptos, SyncPolicy::Always, 0);
    entry(
        "aptos-torn-batch-across-shard-databases",
        "aptos layout, synced writes: chunk 1's node batch is torn after its first shard database, leaving a key-order prefix the restart recovers from",
        c,
        [DIVERGE, PASS, PASS, PASS, PASS, PASS],
        [
            "chunk 2's join writes its KV rows while the tree arm awaits the torn batch 1: K reaches chunk 2 while the tree has completed chunk 0 (the audit race)",
            TORN_PREFIX,
            TORN_PREFIX,
            TORN_PREFIX,
            TORN_PREFIX,
            TORN_PREFIX,
        ],
        false,
    )
}

const TORN_PREFIX: &str = "the batch's groups go to shard databases in key order, each synced, so the torn write leaves a key-order prefix; the error stops KV within one chunk, and the restart recovers from the rightmost durable leaf";
