//! What a restore directory holds right now, as a crash would leave it: the KV side's durable
//! progress and the tree side's durable rightmost leaf, each counted in snapshot keys, and the
//! progress-divergence bound the two must keep.
//!
//! * `K` = snapshot keys at or below the durable KV progress key (0 without a progress record);
//! * `T` = snapshot keys at or below the durable rightmost leaf at the snapshot's version;
//! * the bound: `0 <= K − T <= L + 1`, with `L` the largest chunk fed. KV may lead the tree by
//!   at most the chunk whose batch is in flight plus the last leaf, which stays unfrozen until
//!   the next key arrives; it must never trail the tree.
//!
//! A store of several databases (a `split` or `aptos` [`Layout`]) is also read per database
//! ([`per_database`]): the KV metadata database's progress and each tree database's own
//! rightmost leaf, so a report can say which database a crash left behind, not only the totals.
//! [`durable_rows`] checks what the directory holds against the snapshot: every durable row and
//! leaf must be the snapshot's own, and every key up to K (rows) and T (leaves) must be there.
//!
//! These are the same quantities the simulation's `progress-divergence` oracle records at every
//! scheduling point; here they are read from a real store after the fact (e.g. after the process
//! that was restoring into it was killed). Reading only, through the store traits.

use std::path::Path;

use thiserror::Error;

use crate::chunk::Snapshot;
use crate::node::NodeKey;
use crate::real::open_dir;
use crate::store::{
    DbRole, KvStore, Layout, RocksStore, RocksStoreOptions, StoreResult, TreeStore,
};
use crate::types::KeyHash;

/// Durable progress of both sides, in snapshot keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurableProgress {
    /// The KV progress record's key hash, if there is one.
    pub progress_key: Option<KeyHash>,
    /// The largest key hash among the leaves stored at the snapshot's version, if any.
    pub rightmost_leaf: Option<KeyHash>,
    /// Snapshot keys at or below `progress_key`.
    pub k: u64,
    /// Snapshot keys at or below `rightmost_leaf`.
    pub t: u64,
}

/// The progress-divergence bound broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum DivergenceError {
    #[error("KV behind the tree: K={k} < T={t}")]
    KvBehind { k: u64, t: u64 },
    #[error("KV ahead of the tree by {} keys: K={k}, T={t}, bound L+1={bound}", k - t)]
    KvAhead { k: u64, t: u64, bound: u64 },
}

impl DurableProgress {
    /// `K − T` (negative when KV trails the tree).
    pub fn divergence(&self) -> i64 {
        self.k as i64 - self.t as i64
    }

    /// Checks `0 <= K − T <= L + 1` for `largest_chunk` = L.
    pub fn check(&self, largest_chunk: usize) -> Result<(), DivergenceError> {
        let (k, t) = (self.k, self.t);
        let bound = largest_chunk as u64 + 1;
        if k < t {
            Err(DivergenceError::KvBehind { k, t })
        } else if k - t > bound {
            Err(DivergenceError::KvAhead { k, t, bound })
        } else {
            Ok(())
        }
    }
}

/// Number of snapshot keys at or below `key` (0 for `None`).
pub fn keys_at_or_below(snapshot: &Snapshot, key: Option<KeyHash>) -> u64 {
    match key {
        None => 0,
        Some(key) => snapshot.items.partition_point(|i| i.key_hash <= key) as u64,
    }
}

/// Reads the durable progress record and rightmost leaf at the snapshot's version.
pub fn durable_progress(
    tree: &dyn TreeStore,
    kv: &dyn KvStore,
    snapshot: &Snapshot,
) -> StoreResult<DurableProgress> {
    let progress_key = kv.get_progress(snapshot.version)?.map(|p| p.key_hash);
    let rightmost_leaf = tree
        .rightmost_leaf(snapshot.version)?
        .map(|(_, leaf)| leaf.account_key);
    Ok(DurableProgress {
        progress_key,
        rightmost_leaf,
        k: keys_at_or_below(snapshot, progress_key),
        t: keys_at_or_below(snapshot, rightmost_leaf),
    })
}

/// [`durable_progress`] of a directory written by [`crate::real::restore_into_rocksdb`] (the
/// store is its `db` subdirectory, opened with `rocks`'s layout). Opens the store and closes it
/// before returning, so nothing else may have it open.
pub fn durable_progress_in_dir(
    dir: &Path,
    rocks: &RocksStoreOptions,
    snapshot: &Snapshot,
) -> StoreResult<DurableProgress> {
    let store = open_dir(dir, rocks)?;
    durable_progress(&store, &store, snapshot)
}

/// One database's share of the durable progress, in snapshot keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbProgress {
    pub role: DbRole,
    /// K from this database's progress record (only the database that holds it).
    pub k: Option<u64>,
    /// Snapshot keys at or below this database's own rightmost leaf (tree databases only; 0
    /// for one without leaves).
    pub t: Option<u64>,
}

impl DbProgress {
    /// `name=K…/T…`, e.g. `kv-meta K=4000`, `tree-shard-03 T=1250`.
    pub fn describe(&self) -> String {
        let mut s = self.role.name();
        if let Some(k) = self.k {
            s.push_str(&format!(" K={k}"));
        }
        if let Some(t) = self.t {
            s.push_str(&format!(" T={t}"));
        }
        s
    }
}

/// K and T per database of `store`, in [`Layout::databases`] order: the KV metadata database
/// (or the one database holding progress) with its K, and every tree database with its own T.
/// The overall T is the largest of the per-database ones; under `aptos`, shard n's T is the
/// count up to its last leaf, so a lower shard's T above a higher shard's is a durable tree
/// with a gap.
pub fn per_database(store: &RocksStore, snapshot: &Snapshot) -> StoreResult<Vec<DbProgress>> {
    let layout: Layout = store.layout();
    let progress = store.get_progress(snapshot.version)?.map(|p| p.key_hash);
    let mut out = Vec::new();
    for (id, role) in layout.databases() {
        let k = (id == layout.kv_meta_db()).then(|| keys_at_or_below(snapshot, progress));
        let t = if role.holds_nodes() {
            let leaf = store.rightmost_leaf_in(id, snapshot.version)?;
            Some(keys_at_or_below(snapshot, leaf.map(|(_, l)| l.account_key)))
        } else {
            None
        };
        if k.is_some() || t.is_some() {
            out.push(DbProgress { role, k, t });
        }
    }
    Ok(out)
}

/// What a directory holds after a crash: the overall K and T, K and T per database, and the
/// check of every durable row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirDurable {
    /// The restore finished: the KV usage is written and the tree's root is durable (both are
    /// written only by `finish`).
    pub finished: bool,
    pub overall: DurableProgress,
    pub per_db: Vec<DbProgress>,
    pub rows: DurableRows,
}

/// [`DirDurable`] of a restore directory (opens its store with `rocks` and closes it).
pub fn durable_in_dir(
    dir: &Path,
    rocks: &RocksStoreOptions,
    snapshot: &Snapshot,
) -> StoreResult<DirDurable> {
    let store = open_dir(dir, rocks)?;
    let overall = durable_progress(&store, &store, snapshot)?;
    let finished = store.get_usage(snapshot.version)?.is_some()
        && store.get_node(&NodeKey::root(snapshot.version))?.is_some();
    Ok(DirDurable {
        finished,
        per_db: per_database(&store, snapshot)?,
        rows: durable_rows(&store, &store, snapshot, &overall)?,
        overall,
    })
}

/// The durable rows and leaves against the snapshot, given the durable progress `at`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurableRows {
    /// KV rows durable, and leaves durable, at the snapshot's version.
    pub rows: u64,
    pub leaves: u64,
    /// Rows / leaves with a snapshot key but other bytes (other value hash).
    pub rows_wrong: u64,
    pub leaves_wrong: u64,
    /// Rows / leaves whose key the snapshot does not have.
    pub rows_extra: u64,
    pub leaves_extra: u64,
    /// Snapshot keys among the first K (rows) / first T (leaves) that are not durable: progress
    /// that claims what is not there.
    pub rows_missing_below_k: u64,
    pub leaves_missing_below_t: u64,
}

impl DurableRows {
    /// Wrong, extra or missing rows or leaves: 0 when everything durable is correct.
    pub fn problems(&self) -> u64 {
        self.rows_wrong
            + self.leaves_wrong
            + self.rows_extra
            + self.leaves_extra
            + self.rows_missing_below_k
            + self.leaves_missing_below_t
    }
}

/// Counts [`DurableRows`]: reads every KV row and every node at the snapshot's version.
pub fn durable_rows(
    tree: &dyn TreeStore,
    kv: &dyn KvStore,
    snapshot: &Snapshot,
    at: &DurableProgress,
) -> StoreResult<DurableRows> {
    use std::collections::BTreeMap;

    let want: BTreeMap<KeyHash, usize> = snapshot
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.key_hash, i))
        .collect();
    let mut d = DurableRows::default();
    let mut row_seen = vec![false; snapshot.items.len()];
    for row in kv.kv_rows(snapshot.version)? {
        d.rows += 1;
        match want.get(&row.key_hash) {
            None => d.rows_extra += 1,
            Some(&i) => {
                row_seen[i] = true;
                if row != snapshot.items[i] {
                    d.rows_wrong += 1;
                }
            }
        }
    }
    let mut leaf_seen = vec![false; snapshot.items.len()];
    for (_, node) in tree.nodes_at(snapshot.version)? {
        let Some(leaf) = node.as_leaf() else { continue };
        d.leaves += 1;
        match want.get(&leaf.account_key) {
            None => d.leaves_extra += 1,
            Some(&i) => {
                leaf_seen[i] = true;
                if leaf.value_hash != snapshot.items[i].value_hash() {
                    d.leaves_wrong += 1;
                }
            }
        }
    }
    let missing =
        |seen: &[bool], n: u64| seen.iter().take(n as usize).filter(|s| !**s).count() as u64;
    d.rows_missing_below_k = missing(&row_seen, at.k);
    d.leaves_missing_below_t = missing(&leaf_seen, at.t);
    Ok(d)
}

/// Key-level differences between what a store holds at the snapshot's version and the snapshot:
/// how many keys are lost (absent) or wrong (present with other bytes), per side, and how many
/// the snapshot does not have at all. Reads every KV row and every stored node, so it is meant
/// for a finished restore, where all counts should be 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyDiff {
    pub kv_lost: u64,
    pub kv_wrong: u64,
    pub kv_extra: u64,
    pub leaves_lost: u64,
    pub leaves_wrong: u64,
    pub leaves_extra: u64,
}

impl KeyDiff {
    /// Keys lost or wrong on either side (extras not included).
    pub fn lost_or_wrong(&self) -> u64 {
        self.kv_lost + self.kv_wrong + self.leaves_lost + self.leaves_wrong
    }

    pub fn is_clean(&self) -> bool {
        *self == KeyDiff::default()
    }
}

/// Counts [`KeyDiff`]. Tree leaves are every leaf node stored at the version (wherever it sits;
/// the audit checks placement and hashes).
pub fn key_diff(
    tree: &dyn TreeStore,
    kv: &dyn KvStore,
    snapshot: &Snapshot,
) -> StoreResult<KeyDiff> {
    use std::collections::BTreeMap;

    let mut diff = KeyDiff::default();
    let want: BTreeMap<KeyHash, _> = snapshot.items.iter().map(|i| (i.key_hash, i)).collect();

    let rows: BTreeMap<KeyHash, _> = kv
        .kv_rows(snapshot.version)?
        .into_iter()
        .map(|r| (r.key_hash, r))
        .collect();
    for (k, item) in &want {
        match rows.get(k) {
            None => diff.kv_lost += 1,
            Some(row) if row != *item => diff.kv_wrong += 1,
            Some(_) => {}
        }
    }
    diff.kv_extra = rows.keys().filter(|k| !want.contains_key(k)).count() as u64;

    let leaves: BTreeMap<KeyHash, _> = tree
        .nodes_at(snapshot.version)?
        .into_iter()
        .filter_map(|(_, n)| n.as_leaf().map(|l| (l.account_key, l.value_hash)))
        .collect();
    for (k, item) in &want {
        match leaves.get(k) {
            None => diff.leaves_lost += 1,
            Some(vh) if *vh != item.value_hash() => diff.leaves_wrong += 1,
            Some(_) => {}
        }
    }
    diff.leaves_extra = leaves.keys().filter(|k| !want.contains_key(k)).count() as u64;
    Ok(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(k: u64, t: u64) -> DurableProgress {
        DurableProgress {
            progress_key: None,
            rightmost_leaf: None,
            k,
            t,
        }
    }

    #[test]
    fn bound_is_zero_to_l_plus_one() {
        assert_eq!(at(0, 0).check(10), Ok(()));
        assert_eq!(at(11, 0).check(10), Ok(()));
        assert_eq!(at(25, 14).check(10), Ok(()));
        assert_eq!(
            at(12, 0).check(10),
            Err(DivergenceError::KvAhead {
                k: 12,
                t: 0,
                bound: 11
            })
        );
        assert_eq!(
            at(4, 5).check(10),
            Err(DivergenceError::KvBehind { k: 4, t: 5 })
        );
        assert_eq!(at(4, 5).divergence(), -1);
        assert_eq!(
            at(30, 2).check(10).unwrap_err().to_string(),
            "KV ahead of the tree by 28 keys: K=30, T=2, bound L+1=11"
        );
    }
}
