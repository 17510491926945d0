//! The head of a replay: the verdict first (every violated oracle with its event, process, step
//! and cause), then the case in a few lines, the trace hash, and the commands that reproduce and
//! shrink it. The text replay and the page print the same lines.

use crate::case::{Case, OnError, RestorePlan, StoreKind};
use crate::fault::{CrashAt, CrashKind, Effect, Target};
use crate::run::Outcome;
use crate::sim::PolicyKind;

/// The commands a reader can paste: the one that reproduces the run, the one that shrinks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commands {
    pub reproduce: String,
    pub shrink: String,
}

/// The verdict line: what the first line of a replay says.
pub fn verdict_line(case: &Case, outcome: &Outcome) -> String {
    format!(
        "case seed {} strategy {}: {} ({} events, {} processes, trace hash {})",
        case.seed,
        case.strategy,
        match outcome.first_violation() {
            Some(v) => format!("VIOLATED {} at event {}", v.oracle, v.event),
            None => "all oracles held".to_string(),
        },
        outcome.trace.events.len(),
        outcome.counters.lives,
        outcome.trace_hash()
    )
}

/// Every violation, headline first: `(oracle, event, process, step, cause)` lines.
pub fn violation_lines(outcome: &Outcome) -> Vec<String> {
    outcome
        .violations
        .iter()
        .map(|v| {
            format!(
                "{:<20} event {}, process {}, step {}: {}",
                v.oracle.name(),
                v.event,
                v.life,
                v.step,
                v.detail
            )
        })
        .collect()
}

fn target(t: &Target) -> String {
    match t {
        Target::NodeBatch { nth } => format!("node batch #{nth}"),
        Target::ChunkBatch { chunk } => format!("first node batch of chunk {chunk}"),
        Target::KvWrite { nth } => format!("KV write #{nth}"),
        Target::ProgressRead { nth } => format!("progress read #{nth}"),
        Target::NodeRead { nth } => format!("node read #{nth}"),
        Target::RightmostLeaf { nth } => format!("rightmost-leaf lookup #{nth}"),
    }
}

fn effect(e: &Effect) -> String {
    match e {
        Effect::IoError => "I/O error".into(),
        Effect::DiskFull => "disk full from then on".into(),
        Effect::Torn { shards } => format!("torn after {shards} shard groups"),
        Effect::FailedButPersisted => "fails but persists".into(),
        Effect::AckThenLost => "acknowledged then lost".into(),
        Effect::Slow { points } => format!("slow ({points} points)"),
    }
}

fn crash(c: &crate::fault::Crash) -> String {
    let kind = match c.kind {
        CrashKind::Process => "process crash".to_string(),
        CrashKind::PowerLoss { lost_writes, .. } => {
            format!("power loss (up to {lost_writes} unsynced writes per database)")
        }
    };
    let at = match c.at {
        CrashAt::Start => format!("{} points in", c.step),
        CrashAt::Finish => format!("{} points after finish began", c.step),
        CrashAt::AfterFinish => format!("{} points after finish returned", c.step),
    };
    format!("process {}: {kind}, {at}", c.life)
}

fn schedule(p: &PolicyKind) -> String {
    match p {
        PolicyKind::RandomWalk { seed } => format!("random walk (seed {seed})"),
        PolicyKind::Pct {
            seed,
            depth,
            horizon,
        } => format!("PCT depth {depth} horizon {horizon} (seed {seed})"),
        PolicyKind::FirstRunnable => "first runnable".into(),
        PolicyKind::Replay { decisions } => format!("recorded ({} decisions)", decisions.len()),
        PolicyKind::Dfs { prefix } => format!("DFS prefix ({} decisions)", prefix.len()),
    }
}

/// Sizes as `16,16,16` or, when long, the distinct sizes with counts (`16×12, 5`).
fn sizes(s: &[usize]) -> String {
    if s.len() <= 12 {
        return s
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",");
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &x in s {
        match runs.last_mut() {
            Some((v, n)) if *v == x => *n += 1,
            _ => runs.push((x, 1)),
        }
    }
    runs.iter()
        .map(|(v, n)| {
            if *n > 1 {
                format!("{v}×{n}")
            } else {
                v.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Items joined by `; `, or `none`.
fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join("; ")
    }
}

/// The case in a few lines.
pub fn case_lines(case: &Case) -> Vec<String> {
    let commit = match case.commit {
        Some(m) => format!("{} (forced)", m.name()),
        None => format!(
            "{} (the strategy's own)",
            case.strategy.default_commit().name()
        ),
    };
    let store = match case.store {
        StoreKind::Mem => "in-memory",
        StoreKind::Rocksdb => "RocksDB",
    };
    let mut out = vec![
        format!(
            "strategy {}, commit {commit}, {store} store, disk {}{}",
            case.strategy,
            case.durability.label(),
            match case.plan {
                RestorePlan::Default => String::new(),
                p => format!(", plan {p:?}"),
            }
        ),
        format!(
            "snapshot: {} keys ({:?} layout, seed {}), {} chunks of {}",
            case.snapshot.keys,
            case.snapshot.layout,
            case.snapshot.seed,
            case.chunking.sizes.len(),
            sizes(&case.chunking.sizes)
        ),
    ];
    let faults: Vec<String> = case
        .faults
        .faults
        .iter()
        .map(|f| format!("{}: {}", target(&f.target), effect(&f.effect)))
        .collect();
    out.push(format!("faults: {}", or_none(&faults)));
    let crashes: Vec<String> = case.faults.crashes.iter().map(crash).collect();
    out.push(format!("crashes: {}", or_none(&crashes)));
    let corrupt: Vec<String> = case
        .faults
        .corruptions
        .iter()
        .map(|c| {
            format!(
                "chunk {} {:?} on deliveries {}..{}",
                c.chunk,
                c.tamper,
                c.first,
                c.first + c.deliveries
            )
        })
        .collect();
    out.push(format!("corruptions: {}", or_none(&corrupt)));
    out.push(format!(
        "driver: {} on error, {} retries, {} processes at most; schedule {}{}",
        match case.driver.on_error {
            OnError::Restart => "restart",
            OnError::RetrySameObject => "retry the same object",
        },
        case.driver.retries,
        case.driver.max_lives,
        schedule(&case.schedule),
        if case.others.is_empty() {
            String::new()
        } else {
            format!("; {} other versions in the store", case.others.len())
        }
    ));
    out
}

/// The whole head as text: verdict, violations, case, trace hash, commands.
pub fn header_text(case: &Case, outcome: &Outcome, cmds: &Commands) -> String {
    let mut out = verdict_line(case, outcome);
    out.push('\n');
    let v = violation_lines(outcome);
    if !v.is_empty() {
        out.push_str(&format!("violations ({}):\n", v.len()));
        for l in v {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out.push_str("case:\n");
    for l in case_lines(case) {
        out.push_str(&format!("  {l}\n"));
    }
    out.push_str(&format!("trace hash: {}\n", outcome.trace_hash()));
    out.push_str(&format!("reproduce:  {}\n", cmds.reproduce));
    out.push_str(&format!("shrink:     {}\n", cmds.shrink));
    out
}
