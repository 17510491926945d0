//! What the disk would hold after a crash, without crashing: the model checker enumerates every
//! state a power loss allows at a scheduling point and merges the ones that hold the same data.
//!
//! The image covers the restore's version only. Other versions are planted before the case and
//! never written by it (an overwrite clears only the restore's own version), so they are the
//! same in every state of one case and cannot tell two states apart.

use std::collections::BTreeMap;

use restore_core::node::{Node, NodeKey};
use restore_core::store::StoreResult;
use restore_core::{KeyHash, Progress, StateItem, Usage, Version};

use super::{Deferred, Disk};
use crate::fault::plan::Spread;

/// The durable data of the restore's version after a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    pub nodes: BTreeMap<NodeKey, Node>,
    pub rows: BTreeMap<KeyHash, StateItem>,
    pub progress: Option<Progress>,
    pub usage: Option<Usage>,
}

impl Image {
    fn apply(&mut self, version: Version, w: &Deferred) {
        match w {
            Deferred::Nodes(_, nodes) => {
                for (k, n) in nodes {
                    if k.version == version {
                        self.nodes.insert(*k, n.clone());
                    }
                }
            }
            Deferred::Kv {
                version: v,
                rows,
                progress,
            } if *v == version => {
                for r in rows {
                    self.rows.insert(r.key_hash, r.clone());
                }
                if let Some(p) = progress {
                    self.progress = Some(*p);
                }
            }
            Deferred::Usage(v, u) if *v == version => self.usage = Some(*u),
            Deferred::Kv { .. } | Deferred::Usage(..) => {}
        }
    }
}

/// Largest loss per database an exact spread can name (three bits each).
pub const MAX_EXACT_LOSS: usize = 7;

impl Disk {
    /// The durable floor: what every database keeps if it loses all it may.
    fn floor_image(&self) -> StoreResult<Image> {
        let v = self.version;
        Ok(Image {
            nodes: self.inner.nodes_at(v)?.into_iter().collect(),
            rows: self
                .inner
                .kv_rows(v)?
                .into_iter()
                .map(|r| (r.key_hash, r))
                .collect(),
            progress: self.inner.get_progress(v)?,
            usage: self.inner.get_usage(v)?,
        })
    }

    /// Every power loss the model allows now, as exact spreads `(lose, land)`, in a fixed order:
    /// each database loses any suffix of its unsynced writes (at least everything after a lie),
    /// and each write in flight lands or not, unless the disk lied or its database lost a write.
    /// `None` when there are more than `limit` (or a database has more unsynced writes than an
    /// exact spread can name).
    pub(crate) fn power_loss_choices(&self, limit: usize) -> Option<Vec<(u128, u64)>> {
        let lying = self.lie_pending();
        let mut ranges = Vec::with_capacity(self.dbs.len());
        for log in &self.dbs {
            let len = log.queue.len();
            let least = log.lost_from.map_or(0, |f| len - f.min(len));
            if len > MAX_EXACT_LOSS {
                return None;
            }
            ranges.push(least..=len);
        }
        if self.in_flight.len() > 64 {
            return None;
        }
        let mut out = Vec::new();
        let mut lose = vec![0usize; ranges.len()];
        for (i, r) in ranges.iter().enumerate() {
            lose[i] = *r.start();
        }
        loop {
            let eligible: Vec<usize> = if lying {
                Vec::new()
            } else {
                (0..self.in_flight.len())
                    .filter(|&j| lose[self.in_flight[j].db.0 as usize] == 0)
                    .collect()
            };
            let packed = lose
                .iter()
                .enumerate()
                .fold(0u128, |acc, (i, l)| acc | (*l as u128) << (3 * i));
            for subset in 0..(1u64 << eligible.len()) {
                let land = eligible
                    .iter()
                    .enumerate()
                    .filter(|(b, _)| subset >> b & 1 == 1)
                    .fold(0u64, |acc, (_, j)| acc | 1 << j);
                out.push((packed, land));
                if out.len() > limit {
                    return None;
                }
            }
            // Next loss vector (odometer over the databases).
            let mut i = 0;
            loop {
                if i == lose.len() {
                    return Some(out);
                }
                if lose[i] < *ranges[i].end() {
                    lose[i] += 1;
                    break;
                }
                lose[i] = *ranges[i].start();
                i += 1;
            }
        }
    }

    /// What a crash would leave: with `spread` `None`, a process crash (every returned write
    /// kept, nothing in flight lands); otherwise the exact power loss `(lose, land)`.
    pub(crate) fn image_after(&self, spread: Option<(u128, u64)>) -> StoreResult<Image> {
        let mut img = self.floor_image()?;
        let lying = self.lie_pending();
        let mut lost_in = vec![false; self.dbs.len()];
        for (i, log) in self.dbs.iter().enumerate() {
            let len = log.queue.len();
            let lose = match spread {
                None => 0,
                Some((l, _)) => Spread::exact_loss(l, i),
            };
            let mut keep = len - lose.min(len);
            if let Some(f) = log.lost_from {
                keep = keep.min(f);
            }
            lost_in[i] = keep < len;
            for w in log.queue.iter().take(keep) {
                img.apply(self.version, w);
            }
        }
        if let Some((_, land)) = spread {
            for (j, w) in self.in_flight.iter().enumerate() {
                if !lying && !lost_in[w.db.0 as usize] && land >> j & 1 == 1 {
                    img.apply(self.version, &w.write);
                }
            }
        }
        Ok(img)
    }
}
