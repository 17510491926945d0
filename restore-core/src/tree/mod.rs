//! The tree side: incremental Jellyfish Merkle restore from sorted, proven chunks.
//!
//! Keys arrive in increasing order. Each goes into a stack of partial nodes along the path of
//! the last key ([`partial`]); nodes whose shape became final are *frozen* ([`insert`]) and
//! written in batches, synchronously or by one background task at a time. After every chunk the
//! whole prefix restored so far is checked against the chunk's range proof ([`verify`]). After a
//! restart the stack is rebuilt from the rightmost durable leaf ([`recover`]).

mod insert;
pub mod partial;
mod recover;
mod verify;

use std::sync::Arc;

use partial::{PartialNode, Slot};

use crate::error::{RestoreError, RestoreResult};
use crate::hash::{HashScheme, HashValue};
use crate::nibble::NibblePath;
use crate::node::{LeafNode, Node, NodeBatch, NodeKey};
use crate::proof::RangeProof;
use crate::runtime::{PendingTask, Runtime, TaskOutcome};
use crate::store::TreeStore;
use crate::strategy::{CommitMode, Safety};
use crate::types::{KeyHash, StateItem, Version};

/// Construction parameters of the tree side.
#[derive(Clone, Copy, Debug)]
pub struct TreeOptions {
    pub scheme: HashScheme,
    pub commit: CommitMode,
    pub safety: Safety,
}

/// What `TreeRestore` knows about the progress of this process, for tracing and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeStatus {
    pub finished: bool,
    pub keys_received: u64,
    pub partial_depth: usize,
    pub frozen_pending: usize,
    pub write_in_flight: bool,
}

/// Incremental JMT restore at one version.
pub struct TreeRestore {
    store: Arc<dyn TreeStore>,
    runtime: Arc<dyn Runtime>,
    version: Version,
    scheme: HashScheme,
    expected_root: HashValue,
    options: TreeOptions,
    /// `partial[i]` is at depth i; `[0]` is the root. Empty only when `finished`.
    partial: Vec<PartialNode>,
    /// Nodes whose shape is final, waiting to be written.
    frozen: NodeBatch,
    /// The last key added (or recovered): the ordering check and the proof anchor.
    previous_leaf: Option<LeafNode>,
    /// Keys added since this object was created (0 after a restart).
    keys_received: u64,
    /// The root already existed when this object was created.
    finished: bool,
    /// The background batch write in flight, if any (at most one).
    pending: Option<Box<dyn PendingTask>>,
    /// Safe mode: set after an error the in-memory state cannot be trusted after.
    poisoned: Option<String>,
}

/// Saved in-memory state for a transactional (Safe) add.
struct Checkpoint {
    partial: Vec<PartialNode>,
    frozen_len: usize,
    previous_leaf: Option<LeafNode>,
    keys_received: u64,
}

impl TreeRestore {
    /// Opens the restore of `version`: finished if the root exists (it must hash to
    /// `expected_root`), recovered from the rightmost durable leaf if there is one, else fresh.
    pub fn open(
        store: Arc<dyn TreeStore>,
        runtime: Arc<dyn Runtime>,
        version: Version,
        expected_root: HashValue,
        options: TreeOptions,
    ) -> RestoreResult<TreeRestore> {
        let mut t = TreeRestore::fresh(store, runtime, version, expected_root, options);
        if let Some(root) = t.store.get_node(&NodeKey::root(version))? {
            let found = root.hash(t.scheme);
            if found != expected_root {
                return Err(RestoreError::PreviousRootMismatch {
                    expected: expected_root,
                    found,
                });
            }
            t.finished = true;
            t.partial.clear();
        } else if let Some((key, leaf)) = t.store.rightmost_leaf(version)? {
            t.partial = recover::recover_partial_nodes(&*t.store, t.scheme, key)?;
            t.previous_leaf = Some(leaf);
        }
        Ok(t)
    }

    /// Starts from scratch whatever the store holds (Aptos `new_overwrite`: used to rewrite a
    /// version into a store that allows overwrites). Always synchronous.
    pub fn overwrite(
        store: Arc<dyn TreeStore>,
        runtime: Arc<dyn Runtime>,
        version: Version,
        expected_root: HashValue,
        mut options: TreeOptions,
    ) -> TreeRestore {
        options.commit = CommitMode::Sync;
        TreeRestore::fresh(store, runtime, version, expected_root, options)
    }

    fn fresh(
        store: Arc<dyn TreeStore>,
        runtime: Arc<dyn Runtime>,
        version: Version,
        expected_root: HashValue,
        options: TreeOptions,
    ) -> TreeRestore {
        TreeRestore {
            store,
            runtime,
            version,
            scheme: options.scheme,
            expected_root,
            options,
            partial: vec![PartialNode::empty(NibblePath::EMPTY)],
            frozen: Vec::new(),
            previous_leaf: None,
            keys_received: 0,
            finished: false,
            pending: None,
            poisoned: None,
        }
    }

    /// The resume point: all ones when finished, else the last key added or recovered.
    pub fn previous_key_hash(&self) -> Option<KeyHash> {
        if self.finished {
            Some(HashValue::MAX)
        } else {
            self.previous_leaf.map(|l| l.account_key)
        }
    }

    pub fn status(&self) -> TreeStatus {
        TreeStatus {
            finished: self.finished,
            keys_received: self.keys_received,
            partial_depth: self.partial.len(),
            frozen_pending: self.frozen.len(),
            write_in_flight: self.pending.is_some(),
        }
    }

    pub fn options(&self) -> TreeOptions {
        self.options
    }

    fn check_usable(&self) -> RestoreResult<()> {
        match &self.poisoned {
            Some(why) => Err(RestoreError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// Safe mode: remember that this object must not be used any more.
    fn poison_on<T>(&mut self, r: RestoreResult<T>) -> RestoreResult<T> {
        if let Err(e) = &r
            && self.options.safety == Safety::Safe
            && self.poisoned.is_none()
        {
            self.poisoned = Some(e.to_string());
        }
        r
    }

    /// Aptos `add_chunk`: add, verify, then write (sync) or hand the batch to the background
    /// writer (async). Under `Safety::Aptos` an error leaves the in-memory state advanced.
    pub fn add_chunk(&mut self, items: &[StateItem], proof: &RangeProof) -> RestoreResult<()> {
        let pairs: Vec<(KeyHash, HashValue)> =
            items.iter().map(|i| (i.key_hash, i.value_hash())).collect();
        self.add_chunk_hashed(&pairs, proof)
    }

    /// [`Self::add_chunk`] for pre-hashed `(key_hash, value_hash)` pairs.
    pub fn add_chunk_hashed(
        &mut self,
        pairs: &[(KeyHash, HashValue)],
        proof: &RangeProof,
    ) -> RestoreResult<()> {
        if self.verify_chunk_hashed(pairs, proof)? {
            self.commit_chunk()?;
        }
        Ok(())
    }

    /// Adds the chunk to the in-memory tree and verifies it, without writing. Returns whether
    /// anything was added (false: finished, empty, or every key already restored — the Aptos
    /// shortcut that skips verification for a fully covered chunk).
    pub fn verify_chunk(&mut self, items: &[StateItem], proof: &RangeProof) -> RestoreResult<bool> {
        let pairs: Vec<(KeyHash, HashValue)> =
            items.iter().map(|i| (i.key_hash, i.value_hash())).collect();
        self.verify_chunk_hashed(&pairs, proof)
    }

    pub fn verify_chunk_hashed(
        &mut self,
        pairs: &[(KeyHash, HashValue)],
        proof: &RangeProof,
    ) -> RestoreResult<bool> {
        self.check_usable()?;
        if self.finished {
            return Ok(false);
        }
        let start = match self.previous_leaf {
            Some(prev) => pairs
                .iter()
                .position(|(k, _)| *k > prev.account_key)
                .unwrap_or(pairs.len()),
            None => 0,
        };
        let pairs = &pairs[start..];
        if pairs.is_empty() {
            return Ok(false);
        }
        let checkpoint = (self.options.safety == Safety::Safe).then(|| Checkpoint {
            partial: self.partial.clone(),
            frozen_len: self.frozen.len(),
            previous_leaf: self.previous_leaf,
            keys_received: self.keys_received,
        });
        let r = self.add_and_verify(pairs, proof);
        if r.is_err()
            && let Some(c) = checkpoint
        {
            // Safe: bad input leaves no trace, so the object can be fed again.
            self.partial = c.partial;
            self.frozen.truncate(c.frozen_len);
            self.previous_leaf = c.previous_leaf;
            self.keys_received = c.keys_received;
        }
        r.map(|()| true)
    }

    fn add_and_verify(
        &mut self,
        pairs: &[(KeyHash, HashValue)],
        proof: &RangeProof,
    ) -> RestoreResult<()> {
        for (key, value_hash) in pairs {
            if let Some(prev) = self.previous_leaf
                && *key <= prev.account_key
            {
                return Err(RestoreError::KeysOutOfOrder {
                    previous: prev.account_key,
                    key: *key,
                });
            }
            self.push_leaf(*key, *value_hash)?;
        }
        self.verify(proof)
    }

    /// Adds the next leaf (keys strictly increasing; the callers check).
    fn push_leaf(&mut self, key: KeyHash, value_hash: HashValue) -> RestoreResult<()> {
        debug_assert!(self.previous_leaf.is_none_or(|p| key > p.account_key));
        let leaf = LeafNode {
            account_key: key,
            value_hash,
            version: self.version,
        };
        self.previous_leaf = Some(leaf);
        self.add_one(leaf)?;
        self.keys_received += 1;
        Ok(())
    }

    /// Adds pairs already known to be the snapshot's (rows a verified restore wrote earlier),
    /// without a proof, and discards what they freeze: rebuilds the in-memory left side that a
    /// verifier needs to check the next chunk. Keys at or below the last one added are skipped.
    pub fn absorb_verified(&mut self, pairs: &[(KeyHash, HashValue)]) -> RestoreResult<()> {
        self.check_usable()?;
        for (key, value_hash) in pairs {
            if self.previous_leaf.is_some_and(|p| *key <= p.account_key) {
                continue;
            }
            self.push_leaf(*key, *value_hash)?;
        }
        self.take_frozen();
        Ok(())
    }

    /// Drops the nodes frozen so far (a verifier that never writes them).
    pub fn discard_frozen(&mut self) {
        self.take_frozen();
    }

    /// Writes the frozen nodes: synchronously (kept in memory if the write fails, as Aptos), or
    /// by awaiting the previous background write and spawning the next.
    pub fn commit_chunk(&mut self) -> RestoreResult<()> {
        self.check_usable()?;
        let r = match self.options.commit {
            CommitMode::Sync => self.write_frozen_sync(),
            CommitMode::Async => self.wait_for_async_commit().map(|()| self.spawn_frozen()),
        };
        self.poison_on(r)
    }

    fn write_frozen_sync(&mut self) -> RestoreResult<()> {
        write_batch(&*self.store, &self.frozen, self.options.safety)?;
        self.frozen.clear();
        Ok(())
    }

    fn spawn_frozen(&mut self) {
        assert!(self.pending.is_none(), "at most one batch in flight");
        let batch = std::mem::take(&mut self.frozen);
        let store = Arc::clone(&self.store);
        let safety = self.options.safety;
        self.pending = Some(self.runtime.spawn(
            "writer",
            Box::new(move || write_batch(&*store, &batch, safety)),
        ));
    }

    /// Hands the frozen nodes to a caller that schedules their write itself (`pipelined`).
    pub(crate) fn take_frozen(&mut self) -> NodeBatch {
        std::mem::take(&mut self.frozen)
    }

    /// A write of `batch` that owns everything it needs, to run on another task.
    pub(crate) fn owned_write(
        &self,
        batch: NodeBatch,
    ) -> impl FnOnce() -> crate::store::StoreResult<()> + Send + 'static {
        let store = Arc::clone(&self.store);
        let safety = self.options.safety;
        move || write_batch(&*store, &batch, safety)
    }

    /// Makes the node writes that returned durable where the store's sync policy needs it (a
    /// barrier before a later write to another database).
    pub fn sync(&self) -> RestoreResult<()> {
        Ok(self.store.sync_tree()?)
    }

    /// [`Self::sync`] as a task that owns what it needs.
    pub(crate) fn owned_sync(
        &self,
    ) -> impl FnOnce() -> crate::store::StoreResult<()> + Send + 'static {
        let store = Arc::clone(&self.store);
        move || store.sync_tree()
    }

    /// Awaits the background write, if any, and returns its result.
    pub fn wait_for_async_commit(&mut self) -> RestoreResult<()> {
        let r = match self.pending.take() {
            None => Ok(()),
            Some(p) => outcome_to_result(p.wait()),
        };
        self.poison_on(r)
    }

    /// Freezes everything that is left and writes it, the root last.
    pub fn finish(&mut self) -> RestoreResult<()> {
        self.check_usable()?;
        let r = self.finish_impl();
        self.poison_on(r)
    }

    fn finish_impl(&mut self) -> RestoreResult<()> {
        self.wait_for_async_commit()?;
        if self.finished {
            return Ok(());
        }
        let root_key = NodeKey::root(self.version);
        if self.partial.len() == 1 {
            let root = &self.partial[0];
            let only_leaf = match root.rightmost() {
                Some((_, Slot::Leaf(l))) if root.child_count() == 1 => Some(l.leaf),
                _ => None,
            };
            if root.child_count() == 0 {
                assert!(self.frozen.is_empty(), "an empty tree froze nodes");
                return self.write_final(vec![(root_key, Node::Null)]);
            }
            if let Some(leaf) = only_leaf {
                // One key: the leaf itself is the root (Aptos writes it at the root key).
                let mut batch = std::mem::take(&mut self.frozen);
                batch.push((root_key, Node::Leaf(leaf)));
                return self.write_final(batch);
            }
        }
        self.freeze(0)?;
        let batch = std::mem::take(&mut self.frozen);
        self.write_final(batch)
    }

    fn write_final(&mut self, batch: NodeBatch) -> RestoreResult<()> {
        if self.options.safety == Safety::Safe {
            let root_key = NodeKey::root(self.version);
            let root = batch
                .iter()
                .find(|(k, _)| *k == root_key)
                .map(|(_, n)| n.hash(self.scheme))
                .expect("the final batch holds the root");
            if root != self.expected_root {
                return Err(RestoreError::FinalRootMismatch {
                    expected: self.expected_root,
                    found: root,
                });
            }
        }
        write_batch(&*self.store, &batch, self.options.safety)?;
        self.finished = true;
        self.partial.clear();
        Ok(())
    }
}

pub(crate) fn outcome_to_result(outcome: TaskOutcome) -> RestoreResult<()> {
    match outcome {
        TaskOutcome::Done(r) => r.map_err(RestoreError::from),
        TaskOutcome::Panicked(m) => Err(RestoreError::TaskPanicked(m)),
        TaskOutcome::Abandoned => Err(RestoreError::TaskPanicked("abandoned".into())),
    }
}

impl Drop for TreeRestore {
    /// Aptos waits for a pending write on drop and panics if it failed (defect D4). Safe mode
    /// waits and discards the error: the durable state is a valid recovery point either way, and
    /// the next open resumes from it.
    fn drop(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let outcome = p.wait();
        let failed = matches!(
            outcome,
            TaskOutcome::Done(Err(_)) | TaskOutcome::Panicked(_)
        );
        // Never panic while already unwinding: that would abort the whole process.
        if failed && self.options.safety == Safety::Aptos && !std::thread::panicking() {
            panic!("async tree batch write failed and nobody waited for it: {outcome:?}");
        }
    }
}

/// How a node batch is written. Aptos writes it shard by shard with no order across databases
/// beyond its synced writes; the safe strategies ask the store to keep the durable part a
/// key-order prefix under every sync policy that honours barriers.
fn write_batch(
    store: &dyn TreeStore,
    batch: &NodeBatch,
    safety: Safety,
) -> crate::store::StoreResult<()> {
    match safety {
        Safety::Aptos => store.write_node_batch(batch),
        Safety::Safe => store.write_node_batch_ordered(batch),
    }
}
