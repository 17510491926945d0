//! What became durable: at every event of a replay, what each side holds that a process crash
//! then would leave — the KV progress key and rows, the tree's rightmost leaf and nodes, the
//! nodes of the last batch to land — kept only where it changed, with the difference.
//!
//! It is read by a watcher during the run ([`DurableWatch`]), through the store's quiet oracle
//! reads, so the run is the same step for step with or without it (a test checks the trace
//! hash). rr's "jump to the moment, then look around" is the model: the page shows it for any
//! event, the text replay at the violation and at `--at N`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use restore_core::KeyHash;
use restore_core::node::NodeKey;
use restore_core::store::{KvStore, TreeStore};

use crate::driver::DriverShared;
use crate::fault::FaultyStore;
use crate::run::StepWatch;
use crate::sim::TaskId;
use crate::trace::{Bounds, Event, Point};

/// What one side or the other holds at an event (a process crash then would leave it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableView {
    /// The KV progress record's key, and the snapshot keys at or below it (K).
    pub progress: Option<KeyHash>,
    pub k: u32,
    /// KV rows of the version.
    pub rows: u32,
    /// The tree's rightmost leaf, and the snapshot keys at or below it (T).
    pub leaf: Option<KeyHash>,
    pub t: u32,
    /// Tree nodes of the version.
    pub nodes: u32,
    /// What a power loss now could leave instead, where that differs.
    pub bounds: Option<Bounds>,
    /// The disk acknowledged a write it will drop (an injected acknowledged-then-lost fault not
    /// yet exposed): the rows and nodes above include it, and a crash will not keep it.
    pub lie_pending: bool,
}

/// A change of the durable state, at the event where it showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub event: usize,
    pub view: DurableView,
    /// The state before (at the previous change), if any.
    pub before: Option<DurableView>,
    /// Tree nodes that appeared and disappeared (nibble paths, `[]` is the root).
    pub nodes_added: Vec<String>,
    pub nodes_removed: Vec<String>,
}

/// Every change of the durable state over a run, in event order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableLog {
    pub changes: Vec<Change>,
}

/// The durable state at one event: the view, whether it changed right there, and the nodes of
/// the last batch that landed at or before it.
pub struct At<'a> {
    pub event: usize,
    pub view: &'a DurableView,
    pub changed_here: Option<&'a Change>,
    /// The last change at or before the event.
    pub since: usize,
    pub last_batch: Option<&'a Change>,
}

impl DurableLog {
    /// The durable state at `event` (None before the first event was recorded).
    pub fn at(&self, event: usize) -> Option<At<'_>> {
        let n = self.changes.partition_point(|c| c.event <= event);
        let last = self.changes.get(n.checked_sub(1)?)?;
        Some(At {
            event,
            view: &last.view,
            changed_here: (last.event == event).then_some(last),
            since: last.event,
            last_batch: self.changes[..n]
                .iter()
                .rev()
                .find(|c| !c.nodes_added.is_empty()),
        })
    }
}

fn short(k: &Option<KeyHash>) -> String {
    k.map_or("none".to_string(), |k| format!("{k:?}"))
}

/// Two keys shown so that different keys look different: eight hex digits, or as many as it
/// takes to reach their first difference and two more (keys of an adjacent layout share long
/// prefixes).
fn apart(a: &Option<KeyHash>, b: &Option<KeyHash>) -> (String, String) {
    match (a, b) {
        (Some(x), Some(y)) if x != y && short(a) == short(b) => {
            let (hx, hy) = (x.to_hex(), y.to_hex());
            let first = hx
                .bytes()
                .zip(hy.bytes())
                .position(|(p, q)| p != q)
                .unwrap_or(0);
            let n = (first + 2).min(hx.len());
            (format!("{}…", &hx[..n]), format!("{}…", &hy[..n]))
        }
        _ => (short(a), short(b)),
    }
}

fn list(nodes: &[String], most: usize) -> String {
    let mut s = nodes
        .iter()
        .take(most)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if nodes.len() > most {
        s.push_str(&format!(" … (+{})", nodes.len() - most));
    }
    s
}

impl DurableView {
    /// Each side, and what a power loss or a lying disk would change: the lines the text replay
    /// and the page's panel share.
    pub fn lines(&self) -> String {
        let mut out = format!(
            "  kv:   progress key {} covers K={} keys; {} rows\n  tree: rightmost leaf {} covers T={} keys; {} nodes\n",
            short(&self.progress),
            self.k,
            self.rows,
            short(&self.leaf),
            self.t,
            self.nodes
        );
        if let Some(b) = &self.bounds {
            out.push_str(&format!(
                "  a power loss could leave K {}..{}, T {}..{}\n",
                b.k_lo, b.k_hi, b.t_lo, b.t_hi
            ));
        }
        if self.lie_pending {
            out.push_str(
                "  the disk is lying: it acknowledged a write it will drop; the counts include it\n",
            );
        }
        out
    }
}

impl At<'_> {
    /// A few lines: each side, what a power loss could leave, the last batch, the difference.
    pub fn text(&self) -> String {
        let mut out = format!(
            "durable at event {} (what a process crash then would leave):\n{}",
            self.event,
            self.view.lines()
        );
        if let Some(b) = self
            .last_batch
            .and_then(|c| c.batch().map(|l| (c.event, l)))
        {
            out.push_str(&format!("  last nodes to land (event {}): {}\n", b.0, b.1));
        }
        match self.changed_here {
            Some(c) => out.push_str(&format!("  changed here: {}\n", c.diff())),
            None => out.push_str(&format!("  unchanged since event {}\n", self.since)),
        }
        out
    }
}

impl Change {
    /// The nodes that landed here, `3 — [] [4] [4b]`, if any did.
    pub fn batch(&self) -> Option<String> {
        let n = &self.nodes_added;
        (!n.is_empty()).then(|| format!("{} — {}", n.len(), list(n, 12)))
    }

    /// The difference against the state before, in one line.
    pub fn diff(&self) -> String {
        let v = &self.view;
        let Some(b) = &self.before else {
            return "first state recorded".to_string();
        };
        let mut parts = Vec::new();
        // A durable key that moved, with the snapshot keys it covers (K or T) before and after.
        let moved = |what: &str,
                     count: &str,
                     from: (&Option<KeyHash>, u32),
                     to: (&Option<KeyHash>, u32)| {
            let (a, b) = apart(from.0, to.0);
            format!("{what} {a} → {b} ({count} {} → {})", from.1, to.1)
        };
        if v.progress != b.progress {
            parts.push(moved(
                "kv progress",
                "K",
                (&b.progress, b.k),
                (&v.progress, v.k),
            ));
        }
        if v.rows != b.rows {
            parts.push(format!(
                "kv rows {:+}",
                i64::from(v.rows) - i64::from(b.rows)
            ));
        }
        if v.leaf != b.leaf {
            parts.push(moved("rightmost leaf", "T", (&b.leaf, b.t), (&v.leaf, v.t)));
        }
        for (sign, nodes) in [("+", &self.nodes_added), ("−", &self.nodes_removed)] {
            if !nodes.is_empty() {
                parts.push(format!(
                    "tree {sign}{} nodes ({})",
                    nodes.len(),
                    list(nodes, 8)
                ));
            }
        }
        if v.bounds != b.bounds {
            parts.push("power-loss bounds moved".to_string());
        }
        if v.lie_pending != b.lie_pending {
            parts.push(if v.lie_pending {
                "the disk acknowledged a write it will drop".to_string()
            } else {
                "the disk's lie is over".to_string()
            });
        }
        if parts.is_empty() {
            "nothing on either side".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// Records a [`DurableLog`] during a run (install with `run::run_case_watched`).
#[derive(Default)]
pub struct DurableWatch {
    log: DurableLog,
    nodes: BTreeSet<NodeKey>,
}

impl DurableWatch {
    pub fn new() -> Rc<RefCell<DurableWatch>> {
        Rc::new(RefCell::new(DurableWatch::default()))
    }

    pub fn take(&mut self) -> DurableLog {
        std::mem::take(&mut self.log)
    }
}

fn path(k: &NodeKey) -> String {
    format!("{:?}", k.path)
}

impl StepWatch for DurableWatch {
    fn begin_life(&mut self, _: u32, _: &FaultyStore, _: &DriverShared) {}

    fn step_end(
        &mut self,
        _: u32,
        _: u64,
        _: TaskId,
        _: Option<&Point>,
        _: &FaultyStore,
        _: &DriverShared,
    ) {
    }

    fn event(&mut self, index: usize, event: &Event, store: &FaultyStore) {
        let version = store.version();
        let (progress, leaf) = store.probes();
        // Oracle reads: no faults fire, nothing is counted. A store that cannot list what it
        // holds leaves the previous state standing.
        let Ok((rows, nodes)) = store.quietly(|| {
            Ok::<_, restore_core::store::StoreError>((
                store.kv_rows(version)?.len() as u32,
                store
                    .nodes_at(version)?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect::<BTreeSet<NodeKey>>(),
            ))
        }) else {
            return;
        };
        let view = DurableView {
            progress,
            k: event.k,
            rows,
            leaf,
            t: event.t,
            nodes: nodes.len() as u32,
            bounds: event.bounds,
            lie_pending: store.lie_pending(),
        };
        let before = self.log.changes.last().map(|c| c.view.clone());
        if before.as_ref() == Some(&view) && nodes == self.nodes {
            return;
        }
        let nodes_added = nodes.difference(&self.nodes).map(path).collect();
        let nodes_removed = self.nodes.difference(&nodes).map(path).collect();
        self.nodes = nodes;
        self.log.changes.push(Change {
            event: index,
            view,
            before,
            nodes_added,
            nodes_removed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(rows: u32, nodes: u32) -> DurableView {
        DurableView {
            progress: None,
            k: rows,
            rows,
            leaf: None,
            t: 0,
            nodes,
            bounds: None,
            lie_pending: false,
        }
    }

    /// Changes at events 3 (rows land) and 7 (two more rows and a node): the state at any event
    /// is the last change at or before it, and the last batch is the last change that added nodes.
    #[test]
    fn the_state_at_an_event_is_the_last_change_and_the_diff_names_what_moved() {
        let log = DurableLog {
            changes: vec![
                Change {
                    event: 3,
                    view: view(1, 0),
                    before: None,
                    nodes_added: vec![],
                    nodes_removed: vec![],
                },
                Change {
                    event: 7,
                    view: view(3, 1),
                    before: Some(view(1, 0)),
                    nodes_added: vec!["[4b]".into()],
                    nodes_removed: vec![],
                },
            ],
        };
        assert!(log.at(2).is_none(), "nothing recorded before event 3");
        let at5 = log.at(5).unwrap();
        assert_eq!((at5.view.rows, at5.since), (1, 3));
        assert!(at5.changed_here.is_none() && at5.last_batch.is_none());
        assert!(at5.text().contains("unchanged since event 3"));
        let at7 = log.at(7).unwrap();
        assert_eq!(at7.last_batch.map(|c| c.event), Some(7));
        let diff = at7.changed_here.unwrap().diff();
        assert_eq!(diff, "kv rows +2; tree +1 nodes ([4b])");
        assert_eq!(log.changes[0].diff(), "first state recorded");
        // Keys that share their first eight hex digits are shown apart.
        let k = |last: u8| {
            let mut b = [0x28u8; 32];
            b[31] = last;
            Some(restore_core::HashValue(b))
        };
        let (a, b) = apart(&k(1), &k(2));
        assert_ne!(a, b);
        assert!(a.starts_with("2828282828"), "{a}");
        assert_eq!(apart(&k(1), &None), (short(&k(1)), "none".to_string()));
        // Later events keep the last state.
        assert_eq!(log.at(100).unwrap().since, 7);
    }
}
