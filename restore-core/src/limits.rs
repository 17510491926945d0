//! The limit model: the best restore rate the primitives allow, so a measured restore can be
//! stated as a fraction of what the hardware could do.
//!
//! A restore must at least hash every key's value, hash every node of the finished tree (and a
//! little more per chunk to verify the proof), and write one KV row per key and one row per node.
//! Given the measured cost of each primitive ([`PrimitiveCosts`]) and the work an actual restore
//! did ([`WorkCounts`]), [`LimitModel`] gives two rates:
//! * **serial** — hashing and writing one after the other: `1 / (hash + write)` per key;
//! * **overlapped** — the two sides perfectly overlapped on separate cores: `1 / max(hash, write)`.
//!
//! Writing includes durability: `fsyncs per chunk × fsync latency`, spread over the chunk's keys.
//! The row costs are measured on relaxed (unsynced) writes, the latency of one fsync on small
//! synced RocksDB writes ([`write_synced_probes`]), and the fsyncs per chunk are counted on the
//! store being modelled — its layout and sync policy — by a short durable restore
//! ([`count_fsyncs_per_chunk`]), so a policy that syncs nothing models no fsync cost and `always`
//! on 34 databases models what it pays.
//!
//! This module reads no clock: it provides the untimed workloads ([`hash_internal_chain`],
//! [`hash_values`], [`write_kv_rows`], [`write_nodes`]) and the arithmetic; the caller times the
//! workloads (the `restore-sim limits` command, the criterion bench).
//!
//! Hash counting is by formula over the finished tree, not by instrumenting the hasher (which
//! would slow the hot path): per key one value hash (SHA3 of the value bytes) and one leaf hash;
//! per internal node the `internal` calls its in-node Merkle needs under the float-up rule of
//! [`crate::node::merkle_range`] ([`internal_hashes_of`]); per chunk the proof check, counted
//! as an upper bound of 4 + 15 hashes per nibble level of the chunk's last leaf (one hash per bit
//! level to recompute the root, at most 15 to rebuild the left siblings inside a partial node).

use std::borrow::Borrow;
use std::sync::Arc;

use crate::chunk::Chunk;
use crate::error::RestoreResult;
use crate::hash::{HashScheme, HashValue};
use crate::node::{InternalNode, Node, NodeKey};
use crate::runtime::InlineRuntime;
use crate::snapshot_restore::{RestoreOptions, SnapshotRestore};
use crate::store::{KvStore, MemStore, RocksStore, StoreResult, TreeStore, write_batch_by_shard};
use crate::strategy::CommitStrategy;
use crate::types::{Progress, StateItem, Usage, Version};

/// Upper bound of hashes per nibble level for a chunk's proof check (see the module docs).
const PROOF_HASHES_PER_LEVEL: u64 = 4 + 15;

/// The work one restore of a snapshot does, counted from its finished tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkCounts {
    pub keys: u64,
    pub chunks: u64,
    /// SHA3 of each value (variable length).
    pub value_hashes: u64,
    /// 64-byte hashes: leaves.
    pub leaf_hashes: u64,
    /// 64-byte hashes: in-node Merkle of every finished internal node.
    pub internal_hashes: u64,
    /// 64-byte hashes: proof checks (upper bound).
    pub proof_hashes: u64,
    pub kv_rows: u64,
    /// Finished nodes written (leaves, internal nodes, the root).
    pub node_rows: u64,
}

impl WorkCounts {
    /// 64-byte hashes (leaf + internal + proof) per key.
    pub fn fixed_hashes_per_key(&self) -> f64 {
        per(
            self.leaf_hashes + self.internal_hashes + self.proof_hashes,
            self.keys,
        )
    }

    pub fn value_hashes_per_key(&self) -> f64 {
        per(self.value_hashes, self.keys)
    }

    pub fn kv_rows_per_key(&self) -> f64 {
        per(self.kv_rows, self.keys)
    }

    pub fn node_rows_per_key(&self) -> f64 {
        per(self.node_rows, self.keys)
    }
}

fn per(n: u64, keys: u64) -> f64 {
    n as f64 / keys.max(1) as f64
}

/// Measured cost of each primitive, in seconds per operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrimitiveCosts {
    /// One SHA3-256 of 64 bytes after the prefix ([`HashScheme::internal`]; a leaf hash is the
    /// same size).
    pub fixed_hash: f64,
    /// One value hash, averaged over the snapshot's values.
    pub value_hash: f64,
    /// One KV row written in chunk-sized batches with a progress record ([`write_kv_rows`]).
    pub kv_row: f64,
    /// One node row written in per-chunk batches split by shard ([`write_nodes`]).
    pub node_row: f64,
    /// One fsync: a small synced RocksDB write ([`write_synced_probes`]). 0 when not measured.
    pub fsync: f64,
    /// fsyncs the modelled store issues per chunk ([`count_fsyncs_per_chunk`]). 0 when not
    /// counted, or under a policy that syncs nothing.
    pub fsyncs_per_chunk: f64,
}

/// The model's verdict for one workload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LimitModel {
    pub hash_secs_per_key: f64,
    /// Rows and nodes written plus the fsync share.
    pub write_secs_per_key: f64,
    /// The fsync share of `write_secs_per_key`.
    pub fsync_secs_per_key: f64,
    /// `1 / (hash + write)`.
    pub serial_keys_per_sec: f64,
    /// `1 / max(hash, write)`: hashing and writing perfectly overlapped.
    pub overlapped_keys_per_sec: f64,
}

impl LimitModel {
    pub fn new(counts: &WorkCounts, costs: &PrimitiveCosts) -> LimitModel {
        let hash = counts.fixed_hashes_per_key() * costs.fixed_hash
            + counts.value_hashes_per_key() * costs.value_hash;
        let fsync = costs.fsyncs_per_chunk * costs.fsync * per(counts.chunks, counts.keys);
        let write = counts.kv_rows_per_key() * costs.kv_row
            + counts.node_rows_per_key() * costs.node_row
            + fsync;
        LimitModel {
            hash_secs_per_key: hash,
            write_secs_per_key: write,
            fsync_secs_per_key: fsync,
            serial_keys_per_sec: rate(hash + write),
            overlapped_keys_per_sec: rate(hash.max(write)),
        }
    }
}

fn rate(secs_per_key: f64) -> f64 {
    if secs_per_key > 0.0 {
        1.0 / secs_per_key
    } else {
        f64::INFINITY
    }
}

/// How a slot range looks to the float-up rule: empty, a single leaf (both may float up), or
/// fixed (needs a hash to be combined with anything).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Empty,
    Leaf,
    Fixed,
}

/// `internal` calls needed to hash `node`, following the rule of [`crate::node::merkle_range`]:
/// an empty half next to a half that floats costs nothing, anything else one hash.
pub fn internal_hashes_of(node: &InternalNode) -> u64 {
    fn count(node: &InternalNode, start: u8, width: u8) -> (u64, Shape) {
        if width == 1 {
            let shape = match node.child(start) {
                None => Shape::Empty,
                Some(c) if c.is_leaf() => Shape::Leaf,
                Some(_) => Shape::Fixed,
            };
            return (0, shape);
        }
        let half = width / 2;
        let (l, ls) = count(node, start, half);
        let (r, rs) = count(node, start + half, half);
        match (ls, rs) {
            (Shape::Empty, s) if s != Shape::Fixed => (l + r, s),
            (s, Shape::Empty) if s != Shape::Fixed => (l + r, s),
            _ => (l + r + 1, Shape::Fixed),
        }
    }
    count(node, 0, 16).0
}

/// Counts the work of restoring `items` in `chunks` into the tree whose finished nodes are
/// `nodes` (as [`TreeStore::nodes_at`] returns them).
pub fn count_work<C: Borrow<Chunk>>(
    items: &[StateItem],
    chunks: &[C],
    nodes: &[(NodeKey, Node)],
) -> WorkCounts {
    let mut leaf_hashes = 0;
    let mut internal_hashes = 0;
    for (_, node) in nodes {
        match node {
            Node::Leaf(_) => leaf_hashes += 1,
            Node::Internal(n) => internal_hashes += internal_hashes_of(n),
            Node::Null => {}
        }
    }
    // A leaf's depth is its node key's path length; find each chunk's last leaf by key hash.
    let mut depth_of_last = std::collections::BTreeMap::new();
    for c in chunks {
        if let Some(k) = c.borrow().last_key() {
            depth_of_last.insert(k, 0u64);
        }
    }
    for (key, node) in nodes {
        if let Node::Leaf(l) = node
            && let Some(d) = depth_of_last.get_mut(&l.account_key)
        {
            *d = key.path.len() as u64;
        }
    }
    let proof_hashes = depth_of_last
        .values()
        .map(|d| PROOF_HASHES_PER_LEVEL * d.max(&1))
        .sum();
    let keys = items.len() as u64;
    WorkCounts {
        keys,
        chunks: chunks.len() as u64,
        value_hashes: keys,
        leaf_hashes,
        internal_hashes,
        proof_hashes,
        kv_rows: keys,
        node_rows: nodes.len() as u64,
    }
}

/// A `pipelined` restore of both sides into `store` on the inline runtime: the limit model's
/// measuring restores run one thread, so what they count is the store's work alone.
fn open_pipelined_inline<S: KvStore + TreeStore + 'static>(
    store: Arc<S>,
    scheme: HashScheme,
    version: Version,
    root: HashValue,
) -> RestoreResult<SnapshotRestore> {
    let mut options = RestoreOptions::new(CommitStrategy::Pipelined);
    options.scheme = scheme;
    SnapshotRestore::open(
        store.clone(),
        store,
        Arc::new(InlineRuntime),
        version,
        root,
        options,
    )
}

/// Restores `chunks` into a fresh [`MemStore`] (pipelined, inline runtime) and returns the
/// finished nodes at `version`: the node rows every strategy writes for this snapshot.
pub fn restored_nodes<C: Borrow<Chunk>>(
    scheme: HashScheme,
    version: Version,
    root: HashValue,
    chunks: &[C],
) -> RestoreResult<Vec<(NodeKey, Node)>> {
    let store = Arc::new(MemStore::new());
    let mut restore = open_pipelined_inline(store.clone(), scheme, version, root)?;
    for c in chunks {
        restore.add_chunk(c.borrow())?;
    }
    restore.finish()?;
    drop(restore);
    Ok(store.nodes_at(version)?)
}

/// `n` chained `internal` hashes (each input depends on the last output, so none can be
/// skipped or reordered). Returns the last hash so the work cannot be optimised away.
pub fn hash_internal_chain(scheme: HashScheme, n: u64) -> HashValue {
    let mut a = HashValue([1; 32]);
    let mut b = HashValue([2; 32]);
    for _ in 0..n {
        let h = scheme.internal(&a, &b);
        a = b;
        b = h;
    }
    b
}

/// The value hash of every item, folded into one hash by XOR.
pub fn hash_values(items: &[StateItem]) -> HashValue {
    let mut acc = [0u8; 32];
    for item in items {
        let h = item.value_hash();
        for (a, b) in acc.iter_mut().zip(h.0) {
            *a ^= b;
        }
    }
    HashValue(acc)
}

/// Writes `items` as the KV side does: one atomic batch of rows plus the progress record per
/// `chunk_size` items.
pub fn write_kv_rows(
    store: &dyn KvStore,
    version: Version,
    items: &[StateItem],
    chunk_size: usize,
) -> StoreResult<()> {
    let mut usage = Usage::default();
    for rows in items.chunks(chunk_size.max(1)) {
        for row in rows {
            usage.add_item(row);
        }
        let progress = Progress {
            key_hash: rows[rows.len() - 1].key_hash,
            usage,
        };
        store.write_kv_batch(version, rows, Some(&progress))?;
    }
    Ok(())
}

/// Writes `nodes` as the tree side does: in batches of `per_batch` nodes, each split into
/// ordered shard writes ([`TreeStore::write_node_shard`]).
pub fn write_nodes(
    store: &dyn TreeStore,
    nodes: &[(NodeKey, Node)],
    per_batch: usize,
) -> StoreResult<()> {
    for batch in nodes.chunks(per_batch.max(1)) {
        write_batch_by_shard(store, &batch.to_vec())?;
    }
    Ok(())
}

/// `n` small writes (a usage record each), each its own write: on a store whose policy syncs
/// every write, the time per write is the latency of one fsync plus a tiny WAL append.
pub fn write_synced_probes(kv: &dyn KvStore, n: u64) -> StoreResult<()> {
    for i in 0..n {
        kv.write_usage(Version(i), &Usage::default())?;
    }
    Ok(())
}

/// Synced writes timed for the fsync latency: enough to average out the disk's jitter.
pub const FSYNC_SAMPLE: u64 = 200;

/// Measures one fsync's latency with [`FSYNC_SAMPLE`] [`write_synced_probes`] into `synced` (a
/// fresh store whose policy syncs every write).
pub fn measure_fsync(synced: &dyn KvStore, clock: &mut dyn Stopwatch) -> StoreResult<f64> {
    let secs = clock.seconds(&mut || write_synced_probes(synced, FSYNC_SAMPLE))?;
    Ok(secs / FSYNC_SAMPLE as f64)
}

/// Chunks fed by [`count_fsyncs_per_chunk`].
pub const FSYNC_COUNT_CHUNKS: usize = 16;

/// fsyncs per chunk of a durable restore on `store`: the first [`FSYNC_COUNT_CHUNKS`] chunks
/// restored with `pipelined` (a safe strategy, so the barriers of a `barrier` policy are paid)
/// on the inline runtime, then the store's fsync counter divided by the chunks fed. `store`
/// should be fresh, with the layout and policy being modelled.
pub fn count_fsyncs_per_chunk<C: Borrow<Chunk>>(
    store: Arc<RocksStore>,
    scheme: HashScheme,
    version: Version,
    root: HashValue,
    chunks: &[C],
) -> RestoreResult<f64> {
    let before = store.fsyncs();
    let mut restore = open_pipelined_inline(store.clone(), scheme, version, root)?;
    let fed = chunks.len().min(FSYNC_COUNT_CHUNKS);
    for c in &chunks[..fed] {
        restore.add_chunk(c.borrow())?;
    }
    // Dropping awaits the commit in flight; an unfinished restore is what a crash leaves.
    drop(restore);
    Ok((store.fsyncs() - before) as f64 / fed.max(1) as f64)
}

/// Times one workload. The caller owns the clock (this crate reads none).
pub trait Stopwatch {
    fn seconds(&mut self, work: &mut dyn FnMut() -> StoreResult<()>) -> StoreResult<f64>;
}

/// 64-byte hashes timed per measurement: enough to take a few hundred milliseconds.
pub const HASH_SAMPLE: u64 = 1_000_000;

/// The data the primitives are measured on: a snapshot's items and the nodes its restore wrote.
#[derive(Clone, Copy, Debug)]
pub struct CostData<'a> {
    pub scheme: HashScheme,
    pub version: Version,
    pub items: &'a [StateItem],
    pub nodes: &'a [(NodeKey, Node)],
    pub chunk_size: usize,
}

/// Measures every primitive of the model on the given data: `HASH_SAMPLE` chained internal
/// hashes, the value hash of every item, every KV row into `kv` in `chunk_size` batches, and
/// every node into `tree` in batches of the nodes a chunk of `chunk_size` keys freezes on
/// average. `kv` and `tree` should be fresh stores of the kind being modelled.
pub fn measure_costs(
    data: &CostData<'_>,
    kv: &dyn KvStore,
    tree: &dyn TreeStore,
    clock: &mut dyn Stopwatch,
) -> StoreResult<PrimitiveCosts> {
    let CostData {
        scheme,
        version,
        items,
        nodes,
        chunk_size,
    } = *data;
    let mut sink = HashValue::ZERO;
    let hash_secs = clock.seconds(&mut || {
        sink = hash_internal_chain(scheme, HASH_SAMPLE);
        Ok(())
    })?;
    let value_secs = clock.seconds(&mut || {
        sink = hash_values(items);
        Ok(())
    })?;
    std::hint::black_box(sink);
    let kv_secs = clock.seconds(&mut || write_kv_rows(kv, version, items, chunk_size))?;
    let per_batch = (nodes.len() * chunk_size).div_ceil(items.len().max(1));
    let node_secs = clock.seconds(&mut || write_nodes(tree, nodes, per_batch))?;
    let n = |x: usize| x.max(1) as f64;
    Ok(PrimitiveCosts {
        fixed_hash: hash_secs / HASH_SAMPLE as f64,
        value_hash: value_secs / n(items.len()),
        kv_row: kv_secs / n(items.len()),
        node_row: node_secs / n(nodes.len()),
        fsync: 0.0,
        fsyncs_per_chunk: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Chunking, SnapshotSpec};

    #[test]
    fn model_arithmetic() {
        let counts = WorkCounts {
            keys: 10,
            chunks: 1,
            value_hashes: 10,
            leaf_hashes: 10,
            internal_hashes: 10,
            proof_hashes: 0,
            kv_rows: 10,
            node_rows: 20,
        };
        let costs = PrimitiveCosts {
            fixed_hash: 1.0,
            value_hash: 2.0,
            kv_row: 1.0,
            node_row: 0.5,
            fsync: 0.0,
            fsyncs_per_chunk: 0.0,
        };
        let m = LimitModel::new(&counts, &costs);
        assert_eq!(m.hash_secs_per_key, 4.0);
        assert_eq!(m.write_secs_per_key, 2.0);
        assert_eq!(m.serial_keys_per_sec, 1.0 / 6.0);
        assert_eq!(m.overlapped_keys_per_sec, 0.25);
        // 5 fsyncs of 0.4 s per chunk of 10 keys: 0.2 s more write time per key.
        let synced = PrimitiveCosts {
            fsync: 0.4,
            fsyncs_per_chunk: 5.0,
            ..costs
        };
        let m = LimitModel::new(&counts, &synced);
        assert!((m.fsync_secs_per_key - 0.2).abs() < 1e-12);
        assert!((m.write_secs_per_key - 2.2).abs() < 1e-12);
    }

    /// The formula count must equal the number of `internal` calls a root computation makes:
    /// the number of internal hashes in the finished tree is the number of hashes the root needs
    /// beyond the leaves, which the reference computes independently.
    #[test]
    fn counts_match_a_real_restore() {
        let spec = SnapshotSpec {
            seed: 3,
            keys: 3_000,
            ..SnapshotSpec::default()
        };
        let snap = crate::Snapshot::generate(&spec, Version(1), HashScheme::Aptos);
        let chunks = snap.chunks(&Chunking::Fixed(500));
        let nodes = restored_nodes(snap.scheme, snap.version, snap.root, &chunks).unwrap();
        let counts = count_work(&snap.items, &chunks, &nodes);
        assert_eq!(counts.leaf_hashes, 3_000);
        assert_eq!(counts.kv_rows, 3_000);
        assert_eq!(counts.chunks, 6);
        // Random keys: every key a leaf, plus the internal nodes above them (full levels 0..=2
        // and the colliding pairs at depth 3 for 3,000 keys: ~950).
        assert!(
            counts.node_rows > 3_500 && counts.node_rows < 4_500,
            "{counts:?}"
        );
        assert!(counts.internal_hashes > counts.node_rows - 3_000);
        assert!(counts.proof_hashes > 0);
        // Writing the counted rows into a fresh store reproduces the same tree.
        let copy = MemStore::new();
        write_nodes(&copy, &nodes, 700).unwrap();
        write_kv_rows(&copy, snap.version, &snap.items, 500).unwrap();
        assert_eq!(copy.nodes_at(snap.version).unwrap(), nodes);
        assert_eq!(copy.kv_count(), 3_000);
    }

    #[test]
    fn internal_hash_count_follows_float_up() {
        use crate::node::{Child, ChildKind};
        let leaf = |h: u8| {
            Some(Child {
                hash: HashValue([h; 32]),
                version: Version(1),
                kind: ChildKind::Leaf,
            })
        };
        let mut children: [Option<Child>; 16] = Default::default();
        children[0] = leaf(1);
        children[15] = leaf(2);
        // Two leaves at opposite ends: each floats to its half, then one hash joins them.
        let node = InternalNode::new(children).unwrap();
        assert_eq!(internal_hashes_of(&node), 1);
    }
}
