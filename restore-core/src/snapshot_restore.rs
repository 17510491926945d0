//! The orchestrator: restores both sides from each chunk in the order a [`CommitStrategy`] says.
//!
//! The Aptos strategies reproduce Aptos's `StateSnapshotRestore` faithfully, defects included
//! (see [`Safety::Aptos`]); the safe ones fix every defect (see [`Safety::Safe`]).

use std::sync::Arc;

use crate::chunk::Chunk;
use crate::error::{RestoreError, RestoreResult};
use crate::hash::{HashScheme, HashValue};
use crate::kv::KvRestore;
use crate::pipeline::Pipeline;
use crate::runtime::{Runtime, join2};
use crate::store::{KvStore, MemStore, TreeStore};
use crate::strategy::{CommitMode, CommitStrategy, RestoreMode, Safety};
use crate::tree::{TreeOptions, TreeRestore};
use crate::types::{KeyHash, Version};

/// Everything that selects behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestoreOptions {
    pub strategy: CommitStrategy,
    pub mode: RestoreMode,
    /// `None`: the strategy's own commit mode.
    pub commit: Option<CommitMode>,
    pub scheme: HashScheme,
}

impl RestoreOptions {
    pub fn new(strategy: CommitStrategy) -> RestoreOptions {
        RestoreOptions {
            strategy,
            mode: RestoreMode::Default,
            commit: None,
            scheme: HashScheme::Aptos,
        }
    }

    pub fn commit_mode(&self) -> CommitMode {
        self.commit.unwrap_or(self.strategy.default_commit())
    }

    pub fn safety(&self) -> Safety {
        self.strategy.safety()
    }

    /// What the tree side of these options runs with.
    pub fn tree_options(&self) -> TreeOptions {
        TreeOptions {
            scheme: self.scheme,
            commit: self.commit_mode(),
            safety: self.safety(),
        }
    }
}

/// A restore of one snapshot version into a tree store and a KV store.
pub struct SnapshotRestore {
    /// `pipelined` only: the chunk commit in flight. First, so dropping awaits it first.
    pipeline: Pipeline,
    tree: Option<TreeRestore>,
    /// Safe only, in `KvOnly` mode or while the tree is ahead of KV: an in-memory tree that
    /// verifies each chunk before KV writes it (Aptos's KV-only phase verifies nothing, and a
    /// tree skips the keys it has without verifying them). Its nodes are never written.
    verifier: Option<TreeRestore>,
    kv: Option<KvRestore>,
    options: RestoreOptions,
    runtime: Arc<dyn Runtime>,
    /// Safe mode: the first storage error; afterwards the object refuses work.
    poisoned: Option<String>,
}

impl SnapshotRestore {
    pub fn open(
        tree_store: Arc<dyn TreeStore>,
        kv_store: Arc<dyn KvStore>,
        runtime: Arc<dyn Runtime>,
        version: Version,
        expected_root: HashValue,
        options: RestoreOptions,
    ) -> RestoreResult<SnapshotRestore> {
        // Safe: a restart resumes from what the stores show, which may include writes an earlier
        // process returned but never synced. A barrier makes them durable before anything is
        // built on them, so a later power loss cannot take them from under the next writes.
        if options.safety() == Safety::Safe {
            tree_store.sync_tree()?;
            kv_store.sync_kv()?;
        }
        let tree = match options.mode {
            RestoreMode::KvOnly => None,
            _ => Some(TreeRestore::open(
                tree_store,
                Arc::clone(&runtime),
                version,
                expected_root,
                options.tree_options(),
            )?),
        };
        // Safe: KV never writes a chunk nobody verified. In KvOnly mode no tree verifies at
        // all; in Default mode the tree skips (unverified) every key it already has, so while
        // the tree is ahead of KV (a tree-only phase came first) the rows KV still needs would
        // land unchecked. A verifier rebuilt from KV's own rows checks those chunks.
        let tree_ahead = || -> RestoreResult<bool> {
            let t = tree.as_ref().and_then(|t| t.previous_key_hash());
            let k = kv_store.get_progress(version)?.map(|p| p.key_hash);
            Ok(match (k, t) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(k), Some(t)) => t > k,
            })
        };
        let needs_verifier = options.safety() == Safety::Safe
            && match options.mode {
                RestoreMode::KvOnly => true,
                RestoreMode::Default => tree_ahead()?,
                RestoreMode::TreeOnly => false,
            };
        let verifier = if needs_verifier {
            Some(Self::kv_verifier(
                &*kv_store,
                Arc::clone(&runtime),
                version,
                expected_root,
                options,
            )?)
        } else {
            None
        };
        Ok(Self::assemble(
            tree, verifier, kv_store, version, options, runtime,
        ))
    }

    /// The object around its sides: the KV side is made here (it holds no state of its own).
    fn assemble(
        tree: Option<TreeRestore>,
        verifier: Option<TreeRestore>,
        kv_store: Arc<dyn KvStore>,
        version: Version,
        options: RestoreOptions,
        runtime: Arc<dyn Runtime>,
    ) -> SnapshotRestore {
        let kv = match options.mode {
            RestoreMode::TreeOnly => None,
            _ => Some(KvRestore::new(kv_store, version)),
        };
        SnapshotRestore {
            pipeline: Pipeline::default(),
            tree,
            verifier,
            kv,
            options,
            runtime,
            poisoned: None,
        }
    }

    /// The safe KV-only verifier: an in-memory tree rebuilt from the rows KV already holds up
    /// to its progress (each written only after it verified), so the next chunk's proof can be
    /// checked against the left side.
    fn kv_verifier(
        kv_store: &dyn KvStore,
        runtime: Arc<dyn Runtime>,
        version: Version,
        expected_root: HashValue,
        options: RestoreOptions,
    ) -> RestoreResult<TreeRestore> {
        let mut v = TreeRestore::open(
            Arc::new(MemStore::new()),
            runtime,
            version,
            expected_root,
            TreeOptions {
                scheme: options.scheme,
                commit: CommitMode::Sync,
                safety: Safety::Safe,
            },
        )?;
        if let Some(p) = kv_store.get_progress(version)? {
            let pairs: Vec<(KeyHash, HashValue)> = kv_store
                .kv_rows(version)?
                .iter()
                .filter(|r| r.key_hash <= p.key_hash)
                .map(|r| (r.key_hash, r.value_hash()))
                .collect();
            v.absorb_verified(&pairs)?;
        }
        Ok(v)
    }

    /// Restores `version` again over whatever the stores hold (Aptos's `new_overwrite`).
    ///
    /// Aptos: the tree starts fresh and commits synchronously, ignoring what is stored, while
    /// the KV side is opened as always and skips every key at or below the stored progress — so
    /// a *different* snapshot restored again at the same version keeps the old rows below that
    /// point, and the new tree is written among the old tree's nodes.
    ///
    /// Safe: the version is cleared on both sides first (nodes, then rows, progress and usage;
    /// nodes first, so no leftover root ever vouches for a half-cleared version), then the
    /// restore opens as on an empty store. Every process of an overwrite calls this again, so a
    /// crash mid-way starts the overwrite over rather than resuming into mixed state.
    pub fn open_overwrite(
        tree_store: Arc<dyn TreeStore>,
        kv_store: Arc<dyn KvStore>,
        runtime: Arc<dyn Runtime>,
        version: Version,
        expected_root: HashValue,
        options: RestoreOptions,
    ) -> RestoreResult<SnapshotRestore> {
        if options.safety() == Safety::Safe {
            tree_store.clear_nodes(version)?;
            kv_store.clear_kv(version)?;
            return Self::open(
                tree_store,
                kv_store,
                runtime,
                version,
                expected_root,
                options,
            );
        }
        let tree = match options.mode {
            RestoreMode::KvOnly => None,
            _ => Some(TreeRestore::overwrite(
                tree_store,
                Arc::clone(&runtime),
                version,
                expected_root,
                options.tree_options(),
            )),
        };
        Ok(Self::assemble(
            tree, None, kv_store, version, options, runtime,
        ))
    }

    pub fn options(&self) -> RestoreOptions {
        self.options
    }

    pub fn tree(&self) -> Option<&TreeRestore> {
        self.tree.as_ref()
    }

    /// Where to resume: the controller skips every leading chunk whose last key is at or below.
    pub fn previous_key_hash(&self) -> RestoreResult<Option<KeyHash>> {
        self.check_usable()?;
        let kv = match &self.kv {
            Some(kv) => kv.previous_key_hash()?,
            None => None,
        };
        let tree = self.tree.as_ref().and_then(|t| t.previous_key_hash());
        Ok(match (self.options.mode, self.options.safety()) {
            (RestoreMode::KvOnly, _) => kv,
            (RestoreMode::TreeOnly, _) => tree,
            (RestoreMode::Default, Safety::Aptos) => match (kv, tree) {
                // D1: with one side missing, Aptos trusts the other one; if the tree has no
                // durable leaf but KV has progress, the tree never sees the skipped keys.
                (None, t) => t,
                (k, None) => k,
                (Some(k), Some(t)) => Some(k.min(t)),
            },
            (RestoreMode::Default, Safety::Safe) => match (kv, tree) {
                (Some(k), Some(t)) => Some(k.min(t)),
                // Start over; each side skips what it already has on its own.
                _ => None,
            },
        })
    }

    fn check_usable(&self) -> RestoreResult<()> {
        match &self.poisoned {
            Some(why) => Err(RestoreError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn poison_on<T>(&mut self, r: RestoreResult<T>) -> RestoreResult<T> {
        if let Err(e) = &r {
            let input_error = matches!(
                e,
                RestoreError::Proof(_)
                    | RestoreError::KeysOutOfOrder { .. }
                    | RestoreError::Inconsistent(_)
            );
            // Bad input was rolled back by the tree side and never reached KV: the object stays
            // usable. Anything else may have left the two sides' memory and disk apart.
            if self.options.safety() == Safety::Safe && !input_error && self.poisoned.is_none() {
                self.poisoned = Some(e.to_string());
            }
        }
        r
    }

    pub fn add_chunk(&mut self, chunk: &Chunk) -> RestoreResult<()> {
        self.check_usable()?;
        let r = self.add_chunk_impl(chunk, None);
        self.poison_on(r)
    }

    /// [`Self::add_chunk`] for a shared chunk: the same verdicts and writes, but a strategy
    /// that commits the chunk after returning (`pipelined`) keeps the `Arc` instead of copying
    /// the rows. Aptos's `add_chunk` likewise takes the chunk by value.
    pub fn add_shared_chunk(&mut self, chunk: &Arc<Chunk>) -> RestoreResult<()> {
        self.check_usable()?;
        let r = self.add_chunk_impl(chunk, Some(chunk));
        self.poison_on(r)
    }

    fn add_chunk_impl(&mut self, chunk: &Chunk, shared: Option<&Arc<Chunk>>) -> RestoreResult<()> {
        let items = &chunk.items;
        let proof = &chunk.proof;
        if let Some(v) = &mut self.verifier {
            v.verify_chunk(items, proof)?;
            v.discard_frozen();
        }
        let rt = Arc::clone(&self.runtime);
        let commit = self.options.commit_mode();
        match (self.options.mode, &mut self.tree, &self.kv) {
            (RestoreMode::KvOnly, _, Some(kv)) => kv.add_chunk(items),
            (RestoreMode::TreeOnly, Some(tree), _) => tree.add_chunk(items, proof),
            (RestoreMode::Default, Some(tree), Some(kv)) => match self.options.strategy {
                CommitStrategy::JoinAsync | CommitStrategy::JoinSync => {
                    // Aptos: both sides at once, no ordering; KV's result is checked first.
                    let (k, t) = join2(
                        &*rt,
                        ["kv", "tree"],
                        || kv.add_chunk(items),
                        || tree.add_chunk(items, proof),
                    );
                    k.and(t)
                }
                CommitStrategy::TreeThenKv => {
                    tree.add_chunk(items, proof)?;
                    kv.add_chunk(items)
                }
                CommitStrategy::WaitThenJoin => {
                    tree.wait_for_async_commit()?;
                    let (k, t) = join2(
                        &*rt,
                        ["kv", "tree"],
                        || kv.add_chunk(items),
                        || tree.add_chunk(items, proof),
                    );
                    k.and(t)
                }
                CommitStrategy::VerifyKvTree => {
                    // KV progress must not run ahead of a batch that is still in flight, nor
                    // of one that is not durable (a barrier across databases), and the node
                    // batch must not land before the KV write that covers it is durable.
                    tree.wait_for_async_commit()?;
                    tree.sync()?;
                    tree.verify_chunk(items, proof)?;
                    kv.add_chunk(items)?;
                    kv.sync()?;
                    tree.commit_chunk()
                }
                CommitStrategy::Pipelined => self
                    .pipeline
                    .add_chunk(&*rt, tree, kv, chunk, shared, commit),
            },
            _ => unreachable!("sides are created to match the mode"),
        }
    }

    /// Awaits the tree's background write, if any.
    pub fn wait_for_async_commit(&mut self) -> RestoreResult<()> {
        self.check_usable()?;
        let r = self.pipeline.wait().and_then(|()| match &mut self.tree {
            Some(t) => t.wait_for_async_commit(),
            None => Ok(()),
        });
        self.poison_on(r)
    }

    /// Completes the restore. Aptos: KV usage, then the tree (no root check). Safe: the tree
    /// first, with the root checked, so usage is only recorded for a verified tree.
    pub fn finish(&mut self) -> RestoreResult<()> {
        self.check_usable()?;
        let r = self.finish_impl();
        self.poison_on(r)
    }

    fn finish_impl(&mut self) -> RestoreResult<()> {
        self.pipeline.wait()?;
        match self.options.safety() {
            Safety::Aptos => {
                if let Some(kv) = &self.kv {
                    kv.finish()?;
                }
                if let Some(tree) = &mut self.tree {
                    tree.finish()?;
                }
            }
            Safety::Safe => {
                // Success means durable: each side is synced after its last write.
                if let Some(tree) = &mut self.tree {
                    tree.finish()?;
                    tree.sync()?;
                }
                if let Some(kv) = &self.kv {
                    kv.finish()?;
                    kv.sync()?;
                }
            }
        }
        Ok(())
    }
}
