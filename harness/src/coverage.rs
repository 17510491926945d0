//! What a sweep actually drew and where its crashes actually landed, so that a hole in the fault
//! space shows as a zero instead of passing silently. Counted per case, merged like every other
//! sweep figure (by addition), and gated in CI: a required category that stayed at zero fails.

use std::collections::BTreeMap;

use crate::case::Case;
use crate::fault::{CrashAt, CrashKind, Effect, Spread, TamperKind, Target};
use crate::run::Outcome;
use crate::trace::{DriverStep, Point};

/// `dimension/value` → number of cases (or crashes, faults) that had it.
pub type Coverage = BTreeMap<String, u64>;

/// The categories a sweep's fixed range must reach (CI's gate).
pub const REQUIRED: &[&str] = &[
    "effect/io-error",
    "effect/disk-full",
    "effect/torn",
    "effect/failed-but-persisted",
    "effect/ack-then-lost",
    "effect/slow",
    "target/node-batch",
    "target/chunk-batch",
    "target/kv-write",
    "target/progress-read",
    "target/node-read",
    "target/rightmost-leaf",
    "crash-kind/process",
    "crash-kind/power-loss",
    "crash-landed/open",
    "crash-landed/feeding",
    "crash-landed/finish",
    "crash-landed/after-finish",
    "crash-life/first",
    "crash-life/later",
    "crash-at/start",
    "crash-at/finish",
    "crash-at/after-finish",
    "crashes-per-case/2+",
    "plan/default",
    "plan/kv-then-tree",
    "plan/tree-then-default",
    "commit/strategy-default",
    "commit/sync",
    "commit/async",
    "other-version/older",
    "other-version/newer",
    "other-version/unfinished",
    "corruption-delivery/0",
    "corruption-delivery/1",
    "corruption-delivery/2",
    "tamper/change-value",
    "tamper/drop-key",
    "tamper/wrong-sibling",
    "tamper/swap-order",
    "tamper/truncate-proof",
    "tamper/extra-sibling",
    "layout/one",
    "layout/split",
    "layout/aptos",
    "sync/always",
    "sync/relaxed",
    "sync/barrier",
    "model/legacy",
    "spread/seeded",
    "spread/one-side",
    "in-flight/landed",
    "in-flight/dropped",
    "barrier/synced",
    "kv-sharded/torn",
];

/// The categories one case covers: what its plan draws, and where its crashes landed.
pub fn of_case(case: &Case, outcome: &Outcome) -> Coverage {
    let mut c = Coverage::new();
    let mut add = |k: String| *c.entry(k).or_default() += 1;
    for f in &case.faults.faults {
        add(format!("effect/{}", effect_name(f.effect)));
        add(format!("target/{}", target_name(f.target)));
    }
    add(format!("plan/{}", case.plan.name()));
    let d = &case.durability;
    if d.is_legacy() {
        add("model/legacy".to_string());
    }
    add(format!("layout/{}", d.layout));
    add(format!("sync/{}", d.sync));
    for k in &case.faults.crashes {
        if let CrashKind::PowerLoss {
            spread: Some(s), ..
        } = k.kind
        {
            add(format!(
                "spread/{}",
                match s {
                    Spread::Seeded { .. } => "seeded",
                    Spread::OneSide { .. } => "one-side",
                    Spread::Exact { .. } => "exact",
                }
            ));
        }
    }
    if d.layout.shards_kv()
        && case.faults.faults.iter().any(|f| {
            matches!(f.effect, Effect::Torn { .. }) && matches!(f.target, Target::KvWrite { .. })
        })
    {
        add("kv-sharded/torn".to_string());
    }
    let n = &outcome.counters;
    for (k, v) in [
        ("in-flight/landed", u64::from(n.in_flight_landed)),
        ("in-flight/dropped", u64::from(n.in_flight_dropped)),
        ("barrier/synced", n.fsyncs),
    ] {
        if v > 0 {
            *c.entry(k.to_string()).or_default() += v;
        }
    }
    let mut add = |k: String| *c.entry(k).or_default() += 1;
    add(format!(
        "commit/{}",
        match case.commit {
            None => "strategy-default",
            Some(m) => m.name(),
        }
    ));
    for o in &case.others {
        add(format!(
            "other-version/{}",
            if o.version < case.snapshot.version {
                "older"
            } else {
                "newer"
            }
        ));
        if !o.finished {
            add("other-version/unfinished".to_string());
        }
    }
    if case.faults.crashes.len() >= 2 {
        add("crashes-per-case/2+".to_string());
    }
    for k in &case.faults.crashes {
        add(format!(
            "crash-at/{}",
            match k.at {
                CrashAt::Start => "start",
                CrashAt::Finish => "finish",
                CrashAt::AfterFinish => "after-finish",
            }
        ));
        add(format!(
            "crash-kind/{}",
            match k.kind {
                CrashKind::Process => "process",
                CrashKind::PowerLoss { .. } => "power-loss",
            }
        ));
    }
    for k in &case.faults.corruptions {
        add(format!("corruption-delivery/{}", k.first));
        add(format!("tamper/{}", tamper_name(k.tamper)));
    }
    for (life, phase) in crash_phases(outcome) {
        add(format!("crash-landed/{phase}"));
        add(format!(
            "crash-life/{}",
            if life == 0 { "first" } else { "later" }
        ));
        add(format!("crash-landed/life{life}/{phase}"));
    }
    // How often each oracle was evaluated: divergence at every point, verified-only at every KV
    // write that landed, the finish checks at every successful finish, no-panic and
    // forward-progress once per process.
    let ev = &outcome.trace.events;
    let kv_writes = ev
        .iter()
        .filter(|e| {
            matches!(
                e.what,
                Point::After(crate::trace::Op::KvWrite { .. }, _, crate::trace::Res::Ok)
            )
        })
        .count() as u64;
    let finishes = ev
        .iter()
        .filter(|e| {
            matches!(
                &e.what,
                Point::Driver(DriverStep::FinishDone(crate::trace::Res::Ok))
            )
        })
        .count() as u64;
    let shard_writes = ev
        .iter()
        .filter(|e| {
            matches!(
                e.what,
                Point::After(crate::trace::Op::NodeShard { .. }, _, _)
            )
        })
        .count() as u64;
    let lives = u64::from(outcome.counters.lives);
    for (oracle, n) in [
        ("progress-divergence", ev.len() as u64),
        ("verified-only", kv_writes),
        ("durable-shape", shard_writes),
        ("honest-result", finishes),
        ("final-state", finishes),
        ("no-panic", lives),
        ("forward-progress", lives),
    ] {
        *c.entry(format!("oracle-evaluated/{oracle}")).or_default() += n;
    }
    c
}

/// Where each crash of the run landed, by the driver's last step before it in that process. The
/// reboot that settles a pending acknowledged-then-lost lie before the faults-off restart is a
/// crash line too, so it counts (usually as `after-finish`).
fn crash_phases(o: &Outcome) -> Vec<(u32, &'static str)> {
    let ev = &o.trace.events;
    let mut out = Vec::new();
    for (i, e) in ev.iter().enumerate() {
        if !matches!(e.what, Point::Crash { .. }) {
            continue;
        }
        let last = ev[..i]
            .iter()
            .rev()
            .take_while(|p| p.life == e.life)
            .find_map(|p| match &p.what {
                Point::Driver(s) => Some(s),
                _ => None,
            });
        out.push((
            e.life,
            match last {
                None | Some(DriverStep::Open) | Some(DriverStep::Opened { .. }) => "open",
                Some(DriverStep::AddChunk { .. }) | Some(DriverStep::ChunkDone(_)) => "feeding",
                Some(DriverStep::Finish) => "finish",
                Some(DriverStep::FinishDone(_)) | Some(DriverStep::Dropped) => "after-finish",
            },
        ));
    }
    out
}

/// Required categories with no count.
pub fn missing(c: &Coverage) -> Vec<&'static str> {
    REQUIRED
        .iter()
        .copied()
        .filter(|k| c.get(*k).copied().unwrap_or(0) == 0)
        .collect()
}

fn effect_name(e: Effect) -> &'static str {
    match e {
        Effect::IoError => "io-error",
        Effect::DiskFull => "disk-full",
        Effect::Torn { .. } => "torn",
        Effect::FailedButPersisted => "failed-but-persisted",
        Effect::AckThenLost => "ack-then-lost",
        Effect::Slow { .. } => "slow",
    }
}

fn target_name(t: Target) -> &'static str {
    match t {
        Target::NodeBatch { .. } => "node-batch",
        Target::ChunkBatch { .. } => "chunk-batch",
        Target::KvWrite { .. } => "kv-write",
        Target::ProgressRead { .. } => "progress-read",
        Target::NodeRead { .. } => "node-read",
        Target::RightmostLeaf { .. } => "rightmost-leaf",
    }
}

fn tamper_name(t: TamperKind) -> &'static str {
    match t {
        TamperKind::ChangeValue { .. } => "change-value",
        TamperKind::DropKey { .. } => "drop-key",
        TamperKind::WrongSibling { .. } => "wrong-sibling",
        TamperKind::SwapOrder { .. } => "swap-order",
        TamperKind::TruncateProof => "truncate-proof",
        TamperKind::ExtraSibling => "extra-sibling",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{Corruption, Crash, CrashAt, Fault};
    use crate::run::run_case;
    use restore_core::strategy::CommitStrategy;

    #[test]
    fn a_case_counts_what_it_draws_and_where_its_crash_landed() {
        let mut c = Case::small(CommitStrategy::Pipelined, 6, &[2]);
        c.faults.faults.push(Fault {
            target: Target::KvWrite { nth: 5 },
            effect: Effect::Torn { shards: 1 },
        });
        c.faults.corruptions.push(Corruption {
            chunk: 0,
            tamper: TamperKind::DropKey { item: 0 },
            deliveries: 1,
            first: 2,
        });
        // Step 1 is the driver's first point: the process is still opening the restore.
        c.faults.crashes.push(Crash {
            life: 0,
            step: 1,
            kind: CrashKind::Process,
            at: CrashAt::Start,
        });
        let o = run_case(&c).unwrap();
        let cov = of_case(&c, &o);
        for k in [
            "effect/torn",
            "target/kv-write",
            "crash-kind/process",
            "corruption-delivery/2",
            "tamper/drop-key",
            "crash-landed/open",
        ] {
            assert_eq!(cov.get(k), Some(&1), "{k}: {cov:?}");
        }
        let miss = missing(&cov);
        assert!(miss.contains(&"effect/io-error") && !miss.contains(&"effect/torn"));
    }
}
