//! Independent checks of what a restore left on disk: the final-state oracle, also usable after a
//! real restore ("is this directory a complete, correct snapshot?").
//!
//! It walks the durable tree from the root, recomputes every hash from the children it finds,
//! and compares leaves, KV rows and usage with the snapshot. It reads only through the store
//! traits and shares nothing with the restore's in-memory structures.

use std::collections::BTreeMap;

use crate::chunk::Snapshot;
use crate::hash::HashValue;
use crate::node::{ChildKind, Node, NodeKey};
use crate::store::{KvStore, StoreError, TreeStore};
use crate::types::{KeyHash, Usage};

/// The first discrepancy found, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("store error while auditing: {0}")]
    Store(#[from] StoreError),
    #[error("no root node at {0}")]
    MissingRoot(crate::types::Version),
    #[error("root hash is {found}, expected {expected}")]
    RootMismatch {
        expected: HashValue,
        found: HashValue,
    },
    #[error("node {0:?} is referenced but missing")]
    MissingNode(NodeKey),
    #[error("node {key:?} hashes to {found}, its parent records {recorded}")]
    HashMismatch {
        key: NodeKey,
        recorded: HashValue,
        found: HashValue,
    },
    #[error("node {0:?}: {1}")]
    BadShape(NodeKey, String),
    #[error("tree leaves differ from the snapshot: {0}")]
    Leaves(String),
    #[error("KV rows differ from the snapshot: {0}")]
    Kv(String),
    #[error("usage is {found:?}, recomputed {expected:?}")]
    Usage {
        expected: Usage,
        found: Option<Usage>,
    },
}

/// Walks the tree at the snapshot's version and returns its leaves (key hash → value hash).
pub fn tree_leaves(
    store: &dyn TreeStore,
    snapshot: &Snapshot,
) -> Result<BTreeMap<KeyHash, HashValue>, AuditError> {
    let scheme = snapshot.scheme;
    let root_key = NodeKey::root(snapshot.version);
    let root = store
        .get_node(&root_key)?
        .ok_or(AuditError::MissingRoot(snapshot.version))?;
    let found = root.hash(scheme);
    if found != snapshot.root {
        return Err(AuditError::RootMismatch {
            expected: snapshot.root,
            found,
        });
    }
    let mut leaves = BTreeMap::new();
    let mut todo = vec![(root_key, root)];
    while let Some((key, node)) = todo.pop() {
        match node {
            Node::Null if key == root_key => {}
            Node::Null => return Err(AuditError::BadShape(key, "Null below the root".into())),
            Node::Leaf(l) => {
                let at = key.path;
                if !at.is_empty()
                    && crate::nibble::NibblePath::prefix_of(&l.account_key, at.len()) != at
                {
                    return Err(AuditError::BadShape(
                        key,
                        "leaf not under its key's path".into(),
                    ));
                }
                leaves.insert(l.account_key, l.value_hash);
            }
            Node::Internal(n) => {
                for (i, child) in n.children().iter().enumerate() {
                    let Some(child) = child else { continue };
                    let ck = key.child(i as u8);
                    let cn = store.get_node(&ck)?.ok_or(AuditError::MissingNode(ck))?;
                    let h = cn.hash(scheme);
                    if h != child.hash {
                        return Err(AuditError::HashMismatch {
                            key: ck,
                            recorded: child.hash,
                            found: h,
                        });
                    }
                    let kind_ok = match (child.kind, &cn) {
                        (ChildKind::Leaf, Node::Leaf(_)) => true,
                        (ChildKind::Internal { leaf_count }, Node::Internal(x)) => {
                            leaf_count == x.leaf_count()
                        }
                        _ => false,
                    };
                    if !kind_ok {
                        return Err(AuditError::BadShape(
                            ck,
                            "child kind or leaf count differs".into(),
                        ));
                    }
                    todo.push((ck, cn));
                }
            }
        }
    }
    Ok(leaves)
}

/// The final-state check: root, complete tree, leaves, KV bytes and usage all match `snapshot`.
pub fn check_final_state(
    tree: &dyn TreeStore,
    kv: &dyn KvStore,
    snapshot: &Snapshot,
) -> Result<(), AuditError> {
    check_tree(tree, snapshot)?;
    check_kv(kv, snapshot)
}

/// Root, completeness and leaf set of the tree side.
pub fn check_tree(tree: &dyn TreeStore, snapshot: &Snapshot) -> Result<(), AuditError> {
    let leaves = tree_leaves(tree, snapshot)?;
    if leaves.len() != snapshot.items.len() {
        return Err(AuditError::Leaves(format!(
            "{} leaves, snapshot has {} items",
            leaves.len(),
            snapshot.items.len()
        )));
    }
    for item in &snapshot.items {
        match leaves.get(&item.key_hash) {
            Some(vh) if *vh == item.value_hash() => {}
            Some(_) => {
                return Err(AuditError::Leaves(format!(
                    "{:?} has another value hash",
                    item.key_hash
                )));
            }
            None => {
                return Err(AuditError::Leaves(format!(
                    "{:?} is missing",
                    item.key_hash
                )));
            }
        }
    }
    Ok(())
}

/// KV rows byte for byte, and the recorded usage.
pub fn check_kv(kv: &dyn KvStore, snapshot: &Snapshot) -> Result<(), AuditError> {
    let rows = kv.kv_rows(snapshot.version)?;
    if rows.len() != snapshot.items.len() {
        return Err(AuditError::Kv(format!(
            "{} rows, snapshot has {} items",
            rows.len(),
            snapshot.items.len()
        )));
    }
    for (row, item) in rows.iter().zip(&snapshot.items) {
        if row != item {
            return Err(AuditError::Kv(format!(
                "row {:?} differs from the snapshot",
                item.key_hash
            )));
        }
    }
    let expected = Usage::of(&snapshot.items);
    let found = kv.get_usage(snapshot.version)?;
    if found != Some(expected) {
        return Err(AuditError::Usage { expected, found });
    }
    Ok(())
}
