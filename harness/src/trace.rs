//! The trace: one event per scheduling point, renderable as a timeline and hashable.
//!
//! The hash is SHA3-256 over a fixed little-endian encoding of every field, so it is stable
//! across runs, platforms and builds; two runs of a case agree on it iff they took the same
//! steps with the same results.

use std::fmt;

use restore_core::HashValue;
use serde::{Deserialize, Serialize};

/// A task of one simulated process (index into its task table; reset every process).
///
/// Defined here rather than in the scheduler because events name the task they happened in,
/// and the trace must not depend on the scheduler: `sim` uses `trace`, never the reverse.
/// `sim` re-exports it, so `sim::TaskId` paths still work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u16);

impl TaskId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A store operation, as the faulty store sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// A whole node batch (`nodes` nodes), written as shard groups.
    NodeBatch {
        nodes: u32,
    },
    /// One shard group of a batch (16 = the root group).
    NodeShard {
        shard: u8,
        nodes: u32,
    },
    /// KV rows and/or the progress record.
    KvWrite {
        rows: u32,
        progress: bool,
    },
    ProgressRead,
    NodeRead,
    RightmostLeaf,
    UsageWrite,
    /// The rows of a KV write that one shard database holds (`aptos` layout), returned.
    KvShard {
        shard: u8,
        rows: u32,
    },
    /// The progress record of a sharded KV write, issued to the metadata database after every
    /// shard returned.
    KvProgress,
    /// A barrier: an fsync of database `db` (numbered as the layout numbers them).
    Sync {
        db: u8,
    },
}

/// An injected fault, as it shows in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultMark {
    IoError,
    DiskFull,
    Torn { shards: u32 },
    FailedButPersisted,
    AckThenLost,
    Slow,
    ReadError,
}

/// The result of an operation or driver step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Res {
    Ok,
    Err(String),
}

impl Res {
    pub fn of<T, E: fmt::Display>(r: &Result<T, E>) -> Res {
        match r {
            Ok(_) => Res::Ok,
            Err(e) => Res::Err(e.to_string()),
        }
    }
}

/// What the driver (the backup controller) is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriverStep {
    Open,
    Opened { resume_chunk: u32 },
    AddChunk { attempt: u32, corrupted: bool },
    ChunkDone(Res),
    Finish,
    FinishDone(Res),
    Dropped,
}

/// What happened at a scheduling point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Point {
    Join(TaskId, TaskId),
    Spawn(TaskId),
    Await(TaskId),
    Before(Op, Option<FaultMark>),
    After(Op, Option<FaultMark>, Res),
    Driver(DriverStep),
    /// The process crashed here (recorded by the runner, not a task).
    Crash {
        power_loss: bool,
        lost_writes: u32,
        /// Writes in flight at the crash that landed, and that did not (always 0 and 0 in the
        /// one-database model every older case runs under).
        in_flight_landed: u32,
        in_flight_dropped: u32,
    },
    /// The task panicked (the panic was caught by the scheduler).
    Panicked(String),
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Process number: 0 first, +1 after every crash or restart.
    pub life: u32,
    /// Scheduling decision number within the process.
    pub step: u64,
    pub task: TaskId,
    pub task_name: &'static str,
    pub chunk: Option<u32>,
    pub what: Point,
    /// Snapshot keys at or below the durable KV progress key.
    pub k: u32,
    /// Snapshot keys at or below the durable rightmost tree leaf.
    pub t: u32,
    /// Largest chunk fed so far.
    pub l: u32,
    /// In a store of several databases, K and T at their extremes over every power loss now,
    /// when they differ from the visible K and T (`None` otherwise, and always in one database).
    pub bounds: Option<Bounds>,
}

/// The least and most durable K and T a power loss could leave (see [`Event::bounds`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub k_lo: u32,
    pub k_hi: u32,
    pub t_lo: u32,
    pub t_hi: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub events: Vec<Event>,
}

impl Trace {
    pub fn hash(&self) -> HashValue {
        let mut buf = Vec::with_capacity(self.events.len() * 48);
        for e in &self.events {
            encode_event(e, &mut buf);
        }
        HashValue::sha3(&buf)
    }

    /// Index of the first event at which two traces differ (None if identical).
    pub fn first_difference(&self, other: &Trace) -> Option<usize> {
        let n = self.events.len().min(other.events.len());
        (0..n)
            .find(|&i| self.events[i] != other.events[i])
            .or((self.events.len() != other.events.len()).then_some(n))
    }
}

fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_u64(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn put_res(buf: &mut Vec<u8>, r: &Res) {
    match r {
        Res::Ok => buf.push(0),
        Res::Err(m) => {
            buf.push(1);
            put_str(buf, m);
        }
    }
}

fn put_op(buf: &mut Vec<u8>, op: &Op) {
    match *op {
        Op::NodeBatch { nodes } => {
            buf.push(1);
            put_u64(buf, u64::from(nodes));
        }
        Op::NodeShard { shard, nodes } => {
            buf.push(2);
            buf.push(shard);
            put_u64(buf, u64::from(nodes));
        }
        Op::KvWrite { rows, progress } => {
            buf.push(3);
            put_u64(buf, u64::from(rows));
            buf.push(u8::from(progress));
        }
        Op::ProgressRead => buf.push(4),
        Op::NodeRead => buf.push(5),
        Op::RightmostLeaf => buf.push(6),
        Op::UsageWrite => buf.push(7),
        Op::KvShard { shard, rows } => {
            buf.push(8);
            buf.push(shard);
            put_u64(buf, u64::from(rows));
        }
        Op::KvProgress => buf.push(9),
        Op::Sync { db } => {
            buf.push(10);
            buf.push(db);
        }
    }
}

fn put_fault(buf: &mut Vec<u8>, f: &Option<FaultMark>) {
    match f {
        None => buf.push(0),
        Some(FaultMark::IoError) => buf.push(1),
        Some(FaultMark::DiskFull) => buf.push(2),
        Some(FaultMark::Torn { shards }) => {
            buf.push(3);
            put_u64(buf, u64::from(*shards));
        }
        Some(FaultMark::FailedButPersisted) => buf.push(4),
        Some(FaultMark::AckThenLost) => buf.push(5),
        Some(FaultMark::Slow) => buf.push(6),
        Some(FaultMark::ReadError) => buf.push(7),
    }
}

fn encode_event(e: &Event, buf: &mut Vec<u8>) {
    put_u64(buf, u64::from(e.life));
    put_u64(buf, e.step);
    put_u64(buf, u64::from(e.task.0));
    put_str(buf, e.task_name);
    put_u64(buf, e.chunk.map_or(u64::MAX, u64::from));
    put_u64(buf, u64::from(e.k));
    put_u64(buf, u64::from(e.t));
    put_u64(buf, u64::from(e.l));
    match &e.what {
        Point::Join(a, b) => {
            buf.push(1);
            put_u64(buf, u64::from(a.0));
            put_u64(buf, u64::from(b.0));
        }
        Point::Spawn(t) => {
            buf.push(2);
            put_u64(buf, u64::from(t.0));
        }
        Point::Await(t) => {
            buf.push(3);
            put_u64(buf, u64::from(t.0));
        }
        Point::Before(op, f) => {
            buf.push(4);
            put_op(buf, op);
            put_fault(buf, f);
        }
        Point::After(op, f, r) => {
            buf.push(5);
            put_op(buf, op);
            put_fault(buf, f);
            put_res(buf, r);
        }
        Point::Driver(d) => {
            buf.push(6);
            // The debug form of driver steps is stable (no addresses, no maps).
            put_str(buf, &format!("{d:?}"));
        }
        Point::Crash {
            power_loss,
            lost_writes,
            in_flight_landed,
            in_flight_dropped,
        } => {
            buf.push(7);
            buf.push(u8::from(*power_loss));
            put_u64(buf, u64::from(*lost_writes));
            // Only crashes that settled writes in flight encode them (older traces hash as before).
            if (*in_flight_landed, *in_flight_dropped) != (0, 0) {
                buf.push(0xF1);
                put_u64(buf, u64::from(*in_flight_landed));
                put_u64(buf, u64::from(*in_flight_dropped));
            }
        }
        Point::Panicked(m) => {
            buf.push(8);
            put_str(buf, m);
        }
    }
    // Only events that have bounds encode them, so traces without them hash as they always did.
    if let Some(b) = &e.bounds {
        buf.push(0xB0);
        for v in [b.k_lo, b.k_hi, b.t_lo, b.t_hi] {
            put_u64(buf, u64::from(v));
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::NodeBatch { nodes } => write!(f, "node-batch({nodes})"),
            Op::NodeShard { shard: 16, nodes } => write!(f, "node-shard(root,{nodes})"),
            Op::NodeShard { shard, nodes } => write!(f, "node-shard({shard:x},{nodes})"),
            Op::KvWrite { rows, progress } => {
                write!(
                    f,
                    "kv-write({rows} rows{})",
                    if *progress { "+progress" } else { "" }
                )
            }
            Op::ProgressRead => write!(f, "progress-read"),
            Op::NodeRead => write!(f, "node-read"),
            Op::RightmostLeaf => write!(f, "rightmost-leaf"),
            Op::UsageWrite => write!(f, "usage-write"),
            Op::KvShard { shard, rows } => write!(f, "kv-shard({shard:x},{rows} rows)"),
            Op::KvProgress => write!(f, "kv-progress"),
            Op::Sync { db } => write!(f, "sync(db {db})"),
        }
    }
}

impl fmt::Display for Res {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Res::Ok => write!(f, "ok"),
            Res::Err(m) => write!(f, "ERR {m}"),
        }
    }
}

impl fmt::Display for Event {
    /// One timeline line: life.step task chunk | what | K T L.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chunk = self.chunk.map_or("-".to_string(), |c| format!("#{c}"));
        let what = match &self.what {
            Point::Join(a, b) => format!("join -> tasks {} and {}", a.0, b.0),
            Point::Spawn(t) => format!("spawn task {}", t.0),
            Point::Await(t) => format!("await task {}", t.0),
            Point::Before(op, fault) => match fault {
                Some(x) => format!("{op} ... [fault {x:?}]"),
                None => format!("{op} ..."),
            },
            Point::After(op, fault, r) => match fault {
                Some(x) => format!("{op} -> {r} [fault {x:?}]"),
                None => format!("{op} -> {r}"),
            },
            Point::Driver(d) => format!("driver {d:?}"),
            Point::Crash {
                power_loss,
                lost_writes,
                in_flight_landed,
                in_flight_dropped,
            } => {
                let mut line = if *power_loss {
                    format!("POWER LOSS ({lost_writes} unsynced writes lost)")
                } else {
                    "PROCESS CRASH".to_string()
                };
                if (*in_flight_landed, *in_flight_dropped) != (0, 0) {
                    line.push_str(&format!(
                        " in flight: {in_flight_landed} landed, {in_flight_dropped} did not"
                    ));
                }
                line
            }
            Point::Panicked(m) => format!("PANIC {m}"),
        };
        write!(
            f,
            "{:>2}.{:<4} {:<7} {:<5} {:<60} K={:<4} T={:<4} L={}",
            self.life, self.step, self.task_name, chunk, what, self.k, self.t, self.l
        )?;
        if let Some(b) = &self.bounds {
            write!(
                f,
                "  power loss: K {}..{} T {}..{}",
                b.k_lo, b.k_hi, b.t_lo, b.t_hi
            )?;
        }
        Ok(())
    }
}
