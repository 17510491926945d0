//! [`FaultyStore`]: wraps any store, makes every operation a pair of scheduling points, injects
//! the plan's faults, and models what survives a crash (the disk of [`super::disk`]: one or
//! more databases, per the case's layout and sync policy).
//!
//! A write is *issued* at its `before` point and *returns* at its `after` point: a crash while
//! the task is parked in between finds it in flight. Under the `aptos` layout a KV write is the
//! per-shard row writes, all issued at once (Aptos writes them in parallel) and returning one by
//! one, then the progress record in the metadata database; a node batch is its shard groups,
//! issued one after another.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;
use restore_core::node::{LeafNode, Node, NodeBatch, NodeKey, NodeShard};
use restore_core::store::{
    DbId, KvStore, Layout, RestoreStore, StoreError, StoreResult, SyncPolicy, TreeStore,
    group_by_shard,
};
use restore_core::{KeyHash, Progress, StateItem, Usage, Version};

use super::disk::{Deferred, Disk, Extremes, Image, Settled, TreeView, Write};
use super::plan::{CrashKind, Durability, Effect, Fault, Target};
use crate::sim;
use crate::trace::{FaultMark, Op, Point, Res};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounters {
    pub node_batches: u32,
    pub kv_writes: u32,
    pub progress_reads: u32,
    pub node_reads: u32,
    pub rightmost_lookups: u32,
    pub injected: u32,
    pub crashes: u32,
    pub lost_writes: u32,
    /// Writes in flight at a crash that landed, and that did not.
    pub in_flight_landed: u32,
    pub in_flight_dropped: u32,
    /// Barriers that synced a database with unsynced writes.
    pub fsyncs: u64,
}

struct State {
    faults: Vec<(Fault, bool)>,
    enabled: bool,
    counters: FaultCounters,
    chunk_batches_seen: BTreeSet<u32>,
    disk_full: bool,
    disk: Disk,
    /// Oracle reads: no faults, no counting, no scheduling points.
    quiet: bool,
    /// verified-only at the seam: judges every KV row of the version as it lands.
    row_check: Option<RowCheck>,
    /// The first row that check rejected, until the runner collects it.
    unverified: Option<String>,
    /// What the restore's operations touched since the model checker last asked.
    touch: Touch,
}

/// The fault state a restart inherits (see [`FaultyStore::carry`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCarry {
    pub counters: Option<[u32; 5]>,
    pub fired: Vec<bool>,
    pub disk_full: bool,
    pub chunk_batches_seen: Vec<u32>,
    pub lie_pending: bool,
}

/// The shared state a stretch of restore code touched through this store: the model checker's
/// footprint of a scheduling step (`check::dependency`). Oracle reads (made `quietly`) are not
/// the restore's and do not count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Touch {
    /// Read stored data (any database, durable or queued).
    pub reads: bool,
    /// Changed the disk: issued, landed, synced, cleared, lied, or filled it.
    pub writes: bool,
    /// Fault counters advanced, one bit per [`Target`] class (see [`Touch::counter_bit`]).
    pub counters: u8,
}

impl Touch {
    /// The counter a target counts with (`ChunkBatch` shares the node-batch counter's moment).
    pub fn counter_bit(target: Target) -> u8 {
        match target {
            Target::NodeBatch { .. } | Target::ChunkBatch { .. } => 1,
            Target::KvWrite { .. } => 2,
            Target::ProgressRead { .. } => 4,
            Target::NodeRead { .. } => 8,
            Target::RightmostLeaf { .. } => 16,
        }
    }

    pub fn union(self, o: Touch) -> Touch {
        Touch {
            reads: self.reads || o.reads,
            writes: self.writes || o.writes,
            counters: self.counters | o.counters,
        }
    }
}

/// Judges KV rows as they are written: `Some(why)` for a row that neither is in the snapshot nor
/// came from a chunk that verified. Checking at the seam catches unverified bytes even when a
/// later crash erases them, or when the restore never finishes.
pub type RowCheck = Arc<dyn Fn(&[StateItem]) -> Option<String> + Send + Sync>;

pub struct FaultyStore {
    inner: Arc<dyn RestoreStore>,
    version: Version,
    layout: Layout,
    sync: SyncPolicy,
    state: Mutex<State>,
}

/// The databases a KV write touches under a sharded layout: its rows split by shard database
/// (rows are in key order, so each shard's rows are one run).
fn kv_parts(layout: Layout, rows: &[StateItem]) -> Vec<(DbId, &[StateItem])> {
    let mut parts: Vec<(DbId, &[StateItem])> = Vec::new();
    let mut start = 0;
    for i in 1..=rows.len() {
        let split = i == rows.len()
            || layout.kv_row_db(&rows[i].key_hash) != layout.kv_row_db(&rows[start].key_hash);
        if split {
            parts.push((layout.kv_row_db(&rows[start].key_hash), &rows[start..i]));
            start = i;
        }
    }
    debug_assert!(
        parts.windows(2).all(|w| w[0].0 != w[1].0),
        "rows are sorted"
    );
    parts
}

impl FaultyStore {
    /// Wraps `inner` for a restore of `version` with the given faults (all enabled), on a disk
    /// with the given durability.
    pub fn new(
        inner: Arc<dyn RestoreStore>,
        version: Version,
        faults: &[Fault],
        durability: Durability,
    ) -> StoreResult<FaultyStore> {
        let disk = Disk::new(Arc::clone(&inner), version, durability)?;
        Ok(FaultyStore {
            inner,
            version,
            layout: durability.layout,
            sync: durability.sync,
            state: Mutex::new(State {
                faults: faults.iter().map(|f| (*f, false)).collect(),
                enabled: true,
                counters: FaultCounters::default(),
                chunk_batches_seen: BTreeSet::new(),
                disk_full: false,
                disk,
                quiet: false,
                row_check: None,
                unverified: None,
                touch: Touch::default(),
            }),
        })
    }

    pub fn inner(&self) -> &Arc<dyn RestoreStore> {
        &self.inner
    }

    /// The store's layout (fixed for its life, so no lock is taken).
    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn durability(&self) -> Durability {
        self.state.lock().disk.durability()
    }

    /// Installs the verified-only check run on every KV write that lands at the version.
    pub fn set_row_check(&self, check: RowCheck) {
        self.state.lock().row_check = Some(check);
    }

    /// The first unverified write seen since the last call, if any.
    pub fn take_unverified(&self) -> Option<String> {
        self.state.lock().unverified.take()
    }

    /// Turns every fault on or off (off for the forward-progress restart).
    pub fn set_faults_enabled(&self, on: bool) {
        self.state.lock().enabled = on;
    }

    /// A new process begins: that many most recent writes per database stay unsynced.
    pub fn begin_process(&self, window: u32) -> StoreResult<()> {
        self.state.lock().disk.begin_process(window)
    }

    /// Runs `f` with oracle reads: no faults fire, nothing is counted, no scheduling points.
    pub fn quietly<R>(&self, f: impl FnOnce() -> R) -> R {
        self.state.lock().quiet = true;
        let r = f();
        self.state.lock().quiet = false;
        r
    }

    /// The state, for a restore operation that reads stored data.
    fn reading(&self) -> parking_lot::MutexGuard<'_, State> {
        let mut s = self.state.lock();
        if !s.quiet {
            s.touch.reads = true;
        }
        s
    }

    /// The state, for a restore operation that changes the disk.
    fn writing(&self) -> parking_lot::MutexGuard<'_, State> {
        let mut s = self.state.lock();
        if !s.quiet {
            s.touch.writes = true;
        }
        s
    }

    /// The fault state a restart inherits: counters and fired faults (only while a fault is
    /// still to fire: after that no counter decides anything), a full disk, the chunks whose
    /// first batch was seen, a lie pending.
    pub fn carry(&self) -> FaultCarry {
        let s = self.state.lock();
        let armed = s.faults.iter().any(|(_, fired)| !fired);
        let c = s.counters;
        FaultCarry {
            counters: armed.then_some([
                c.node_batches,
                c.kv_writes,
                c.progress_reads,
                c.node_reads,
                c.rightmost_lookups,
            ]),
            fired: s.faults.iter().map(|(_, f)| *f).collect(),
            disk_full: s.disk_full,
            chunk_batches_seen: if armed {
                s.chunk_batches_seen.iter().copied().collect()
            } else {
                Vec::new()
            },
            lie_pending: s.disk.lie_pending(),
        }
    }

    /// The faults of the plan that have not fired yet.
    pub fn armed_faults(&self) -> Vec<Fault> {
        let s = self.state.lock();
        s.faults
            .iter()
            .filter(|(_, fired)| !fired)
            .map(|(f, _)| *f)
            .collect()
    }

    /// Every state a crash could leave now, as (kind, durable image): the process crash, then
    /// each power loss the disk model allows (exact spreads). `None` if there are more than
    /// `limit` power-loss states.
    pub fn crash_images(&self, limit: usize) -> StoreResult<Option<Vec<(CrashKind, Image)>>> {
        let s = self.state.lock();
        let mut out = vec![(CrashKind::Process, s.disk.image_after(None)?)];
        let Some(choices) = s.disk.power_loss_choices(limit) else {
            return Ok(None);
        };
        for (lose, land) in choices {
            let kind = CrashKind::PowerLoss {
                lost_writes: 0,
                spread: Some(super::plan::Spread::Exact { lose, land }),
            };
            out.push((kind, s.disk.image_after(Some((lose, land)))?));
        }
        Ok(Some(out))
    }

    /// What the restore touched since the last call (the model checker's footprint).
    pub fn take_touch(&self) -> Touch {
        std::mem::take(&mut self.state.lock().touch)
    }

    fn is_quiet(&self) -> bool {
        self.state.lock().quiet
    }

    pub fn counters(&self) -> FaultCounters {
        let s = self.state.lock();
        FaultCounters {
            fsyncs: s.disk.fsyncs,
            ..s.counters
        }
    }

    /// Visible KV progress key and rightmost leaf key: what a process crash now would leave.
    pub fn probes(&self) -> (Option<KeyHash>, Option<KeyHash>) {
        let s = self.state.lock();
        (s.disk.progress_key, s.disk.max_leaf)
    }

    /// K and T at their extremes over every power loss now (several databases only).
    pub fn extremes(&self) -> Option<Extremes> {
        self.state.lock().disk.extremes()
    }

    /// The trees a power loss could leave now that durable-shape must judge.
    pub fn tree_views(&self) -> StoreResult<Vec<TreeView>> {
        self.state.lock().disk.tree_views()
    }

    /// Changes whenever a tree durable-shape judges may have changed.
    pub fn tree_epoch(&self) -> u64 {
        self.state.lock().disk.tree_epoch
    }

    /// The version this store's probes and checks are about.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether an acknowledged-then-lost write is still pending (the disk's lie not yet exposed).
    pub fn lie_pending(&self) -> bool {
        self.state.lock().disk.lie_pending()
    }

    /// The process died: settle what survives.
    pub fn crash(&self, kind: CrashKind) -> StoreResult<Settled> {
        let mut s = self.state.lock();
        s.counters.crashes += 1;
        let settled = s.disk.crash(kind)?;
        s.counters.lost_writes += settled.lost;
        s.counters.in_flight_landed += settled.landed;
        s.counters.in_flight_dropped += settled.dropped;
        Ok(settled)
    }

    /// Finds the fault for this operation, if one is due, and counts the operation.
    fn due(&self, pick: impl Fn(&mut FaultCounters) -> (Target, Option<Target>)) -> Option<Effect> {
        let chunk = sim::current_task().and_then(|(_, _, c)| c);
        let mut s = self.state.lock();
        if s.quiet {
            return None;
        }
        let (target, by_chunk) = pick(&mut s.counters);
        s.touch.counters |= Touch::counter_bit(target);
        let first_for_chunk = match (by_chunk, chunk) {
            (Some(_), Some(c)) => s.chunk_batches_seen.insert(c),
            _ => false,
        };
        if !s.enabled {
            return None;
        }
        let hit = s.faults.iter_mut().find(|(f, fired)| {
            !*fired
                && (f.target == target
                    || (first_for_chunk
                        && matches!(f.target, Target::ChunkBatch { chunk: c } if Some(c) == chunk)))
        });
        let effect = hit.map(|(f, fired)| {
            *fired = true;
            f.effect
        });
        if effect.is_some() {
            s.counters.injected += 1;
        }
        effect
    }

    fn disk_is_full(&self) -> bool {
        let s = self.reading();
        s.enabled && s.disk_full
    }

    fn slow(op: Op, effect: Option<Effect>) {
        if let Some(Effect::Slow { points }) = effect {
            for _ in 0..points {
                sim::point(Point::Before(op, Some(FaultMark::Slow)));
            }
        }
    }

    fn read<T>(
        &self,
        op: Op,
        pick: impl Fn(&mut FaultCounters) -> (Target, Option<Target>),
        f: impl FnOnce() -> StoreResult<T>,
    ) -> StoreResult<T> {
        if self.is_quiet() {
            return f();
        }
        let effect = self.due(pick);
        let mark = effect.map(|e| {
            if matches!(e, Effect::Slow { .. }) {
                FaultMark::Slow
            } else {
                FaultMark::ReadError
            }
        });
        sim::point(Point::Before(op, mark));
        Self::slow(op, effect);
        let r = match effect {
            Some(Effect::Slow { .. }) | None => f(),
            Some(_) => Err(StoreError::Fault(format!("{op} read error"))),
        };
        sim::point(Point::After(op, mark, Res::of(&r)));
        r
    }

    fn issue(&self, db: DbId, w: Write<'_>) -> Option<u64> {
        self.writing().disk.issue(db, w)
    }

    fn complete(&self, id: Option<u64>, db: DbId, w: Write<'_>) -> StoreResult<()> {
        self.writing().disk.complete(id, db, w)
    }

    /// An acknowledged-then-lost write. The databases of a store share one device, and a device
    /// that acknowledges writes it has not made durable loses everything after the lie, in every
    /// database: a cut in time, as a crash at that moment would make. (A lie confined to the
    /// written databases would keep later writes of the others, a state no ordering on the
    /// caller's side can prevent: a tree shard lost under a later shard that survived.)
    fn lie(&self) {
        let mut s = self.writing();
        for (db, _) in self.layout.databases() {
            s.disk.lie(db);
        }
    }

    /// A barrier on one database: an fsync, which takes time (a scheduling point on each side)
    /// and does nothing unless the policy honours barriers and the database has new writes.
    fn barrier(&self, db: DbId) -> StoreResult<()> {
        if !self.sync.honours_barriers() || self.is_quiet() || !self.reading().disk.is_dirty(db) {
            return Ok(());
        }
        let op = Op::Sync { db: db.0 };
        sim::point(Point::Before(op, None));
        let r = self.writing().disk.sync(db);
        sim::point(Point::After(op, None, Res::of(&r)));
        r
    }

    /// Barriers on every database that holds data of one side.
    fn barrier_side(&self, kv: bool) -> StoreResult<()> {
        for (db, role) in self.layout.databases() {
            let holds = if kv {
                role.holds_kv()
            } else {
                role.holds_nodes()
            };
            if holds {
                self.barrier(db)?;
            }
        }
        Ok(())
    }

    /// A node batch, shard group by shard group; `ordered`: a barrier on each group's database
    /// before the next group goes to another one.
    fn write_batch(&self, batch: &NodeBatch, ordered: bool) -> StoreResult<()> {
        let op = Op::NodeBatch {
            nodes: batch.len() as u32,
        };
        let effect = self.due(|c| {
            let nth = c.node_batches;
            c.node_batches += 1;
            (
                Target::NodeBatch { nth },
                Some(Target::ChunkBatch { chunk: 0 }),
            )
        });
        let mut mark = effect.map(mark_of);
        if effect.is_none() && self.disk_is_full() {
            mark = Some(FaultMark::DiskFull);
        }
        let groups = group_by_shard(batch);
        let land = match (mark, effect) {
            (Some(FaultMark::DiskFull), _) | (_, Some(Effect::IoError)) => 0,
            (_, Some(Effect::Torn { shards })) => (shards as usize).min(groups.len()),
            _ => groups.len(),
        };
        if let Some(Effect::DiskFull) = effect {
            self.writing().disk_full = true;
        }
        if let Some(Effect::AckThenLost) = effect {
            self.lie();
        }
        let db_of = |i: usize| self.layout.node_db(groups[i].0);
        if ordered && land > 0 {
            // Earlier batches' unsynced groups precede this one in key order too.
            for (db, role) in self.layout.databases() {
                if role.holds_nodes() && db != db_of(0) {
                    self.barrier(db)?;
                }
            }
        }
        let mut pending = if land > 0 {
            self.issue(db_of(0), Write::Nodes(groups[0].0, &groups[0].1))
        } else {
            None
        };
        sim::point(Point::Before(op, mark));
        Self::slow(op, effect);
        let mut r = Ok(());
        for i in 0..land {
            let (shard, nodes) = &groups[i];
            r = self.complete(pending.take(), db_of(i), Write::Nodes(*shard, nodes));
            if r.is_err() {
                break;
            }
            if i + 1 < groups.len() {
                let shard_no = match shard {
                    NodeShard::Nibble(n) => *n,
                    NodeShard::Top => 16,
                };
                let after = Point::After(
                    Op::NodeShard {
                        shard: shard_no,
                        nodes: nodes.len() as u32,
                    },
                    None,
                    Res::of(&r),
                );
                let next = (i + 1 < land).then(|| (db_of(i + 1), &groups[i + 1]));
                if ordered && next.is_some_and(|(db, _)| db != db_of(i)) {
                    sim::point(after);
                    r = self.barrier(db_of(i));
                    if r.is_err() {
                        break;
                    }
                    if let Some((db, (shard, nodes))) = next {
                        pending = self.issue(db, Write::Nodes(*shard, nodes));
                    }
                } else {
                    if let Some((db, (shard, nodes))) = next {
                        pending = self.issue(db, Write::Nodes(*shard, nodes));
                    }
                    sim::point(after);
                }
            }
        }
        if r.is_ok() {
            r = match mark {
                Some(FaultMark::AckThenLost) | Some(FaultMark::Slow) | None => Ok(()),
                Some(m) => Err(StoreError::Fault(format!("node batch: {m:?}"))),
            };
        }
        sim::point(Point::After(op, mark, Res::of(&r)));
        r
    }

    /// Judges the rows about to land (verified-only at the seam).
    fn check_rows(&self, version: Version, rows: &[StateItem]) {
        if version != self.version || rows.is_empty() {
            return;
        }
        let check = self.state.lock().row_check.clone();
        if let Some(why) = check.and_then(|c| c(rows)) {
            self.state.lock().unverified.get_or_insert(why);
        }
    }

    /// A KV write under a sharded layout: the shard writes issued together, returning one by
    /// one, then (if every shard landed and the write is not failing) the progress record.
    fn write_kv_sharded(
        &self,
        op: Op,
        mark: Option<FaultMark>,
        effect: Option<Effect>,
        version: Version,
        rows: &[StateItem],
        progress: Option<&Progress>,
    ) -> StoreResult<()> {
        let parts = kv_parts(self.layout, rows);
        let (land, meta) = match (mark, effect) {
            (Some(FaultMark::DiskFull), _) | (_, Some(Effect::IoError)) => (0, false),
            (_, Some(Effect::Torn { shards })) => ((shards as usize).min(parts.len()), false),
            // A shard write fails after persisting: the commit stops before the progress.
            (_, Some(Effect::FailedButPersisted)) => (parts.len(), false),
            _ => (parts.len(), true),
        };
        let meta_db = self.layout.kv_meta_db();
        if let Some(Effect::AckThenLost) = effect {
            self.lie();
        }
        let ids: Vec<Option<u64>> = parts[..land]
            .iter()
            .map(|(db, part)| {
                self.issue(
                    *db,
                    Write::Kv {
                        version,
                        rows: part,
                        progress: None,
                    },
                )
            })
            .collect();
        sim::point(Point::Before(op, mark));
        Self::slow(op, effect);
        let mut r = Ok(());
        for ((db, part), id) in parts[..land].iter().zip(ids) {
            self.check_rows(version, part);
            r = self.complete(
                id,
                *db,
                Write::Kv {
                    version,
                    rows: part,
                    progress: None,
                },
            );
            let shard_op = Op::KvShard {
                shard: db.0,
                rows: part.len() as u32,
            };
            sim::point(Point::After(shard_op, None, Res::of(&r)));
            if r.is_err() {
                break;
            }
        }
        if let (Ok(()), true, Some(p)) = (&r, meta, progress) {
            // Data before progress across databases: the commit's own order, which Aptos gets
            // from synced writes and `barrier` from an fsync of each shard written.
            for (db, _) in &parts {
                r = self.barrier(*db);
                if r.is_err() {
                    break;
                }
            }
            if r.is_ok() {
                let w = Write::Kv {
                    version,
                    rows: &[],
                    progress: Some(p),
                };
                let id = self.issue(meta_db, w);
                sim::point(Point::Before(Op::KvProgress, None));
                r = self.complete(id, meta_db, w);
            }
        }
        if r.is_ok() && !meta {
            r = Err(StoreError::Fault(format!(
                "kv write: {:?}",
                mark.expect("only a fault stops the progress")
            )));
        }
        sim::point(Point::After(op, mark, Res::of(&r)));
        r
    }
}

/// Returns the counter's value and advances it: the `nth` of the operation being made.
fn bump(counter: &mut u32) -> u32 {
    let n = *counter;
    *counter += 1;
    n
}

fn mark_of(e: Effect) -> FaultMark {
    match e {
        Effect::IoError => FaultMark::IoError,
        Effect::DiskFull => FaultMark::DiskFull,
        Effect::Torn { shards } => FaultMark::Torn { shards },
        Effect::FailedButPersisted => FaultMark::FailedButPersisted,
        Effect::AckThenLost => FaultMark::AckThenLost,
        Effect::Slow { .. } => FaultMark::Slow,
    }
}

impl TreeStore for FaultyStore {
    fn write_node_shard(&self, shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()> {
        let db = self.layout.node_db(shard);
        self.complete(None, db, Write::Nodes(shard, nodes))
    }

    fn write_node_batch(&self, batch: &NodeBatch) -> StoreResult<()> {
        self.write_batch(batch, false)
    }

    fn write_node_batch_ordered(&self, batch: &NodeBatch) -> StoreResult<()> {
        self.write_batch(batch, true)
    }

    fn sync_tree(&self) -> StoreResult<()> {
        self.barrier_side(false)
    }

    fn get_node(&self, key: &NodeKey) -> StoreResult<Option<Node>> {
        self.read(
            Op::NodeRead,
            |c| {
                (
                    Target::NodeRead {
                        nth: bump(&mut c.node_reads),
                    },
                    None,
                )
            },
            || match self.reading().disk.newest(|w| match w {
                Deferred::Nodes(_, nodes) => {
                    nodes.iter().find(|(k, _)| k == key).map(|(_, n)| n.clone())
                }
                _ => None,
            }) {
                Some(n) => Ok(Some(n)),
                None => self.inner.get_node(key),
            },
        )
    }

    fn rightmost_leaf(&self, version: Version) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        self.read(
            Op::RightmostLeaf,
            |c| {
                (
                    Target::RightmostLeaf {
                        nth: bump(&mut c.rightmost_lookups),
                    },
                    None,
                )
            },
            || self.reading().disk.rightmost_leaf(version),
        )
    }

    /// Syncs first (every queued write becomes durable), then clears. Rare (a safe overwrite's
    /// open), so no fault targets it and it is no scheduling point of its own.
    fn clear_nodes(&self, version: Version) -> StoreResult<()> {
        let mut s = self.writing();
        s.disk.sync_all()?;
        self.inner.clear_nodes(version)?;
        if version == self.version {
            s.disk.cleared(true);
        }
        Ok(())
    }

    fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>> {
        let mut all: std::collections::BTreeMap<NodeKey, Node> =
            self.inner.nodes_at(version)?.into_iter().collect();
        for w in self.reading().disk.queued() {
            if let Deferred::Nodes(_, nodes) = w {
                for (k, n) in nodes {
                    if k.version == version {
                        all.insert(*k, n.clone());
                    }
                }
            }
        }
        Ok(all.into_iter().collect())
    }
}

impl KvStore for FaultyStore {
    fn write_kv_batch(
        &self,
        version: Version,
        rows: &[StateItem],
        progress: Option<&Progress>,
    ) -> StoreResult<()> {
        let op = Op::KvWrite {
            rows: rows.len() as u32,
            progress: progress.is_some(),
        };
        let effect = self.due(|c| {
            (
                Target::KvWrite {
                    nth: bump(&mut c.kv_writes),
                },
                None,
            )
        });
        let mut mark = effect.map(mark_of);
        if effect.is_none() && self.disk_is_full() {
            mark = Some(FaultMark::DiskFull);
        }
        if let Some(Effect::DiskFull) = effect {
            self.writing().disk_full = true;
        }
        if self.layout.shards_kv() {
            return self.write_kv_sharded(op, mark, effect, version, rows, progress);
        }
        // One atomic batch in one database: a torn write lands nothing.
        let db = self.layout.kv_meta_db();
        if let Some(Effect::AckThenLost) = effect {
            self.lie();
        }
        let lands = matches!(
            mark,
            None | Some(FaultMark::Slow)
                | Some(FaultMark::AckThenLost)
                | Some(FaultMark::FailedButPersisted)
        );
        let w = Write::Kv {
            version,
            rows,
            progress,
        };
        let id = if lands { self.issue(db, w) } else { None };
        sim::point(Point::Before(op, mark));
        Self::slow(op, effect);
        if lands {
            self.check_rows(version, rows);
        }
        let mut r = if lands {
            self.complete(id, db, w)
        } else {
            Ok(())
        };
        if r.is_ok()
            && !matches!(
                mark,
                None | Some(FaultMark::Slow) | Some(FaultMark::AckThenLost)
            )
        {
            r = Err(StoreError::Fault(format!(
                "kv write: {:?}",
                mark.expect("checked")
            )));
        }
        sim::point(Point::After(op, mark, Res::of(&r)));
        r
    }

    fn sync_kv(&self) -> StoreResult<()> {
        self.barrier_side(true)
    }

    fn get_progress(&self, version: Version) -> StoreResult<Option<Progress>> {
        self.read(
            Op::ProgressRead,
            |c| {
                (
                    Target::ProgressRead {
                        nth: bump(&mut c.progress_reads),
                    },
                    None,
                )
            },
            || match self.reading().disk.newest(|w| match w {
                Deferred::Kv {
                    version: v,
                    progress: Some(p),
                    ..
                } if *v == version => Some(*p),
                _ => None,
            }) {
                Some(p) => Ok(Some(p)),
                None => self.inner.get_progress(version),
            },
        )
    }

    fn get_value(&self, version: Version, key_hash: &KeyHash) -> StoreResult<Option<StateItem>> {
        match self.reading().disk.newest(|w| match w {
            Deferred::Kv {
                version: v, rows, ..
            } if *v == version => rows.iter().find(|r| r.key_hash == *key_hash).cloned(),
            _ => None,
        }) {
            Some(r) => Ok(Some(r)),
            None => self.inner.get_value(version, key_hash),
        }
    }

    fn kv_rows(&self, version: Version) -> StoreResult<Vec<StateItem>> {
        let mut all: std::collections::BTreeMap<KeyHash, StateItem> = self
            .inner
            .kv_rows(version)?
            .into_iter()
            .map(|r| (r.key_hash, r))
            .collect();
        for w in self.reading().disk.queued() {
            if let Deferred::Kv {
                version: v, rows, ..
            } = w
                && *v == version
            {
                for r in rows {
                    all.insert(r.key_hash, r.clone());
                }
            }
        }
        Ok(all.into_values().collect())
    }

    fn write_usage(&self, version: Version, usage: &Usage) -> StoreResult<()> {
        let op = Op::UsageWrite;
        let full = self.disk_is_full();
        let mark = full.then_some(FaultMark::DiskFull);
        let db = self.layout.kv_meta_db();
        let w = Write::Usage(version, usage);
        let id = if full { None } else { self.issue(db, w) };
        sim::point(Point::Before(op, mark));
        let r = if full {
            Err(StoreError::Fault("usage write: disk full".into()))
        } else {
            self.complete(id, db, w)
        };
        sim::point(Point::After(op, mark, Res::of(&r)));
        r
    }

    fn get_usage(&self, version: Version) -> StoreResult<Option<Usage>> {
        match self.reading().disk.newest(|w| match w {
            Deferred::Usage(v, u) if *v == version => Some(*u),
            _ => None,
        }) {
            Some(u) => Ok(Some(u)),
            None => self.inner.get_usage(version),
        }
    }

    /// As [`TreeStore::clear_nodes`]: syncs, then clears.
    fn clear_kv(&self, version: Version) -> StoreResult<()> {
        let mut s = self.writing();
        s.disk.sync_all()?;
        self.inner.clear_kv(version)?;
        if version == self.version {
            s.disk.cleared(false);
        }
        Ok(())
    }
}
