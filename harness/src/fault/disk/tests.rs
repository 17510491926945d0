//! The disk model on its own: what each kind of crash keeps, per database.

use super::*;
use restore_core::hash::HashValue;
use restore_core::nibble::NibblePath;
use restore_core::store::{KvStore, MemStore, SyncPolicy, TreeStore};

const V: Version = Version(1);

fn key(b: u8) -> KeyHash {
    HashValue([b; 32])
}

fn progress(b: u8) -> Progress {
    Progress {
        key_hash: key(b),
        usage: Usage::default(),
    }
}

fn leaf(b: u8) -> (NodeKey, Node) {
    let l = LeafNode {
        account_key: key(b),
        value_hash: HashValue([0; 32]),
        version: V,
    };
    (
        NodeKey::new(V, NibblePath::prefix_of(&key(b), 1)),
        Node::Leaf(l),
    )
}

fn disk(layout: Layout, sync: SyncPolicy, window: u32) -> (Arc<MemStore>, Disk) {
    let inner = Arc::new(MemStore::new());
    let d = Disk::new(inner.clone(), V, Durability::new(layout, sync, window)).unwrap();
    (inner, d)
}

fn kv_progress(d: &mut Disk, db: DbId, b: u8) {
    let p = progress(b);
    let w = Write::Kv {
        version: V,
        rows: &[],
        progress: Some(&p),
    };
    let id = d.issue(db, w);
    d.complete(id, db, w).unwrap();
}

fn nodes(d: &mut Disk, shard: NodeShard, b: u8) {
    let n = [leaf(b)];
    let db = d.durability.layout.node_db(shard);
    let w = Write::Nodes(shard, &n);
    let id = d.issue(db, w);
    d.complete(id, db, w).unwrap();
}

#[test]
fn relaxed_split_power_loss_can_drop_kv_and_keep_the_tree() {
    // Window 2: both writes stay unsynced. Only the KV side loses: K falls back, T stays.
    let (inner, mut d) = disk(Layout::Split, SyncPolicy::Relaxed, 2);
    d.begin_process(2).unwrap();
    kv_progress(&mut d, Layout::Split.kv_meta_db(), 5);
    nodes(&mut d, NodeShard::Nibble(0), 5);
    let x = d.extremes().expect("two databases");
    assert_eq!(
        (x.k_lo, x.k_hi),
        (None, Some(key(5))),
        "KV may lose its write"
    );
    assert_eq!((x.t_lo, x.t_hi), (None, Some(key(5))));
    let settled = d
        .crash(CrashKind::PowerLoss {
            lost_writes: 1,
            spread: Some(Spread::OneSide { loses: Side::Kv }),
        })
        .unwrap();
    assert_eq!(settled.lost, 1);
    assert_eq!(inner.get_progress(V).unwrap(), None);
    assert!(
        inner.rightmost_leaf(V).unwrap().is_some(),
        "the tree kept its write"
    );
    assert_eq!((d.progress_key, d.max_leaf), (None, Some(key(5))));
}

#[test]
fn always_keeps_every_returned_write_and_in_flight_ones_may_land() {
    let (inner, mut d) = disk(Layout::Aptos, SyncPolicy::Always, 3);
    d.begin_process(0).unwrap();
    kv_progress(&mut d, Layout::Aptos.kv_meta_db(), 3);
    // A node write issued, not returned.
    let n = [leaf(7)];
    let shard = NodeShard::Nibble(0);
    d.issue(Layout::Aptos.node_db(shard), Write::Nodes(shard, &n));
    let x = d.extremes().unwrap();
    assert_eq!((x.k_lo, x.k_hi), (Some(key(3)), Some(key(3))), "synced");
    assert_eq!(
        (x.t_lo, x.t_hi),
        (None, Some(key(7))),
        "the write in flight may land"
    );
    // A one-sided loss of the KV side lands in-flight writes of the tree side.
    let settled = d
        .crash(CrashKind::PowerLoss {
            lost_writes: 4,
            spread: Some(Spread::OneSide { loses: Side::Kv }),
        })
        .unwrap();
    assert_eq!((settled.lost, settled.landed, settled.dropped), (0, 1, 0));
    assert_eq!(
        inner.get_progress(V).unwrap().map(|p| p.key_hash),
        Some(key(3))
    );
    assert!(inner.rightmost_leaf(V).unwrap().is_some());
}

#[test]
fn a_process_crash_keeps_what_returned_and_drops_what_was_in_flight() {
    let (inner, mut d) = disk(Layout::Split, SyncPolicy::Relaxed, 4);
    d.begin_process(4).unwrap();
    kv_progress(&mut d, DbId(0), 2);
    let n = [leaf(9)];
    d.issue(DbId(1), Write::Nodes(NodeShard::Nibble(0), &n));
    let settled = d.crash(CrashKind::Process).unwrap();
    assert_eq!((settled.lost, settled.landed, settled.dropped), (0, 0, 1));
    assert_eq!(
        inner.get_progress(V).unwrap().map(|p| p.key_hash),
        Some(key(2))
    );
    assert_eq!(inner.rightmost_leaf(V).unwrap(), None);
}

#[test]
fn a_barrier_makes_a_database_durable_and_costs_one_fsync_only_when_dirty() {
    let (inner, mut d) = disk(Layout::Split, SyncPolicy::Barrier, 4);
    d.begin_process(4).unwrap();
    kv_progress(&mut d, DbId(0), 4);
    assert!(d.is_dirty(DbId(0)) && !d.is_dirty(DbId(1)));
    d.sync(DbId(0)).unwrap();
    d.sync(DbId(0)).unwrap();
    d.sync(DbId(1)).unwrap();
    assert_eq!(d.fsyncs, 1, "one database had writes, once");
    d.crash(CrashKind::power_loss(4)).unwrap();
    assert_eq!(
        inner.get_progress(V).unwrap().map(|p| p.key_hash),
        Some(key(4))
    );
}

#[test]
fn a_database_that_lost_a_write_never_lands_a_later_one() {
    // Seeded spreads: whatever the draw, a database whose queued write was lost drops its
    // in-flight write too (its log keeps a prefix). Try many seeds.
    for seed in 0..64 {
        let (inner, mut d) = disk(Layout::Split, SyncPolicy::Relaxed, 4);
        d.begin_process(4).unwrap();
        nodes(&mut d, NodeShard::Nibble(0), 1);
        let n = [leaf(2)];
        d.issue(DbId(1), Write::Nodes(NodeShard::Nibble(0), &n));
        d.crash(CrashKind::PowerLoss {
            lost_writes: 1,
            spread: Some(Spread::Seeded { seed }),
        })
        .unwrap();
        let nodes = inner.nodes_at(V).unwrap();
        let has = |b: u8| nodes.iter().any(|(k, _)| *k == leaf(b).0);
        assert!(
            !has(2) || has(1),
            "seed {seed}: a later write outlived an earlier one"
        );
    }
}

#[test]
fn aptos_tree_views_lose_one_shard_database_at_a_time() {
    let (_, mut d) = disk(Layout::Aptos, SyncPolicy::Relaxed, 4);
    d.begin_process(4).unwrap();
    nodes(&mut d, NodeShard::Nibble(0), 0x05);
    nodes(&mut d, NodeShard::Nibble(1), 0x15);
    let views = d.tree_views().unwrap();
    // Everything kept, shard 0 alone lost, shard 1 alone lost.
    assert_eq!(
        views.len(),
        3,
        "{:?}",
        views.iter().map(|v| &v.0).collect::<Vec<_>>()
    );
    assert_eq!(views[0].1.len(), 2);
    assert!(views[1].0.contains("tree-shard-00") && views[1].1.len() == 1);
}

#[test]
fn one_database_has_no_extremes_beyond_what_is_visible() {
    let (_, mut d) = disk(Layout::One, SyncPolicy::Relaxed, 4);
    d.begin_process(4).unwrap();
    kv_progress(&mut d, DbId(0), 1);
    assert_eq!(d.extremes(), None);
}

#[test]
fn nothing_issued_after_a_lie_survives_the_crash_that_exposes_it() {
    // Found by the sweep (verify-kv-tree, always, seed 88568): rows queued behind a lie were
    // lost while the progress record, in flight in a database with nothing queued, landed.
    for seed in 0..32 {
        let (inner, mut d) = disk(Layout::Aptos, SyncPolicy::Always, 0);
        d.begin_process(0).unwrap();
        for (db, _) in Layout::Aptos.databases() {
            d.lie(db);
        }
        // The rows return (behind the lie) in shard 0; the progress is in flight in kv-meta,
        // which has nothing queued.
        let rows = [StateItem {
            key_hash: key(2),
            key: vec![2],
            value: vec![2],
        }];
        let w = Write::Kv {
            version: V,
            rows: &rows,
            progress: None,
        };
        let id = d.issue(DbId(0), w);
        d.complete(id, DbId(0), w).unwrap();
        let p = progress(2);
        d.issue(
            Layout::Aptos.kv_meta_db(),
            Write::Kv {
                version: V,
                rows: &[],
                progress: Some(&p),
            },
        );
        let settled = d
            .crash(CrashKind::PowerLoss {
                lost_writes: 0,
                spread: Some(Spread::Seeded { seed }),
            })
            .unwrap();
        assert_eq!((settled.lost, settled.landed), (1, 0), "seed {seed}");
        assert_eq!(inner.get_progress(V).unwrap(), None, "seed {seed}");
    }
}
