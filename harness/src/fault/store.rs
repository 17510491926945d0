//! [`FaultyStore`]: wraps any store, makes every operation a pair of scheduling points, injects
//! the plan's faults, and models what survives a crash.
//!
//! Durability model. Both sides live in one database (as in our RocksDB store), so what a crash
//! loses is always a suffix of the global write order:
//! * a *process crash* keeps every completed write, except those made volatile by an
//!   acknowledged-then-lost fault (that write and all after it);
//! * a *power loss* also loses the last `lost_writes` writes (the unsynced tail).
//!
//! Volatile writes are held in an in-memory queue in front of the inner store (reads see them);
//! they reach the inner store once they are old enough, or are dropped by a crash. This works
//! over any inner store without needing deletes.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use restore_core::node::{LeafNode, Node, NodeBatch, NodeKey, NodeShard};
use restore_core::store::{
    KvStore, RestoreStore, StoreError, StoreResult, TreeStore, group_by_shard,
};
use restore_core::{KeyHash, Progress, StateItem, Usage, Version};

use super::plan::{CrashKind, Effect, Fault, Target};
use crate::sim;
use crate::trace::{FaultMark, Op, Point, Res};

/// A write that has been acknowledged but is not durable yet.
#[derive(Clone, Debug)]
enum Deferred {
    Nodes(NodeShard, Vec<(NodeKey, Node)>),
    Kv {
        version: Version,
        rows: Vec<StateItem>,
        progress: Option<Progress>,
    },
    Usage(Version, Usage),
}

/// A write as the caller hands it over: borrowed, so a write that goes straight to the inner
/// store (no power-loss window, nothing acknowledged-then-lost) copies nothing.
#[derive(Clone, Copy)]
enum Write<'a> {
    Nodes(NodeShard, &'a [(NodeKey, Node)]),
    Kv {
        version: Version,
        rows: &'a [StateItem],
        progress: Option<&'a Progress>,
    },
    Usage(Version, &'a Usage),
}

impl Write<'_> {
    fn to_deferred(self) -> Deferred {
        match self {
            Write::Nodes(shard, nodes) => Deferred::Nodes(shard, nodes.to_vec()),
            Write::Kv {
                version,
                rows,
                progress,
            } => Deferred::Kv {
                version,
                rows: rows.to_vec(),
                progress: progress.copied(),
            },
            Write::Usage(v, u) => Deferred::Usage(v, *u),
        }
    }
}

impl Deferred {
    fn as_write(&self) -> Write<'_> {
        match self {
            Deferred::Nodes(shard, nodes) => Write::Nodes(*shard, nodes),
            Deferred::Kv {
                version,
                rows,
                progress,
            } => Write::Kv {
                version: *version,
                rows,
                progress: progress.as_ref(),
            },
            Deferred::Usage(v, u) => Write::Usage(*v, u),
        }
    }
}

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
}

struct State {
    faults: Vec<(Fault, bool)>,
    enabled: bool,
    counters: FaultCounters,
    chunk_batches_seen: BTreeSet<u32>,
    disk_full: bool,
    queue: VecDeque<Deferred>,
    /// Writes younger than this many stay volatile (the power-loss window of this process).
    lag: usize,
    /// Queue index from which everything is lost at the next crash (acknowledged-then-lost).
    lost_from: Option<usize>,
    /// Visible KV progress key and largest visible leaf at the version: the K and T probes.
    progress_key: Option<KeyHash>,
    max_leaf: Option<KeyHash>,
    /// Oracle reads: no faults, no counting, no scheduling points.
    quiet: bool,
    /// verified-only at the seam: judges every KV row of the version as it lands.
    row_check: Option<RowCheck>,
    /// The first row that check rejected, until the runner collects it.
    unverified: Option<String>,
    /// Bumped whenever the visible tree of the version may have changed (a node write, a crash
    /// that lost writes): the durable-shape oracle re-checks only then.
    tree_epoch: u64,
}

/// Judges KV rows as they are written: `Some(why)` for a row that neither is in the snapshot nor
/// came from a chunk that verified. Checking at the seam catches unverified bytes even when a
/// later crash erases them, or when the restore never finishes.
pub type RowCheck = Arc<dyn Fn(&[StateItem]) -> Option<String> + Send + Sync>;

pub struct FaultyStore {
    inner: Arc<dyn RestoreStore>,
    version: Version,
    state: Mutex<State>,
}

impl FaultyStore {
    /// Wraps `inner` for a restore of `version` with the given faults (all enabled).
    pub fn new(
        inner: Arc<dyn RestoreStore>,
        version: Version,
        faults: &[Fault],
    ) -> StoreResult<FaultyStore> {
        let progress_key = inner.get_progress(version)?.map(|p| p.key_hash);
        let max_leaf = inner.rightmost_leaf(version)?.map(|(_, l)| l.account_key);
        Ok(FaultyStore {
            inner,
            version,
            state: Mutex::new(State {
                faults: faults.iter().map(|f| (*f, false)).collect(),
                enabled: true,
                counters: FaultCounters::default(),
                chunk_batches_seen: BTreeSet::new(),
                disk_full: false,
                queue: VecDeque::new(),
                lag: 0,
                lost_from: None,
                progress_key,
                max_leaf,
                quiet: false,
                row_check: None,
                unverified: None,
                tree_epoch: 0,
            }),
        })
    }

    pub fn inner(&self) -> &Arc<dyn RestoreStore> {
        &self.inner
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

    /// The power-loss window for the next process: that many most recent writes stay volatile.
    pub fn set_unsynced_window(&self, writes: u32) -> StoreResult<()> {
        let mut s = self.state.lock();
        s.lag = writes as usize;
        self.drain(&mut s)
    }

    /// Runs `f` with oracle reads: no faults fire, nothing is counted, no scheduling points.
    pub fn quietly<R>(&self, f: impl FnOnce() -> R) -> R {
        self.state.lock().quiet = true;
        let r = f();
        self.state.lock().quiet = false;
        r
    }

    fn is_quiet(&self) -> bool {
        self.state.lock().quiet
    }

    pub fn counters(&self) -> FaultCounters {
        self.state.lock().counters
    }

    /// Durable KV progress key and durable rightmost leaf key (as a crash now would leave them,
    /// ignoring volatile writes, which a process crash keeps).
    pub fn probes(&self) -> (Option<KeyHash>, Option<KeyHash>) {
        let s = self.state.lock();
        (s.progress_key, s.max_leaf)
    }

    /// Changes whenever the tree of the version may have changed (see `State::tree_epoch`).
    pub fn tree_epoch(&self) -> u64 {
        self.state.lock().tree_epoch
    }

    /// The version this store's probes and checks are about.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether an acknowledged-then-lost write is still pending (the disk's lie not yet exposed).
    pub fn lie_pending(&self) -> bool {
        self.state.lock().lost_from.is_some()
    }

    /// The process died: settle what survives. Returns how many writes were lost.
    pub fn crash(&self, kind: CrashKind) -> StoreResult<u32> {
        let mut s = self.state.lock();
        s.counters.crashes += 1;
        let len = s.queue.len();
        let mut keep = match kind {
            CrashKind::Process => len,
            CrashKind::PowerLoss { lost_writes } => len.saturating_sub(lost_writes as usize),
        };
        if let Some(from) = s.lost_from {
            keep = keep.min(from);
        }
        let lost = (len - keep) as u32;
        s.queue.truncate(keep);
        s.lost_from = None;
        s.lag = 0;
        self.drain(&mut s)?;
        s.counters.lost_writes += lost;
        if lost > 0 {
            s.tree_epoch += 1;
            s.progress_key = self.inner.get_progress(self.version)?.map(|p| p.key_hash);
            s.max_leaf = self
                .inner
                .rightmost_leaf(self.version)?
                .map(|(_, l)| l.account_key);
        }
        Ok(lost)
    }

    /// Makes every queued write durable (a sync), ending any pending acknowledged-then-lost lie
    /// as if the disk had kept its word.
    fn sync_all(&self, s: &mut State) -> StoreResult<()> {
        s.lost_from = None;
        while let Some(w) = s.queue.pop_front() {
            self.apply(w.as_write())?;
        }
        Ok(())
    }

    /// Moves writes that are old enough from the queue to the inner store.
    fn drain(&self, s: &mut State) -> StoreResult<()> {
        while s.queue.len() > s.lag && s.lost_from.is_none_or(|f| f > 0) {
            let w = s.queue.pop_front().expect("length checked");
            if let Some(f) = s.lost_from.as_mut() {
                *f -= 1;
            }
            self.apply(w.as_write())?;
        }
        Ok(())
    }

    fn apply(&self, w: Write<'_>) -> StoreResult<()> {
        match w {
            Write::Nodes(shard, nodes) => self.inner.write_node_shard(shard, nodes),
            Write::Kv {
                version,
                rows,
                progress,
            } => self.inner.write_kv_batch(version, rows, progress),
            Write::Usage(v, u) => self.inner.write_usage(v, u),
        }
    }

    /// The newest volatile write `pick` finds something in: reads see queued writes before the
    /// inner store (the lock is released before the caller falls back to the inner store).
    fn newest<T>(&self, pick: impl Fn(&Deferred) -> Option<T>) -> Option<T> {
        self.state.lock().queue.iter().rev().find_map(pick)
    }

    /// Makes a write visible: durable now, or queued (copied) while it may still be lost.
    fn write(&self, w: Write<'_>) -> StoreResult<()> {
        let mut s = self.state.lock();
        match w {
            Write::Nodes(_, nodes) => {
                s.tree_epoch += 1;
                for (k, n) in nodes {
                    if let (true, Some(l)) = (k.version == self.version, n.as_leaf()) {
                        s.max_leaf = s.max_leaf.max(Some(l.account_key));
                    }
                }
            }
            Write::Kv {
                version,
                progress: Some(p),
                ..
            } if version == self.version => s.progress_key = Some(p.key_hash),
            _ => {}
        }
        if s.lag == 0 && s.lost_from.is_none() {
            drop(s);
            return self.apply(w);
        }
        s.queue.push_back(w.to_deferred());
        self.drain(&mut s)
    }

    /// Finds the fault for this operation, if one is due, and counts the operation.
    fn due(&self, pick: impl Fn(&mut FaultCounters) -> (Target, Option<Target>)) -> Option<Effect> {
        let chunk = sim::current_task().and_then(|(_, _, c)| c);
        let mut s = self.state.lock();
        if s.quiet {
            return None;
        }
        let (target, by_chunk) = pick(&mut s.counters);
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
        let s = self.state.lock();
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
        self.write(Write::Nodes(shard, nodes))
    }

    fn write_node_batch(&self, batch: &NodeBatch) -> StoreResult<()> {
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
        sim::point(Point::Before(op, mark));
        Self::slow(op, effect);
        let groups = group_by_shard(batch);
        let land = match (mark, effect) {
            (Some(FaultMark::DiskFull), _) | (_, Some(Effect::IoError)) => 0,
            (_, Some(Effect::Torn { shards })) => (shards as usize).min(groups.len()),
            _ => groups.len(),
        };
        if let Some(Effect::DiskFull) = effect {
            self.state.lock().disk_full = true;
        }
        if let Some(Effect::AckThenLost) = effect {
            let mut s = self.state.lock();
            if s.lost_from.is_none() {
                s.lost_from = Some(s.queue.len());
            }
        }
        let mut r = Ok(());
        for (i, (shard, nodes)) in groups.iter().take(land).enumerate() {
            r = self.write_node_shard(*shard, nodes);
            if r.is_err() {
                break;
            }
            if i + 1 < groups.len() {
                let shard_no = match shard {
                    NodeShard::Nibble(n) => *n,
                    NodeShard::Top => 16,
                };
                sim::point(Point::After(
                    Op::NodeShard {
                        shard: shard_no,
                        nodes: nodes.len() as u32,
                    },
                    None,
                    Res::of(&r),
                ));
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
            || match self.newest(|w| match w {
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
            || {
                let mut best = self.inner.rightmost_leaf(version)?;
                let s = self.state.lock();
                for w in &s.queue {
                    if let Deferred::Nodes(_, nodes) = w {
                        for (k, n) in nodes {
                            if let (true, Some(l)) = (k.version == version, n.as_leaf())
                                && best.is_none_or(|(_, b)| l.account_key > b.account_key)
                            {
                                best = Some((*k, *l));
                            }
                        }
                    }
                }
                Ok(best)
            },
        )
    }

    /// Syncs first (every queued write becomes durable), then clears. Rare (a safe overwrite's
    /// open), so no fault targets it and it is no scheduling point of its own.
    fn clear_nodes(&self, version: Version) -> StoreResult<()> {
        let mut s = self.state.lock();
        self.sync_all(&mut s)?;
        self.inner.clear_nodes(version)?;
        s.tree_epoch += 1;
        if version == self.version {
            s.max_leaf = None;
        }
        Ok(())
    }

    fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>> {
        let mut all: std::collections::BTreeMap<NodeKey, Node> =
            self.inner.nodes_at(version)?.into_iter().collect();
        for w in &self.state.lock().queue {
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
        sim::point(Point::Before(op, mark));
        Self::slow(op, effect);
        if let Some(Effect::DiskFull) = effect {
            self.state.lock().disk_full = true;
        }
        if let Some(Effect::AckThenLost) = effect {
            let mut s = self.state.lock();
            if s.lost_from.is_none() {
                s.lost_from = Some(s.queue.len());
            }
        }
        let lands = matches!(
            mark,
            None | Some(FaultMark::Slow)
                | Some(FaultMark::AckThenLost)
                | Some(FaultMark::FailedButPersisted)
        );
        if lands && version == self.version {
            let check = self.state.lock().row_check.clone();
            if let Some(why) = check.and_then(|c| c(rows)) {
                self.state.lock().unverified.get_or_insert(why);
            }
        }
        let mut r = if lands {
            self.write(Write::Kv {
                version,
                rows,
                progress,
            })
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
            || match self.newest(|w| match w {
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
        match self.newest(|w| match w {
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
        for w in &self.state.lock().queue {
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
        sim::point(Point::Before(op, mark));
        let r = if full {
            Err(StoreError::Fault("usage write: disk full".into()))
        } else {
            self.write(Write::Usage(version, usage))
        };
        sim::point(Point::After(op, mark, Res::of(&r)));
        r
    }

    fn get_usage(&self, version: Version) -> StoreResult<Option<Usage>> {
        match self.newest(|w| match w {
            Deferred::Usage(v, u) if *v == version => Some(*u),
            _ => None,
        }) {
            Some(u) => Ok(Some(u)),
            None => self.inner.get_usage(version),
        }
    }

    /// As [`TreeStore::clear_nodes`]: syncs, then clears.
    fn clear_kv(&self, version: Version) -> StoreResult<()> {
        let mut s = self.state.lock();
        self.sync_all(&mut s)?;
        self.inner.clear_kv(version)?;
        if version == self.version {
            s.progress_key = None;
        }
        Ok(())
    }
}
