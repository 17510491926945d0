//! durable-shape: what the tree side of a snapshot restore may look like on disk at any instant.
//!
//! The restore freezes a node only once its shape is final and writes each batch as shard writes
//! in key order (first nibble 0..15, then the root). Whatever a crash interrupts, the durable
//! nodes of the version must therefore be a *sound partial tree*:
//!
//! 1. the durable leaves are a key-order prefix of the snapshot, with no gap;
//! 2. every durable internal node has all its children durable, as the kind it records;
//! 3. a durable root means a complete tree: every snapshot key has a durable leaf.
//!
//! Recovery after a restart relies on exactly this (it rebuilds the partial stack from the
//! rightmost durable leaf and probes siblings left of its path), so a write order that breaks it
//! — e.g. the root shard landing before the others — is a defect even if no run happens to crash
//! there. The check reads only node keys, leaf keys and child records: no hashing, so it can run
//! at every write of a simulated run (the final-state oracle in `restore_core::audit` is the one
//! that recomputes hashes, and only on a finished tree).

use restore_core::nibble::{NibblePath, ROOT_NIBBLE_HEIGHT};
use restore_core::node::{ChildKind, Node, NodeKey};
use restore_core::{KeyHash, Version};

/// Checks the nodes durable at `version` against the snapshot's sorted key hashes and returns a
/// one-line description of the first offending node, or `None` when the shape is sound.
///
/// `nodes` is what [`restore_core::store::TreeStore::nodes_at`] returns (key order); an unsorted
/// slice is sorted first rather than misread. `snapshot_keys` must be sorted and distinct, as a
/// snapshot's items are.
///
/// "First" means: checks run in the order per-node sanity, leaf prefix (property 1, leaves in key
/// order), root completeness (property 3), children (property 2, internal nodes in node-key
/// order, so the shallowest offender). The properties that name a missing *key* come before the
/// structural one because a missing key is what a person debugging the run acts on; e.g. a root
/// written over a partial tree is reported as "root durable, tree incomplete" rather than as one
/// of the root's many missing children.
///
/// Cost: O(n log n) in the number of nodes (sorts and binary searches).
pub fn durable_shape(
    nodes: &[(NodeKey, Node)],
    version: Version,
    snapshot_keys: &[KeyHash],
) -> Option<String> {
    check(nodes, version, snapshot_keys).err()
}

fn check(nodes: &[(NodeKey, Node)], version: Version, keys: &[KeyHash]) -> Result<(), String> {
    let nodes = in_key_order(nodes)?;
    node_sanity(&nodes, version)?;
    let leaves = leaf_prefix(&nodes, keys)?;
    root_complete(&nodes, version, keys, leaves)?;
    children_durable(&nodes, version)
}

type Entry<'a> = &'a (NodeKey, Node);

/// References to the nodes sorted by key (a no-op pass on the store's already sorted output),
/// so children can be found by binary search. Two nodes under one key cannot come from a store.
fn in_key_order(nodes: &[(NodeKey, Node)]) -> Result<Vec<Entry<'_>>, String> {
    let mut sorted: Vec<Entry<'_>> = nodes.iter().collect();
    sorted.sort_by_key(|(k, _)| *k);
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("node {:?} appears twice", w[0].0));
    }
    Ok(sorted)
}

fn lookup<'a>(nodes: &[Entry<'a>], key: &NodeKey) -> Option<&'a Node> {
    nodes
        .binary_search_by(|(k, _)| k.cmp(key))
        .ok()
        .map(|i| &nodes[i].1)
}

/// Nodes that are wrong on their own, whatever else is durable.
fn node_sanity(nodes: &[Entry<'_>], version: Version) -> Result<(), String> {
    for (key, node) in nodes {
        if key.version != version {
            return Err(format!(
                "node {key:?} is not at the restore's version {version}"
            ));
        }
        match node {
            Node::Null if !key.path.is_empty() => {
                return Err(format!("node {key:?} is Null below the root"));
            }
            // A child of a full-depth node would need a 65th nibble: only leaves live there.
            Node::Internal(_) if key.path.len() >= ROOT_NIBBLE_HEIGHT => {
                return Err(format!("internal node {key:?} sits at full depth"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Property 1. Returns the number of durable leaves (all of them snapshot keys `0..n`).
///
/// A leaf is stored at the shortest path that separates it from its neighbours (it "floats up"),
/// which is always a prefix of its own key's nibbles; one stored elsewhere is not where any
/// lookup or parent would find it.
fn leaf_prefix(nodes: &[Entry<'_>], keys: &[KeyHash]) -> Result<usize, String> {
    let mut leaves: Vec<(KeyHash, NodeKey)> = nodes
        .iter()
        .filter_map(|(k, n)| n.as_leaf().map(|l| (l.account_key, *k)))
        .collect();
    // Node-key order is length-first, not key order, so the leaves need their own sort.
    leaves.sort_unstable();
    for (i, (account, at)) in leaves.iter().enumerate() {
        if NibblePath::prefix_of(account, at.path.len()) != at.path {
            return Err(format!(
                "leaf {at:?} holds key {account:?}, which is not under its path"
            ));
        }
        if keys.get(i) == Some(account) {
            continue;
        }
        if let Some((_, other)) = i.checked_sub(1).map(|p| &leaves[p])
            && leaves[i - 1].0 == *account
        {
            return Err(format!(
                "leaf {at:?} holds key {account:?}, already held by leaf {other:?}"
            ));
        }
        return Err(match keys.binary_search(account) {
            // Keys 0..i matched and `account` is above key i - 1, so j > i: key i is skipped.
            Ok(j) => format!(
                "leaf {at:?} holds snapshot key #{j} {account:?} but key #{i} {:?} has no \
                 durable leaf (a gap in the key-order prefix)",
                keys[i]
            ),
            Err(_) => format!("leaf {at:?} holds key {account:?}, which is not in the snapshot"),
        });
    }
    Ok(leaves.len())
}

/// Property 3: the root is written last, so once it is durable every leaf must be. With the
/// leaves a gap-free prefix, "all of them" is a count. The root's own leaf count is compared too:
/// with property 2 it pins the tree under the root to exactly those leaves.
fn root_complete(
    nodes: &[Entry<'_>],
    version: Version,
    keys: &[KeyHash],
    leaves: usize,
) -> Result<(), String> {
    let root_key = NodeKey::root(version);
    let m = keys.len();
    match lookup(nodes, &root_key) {
        None => Ok(()),
        Some(Node::Null) if m == 0 => Ok(()),
        Some(Node::Null) => Err(format!(
            "root {root_key:?} is Null (the empty tree) but the snapshot has {m} keys"
        )),
        Some(_) if leaves < m => Err(format!(
            "root {root_key:?} is durable but the tree is incomplete: {leaves} of {m} snapshot \
             keys have durable leaves, first missing #{leaves} {:?}",
            keys[leaves]
        )),
        Some(root) if root.leaf_count() != m as u64 => Err(format!(
            "root {root_key:?} records {} leaves, the snapshot has {m} keys",
            root.leaf_count()
        )),
        Some(_) => Ok(()),
    }
}

/// Property 2. A child of the node at `(v, p)` recorded in slot `i` is stored at
/// `(child.version, p ‖ i)` whatever its kind: a leaf floats up to the slot that holds it, so a
/// child leaf lives directly under its parent, never deeper. A snapshot restore writes every
/// node at the snapshot's version, so a child recorded at another version cannot be durable here.
fn children_durable(nodes: &[Entry<'_>], version: Version) -> Result<(), String> {
    for (key, node) in nodes {
        let Node::Internal(internal) = node else {
            continue;
        };
        for (nibble, child) in internal.children().iter().enumerate() {
            let Some(child) = child else { continue };
            let child_key = NodeKey::new(child.version, key.path.child(nibble as u8));
            if child.version != version {
                return Err(format!(
                    "internal node {key:?} records child {nibble:x} at {}, not the restore's \
                     version {version}",
                    child.version
                ));
            }
            let recorded = describe_kind(child.kind);
            let found = match lookup(nodes, &child_key) {
                None => {
                    return Err(format!(
                        "internal node {key:?} records child {nibble:x} ({recorded}) but \
                         {child_key:?} is not durable"
                    ));
                }
                Some(found) => found,
            };
            let matches = match (child.kind, found) {
                (ChildKind::Leaf, Node::Leaf(_)) => true,
                (ChildKind::Internal { leaf_count }, Node::Internal(n)) => {
                    leaf_count == n.leaf_count()
                }
                _ => false,
            };
            if !matches {
                return Err(format!(
                    "internal node {key:?} records child {nibble:x} as {recorded} but \
                     {child_key:?} is {}",
                    describe_node(found)
                ));
            }
        }
    }
    Ok(())
}

fn describe_kind(kind: ChildKind) -> String {
    match kind {
        ChildKind::Leaf => "a leaf".into(),
        ChildKind::Internal { leaf_count } => format!("internal, {leaf_count} leaves"),
    }
}

fn describe_node(node: &Node) -> String {
    match node {
        Node::Leaf(_) => "a leaf".into(),
        Node::Internal(n) => format!("internal, {} leaves", n.leaf_count()),
        Node::Null => "Null".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parking_lot::Mutex;
    use restore_core::node::{InternalNode, LeafNode, NodeShard};
    use restore_core::runtime::InlineRuntime;
    use restore_core::snapshot::{Chunking, KeyLayout, SnapshotSpec};
    use restore_core::store::{MemStore, StoreResult, TreeStore};
    use restore_core::strategy::{CommitMode, Safety};
    use restore_core::tree::{TreeOptions, TreeRestore};
    use restore_core::{HashScheme, Snapshot};

    use super::*;

    const VERSION: Version = Version(7);

    /// A tree store that runs the oracle after every shard write, i.e. at every instant a crash
    /// could freeze, and keeps the verdicts.
    struct Watched {
        inner: MemStore,
        keys: Vec<KeyHash>,
        verdicts: Mutex<Vec<Option<String>>>,
    }

    impl TreeStore for Watched {
        fn write_node_shard(&self, shard: NodeShard, nodes: &[(NodeKey, Node)]) -> StoreResult<()> {
            self.inner.write_node_shard(shard, nodes)?;
            let now = self.inner.nodes_at(VERSION)?;
            self.verdicts
                .lock()
                .push(durable_shape(&now, VERSION, &self.keys));
            Ok(())
        }

        fn get_node(&self, key: &NodeKey) -> StoreResult<Option<Node>> {
            self.inner.get_node(key)
        }

        fn rightmost_leaf(&self, version: Version) -> StoreResult<Option<(NodeKey, LeafNode)>> {
            self.inner.rightmost_leaf(version)
        }

        fn nodes_at(&self, version: Version) -> StoreResult<Vec<(NodeKey, Node)>> {
            self.inner.nodes_at(version)
        }
    }

    /// What a real restore left durable along the way.
    struct Restored {
        keys: Vec<KeyHash>,
        /// Durable nodes before any chunk, then after each chunk (before `finish`).
        partial: Vec<Vec<(NodeKey, Node)>>,
        complete: Vec<(NodeKey, Node)>,
    }

    fn snapshot(seed: u64, keys: usize, layout: KeyLayout) -> Snapshot {
        let spec = SnapshotSpec {
            seed,
            keys,
            layout,
            ..SnapshotSpec::default()
        };
        Snapshot::generate(&spec, VERSION, HashScheme::Aptos)
    }

    /// Restores `snap` chunk by chunk with synchronous batch writes and asserts the oracle was
    /// quiet at every shard write.
    fn restore(snap: &Snapshot, chunking: &Chunking) -> Restored {
        let keys: Vec<KeyHash> = snap.items.iter().map(|i| i.key_hash).collect();
        let store = Arc::new(Watched {
            inner: MemStore::new(),
            keys: keys.clone(),
            verdicts: Mutex::new(Vec::new()),
        });
        let options = TreeOptions {
            scheme: snap.scheme,
            commit: CommitMode::Sync,
            safety: Safety::Safe,
        };
        let mut tree = TreeRestore::open(
            store.clone(),
            Arc::new(InlineRuntime),
            VERSION,
            snap.root,
            options,
        )
        .unwrap();
        let mut partial = vec![store.nodes_at(VERSION).unwrap()];
        for chunk in snap.chunks(chunking) {
            tree.add_chunk(&chunk.items, &chunk.proof).unwrap();
            partial.push(store.nodes_at(VERSION).unwrap());
        }
        tree.finish().unwrap();
        let complete = store.nodes_at(VERSION).unwrap();
        let verdicts = store.verdicts.lock();
        assert!(!verdicts.is_empty(), "the restore wrote nothing");
        for (i, v) in verdicts.iter().enumerate() {
            assert_eq!(v, &None, "shard write #{i}");
        }
        Restored {
            keys,
            partial,
            complete,
        }
    }

    fn layouts() -> Vec<KeyLayout> {
        vec![
            KeyLayout::Random,
            KeyLayout::SharedPrefix { nibbles: 40 },
            KeyLayout::Clustered {
                clusters: 3,
                nibbles: 6,
            },
            KeyLayout::Adjacent,
        ]
    }

    fn chunkings() -> Vec<Chunking> {
        vec![Chunking::OneKey, Chunking::Fixed(7), Chunking::Whole]
    }

    /// Every (layout, chunking) restore of a 150-key snapshot.
    fn all_restores() -> Vec<Restored> {
        let mut out = Vec::new();
        for (seed, layout) in layouts().into_iter().enumerate() {
            let snap = snapshot(seed as u64, 150, layout);
            for chunking in chunkings() {
                out.push(restore(&snap, &chunking));
            }
        }
        out
    }

    fn leaves_by_key(nodes: &[(NodeKey, Node)]) -> Vec<(KeyHash, NodeKey)> {
        let mut v: Vec<(KeyHash, NodeKey)> = nodes
            .iter()
            .filter_map(|(k, n)| n.as_leaf().map(|l| (l.account_key, *k)))
            .collect();
        v.sort();
        v
    }

    fn without(nodes: &[(NodeKey, Node)], key: &NodeKey) -> Vec<(NodeKey, Node)> {
        let out: Vec<_> = nodes.iter().filter(|(k, _)| k != key).cloned().collect();
        assert_eq!(out.len() + 1, nodes.len(), "{key:?} was not there");
        out
    }

    fn with(nodes: &[(NodeKey, Node)], key: NodeKey, node: Node) -> Vec<(NodeKey, Node)> {
        let mut out: Vec<_> = nodes.iter().filter(|(k, _)| *k != key).cloned().collect();
        out.push((key, node));
        out.sort_by_key(|(k, _)| *k);
        out
    }

    fn root_of(nodes: &[(NodeKey, Node)]) -> Node {
        nodes
            .iter()
            .find(|(k, _)| *k == NodeKey::root(VERSION))
            .map(|(_, n)| n.clone())
            .expect("a complete tree has a root")
    }

    fn expect_violation(found: Option<String>, must_contain: &[String]) {
        let msg = found.expect("a violation");
        assert!(!msg.contains('\n'), "one line: {msg}");
        for part in must_contain {
            assert!(msg.contains(part.as_str()), "`{msg}` does not name {part}");
        }
    }

    #[test]
    fn complete_and_partial_restores_are_sound() {
        let mut saw_internal_before_finish = false;
        for r in all_restores() {
            assert_eq!(durable_shape(&r.complete, VERSION, &r.keys), None);
            assert_eq!(leaves_by_key(&r.complete).len(), r.keys.len());
            for (k, nodes) in r.partial.iter().enumerate() {
                assert_eq!(
                    durable_shape(nodes, VERSION, &r.keys),
                    None,
                    "after {k} chunks"
                );
                saw_internal_before_finish |= nodes
                    .iter()
                    .any(|(key, n)| !key.path.is_empty() && matches!(n, Node::Internal(_)));
            }
        }
        assert!(saw_internal_before_finish, "partial trees were all trivial");
    }

    #[test]
    fn tiny_snapshots_are_sound() {
        for keys in [0, 1, 2] {
            let snap = snapshot(9, keys, KeyLayout::Random);
            let r = restore(&snap, &Chunking::OneKey);
            assert_eq!(r.keys.len(), keys);
            assert_eq!(durable_shape(&r.complete, VERSION, &r.keys), None);
        }
        // The empty tree is a Null root; a one-key tree is its leaf at the root key.
        let empty = restore(&snapshot(9, 0, KeyLayout::Random), &Chunking::Whole);
        assert!(matches!(root_of(&empty.complete), Node::Null));
        let one = restore(&snapshot(9, 1, KeyLayout::Random), &Chunking::Whole);
        assert!(matches!(root_of(&one.complete), Node::Leaf(_)));
        // A Null root where the snapshot has keys is not the empty tree it claims to be.
        let two = restore(&snapshot(9, 2, KeyLayout::Random), &Chunking::Whole);
        expect_violation(
            durable_shape(&empty.complete, VERSION, &two.keys),
            &[format!("{:?}", NodeKey::root(VERSION)), "Null".into()],
        );
    }

    #[test]
    fn unsorted_input_is_read_in_key_order() {
        let r = restore(&snapshot(3, 150, KeyLayout::Random), &Chunking::Fixed(7));
        let mut reversed = r.complete.clone();
        reversed.reverse();
        assert_eq!(durable_shape(&reversed, VERSION, &r.keys), None);
    }

    #[test]
    fn a_missing_middle_leaf_is_a_gap_naming_it() {
        let mut checked = 0;
        for r in all_restores() {
            for nodes in r.partial.iter().chain([&r.complete]) {
                let leaves = leaves_by_key(nodes);
                if leaves.len() < 3 {
                    continue;
                }
                let mid = leaves.len() / 2;
                let (gone, gone_at) = leaves[mid];
                let (next, next_at) = leaves[mid + 1];
                expect_violation(
                    durable_shape(&without(nodes, &gone_at), VERSION, &r.keys),
                    &[
                        format!("{gone:?}"),
                        format!("{next_at:?}"),
                        format!("{next:?}"),
                        "gap".into(),
                    ],
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} states had three leaves");
    }

    #[test]
    fn a_missing_internal_child_names_parent_and_child() {
        let mut checked = 0;
        for r in all_restores() {
            for nodes in r.partial.iter().chain([&r.complete]) {
                // The last (deepest) internal node in key order whose parent is durable and not the root.
                let victim = nodes.iter().rev().find(|(k, n)| {
                    k.path.len() >= 2
                        && matches!(n, Node::Internal(_))
                        && nodes
                            .iter()
                            .any(|(p, _)| Some(p.path) == k.path.parent() && !p.path.is_empty())
                });
                let Some((victim, _)) = victim else { continue };
                let parent = NodeKey::new(VERSION, victim.path.parent().unwrap());
                expect_violation(
                    durable_shape(&without(nodes, victim), VERSION, &r.keys),
                    &[
                        format!("internal node {parent:?}"),
                        format!("{victim:?} is not durable"),
                    ],
                );
                checked += 1;
            }
        }
        assert!(
            checked >= 12,
            "only {checked} states had a nested internal node"
        );
    }

    #[test]
    fn a_root_without_its_last_leaf_is_an_incomplete_tree() {
        for r in all_restores() {
            let leaves = leaves_by_key(&r.complete);
            let (last, last_at) = *leaves.last().unwrap();
            assert_eq!(last, *r.keys.last().unwrap());
            expect_violation(
                durable_shape(&without(&r.complete, &last_at), VERSION, &r.keys),
                &[
                    format!("root {:?}", NodeKey::root(VERSION)),
                    "incomplete".into(),
                    format!("{} of {}", r.keys.len() - 1, r.keys.len()),
                    format!("{last:?}"),
                ],
            );
        }
    }

    /// The "root shard written first" bug: the final batch's root lands, the rest does not.
    #[test]
    fn a_root_over_a_partial_tree_is_reported() {
        for r in all_restores() {
            let root = root_of(&r.complete);
            for nodes in &r.partial {
                let n = leaves_by_key(nodes).len();
                assert!(n < r.keys.len(), "the last leaf waits for finish");
                expect_violation(
                    durable_shape(
                        &with(nodes, NodeKey::root(VERSION), root.clone()),
                        VERSION,
                        &r.keys,
                    ),
                    &[
                        format!("root {:?}", NodeKey::root(VERSION)),
                        "incomplete".into(),
                        format!("first missing #{n} {:?}", r.keys[n]),
                    ],
                );
            }
        }
    }

    #[test]
    fn child_records_must_match_the_stored_child() {
        let r = restore(&snapshot(4, 150, KeyLayout::Random), &Chunking::Fixed(7));
        let root_key = NodeKey::root(VERSION);
        let Node::Internal(root) = root_of(&r.complete) else {
            panic!("150 keys make an internal root");
        };
        let first = root.children().iter().position(Option::is_some).unwrap();

        // Recorded at another version: cannot be this restore's node.
        let mut children = *root.children();
        children[first].as_mut().unwrap().version = Version(8);
        let moved = InternalNode::new(children).unwrap();
        expect_violation(
            durable_shape(
                &with(&r.complete, root_key, Node::Internal(moved)),
                VERSION,
                &r.keys,
            ),
            &[
                format!("internal node {root_key:?}"),
                format!("child {first:x} at v8"),
            ],
        );

        // A leaf child recorded as an internal node of one leaf: the counts all still add up,
        // only the kind is wrong.
        let (parent, nibble) = r
            .complete
            .iter()
            .find_map(|(k, n)| match n {
                Node::Internal(x) => x
                    .children()
                    .iter()
                    .position(|c| c.is_some_and(|c| c.is_leaf()))
                    .map(|i| (*k, x.clone(), i)),
                _ => None,
            })
            .map(|(k, x, i)| ((k, x), i))
            .expect("some internal node has a leaf child");
        let (parent_key, parent_node) = parent;
        let mut children = *parent_node.children();
        children[nibble].as_mut().unwrap().kind = ChildKind::Internal { leaf_count: 1 };
        let relabelled = InternalNode::new(children).unwrap();
        assert_eq!(relabelled.leaf_count(), parent_node.leaf_count());
        let child_key = NodeKey::new(VERSION, parent_key.path.child(nibble as u8));
        expect_violation(
            durable_shape(
                &with(&r.complete, parent_key, Node::Internal(relabelled)),
                VERSION,
                &r.keys,
            ),
            &[
                format!("internal node {parent_key:?}"),
                format!("child {nibble:x} as internal, 1 leaves"),
                format!("{child_key:?} is a leaf"),
            ],
        );
    }

    #[test]
    fn a_leaf_off_its_key_path_is_reported() {
        let r = restore(&snapshot(5, 150, KeyLayout::Random), &Chunking::Fixed(7));
        let (account, at) = leaves_by_key(&r.complete)[10];
        let parent = at.path.parent().expect("150 keys put no leaf at the root");
        let last = at.path.get(at.path.len() - 1);
        // A free sibling slot: same parent, another nibble, nothing stored there.
        let elsewhere = (1..16u8)
            .map(|d| NodeKey::new(VERSION, parent.child((last + d) % 16)))
            .find(|k| r.complete.iter().all(|(x, _)| x != k))
            .expect("some slot of the parent is free");
        let leaf = r
            .complete
            .iter()
            .find(|(k, _)| *k == at)
            .map(|(_, n)| n.clone())
            .unwrap();
        let moved = with(&without(&r.complete, &at), elsewhere, leaf);
        expect_violation(
            durable_shape(&moved, VERSION, &r.keys),
            &[
                format!("leaf {elsewhere:?}"),
                format!("{account:?}"),
                "not under its path".into(),
            ],
        );
    }

    #[test]
    fn foreign_and_duplicate_leaves_are_reported() {
        let r = restore(&snapshot(6, 150, KeyLayout::Random), &Chunking::Fixed(7));
        let nodes = &r.partial[5];
        let n = leaves_by_key(nodes).len();
        // A key that is not in the snapshot, stored where it would belong: all-ones floats up
        // to a one-nibble path only if that slot is free, so use its full-depth path instead.
        let foreign = KeyHash::MAX;
        assert!(!r.keys.contains(&foreign));
        let at = NodeKey::new(VERSION, NibblePath::prefix_of(&foreign, 64));
        let leaf = Node::Leaf(LeafNode {
            account_key: foreign,
            value_hash: KeyHash::ZERO,
            version: VERSION,
        });
        expect_violation(
            durable_shape(&with(nodes, at, leaf), VERSION, &r.keys),
            &[format!("leaf {at:?}"), "not in the snapshot".into()],
        );
        // The same snapshot key twice, the copy one level deeper under its own path.
        let (dup, dup_at) = leaves_by_key(nodes)[n / 2];
        let deeper = NodeKey::new(VERSION, NibblePath::prefix_of(&dup, dup_at.path.len() + 1));
        let copy = Node::Leaf(LeafNode {
            account_key: dup,
            value_hash: KeyHash::ZERO,
            version: VERSION,
        });
        expect_violation(
            durable_shape(&with(nodes, deeper, copy), VERSION, &r.keys),
            &[format!("{dup:?}"), "already held".into()],
        );
    }
}
