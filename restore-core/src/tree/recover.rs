//! Rebuilding the partial stack from the durable tree after a restart.
//!
//! Nodes are frozen only after a key to their right arrived, and batches land in key order, so
//! the durable tree is "every node frozen before some key". Nothing right of the rightmost
//! durable leaf exists; the ancestors of that leaf that are missing are exactly the partial
//! nodes, and only their children left of the path need probing.

use super::partial::{PartialNode, Slot};
use crate::error::{RestoreError, RestoreResult};
use crate::node::{Node, NodeKey};
use crate::store::TreeStore;
use crate::types::Version;

/// Rebuilds the partial stack (root first) for a restore whose rightmost durable leaf is at
/// `leaf_key`.
pub(super) fn recover_partial_nodes(
    store: &dyn TreeStore,
    scheme: crate::hash::HashScheme,
    leaf_key: NodeKey,
) -> RestoreResult<Vec<PartialNode>> {
    let version = leaf_key.version;
    let Some(mut path) = leaf_key.path.parent() else {
        return Err(RestoreError::Recovery(
            leaf_key,
            "a leaf at the root is only written when the restore has finished".into(),
        ));
    };
    // Walk up to the lowest ancestor that is not durable: it and all above it are partial.
    while store.get_node(&NodeKey::new(version, path))?.is_some() {
        path = path.parent().ok_or_else(|| {
            RestoreError::Recovery(
                leaf_key,
                "the root exists, so the restore had already finished".into(),
            )
        })?;
    }

    let mut stack = Vec::with_capacity(path.len() + 1);
    let mut lowest = PartialNode::empty(path);
    probe_children(store, scheme, version, &mut lowest, 16)?;
    stack.push(lowest);

    let mut child_path = path;
    while let Some(parent_path) = child_path.parent() {
        let index = child_path.get(child_path.len() - 1);
        let mut node = PartialNode::empty(parent_path);
        probe_children(store, scheme, version, &mut node, index)?;
        node.slots[index as usize] = Slot::PartialInternal;
        stack.push(node);
        child_path = parent_path;
    }
    stack.reverse();
    debug_assert!(stack.iter().enumerate().all(|(i, n)| n.path.len() == i));
    Ok(stack)
}

/// Fills the slots `0..below` of `node` from the store.
fn probe_children(
    store: &dyn TreeStore,
    scheme: crate::hash::HashScheme,
    version: Version,
    node: &mut PartialNode,
    below: u8,
) -> RestoreResult<()> {
    for i in 0..below {
        let key = NodeKey::new(version, node.path.child(i));
        node.slots[i as usize] = match store.get_node(&key)? {
            None => Slot::Empty,
            Some(Node::Leaf(l)) => Slot::Leaf(super::partial::HashedLeaf::new(l, scheme)),
            Some(Node::Internal(n)) => Slot::Internal {
                hash: n.hash(scheme),
                leaf_count: n.leaf_count(),
            },
            Some(Node::Null) => {
                return Err(RestoreError::Recovery(
                    key,
                    "a Null node below the root".into(),
                ));
            }
        };
    }
    Ok(())
}
