//! The disk under a [`super::FaultyStore`]: a set of databases, each with its own write order and
//! its own unsynced tail, as the store's [`Layout`] and [`SyncPolicy`] say.
//!
//! What a crash may leave, per database:
//! * writes that returned and were synced (every write under `always`, a barrier's under
//!   `barrier`, anything older than the unsynced window) never go;
//! * a *process crash* keeps every write that returned; writes in flight do not land;
//! * a *power loss* drops a suffix of each database's unsynced writes, independently per
//!   database (how much, per [`Spread`]), and a write in flight may land or not, also per
//!   database — but never in a database that lost a returned write (its log keeps a prefix);
//! * an acknowledged-then-lost write (a lying disk) is lost at the next crash with every later
//!   write, whatever was synced: the store marks the cut in every database, since they share
//!   one device.
//!
//! Unsynced writes are held in a queue per database in front of the inner store (reads see
//! them); they reach the inner store once they are older than the window, or are dropped by a
//! crash. The inner store is therefore always the *durable floor*: what every database keeps if
//! it loses all it may. Databases hold disjoint keys, so the order in which their queues reach
//! the inner store does not matter.
//!
//! One database is the model every case written before layouts existed runs under
//! ([`Durability::is_legacy`]): it tracks nothing in flight and is exactly the old single queue.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use restore_core::node::{LeafNode, Node, NodeKey, NodeShard};
use restore_core::store::{DbId, DbRole, Layout, RestoreStore, StoreResult};
use restore_core::{KeyHash, Progress, StateItem, Usage, Version};

use super::plan::{CrashKind, Durability, Side, Spread};

/// A write held by the disk: acknowledged but not durable, or issued and not returned.
#[derive(Clone, Debug)]
pub(crate) enum Deferred {
    Nodes(NodeShard, Vec<(NodeKey, Node)>),
    Kv {
        version: Version,
        rows: Vec<StateItem>,
        progress: Option<Progress>,
    },
    Usage(Version, Usage),
}

/// A write as the caller hands it over: borrowed, so a write that goes straight to the inner
/// store copies nothing.
#[derive(Clone, Copy)]
pub(crate) enum Write<'a> {
    Nodes(NodeShard, &'a [(NodeKey, Node)]),
    Kv {
        version: Version,
        rows: &'a [StateItem],
        progress: Option<&'a Progress>,
    },
    Usage(Version, &'a Usage),
}

impl Write<'_> {
    pub(crate) fn to_deferred(self) -> Deferred {
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
    pub(crate) fn as_write(&self) -> Write<'_> {
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

/// One database's volatile state.
#[derive(Default)]
struct DbLog {
    /// Returned, not yet durable, oldest first.
    queue: VecDeque<Deferred>,
    /// Queue index from which everything is lost at the next crash (acknowledged-then-lost).
    lost_from: Option<usize>,
    /// Written since its last sync (a barrier on a clean database costs nothing).
    dirty: bool,
}

/// A write issued and not yet returned.
struct Issued {
    id: u64,
    db: DbId,
    write: Deferred,
}

/// The extremes a power loss could leave now, in a store of several databases: the KV
/// progress key and the rightmost leaf, least and most durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extremes {
    pub k_lo: Option<KeyHash>,
    pub k_hi: Option<KeyHash>,
    pub t_lo: Option<KeyHash>,
    pub t_hi: Option<KeyHash>,
}

/// A tree a power loss could leave, with what would have to be lost for it (for the message).
pub type TreeView = (String, Vec<(NodeKey, Node)>);

/// What a crash did to the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Returned writes lost.
    pub lost: u32,
    /// Writes in flight that landed, and that did not.
    pub landed: u32,
    pub dropped: u32,
}

pub(crate) struct Disk {
    inner: Arc<dyn RestoreStore>,
    version: Version,
    durability: Durability,
    dbs: Vec<DbLog>,
    /// Writes per database younger than this stay unsynced (this process's window).
    lag: usize,
    in_flight: Vec<Issued>,
    next_id: u64,
    /// Visible KV progress key and largest visible leaf at the version (the K and T probes).
    pub progress_key: Option<KeyHash>,
    pub max_leaf: Option<KeyHash>,
    /// The same, durable floor only (every unsynced write lost).
    floor_progress: Option<KeyHash>,
    floor_leaf: Option<KeyHash>,
    /// Bumped whenever a tree the durable-shape oracle may judge could have changed.
    pub tree_epoch: u64,
    /// Syncs that did something (databases with writes since their last sync).
    pub fsyncs: u64,
}

fn max_key(a: Option<KeyHash>, b: Option<KeyHash>) -> Option<KeyHash> {
    a.max(b)
}

fn on_side(role: DbRole, side: Side) -> bool {
    match side {
        Side::Kv => role.holds_kv(),
        Side::Tree => role.holds_nodes(),
    }
}

impl Disk {
    pub(crate) fn new(
        inner: Arc<dyn RestoreStore>,
        version: Version,
        durability: Durability,
    ) -> StoreResult<Disk> {
        let progress_key = inner.get_progress(version)?.map(|p| p.key_hash);
        let max_leaf = inner.rightmost_leaf(version)?.map(|(_, l)| l.account_key);
        Ok(Disk {
            dbs: (0..durability.layout.db_count())
                .map(|_| DbLog::default())
                .collect(),
            inner,
            version,
            durability,
            lag: 0,
            in_flight: Vec::new(),
            next_id: 0,
            progress_key,
            max_leaf,
            floor_progress: progress_key,
            floor_leaf: max_leaf,
            tree_epoch: 0,
            fsyncs: 0,
        })
    }

    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether writes are tracked while in flight (they may land at a crash). Not in the legacy
    /// model, where a write parked before it returned never lands.
    pub(crate) fn tracks_in_flight(&self) -> bool {
        !self.durability.is_legacy()
    }

    /// A new process begins with this unsynced window. Writes left in flight by a process that
    /// ended without a crash (its tasks were abandoned) never happened.
    pub(crate) fn begin_process(&mut self, window: u32) -> StoreResult<()> {
        let abandoned = std::mem::take(&mut self.in_flight);
        if abandoned
            .iter()
            .any(|w| matches!(w.write, Deferred::Nodes(..)))
        {
            self.tree_epoch += 1;
        }
        self.lag = window as usize;
        for i in 0..self.dbs.len() {
            self.drain(i)?;
        }
        Ok(())
    }

    /// Registers a write as issued; it lands with [`Self::complete`] or at a crash.
    pub(crate) fn issue(&mut self, db: DbId, w: Write<'_>) -> Option<u64> {
        if !self.tracks_in_flight() {
            return None;
        }
        // No new tree epoch: a node write in flight either lands (and the landing is checked)
        // or is settled by a crash (which is), so judging it now would only judge it early.
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.push(Issued {
            id,
            db,
            write: w.to_deferred(),
        });
        Some(id)
    }

    /// The issued write `id` returned: it lands in its database. Without an id (nothing was
    /// tracked) `w` lands directly.
    pub(crate) fn complete(&mut self, id: Option<u64>, db: DbId, w: Write<'_>) -> StoreResult<()> {
        if let Some(id) = id {
            let at = self
                .in_flight
                .iter()
                .position(|x| x.id == id)
                .expect("an issued write completes once");
            let issued = self.in_flight.remove(at);
            debug_assert_eq!(issued.db, db);
            return self.land(db, issued.write.as_write());
        }
        self.land(db, w)
    }

    /// A write returned: visible now, durable now or queued while it may still be lost.
    fn land(&mut self, db: DbId, w: Write<'_>) -> StoreResult<()> {
        self.note_visible(&w);
        let i = db.0 as usize;
        self.dbs[i].dirty = true;
        if self.lag == 0 && self.dbs[i].lost_from.is_none() {
            return self.apply(w);
        }
        self.dbs[i].queue.push_back(w.to_deferred());
        self.drain(i)
    }

    fn note_visible(&mut self, w: &Write<'_>) {
        match w {
            Write::Nodes(_, nodes) => {
                self.tree_epoch += 1;
                for (k, n) in *nodes {
                    if let (true, Some(l)) = (k.version == self.version, n.as_leaf()) {
                        self.max_leaf = max_key(self.max_leaf, Some(l.account_key));
                    }
                }
            }
            Write::Kv {
                version,
                progress: Some(p),
                ..
            } if *version == self.version => self.progress_key = Some(p.key_hash),
            _ => {}
        }
    }

    /// Makes a write durable (the inner store), moving the durable floor with it.
    fn apply(&mut self, w: Write<'_>) -> StoreResult<()> {
        match w {
            Write::Nodes(shard, nodes) => {
                for (k, n) in nodes {
                    if let (true, Some(l)) = (k.version == self.version, n.as_leaf()) {
                        self.floor_leaf = max_key(self.floor_leaf, Some(l.account_key));
                    }
                }
                self.inner.write_node_shard(shard, nodes)
            }
            Write::Kv {
                version,
                rows,
                progress,
            } => {
                if let (true, Some(p)) = (version == self.version, progress) {
                    self.floor_progress = Some(p.key_hash);
                }
                self.inner.write_kv_batch(version, rows, progress)
            }
            Write::Usage(v, u) => self.inner.write_usage(v, u),
        }
    }

    /// Moves writes older than the window from database `i`'s queue to the inner store.
    fn drain(&mut self, i: usize) -> StoreResult<()> {
        while self.dbs[i].queue.len() > self.lag && self.dbs[i].lost_from.is_none_or(|f| f > 0) {
            let w = self.dbs[i].queue.pop_front().expect("length checked");
            if let Some(f) = self.dbs[i].lost_from.as_mut() {
                *f -= 1;
            }
            self.apply(w.as_write())?;
        }
        Ok(())
    }

    /// The disk will lose this database's writes from here on at the next crash.
    pub(crate) fn lie(&mut self, db: DbId) {
        let log = &mut self.dbs[db.0 as usize];
        if log.lost_from.is_none() {
            log.lost_from = Some(log.queue.len());
        }
    }

    pub(crate) fn lie_pending(&self) -> bool {
        self.dbs.iter().any(|d| d.lost_from.is_some())
    }

    /// Whether a barrier on `db` would do anything.
    pub(crate) fn is_dirty(&self, db: DbId) -> bool {
        self.dbs[db.0 as usize].dirty
    }

    /// A barrier: every returned write of `db` becomes durable, except what a lying disk will
    /// still drop (its fsync lies too).
    pub(crate) fn sync(&mut self, db: DbId) -> StoreResult<()> {
        let i = db.0 as usize;
        if !self.dbs[i].dirty {
            return Ok(());
        }
        self.dbs[i].dirty = false;
        self.fsyncs += 1;
        while !self.dbs[i].queue.is_empty() && self.dbs[i].lost_from.is_none_or(|f| f > 0) {
            let w = self.dbs[i].queue.pop_front().expect("not empty");
            if let Some(f) = self.dbs[i].lost_from.as_mut() {
                *f -= 1;
            }
            self.apply(w.as_write())?;
        }
        Ok(())
    }

    /// Everything queued becomes durable and any pending lie ends as if the disk had kept its
    /// word (before clearing a version, which must not race its own earlier writes).
    pub(crate) fn sync_all(&mut self) -> StoreResult<()> {
        for i in 0..self.dbs.len() {
            self.dbs[i].lost_from = None;
            while let Some(w) = self.dbs[i].queue.pop_front() {
                self.apply(w.as_write())?;
            }
        }
        Ok(())
    }

    /// After the inner store dropped the version's nodes or KV (everything was synced first).
    pub(crate) fn cleared(&mut self, nodes: bool) {
        if nodes {
            self.tree_epoch += 1;
            self.max_leaf = None;
            self.floor_leaf = None;
        } else {
            self.progress_key = None;
            self.floor_progress = None;
        }
    }

    /// The process died: settle what survives.
    pub(crate) fn crash(&mut self, kind: CrashKind) -> StoreResult<Settled> {
        let layout = self.durability.layout;
        let (cap, spread) = match kind {
            CrashKind::Process => (0usize, None),
            CrashKind::PowerLoss {
                lost_writes,
                spread,
            } => (lost_writes as usize, spread),
        };
        let mut rng = match spread {
            Some(Spread::Seeded { seed }) => Some(ChaCha8Rng::seed_from_u64(seed)),
            _ => None,
        };
        let mut settled = Settled::default();
        // A lying disk cut every database at the lie: whatever was issued after it is gone too.
        let lying = self.lie_pending();
        let mut lost_in = vec![false; self.dbs.len()];
        for (i, log) in self.dbs.iter_mut().enumerate() {
            let role = layout.role(DbId(i as u8));
            let lose = match (kind, spread) {
                (CrashKind::Process, _) => 0,
                (_, None) => cap,
                (_, Some(Spread::Seeded { .. })) => {
                    let r = rng.as_mut().expect("seeded").next_u32() as usize;
                    r % (cap + 1)
                }
                (_, Some(Spread::OneSide { loses })) => {
                    if on_side(role, loses) {
                        cap
                    } else {
                        0
                    }
                }
                (_, Some(Spread::Exact { lose, .. })) => Spread::exact_loss(lose, i),
            };
            let len = log.queue.len();
            let mut keep = len - lose.min(len);
            if let Some(from) = log.lost_from {
                keep = keep.min(from);
            }
            lost_in[i] = keep < len;
            settled.lost += (len - keep) as u32;
            log.queue.truncate(keep);
            log.lost_from = None;
            log.dirty = false;
        }
        let mut landing = Vec::new();
        let mut nodes_in_flight = false;
        for (j, w) in std::mem::take(&mut self.in_flight).into_iter().enumerate() {
            nodes_in_flight |= matches!(w.write, Deferred::Nodes(..));
            let i = w.db.0 as usize;
            let role = layout.role(w.db);
            let lands = !lying
                && !lost_in[i]
                && match (kind, spread) {
                    (CrashKind::Process, _) | (_, None) => false,
                    (_, Some(Spread::Seeded { .. })) => {
                        rng.as_mut().expect("seeded").next_u32() & 1 == 1
                    }
                    (_, Some(Spread::OneSide { loses })) => !on_side(role, loses),
                    (_, Some(Spread::Exact { land, .. })) => j < 64 && land >> j & 1 == 1,
                };
            if lands {
                settled.landed += 1;
                landing.push(w.write);
            } else {
                settled.dropped += 1;
            }
        }
        self.lag = 0;
        for i in 0..self.dbs.len() {
            self.drain(i)?;
        }
        for w in &landing {
            self.apply(w.as_write())?;
        }
        if settled.lost > 0 || settled.landed > 0 {
            self.tree_epoch += 1;
            self.progress_key = self.inner.get_progress(self.version)?.map(|p| p.key_hash);
            self.max_leaf = self
                .inner
                .rightmost_leaf(self.version)?
                .map(|(_, l)| l.account_key);
        } else if nodes_in_flight {
            self.tree_epoch += 1;
        }
        self.floor_progress = self.progress_key;
        self.floor_leaf = self.max_leaf;
        Ok(settled)
    }

    /// The newest queued write `pick` finds something in (reads see queued writes first). A key
    /// lives in one database, so the first database that has it has its newest write.
    pub(crate) fn newest<T>(&self, pick: impl Fn(&Deferred) -> Option<T>) -> Option<T> {
        self.dbs
            .iter()
            .find_map(|d| d.queue.iter().rev().find_map(&pick))
    }

    /// Every queued write, database by database, oldest first.
    pub(crate) fn queued(&self) -> impl Iterator<Item = &Deferred> {
        self.dbs.iter().flat_map(|d| d.queue.iter())
    }

    /// K and T at their extremes over every power loss now. `None` for one database, where K
    /// and T fall together: every state a suffix loss leaves was the visible state once.
    pub(crate) fn extremes(&self) -> Option<Extremes> {
        if self.durability.layout == Layout::One {
            return None;
        }
        let mut k_hi = self.progress_key;
        let mut t_hi = self.max_leaf;
        for w in &self.in_flight {
            match &w.write {
                Deferred::Kv {
                    version,
                    progress: Some(p),
                    ..
                } if *version == self.version => k_hi = max_key(k_hi, Some(p.key_hash)),
                Deferred::Nodes(_, nodes) => {
                    for (k, n) in nodes {
                        if let (true, Some(l)) = (k.version == self.version, n.as_leaf()) {
                            t_hi = max_key(t_hi, Some(l.account_key));
                        }
                    }
                }
                _ => {}
            }
        }
        Some(Extremes {
            k_lo: self.floor_progress,
            k_hi,
            t_lo: self.floor_leaf,
            t_hi,
        })
    }

    /// The trees of the version a power loss could leave now, as far as durable-shape needs
    /// them: every write that may land kept, and, in a store whose tree spans several
    /// databases, each such database alone losing all it may. A misshapen tree in any state a
    /// power loss allows shows in one of these: a violation needs one node kept and one missing;
    /// keeping everything else only adds nodes, and whatever is missing is missing from one
    /// database.
    pub(crate) fn tree_views(&self) -> StoreResult<Vec<TreeView>> {
        let version = self.version;
        let base: BTreeMap<NodeKey, Node> = self.inner.nodes_at(version)?.into_iter().collect();
        let layout = self.durability.layout;
        let aptos = layout == Layout::Aptos;
        let overlay = |skip: Option<usize>, mut all: BTreeMap<NodeKey, Node>| {
            for (i, d) in self.dbs.iter().enumerate() {
                if Some(i) == skip {
                    continue;
                }
                for w in &d.queue {
                    if let Deferred::Nodes(_, nodes) = w {
                        all.extend(
                            nodes
                                .iter()
                                .filter(|(k, _)| k.version == version)
                                .map(|(k, n)| (*k, n.clone())),
                        );
                    }
                }
            }
            for w in &self.in_flight {
                if let (false, Deferred::Nodes(_, nodes)) =
                    (Some(w.db.0 as usize) == skip, &w.write)
                {
                    all.extend(
                        nodes
                            .iter()
                            .filter(|(k, _)| k.version == version)
                            .map(|(k, n)| (*k, n.clone())),
                    );
                }
            }
            all.into_iter().collect::<Vec<_>>()
        };
        let every = "if every write lands".to_string();
        if !aptos {
            return Ok(vec![(every, overlay(None, base))]);
        }
        let mut views = vec![(every, overlay(None, base.clone()))];
        for (id, role) in layout.databases() {
            if !role.holds_nodes() {
                continue;
            }
            let i = id.0 as usize;
            let volatile = self.dbs[i]
                .queue
                .iter()
                .any(|w| matches!(w, Deferred::Nodes(..)))
                || self.in_flight.iter().any(|w| w.db == id);
            if volatile {
                views.push((
                    format!("if {} loses its unsynced writes", role.name()),
                    overlay(Some(i), base.clone()),
                ));
            }
        }
        Ok(views)
    }

    /// The leaf with the largest key among durable and queued nodes at `version`.
    pub(crate) fn rightmost_leaf(
        &self,
        version: Version,
    ) -> StoreResult<Option<(NodeKey, LeafNode)>> {
        let mut best = self.inner.rightmost_leaf(version)?;
        for w in self.queued() {
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
    }
}

mod image;
#[cfg(test)]
mod tests;
pub use image::Image;
