//! How a store is split into databases, and when their writes become durable.
//!
//! Aptos keeps the two sides of a restore in separate RocksDB instances: state values in
//! `state_kv_db`, tree nodes in `state_merkle_db`, and with sharding each of them is 16 shard
//! databases plus a metadata database. Separate databases have separate write-ahead logs, so
//! nothing orders a write to one against a write to another except a caller that waits for the
//! first to be durable. A [`Layout`] names which database holds what; a [`SyncPolicy`] says when
//! a returned write is durable. Both are properties of the store, shared by the real RocksDB
//! store and the simulation's fault model, so the two agree on where every byte lives.

use std::fmt;
use std::str::FromStr;

use crate::node::NodeShard;
use crate::types::KeyHash;

/// Which databases a store consists of and how rows and nodes are routed to them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layout {
    /// One database holds everything: one write order, so a power loss drops a suffix of it.
    #[default]
    One,
    /// One KV database and one tree database.
    Split,
    /// As Aptos with sharding: 16 KV shard databases (by the key hash's first nibble) plus KV
    /// metadata (progress, usage), and 16 tree shard databases (by the node path's first nibble)
    /// plus tree metadata (the root).
    Aptos,
}

/// Shards per side under [`Layout::Aptos`].
pub const SHARDS: u8 = 16;

/// One database of a layout, numbered densely from 0 (see [`Layout::databases`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbId(pub u8);

/// What a database of a layout holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DbRole {
    /// Both sides (layout `one`).
    All,
    /// Every KV row and record (layout `split`).
    Kv,
    /// Every node (layout `split`).
    Tree,
    /// KV rows whose key hash starts with this nibble.
    KvShard(u8),
    /// The KV progress record and usage.
    KvMeta,
    /// Nodes whose path starts with this nibble.
    TreeShard(u8),
    /// The root (the only node at the empty path).
    TreeMeta,
}

impl DbRole {
    /// Whether the database holds KV rows or records.
    pub fn holds_kv(self) -> bool {
        matches!(
            self,
            DbRole::All | DbRole::Kv | DbRole::KvShard(_) | DbRole::KvMeta
        )
    }

    /// Whether the database holds tree nodes.
    pub fn holds_nodes(self) -> bool {
        matches!(
            self,
            DbRole::All | DbRole::Tree | DbRole::TreeShard(_) | DbRole::TreeMeta
        )
    }

    /// A short stable name: also the subdirectory of a RocksDB store.
    pub fn name(self) -> String {
        match self {
            DbRole::All => "db".into(),
            DbRole::Kv => "kv".into(),
            DbRole::Tree => "tree".into(),
            DbRole::KvShard(n) => format!("kv-shard-{n:02}"),
            DbRole::KvMeta => "kv-meta".into(),
            DbRole::TreeShard(n) => format!("tree-shard-{n:02}"),
            DbRole::TreeMeta => "tree-meta".into(),
        }
    }
}

impl Layout {
    pub const ALL: [Layout; 3] = [Layout::One, Layout::Split, Layout::Aptos];

    pub fn name(self) -> &'static str {
        match self {
            Layout::One => "one",
            Layout::Split => "split",
            Layout::Aptos => "aptos",
        }
    }

    /// Number of databases.
    pub fn db_count(self) -> usize {
        match self {
            Layout::One => 1,
            Layout::Split => 2,
            Layout::Aptos => 2 * (SHARDS as usize + 1),
        }
    }

    /// Every database, in [`DbId`] order.
    pub fn databases(self) -> impl Iterator<Item = (DbId, DbRole)> {
        (0..self.db_count()).map(move |i| {
            let id = DbId(i as u8);
            (id, self.role(id))
        })
    }

    /// What database `id` holds.
    pub fn role(self, id: DbId) -> DbRole {
        let i = id.0;
        assert!(
            (i as usize) < self.db_count(),
            "{id:?} is not a database of {self}"
        );
        match self {
            Layout::One => DbRole::All,
            Layout::Split if i == 0 => DbRole::Kv,
            Layout::Split => DbRole::Tree,
            Layout::Aptos => match i {
                0..SHARDS => DbRole::KvShard(i),
                SHARDS => DbRole::KvMeta,
                n if n < 2 * SHARDS + 1 => DbRole::TreeShard(n - SHARDS - 1),
                _ => DbRole::TreeMeta,
            },
        }
    }

    /// The database of the KV row with this key hash (Aptos: the hash's first nibble).
    pub fn kv_row_db(self, key: &KeyHash) -> DbId {
        match self {
            Layout::One | Layout::Split => DbId(0),
            Layout::Aptos => DbId(key.nibble(0)),
        }
    }

    /// The database of the KV progress record and the usage (Aptos: the KV metadata database).
    pub fn kv_meta_db(self) -> DbId {
        match self {
            Layout::One | Layout::Split => DbId(0),
            Layout::Aptos => DbId(SHARDS),
        }
    }

    /// The database of a node shard group (Aptos: the path's first nibble; the root in the tree
    /// metadata database).
    pub fn node_db(self, shard: NodeShard) -> DbId {
        match (self, shard) {
            (Layout::One, _) => DbId(0),
            (Layout::Split, _) => DbId(1),
            (Layout::Aptos, NodeShard::Nibble(n)) => DbId(SHARDS + 1 + n),
            (Layout::Aptos, NodeShard::Top) => DbId(2 * SHARDS + 1),
        }
    }

    /// Whether KV rows are written as separate shard writes (in parallel) before the progress
    /// record, as Aptos's `StateKvDb::commit` does, instead of one atomic batch.
    pub fn shards_kv(self) -> bool {
        self == Layout::Aptos
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = String;

    fn from_str(s: &str) -> Result<Layout, String> {
        Layout::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| format!("unknown layout {s:?} (expected one, split or aptos)"))
    }
}

/// When a write that returned is durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncPolicy {
    /// Every write is synced: durable when it returns (Aptos's `write_schemas`).
    Always,
    /// No write is synced; the OS writes them back some time later.
    #[default]
    Relaxed,
    /// Relaxed writes, plus an explicit sync of a database wherever a strategy needs an order
    /// across databases (see `TreeStore::sync_tree`, `KvStore::sync_kv`).
    Barrier,
}

impl SyncPolicy {
    pub const ALL: [SyncPolicy; 3] = [SyncPolicy::Always, SyncPolicy::Relaxed, SyncPolicy::Barrier];

    pub fn name(self) -> &'static str {
        match self {
            SyncPolicy::Always => "always",
            SyncPolicy::Relaxed => "relaxed",
            SyncPolicy::Barrier => "barrier",
        }
    }

    /// Whether a returned write is durable at once.
    pub fn syncs_every_write(self) -> bool {
        self == SyncPolicy::Always
    }

    /// Whether explicit barriers do anything.
    pub fn honours_barriers(self) -> bool {
        self == SyncPolicy::Barrier
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SyncPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<SyncPolicy, String> {
        SyncPolicy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown sync policy {s:?} (expected always, relaxed or barrier)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashValue;

    #[test]
    fn every_layout_routes_each_kind_of_data_to_a_database_that_holds_it() {
        for layout in Layout::ALL {
            for first in 0u8..16 {
                let mut key = HashValue([0; 32]);
                key.0[0] = first << 4 | 0x7;
                let db = layout.kv_row_db(&key);
                assert!(layout.role(db).holds_kv(), "{layout} {first}");
                assert!(
                    layout
                        .role(layout.node_db(NodeShard::Nibble(first)))
                        .holds_nodes()
                );
            }
            assert!(layout.role(layout.kv_meta_db()).holds_kv());
            assert!(layout.role(layout.node_db(NodeShard::Top)).holds_nodes());
            let names: std::collections::BTreeSet<String> =
                layout.databases().map(|(_, r)| r.name()).collect();
            assert_eq!(names.len(), layout.db_count(), "names are distinct");
        }
    }

    #[test]
    fn aptos_routes_by_first_nibble_and_keeps_metadata_apart() {
        let mut key = HashValue([0; 32]);
        key.0[0] = 0xA3;
        let l = Layout::Aptos;
        assert_eq!(l.role(l.kv_row_db(&key)), DbRole::KvShard(0xA));
        assert_eq!(l.role(l.kv_meta_db()), DbRole::KvMeta);
        assert_eq!(
            l.role(l.node_db(NodeShard::Nibble(5))),
            DbRole::TreeShard(5)
        );
        assert_eq!(l.role(l.node_db(NodeShard::Top)), DbRole::TreeMeta);
        assert_eq!(l.db_count(), 34);
        // Split: KV and the tree never share a database; one: always.
        assert_ne!(
            Layout::Split.kv_meta_db(),
            Layout::Split.node_db(NodeShard::Top)
        );
        assert_eq!(
            Layout::One.kv_meta_db(),
            Layout::One.node_db(NodeShard::Top)
        );
    }

    #[test]
    fn names_parse_back() {
        for l in Layout::ALL {
            assert_eq!(l.name().parse::<Layout>(), Ok(l));
        }
        for p in SyncPolicy::ALL {
            assert_eq!(p.name().parse::<SyncPolicy>(), Ok(p));
        }
        assert!("two".parse::<Layout>().is_err());
        assert!("never".parse::<SyncPolicy>().is_err());
    }
}
