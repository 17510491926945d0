//! The KV side: state values plus a progress record `{last key hash, usage}`.
//!
//! Resuming is by skipping: every key at or below the recorded progress is dropped from a chunk,
//! and usage is carried forward from the record, so re-fed chunks never double-count.

use std::borrow::Cow;
use std::sync::Arc;

use crate::chunk::Chunk;
use crate::error::RestoreResult;
use crate::store::KvStore;
use crate::types::{KeyHash, Progress, StateItem, Usage, Version};

/// What a chunk changes on the KV side once the already-restored keys are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvPlan<'a> {
    pub rows: Cow<'a, [StateItem]>,
    pub progress: Progress,
}

pub struct KvRestore {
    store: Arc<dyn KvStore>,
    version: Version,
}

impl KvRestore {
    pub fn new(store: Arc<dyn KvStore>, version: Version) -> KvRestore {
        KvRestore { store, version }
    }

    /// The durable progress key (one store read).
    pub fn previous_key_hash(&self) -> RestoreResult<Option<KeyHash>> {
        Ok(self.store.get_progress(self.version)?.map(|p| p.key_hash))
    }

    /// The durable progress record.
    pub fn progress(&self) -> RestoreResult<Option<Progress>> {
        Ok(self.store.get_progress(self.version)?)
    }

    /// Reads the progress and works out what `items` still add (None: nothing new).
    pub fn plan<'a>(&self, items: &'a [StateItem]) -> RestoreResult<Option<KvPlan<'a>>> {
        let progress = self.store.get_progress(self.version)?;
        Ok(plan_after(progress, items))
    }

    /// Aptos `StateValueRestore::add_chunk`: skip covered keys, then one batch of rows plus the
    /// new progress record.
    pub fn add_chunk(&self, items: &[StateItem]) -> RestoreResult<()> {
        if let Some(plan) = self.plan(items)? {
            self.store
                .write_kv_batch(self.version, &plan.rows, Some(&plan.progress))?;
        }
        Ok(())
    }

    /// One atomic batch of `rows` and `progress` that owns its data, to run on another task.
    pub fn owned_write(
        &self,
        rows: OwnedRows,
        progress: Progress,
    ) -> impl FnOnce() -> crate::store::StoreResult<()> + Send + 'static {
        let store = Arc::clone(&self.store);
        let version = self.version;
        move || store.write_kv_batch(version, rows.as_slice(), Some(&progress))
    }

    /// A KV write followed by a barrier ([`KvStore::sync_kv`]), owning what it needs: the safe
    /// pipeline's "KV durable before the node batch that covers it".
    pub fn owned_write_synced(
        &self,
        rows: OwnedRows,
        progress: Progress,
    ) -> impl FnOnce() -> crate::store::StoreResult<()> + Send + 'static {
        let store = Arc::clone(&self.store);
        let write = self.owned_write(rows, progress);
        move || write().and_then(|()| store.sync_kv())
    }

    /// Makes the KV writes that returned durable where the store's sync policy needs it.
    pub fn sync(&self) -> RestoreResult<()> {
        Ok(self.store.sync_kv()?)
    }

    /// Persists the usage recorded in the progress as the final usage of the version.
    pub fn finish(&self) -> RestoreResult<()> {
        let usage = self
            .store
            .get_progress(self.version)?
            .map(|p| p.usage)
            .unwrap_or_default();
        self.store.write_usage(self.version, &usage)?;
        Ok(())
    }
}

/// Rows that outlive the call that planned them: a suffix of a shared chunk (no copy), or a
/// copy.
pub enum OwnedRows {
    Shared { chunk: Arc<Chunk>, from: usize },
    Copied(Vec<StateItem>),
}

impl OwnedRows {
    /// The rows of `plan`, planned from `items`; shared when `items` are `shared`'s items and
    /// the plan is a suffix of them (always, for a chunk that passed verification).
    pub fn of(plan: KvPlan<'_>, items: &[StateItem], shared: Option<&Arc<Chunk>>) -> OwnedRows {
        match (plan.rows, shared) {
            (Cow::Borrowed(rows), Some(chunk))
                if std::ptr::eq(items, chunk.items.as_slice())
                    && std::ptr::eq(rows.as_ptr_range().end, items.as_ptr_range().end) =>
            {
                OwnedRows::Shared {
                    chunk: Arc::clone(chunk),
                    from: items.len() - rows.len(),
                }
            }
            (rows, _) => OwnedRows::Copied(rows.into_owned()),
        }
    }

    pub fn as_slice(&self) -> &[StateItem] {
        match self {
            OwnedRows::Shared { chunk, from } => &chunk.items[*from..],
            OwnedRows::Copied(rows) => rows,
        }
    }
}

/// The rows of `items` above `progress` and the progress after them.
pub fn plan_after(progress: Option<Progress>, items: &[StateItem]) -> Option<KvPlan<'_>> {
    let (rows, mut usage): (Cow<'_, [StateItem]>, Usage) = match progress {
        None => (Cow::Borrowed(items), Usage::default()),
        Some(p) => {
            let first = items
                .iter()
                .position(|i| i.key_hash > p.key_hash)
                .unwrap_or(items.len());
            let tail = &items[first..];
            // Aptos drops *every* covered item; in a well-formed chunk that is a prefix, so the
            // copy below only happens for out-of-order (bad) input.
            let rows = if tail.iter().all(|i| i.key_hash > p.key_hash) {
                Cow::Borrowed(tail)
            } else {
                Cow::Owned(
                    items
                        .iter()
                        .filter(|i| i.key_hash > p.key_hash)
                        .cloned()
                        .collect(),
                )
            };
            (rows, p.usage)
        }
    };
    let last = rows.last()?.key_hash;
    for item in rows.iter() {
        usage.add_item(item);
    }
    Some(KvPlan {
        rows,
        progress: Progress {
            key_hash: last,
            usage,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashValue;

    fn item(b: u8, len: usize) -> StateItem {
        StateItem {
            key_hash: HashValue([b; 32]),
            key: vec![b],
            value: vec![0; len],
        }
    }

    fn shared(items: Vec<StateItem>) -> Arc<Chunk> {
        Arc::new(Chunk {
            index: crate::types::ChunkIndex(0),
            items,
            proof: crate::proof::RangeProof::default(),
        })
    }

    #[test]
    fn rows_of_a_shared_chunk_are_its_suffix_not_a_copy() {
        let chunk = shared(vec![item(1, 10), item(2, 20), item(3, 30)]);
        let resumed = Progress {
            key_hash: HashValue([1; 32]),
            usage: Usage::default(),
        };
        let plan = plan_after(Some(resumed), &chunk.items).unwrap();
        let rows = OwnedRows::of(plan, &chunk.items, Some(&chunk));
        assert!(matches!(rows, OwnedRows::Shared { from: 1, .. }));
        assert_eq!(rows.as_slice(), &chunk.items[1..]);
        // Without the Arc, or with another chunk's Arc, the rows are copied (and still equal).
        let other = shared(chunk.items.clone());
        for owner in [None, Some(&other)] {
            let plan = plan_after(Some(resumed), &chunk.items).unwrap();
            let rows = OwnedRows::of(plan, &chunk.items, owner);
            assert!(matches!(rows, OwnedRows::Copied(_)));
            assert_eq!(rows.as_slice(), &chunk.items[1..]);
        }
    }

    #[test]
    fn plan_skips_covered_keys_and_carries_usage() {
        let items = [item(1, 10), item(2, 20), item(3, 30)];
        let fresh = plan_after(None, &items).unwrap();
        assert_eq!(fresh.rows.len(), 3);
        assert_eq!(
            fresh.progress.usage,
            Usage {
                items: 3,
                bytes: 63
            }
        );

        let p = Progress {
            key_hash: HashValue([2; 32]),
            usage: Usage {
                items: 7,
                bytes: 100,
            },
        };
        let resumed = plan_after(Some(p), &items).unwrap();
        assert_eq!(resumed.rows.as_ref(), &items[2..]);
        assert_eq!(
            resumed.progress.usage,
            Usage {
                items: 8,
                bytes: 131
            }
        );
        assert_eq!(resumed.progress.key_hash, HashValue([3; 32]));

        let done = Progress {
            key_hash: HashValue([3; 32]),
            ..p
        };
        assert!(plan_after(Some(done), &items).is_none());
    }
}
