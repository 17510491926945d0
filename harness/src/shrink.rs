//! Shrinking: minimise a failing [`Case`] while the same headline oracle keeps failing.
//!
//! The shrinker is a greedy, deterministic reducer over the whole case at once (ShardStore
//! §4.3): it proposes simpler variants of the current case, runs each, and keeps the first one
//! that still fails the same way and is strictly smaller. It repeats until no proposal is
//! accepted (a fixpoint) or the run budget is spent.
//!
//! * **Goal.** "Fails the same way" is, by default, the same headline oracle
//!   ([`Goal::Headline`]). [`Goal::Signature`] also requires the same task at the same kind of
//!   step (a divergence at a KV progress write stays one); [`Goal::Violates`] keeps a given
//!   oracle violated anywhere (a defect whose oracle is not the first to fire). Parts of the
//!   case listed in [`ShrinkOptions::keep`] are left alone.
//! * **Pinning.** A random schedule (`RandomWalk`, `Pct`) is first replaced by
//!   `PolicyKind::Replay` with the decisions the failing run took, which reproduces the run
//!   exactly; from then on the schedule is a plain list that can be shortened. After every
//!   accepted step the list is re-pinned to the decisions the accepted run actually took, with
//!   trailing "lowest runnable id" choices trimmed (a replay past its end takes the lowest id),
//!   so an empty list is `PolicyKind::FirstRunnable`.
//! * **Preemptions.** A decision that did not take the lowest runnable task is a preemption;
//!   replacing it by the lowest runnable id removes it. Runs are made under `PolicyKind::Dfs`
//!   (a replay that also records the runnable sets) so the shrinker knows those ids.
//! * **Order.** Passes go from simple to complex — schedule, faults, chunks, processes, fault
//!   details, snapshot — and within a pass the most drastic proposal comes first: the natural
//!   schedule, no faults at all, one key in one chunk, … then single removals, then halvings,
//!   then parameter tweaks. Every accepted step lowers a lexicographic size (faults, chunks,
//!   keys, processes, preemptions, driver, fault details, snapshot details), which is why
//!   shrinking always ends.
//! * **Fault targets.** Dropping or merging chunks renumbers the chunk-indexed targets
//!   (`ChunkBatch`, corruptions) so they keep hitting the same chunk where it still exists.
//!   Counters (`nth`) are only lowered as proposals of their own. A crash is tried at every
//!   step of its process when a fault or corruption before it is removed, and at earlier steps
//!   on its own; a candidate that no longer fails is simply rejected.
//! * **Two faults as one.** A pair of faults is also tried as one `DiskFull` at the first's
//!   target (it fails that write and every later one).
//!
//! Same input, same result: proposals are generated in a fixed order, runs are deterministic, and
//! nothing depends on time. The budget counts candidate runs, not seconds.

use std::collections::BTreeSet;

use restore_core::HashValue;

use crate::case::{Case, LayoutCase, OnError};
use crate::fault::{CrashKind, Effect, Fault, Target};
use crate::oracle::{Oracle, Violation};
use crate::run::{Outcome, RunError, run_case};
use crate::sim::PolicyKind;

/// A budget that shrinks every known-defect case to its fixpoint with room to spare.
pub const DEFAULT_BUDGET: usize = 2_000;

/// What a candidate must still do to be kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Goal {
    /// Fail with the input's headline oracle as its headline (the default).
    #[default]
    Headline,
    /// Fail with the input's headline oracle, detected at the same kind of step by the same
    /// task (see [`signature`]) — stricter than `Headline`: it keeps e.g. "KV ahead, at a KV
    /// progress write" from turning into "KV behind, at a tree write".
    Signature,
    /// Violate this oracle, as headline or not (for defects whose oracle is not the first to
    /// fire, e.g. a false success that follows a divergence).
    Violates(Oracle),
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Goal::Headline => f.write_str("headline"),
            Goal::Signature => f.write_str("signature"),
            Goal::Violates(o) => write!(f, "{o}"),
        }
    }
}

impl std::str::FromStr for Goal {
    type Err = String;

    /// `headline`, `signature`, or an oracle name (keep that oracle violated).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "headline" => Ok(Goal::Headline),
            "signature" => Ok(Goal::Signature),
            _ => s.parse().map(Goal::Violates).map_err(|_| {
                format!(
                    "unknown goal `{s}`: expected headline, signature or an oracle name ({})",
                    Oracle::ALL.map(Oracle::name).join(", ")
                )
            }),
        }
    }
}

/// The failure signature of a run: headline oracle, the task that was running and the kind of
/// step it was at (no numbers, keys or messages), e.g.
/// `progress-divergence at kv: after kv-write+progress ok`. `None` if the run passed.
pub fn signature(o: &Outcome) -> Option<String> {
    use crate::trace::{DriverStep, Op, Point, Res};
    let v = o.first_violation()?;
    let Some(e) = o.trace.events.get(v.event) else {
        return Some(format!("{} at the end", v.oracle));
    };
    let op = |op: &Op| match op {
        Op::NodeBatch { .. } => "node-batch",
        Op::NodeShard { .. } => "node-shard",
        Op::KvWrite { progress: true, .. } => "kv-write+progress",
        Op::KvWrite {
            progress: false, ..
        } => "kv-write",
        Op::ProgressRead => "progress-read",
        Op::NodeRead => "node-read",
        Op::RightmostLeaf => "rightmost-leaf",
        Op::UsageWrite => "usage-write",
        Op::KvShard { .. } => "kv-shard",
        Op::KvProgress => "kv-progress",
        Op::Sync { .. } => "sync",
    };
    let res = |r: &Res| match r {
        Res::Ok => "ok",
        Res::Err(_) => "err",
    };
    let what = match &e.what {
        Point::Join(..) => "join".to_string(),
        Point::Spawn(_) => "spawn".to_string(),
        Point::Await(_) => "await".to_string(),
        Point::Before(x, _) => format!("before {}", op(x)),
        Point::After(x, _, r) => format!("after {} {}", op(x), res(r)),
        Point::Driver(d) => match d {
            DriverStep::Open => "open".to_string(),
            DriverStep::Opened { .. } => "opened".to_string(),
            DriverStep::AddChunk { .. } => "add-chunk".to_string(),
            DriverStep::ChunkDone(r) => format!("chunk-done {}", res(r)),
            DriverStep::Finish => "finish".to_string(),
            DriverStep::FinishDone(r) => format!("finish-done {}", res(r)),
            DriverStep::Dropped => "dropped".to_string(),
        },
        Point::Crash {
            power_loss: true, ..
        } => "power loss".to_string(),
        Point::Crash { .. } => "crash".to_string(),
        Point::Panicked(_) => "panic".to_string(),
    };
    Some(format!("{} at {}: {what}", v.oracle, e.task_name))
}

/// A part of the case the shrinker may simplify; listed in [`ShrinkOptions::keep`], it stays as
/// it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aspect {
    /// The schedule (not pinned, not shortened).
    Schedule,
    /// Which faults, crashes and corruptions there are.
    Faults,
    /// Chunk sizes and the number of keys.
    Chunks,
    /// Processes, retries, on-error behaviour.
    Driver,
    /// Fault effects and targets, crash kinds and steps, corruption details.
    Details,
    /// Key layout, value and key lengths, version, commit mode.
    Snapshot,
}

impl Aspect {
    pub const ALL: [Aspect; 6] = [
        Aspect::Schedule,
        Aspect::Faults,
        Aspect::Chunks,
        Aspect::Driver,
        Aspect::Details,
        Aspect::Snapshot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Aspect::Schedule => "schedule",
            Aspect::Faults => "faults",
            Aspect::Chunks => "chunks",
            Aspect::Driver => "driver",
            Aspect::Details => "details",
            Aspect::Snapshot => "snapshot",
        }
    }
}

impl std::str::FromStr for Aspect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Aspect::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown aspect `{s}` (expected one of: {})",
                    Aspect::ALL.map(Aspect::name).join(", ")
                )
            })
    }
}

/// How to shrink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShrinkOptions {
    /// Candidate runs at most.
    pub budget: usize,
    pub goal: Goal,
    /// Parts left alone.
    pub keep: Vec<Aspect>,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions {
            budget: DEFAULT_BUDGET,
            goal: Goal::Headline,
            keep: Vec::new(),
        }
    }
}

/// How big a case is, in the units a reader cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Snapshot keys.
    pub keys: usize,
    /// Chunks.
    pub chunks: usize,
    /// Faults + crashes + corruptions.
    pub faults: usize,
    /// Scheduling decisions a replay has to pin (0 = the natural order, first runnable).
    pub decisions: usize,
    /// Of those, decisions that did not take the lowest runnable task id.
    pub preemptions: usize,
    /// Processes run (faulty phase plus the faults-off restart, if any).
    pub lives: u32,
    /// Trace events.
    pub events: usize,
}

impl std::fmt::Display for Sizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} keys, {} chunks, {} faults, {} decisions ({} preemptions), {} processes, {} events",
            self.keys,
            self.chunks,
            self.faults,
            self.decisions,
            self.preemptions,
            self.lives,
            self.events
        )
    }
}

/// The verdict of a run, reduced to what a report shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeSummary {
    /// The headline (first) violation.
    pub headline: Violation,
    /// Every oracle that fired, in priority order, without repeats.
    pub violated: Vec<Oracle>,
    /// See [`signature`].
    pub signature: String,
    pub trace_hash: HashValue,
    pub events: usize,
    pub lives: u32,
    /// Whether the faulty phase finished the restore.
    pub completed: bool,
}

impl OutcomeSummary {
    /// `None` when the run passed.
    pub fn of(o: &Outcome) -> Option<OutcomeSummary> {
        let headline = o.first_violation()?.clone();
        let mut violated: Vec<Oracle> = o.violations.iter().map(|v| v.oracle).collect();
        violated.sort();
        violated.dedup();
        Some(OutcomeSummary {
            headline,
            violated,
            signature: signature(o).unwrap_or_default(),
            trace_hash: o.trace_hash(),
            events: o.trace.events.len(),
            lives: o.counters.lives,
            completed: o.completed,
        })
    }
}

/// What [`shrink`] found.
#[derive(Clone, Debug)]
pub struct ShrinkReport {
    /// The input, unchanged.
    pub original: Case,
    /// The smallest case found that still fails with [`ShrinkReport::oracle`] as headline.
    pub minimal: Case,
    /// The headline oracle kept throughout.
    pub oracle: Oracle,
    pub before: Sizes,
    pub after: Sizes,
    /// Every run made, including the first run of the input, pinning its schedule and the final
    /// replay of the result.
    pub runs: usize,
    /// Runs of candidates (what the budget bounds).
    pub candidate_runs: usize,
    pub budget: usize,
    /// True if the budget ran out before a fixpoint: a bigger budget may shrink further.
    pub exhausted: bool,
    /// The accepted simplifications, in order.
    pub steps: Vec<String>,
    /// The minimal case's verdict (from a plain `run_case` of it: replaying the minimal case
    /// gives this trace hash).
    pub summary: OutcomeSummary,
    /// The minimal case's full outcome (timeline, counters).
    pub outcome: Outcome,
}

#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(
        "the case does not fail (every oracle held, trace hash {trace_hash}): nothing to shrink"
    )]
    Passes { trace_hash: HashValue },
    #[error("the case does not violate {oracle} (its headline is {headline}): nothing to shrink")]
    Misses { oracle: Oracle, headline: Oracle },
    #[error(
        "the case is not deterministic: {what} gave trace hash {second}, expected {first} \
         (run `replay --check-determinism` on it)"
    )]
    Nondeterministic {
        what: &'static str,
        first: HashValue,
        second: HashValue,
    },
}

/// Lexicographic size: each accepted step must make it strictly smaller.
type Cost = [u64; 19];

/// The current best case with what the shrinker knows about its run.
#[derive(Clone)]
struct Current {
    case: Case,
    /// Runnable sets at each decision of its run (empty when not recorded).
    options: Vec<Vec<u16>>,
    /// The last scheduling step of each process of its run.
    life_steps: Vec<u64>,
    preemptions: usize,
    trace_hash: HashValue,
    cost: Cost,
}

/// Shrinks `case` with at most `budget_runs` candidate runs, keeping its headline oracle.
/// Fails if the case passes.
pub fn shrink(case: &Case, budget_runs: usize) -> Result<ShrinkReport, ShrinkError> {
    shrink_with(
        case,
        &ShrinkOptions {
            budget: budget_runs,
            ..ShrinkOptions::default()
        },
    )
}

/// [`shrink`] with a goal and parts to keep.
pub fn shrink_with(case: &Case, opts: &ShrinkOptions) -> Result<ShrinkReport, ShrinkError> {
    let mut s = Shrinker {
        oracle: Oracle::NoPanic,
        goal: opts.goal,
        signature: None,
        repin: !opts.keep.contains(&Aspect::Schedule),
        budget: opts.budget,
        runs: 0,
        candidate_runs: 0,
        seen: BTreeSet::new(),
        steps: Vec::new(),
        exhausted: false,
    };
    let first = run_case(case)?;
    s.runs += 1;
    let Some(head) = first.first_violation() else {
        return Err(ShrinkError::Passes {
            trace_hash: first.trace_hash(),
        });
    };
    s.signature = signature(&first);
    s.oracle = match opts.goal {
        Goal::Headline | Goal::Signature => head.oracle,
        Goal::Violates(o) if first.violated(o) => o,
        Goal::Violates(o) => {
            return Err(ShrinkError::Misses {
                oracle: o,
                headline: head.oracle,
            });
        }
    };

    // Pin the schedule: the decisions the failing run took replay it exactly.
    let mut pinned = case.clone();
    if s.repin && !matches!(pinned.schedule, PolicyKind::FirstRunnable) {
        pinned.schedule = PolicyKind::Replay {
            decisions: first.decisions.concat(),
        };
    }
    let rec = run_recording(&pinned)?;
    s.runs += 1;
    if rec.trace_hash() != first.trace_hash() {
        return Err(ShrinkError::Nondeterministic {
            what: "replaying the pinned schedule",
            first: first.trace_hash(),
            second: rec.trace_hash(),
        });
    }
    let mut cur = s.current(pinned, &rec);
    let before = sizes(case, &cur, &first);
    s.seen.insert(cur.case.to_json());
    s.seen.insert(case.to_json());

    // Passes, simple to complex; each runs to its own fixpoint before the next.
    let passes: [(Aspect, Pass); 6] = [
        (Aspect::Schedule, schedule_candidates),
        (Aspect::Faults, fault_candidates),
        (Aspect::Chunks, chunk_candidates),
        (Aspect::Driver, driver_candidates),
        (Aspect::Details, detail_candidates),
        (Aspect::Snapshot, snapshot_candidates),
    ];
    'rounds: loop {
        let mut progressed = false;
        for (aspect, pass) in passes {
            if opts.keep.contains(&aspect) {
                continue;
            }
            loop {
                match s.try_pass(&cur, pass)? {
                    Step::Accepted(next) => {
                        cur = *next;
                        progressed = true;
                    }
                    Step::None => break,
                    Step::OutOfBudget => break 'rounds,
                }
            }
        }
        if !progressed {
            break;
        }
    }

    // The result, as a reader will replay it.
    let outcome = run_case(&cur.case)?;
    s.runs += 1;
    if outcome.trace_hash() != cur.trace_hash {
        return Err(ShrinkError::Nondeterministic {
            what: "replaying the minimal case",
            first: cur.trace_hash,
            second: outcome.trace_hash(),
        });
    }
    let summary = OutcomeSummary::of(&outcome).ok_or(ShrinkError::Nondeterministic {
        what: "replaying the minimal case",
        first: cur.trace_hash,
        second: outcome.trace_hash(),
    })?;
    let after = sizes(&cur.case, &cur, &outcome);
    Ok(ShrinkReport {
        original: case.clone(),
        minimal: cur.case,
        oracle: s.oracle,
        before,
        after,
        runs: s.runs,
        candidate_runs: s.candidate_runs,
        budget: s.budget,
        exhausted: s.exhausted,
        steps: s.steps,
        summary,
        outcome,
    })
}

type Pass = fn(&Current) -> Vec<(String, Case)>;

enum Step {
    Accepted(Box<Current>),
    None,
    OutOfBudget,
}

struct Shrinker {
    oracle: Oracle,
    goal: Goal,
    /// The input's failure signature.
    signature: Option<String>,
    /// Whether schedules are re-pinned to the decisions taken (not when the schedule is kept).
    repin: bool,
    budget: usize,
    runs: usize,
    candidate_runs: usize,
    /// Cases already run (as JSON): runs are deterministic, so never run one twice.
    seen: BTreeSet<String>,
    steps: Vec<String>,
    exhausted: bool,
}

impl Shrinker {
    /// Tries the candidates of `pass` in order; the first smaller one that keeps the headline
    /// wins.
    fn try_pass(&mut self, cur: &Current, pass: Pass) -> Result<Step, ShrinkError> {
        for (label, cand) in pass(cur) {
            if !self.seen.insert(cand.to_json()) {
                continue;
            }
            if self.candidate_runs >= self.budget {
                self.exhausted = true;
                return Ok(Step::OutOfBudget);
            }
            let o = run_recording(&cand)?;
            self.runs += 1;
            self.candidate_runs += 1;
            if !self.keeps_failing(&o) {
                continue;
            }
            let next = self.current(cand, &o);
            if next.cost < cur.cost {
                self.seen.insert(next.case.to_json());
                self.steps.push(label);
                return Ok(Step::Accepted(Box::new(next)));
            }
        }
        Ok(Step::None)
    }

    fn keeps_failing(&self, o: &Outcome) -> bool {
        match self.goal {
            Goal::Headline => o.first_violation().map(|v| v.oracle) == Some(self.oracle),
            Goal::Signature => signature(o) == self.signature,
            Goal::Violates(x) => o.violated(x),
        }
    }

    /// `case` with its schedule re-pinned to what its run `o` did.
    fn current(&self, mut case: Case, o: &Outcome) -> Current {
        let taken = o.decisions.concat();
        let recorded = o.options.len() == taken.len();
        let (options, preemptions) = if recorded {
            let p = taken
                .iter()
                .zip(&o.options)
                .filter(|(t, opts)| opts.first() != Some(*t))
                .count();
            (o.options.clone(), p)
        } else {
            (Vec::new(), 0)
        };
        if self.repin && recorded && is_pinned(&case.schedule) {
            // Trailing lowest-id choices are what a replay does past its end anyway.
            let keep = taken
                .iter()
                .zip(&options)
                .rposition(|(t, opts)| opts.first() != Some(t))
                .map_or(0, |i| i + 1);
            case.schedule = if keep == 0 {
                PolicyKind::FirstRunnable
            } else {
                PolicyKind::Replay {
                    decisions: taken[..keep].to_vec(),
                }
            };
        }
        let cost = cost(&case, preemptions);
        let mut life_steps = Vec::new();
        for e in &o.trace.events {
            let l = e.life as usize;
            if life_steps.len() <= l {
                life_steps.resize(l + 1, 0);
            }
            life_steps[l] = life_steps[l].max(e.step);
        }
        Current {
            case,
            options,
            life_steps,
            preemptions,
            trace_hash: o.trace_hash(),
            cost,
        }
    }
}

fn is_pinned(p: &PolicyKind) -> bool {
    matches!(
        p,
        PolicyKind::FirstRunnable | PolicyKind::Replay { .. } | PolicyKind::Dfs { .. }
    )
}

/// Runs `case`; pinned schedules run as `Dfs` (the same replay, also recording the runnable
/// sets), which gives the same trace.
fn run_recording(case: &Case) -> Result<Outcome, RunError> {
    let prefix = match &case.schedule {
        PolicyKind::FirstRunnable => Vec::new(),
        PolicyKind::Replay { decisions } => decisions.clone(),
        PolicyKind::Dfs { prefix } => prefix.clone(),
        PolicyKind::RandomWalk { .. } | PolicyKind::Pct { .. } => return run_case(case),
    };
    let mut c = case.clone();
    c.schedule = PolicyKind::Dfs { prefix };
    run_case(&c)
}

fn sizes(case: &Case, cur: &Current, o: &Outcome) -> Sizes {
    Sizes {
        keys: case.snapshot.keys,
        chunks: case.chunking.sizes.len(),
        faults: case.faults.size(),
        decisions: match &cur.case.schedule {
            PolicyKind::Replay { decisions } => decisions.len(),
            PolicyKind::Dfs { prefix } => prefix.len(),
            _ => 0,
        },
        preemptions: cur.preemptions,
        lives: o.counters.lives,
        events: o.trace.events.len(),
    }
}

fn effect_rank(e: &Effect) -> u64 {
    let (rank, param) = match *e {
        Effect::IoError => (0, 0),
        Effect::DiskFull => (1, 0),
        Effect::FailedButPersisted => (2, 0),
        Effect::Torn { shards } => (3, shards),
        Effect::AckThenLost => (4, 0),
        Effect::Slow { points } => (5, points),
    };
    (rank << 32) | u64::from(param)
}

fn target_index(t: &Target) -> u64 {
    u64::from(match *t {
        Target::NodeBatch { nth }
        | Target::KvWrite { nth }
        | Target::ProgressRead { nth }
        | Target::NodeRead { nth }
        | Target::RightmostLeaf { nth } => nth,
        Target::ChunkBatch { chunk } => chunk,
    })
}

fn cost(c: &Case, preemptions: usize) -> Cost {
    let (rank, len) = match &c.schedule {
        PolicyKind::FirstRunnable => (0, 0),
        PolicyKind::Replay { decisions } => (1, decisions.len()),
        PolicyKind::Dfs { prefix } => (1, prefix.len()),
        PolicyKind::RandomWalk { .. } | PolicyKind::Pct { .. } => (2, 0),
    };
    let f = &c.faults;
    let sum = |it: &mut dyn Iterator<Item = u64>| it.fold(0u64, u64::saturating_add);
    let layout = match c.snapshot.layout {
        LayoutCase::Random => 0,
        _ => 1,
    };
    [
        f.size() as u64,
        c.chunking.sizes.len() as u64,
        c.snapshot.keys as u64,
        u64::from(c.driver.max_lives),
        rank,
        preemptions as u64,
        len as u64,
        u64::from(c.driver.on_error == OnError::RetrySameObject),
        u64::from(c.driver.retries),
        sum(&mut f.faults.iter().map(|x| effect_rank(&x.effect))),
        sum(&mut f.crashes.iter().map(|x| match x.kind {
            CrashKind::Process => 0,
            CrashKind::PowerLoss {
                lost_writes,
                spread,
            } => (1 << 32) | (u64::from(spread.is_some()) << 31) | u64::from(lost_writes),
        })),
        sum(&mut f
            .corruptions
            .iter()
            .map(|x| u64::from(x.deliveries).saturating_add(tamper_index(&x.tamper)))),
        sum(&mut f.faults.iter().map(|x| target_index(&x.target))),
        sum(&mut f.crashes.iter().map(|x| x.step)),
        layout,
        (c.snapshot.value_len.0 as u64).saturating_add(c.snapshot.value_len.1 as u64),
        (c.snapshot.key_len.0 as u64).saturating_add(c.snapshot.key_len.1 as u64),
        c.snapshot.version,
        u64::from(c.commit.is_some()),
    ]
}

fn tamper_index(t: &crate::fault::TamperKind) -> u64 {
    use crate::fault::TamperKind::*;
    match *t {
        ChangeValue { item } | DropKey { item } | SwapOrder { item } => item as u64,
        WrongSibling { sibling } => sibling as u64,
        TruncateProof | ExtraSibling => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Candidates. Each pass lists variants of the current case, most drastic first.

/// Block sizes for delta debugging over `n` items: n/2, n/4, …, 1 (without repeats).
fn halvings(n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut b = n / 2;
    while b > 0 {
        out.push(b);
        b /= 2;
    }
    if n > 0 && out.last() != Some(&1) {
        out.push(1);
    }
    out
}

fn schedule_candidates(cur: &Current) -> Vec<(String, Case)> {
    let mut out = Vec::new();
    let with = |p: PolicyKind| {
        let mut c = cur.case.clone();
        c.schedule = p;
        c
    };
    if !matches!(cur.case.schedule, PolicyKind::FirstRunnable) {
        out.push((
            "natural schedule (first runnable)".to_string(),
            with(PolicyKind::FirstRunnable),
        ));
    }
    let PolicyKind::Replay { decisions } = &cur.case.schedule else {
        return out;
    };
    let n = decisions.len();
    // Shorter lists: no preemption after the cut.
    for b in halvings(n) {
        out.push((
            format!("keep the first {} of {n} decisions", n - b),
            with(PolicyKind::Replay {
                decisions: decisions[..n - b].to_vec(),
            }),
        ));
    }
    // Fewer preemptions: replace blocks of them, latest first, by the lowest runnable id.
    if cur.options.len() >= n {
        let pre: Vec<usize> = (0..n)
            .filter(|&i| cur.options[i].first() != Some(&decisions[i]))
            .collect();
        for b in halvings(pre.len()) {
            let mut end = pre.len();
            while end >= b {
                let block = &pre[end - b..end];
                let mut d = decisions.clone();
                for &i in block {
                    d[i] = cur.options[i][0];
                }
                out.push((
                    format!(
                        "drop {} preemption(s) at decisions {}..={}",
                        b,
                        block[0],
                        block[b - 1]
                    ),
                    with(PolicyKind::Replay { decisions: d }),
                ));
                end -= b;
            }
        }
    }
    out
}

fn fault_candidates(cur: &Current) -> Vec<(String, Case)> {
    let c = &cur.case;
    let f = &c.faults;
    let mut out = Vec::new();
    let with = |edit: &dyn Fn(&mut crate::fault::FaultPlan)| {
        let mut x = c.clone();
        edit(&mut x.faults);
        x
    };
    if f.size() > 1 {
        out.push((
            "remove every fault".to_string(),
            with(&|p| *p = Default::default()),
        ));
    }
    for i in (0..f.corruptions.len()).rev() {
        out.push((
            format!("remove corruption {i}"),
            with(&|p| {
                p.corruptions.remove(i);
            }),
        ));
    }
    for i in (0..f.crashes.len()).rev() {
        out.push((
            format!("remove crash {i}"),
            with(&|p| {
                p.crashes.remove(i);
            }),
        ));
    }
    for i in (0..f.faults.len()).rev() {
        out.push((
            format!("remove fault {i}"),
            with(&|p| {
                p.faults.remove(i);
            }),
        ));
    }
    // A crash usually has to move when a fault before it goes: remove a fault or corruption
    // and place each crash at every step of its process.
    for (ci, crash) in f.crashes.iter().enumerate() {
        let last = cur
            .life_steps
            .get(crash.life as usize)
            .copied()
            .unwrap_or(0);
        let removals = (0..f.faults.len())
            .map(|i| (format!("fault {i}"), i, true))
            .chain((0..f.corruptions.len()).map(|i| (format!("corruption {i}"), i, false)));
        for (what, i, is_fault) in removals.rev() {
            for step in 1..=last {
                if step == crash.step {
                    continue;
                }
                out.push((
                    format!("remove {what}, crash {ci} at step {step}"),
                    with(&|p| {
                        if is_fault {
                            p.faults.remove(i);
                        } else {
                            p.corruptions.remove(i);
                        }
                        p.crashes[ci].step = step;
                    }),
                ));
            }
        }
    }
    // Two faults as one full disk (it fails the first write it hits and every later one).
    for i in 0..f.faults.len() {
        for j in 0..f.faults.len() {
            if i == j {
                continue;
            }
            out.push((
                format!("faults {i} and {j} as one disk-full at fault {i}'s target"),
                with(&|p| {
                    p.faults[i].effect = Effect::DiskFull;
                    p.faults.remove(j);
                }),
            ));
        }
    }
    out
}

/// Chunk-indexed targets follow their chunk through an edit of the chunk list.
fn with_sizes(c: &Case, sizes: Vec<usize>, remap: &dyn Fn(u32) -> u32) -> Case {
    let mut x = c.clone();
    x.snapshot.keys = sizes.iter().sum();
    x.chunking.sizes = sizes;
    for f in &mut x.faults.faults {
        if let Target::ChunkBatch { chunk } = &mut f.target {
            *chunk = remap(*chunk);
        }
    }
    for k in &mut x.faults.corruptions {
        k.chunk = remap(k.chunk);
    }
    x
}

fn chunk_candidates(cur: &Current) -> Vec<(String, Case)> {
    let c = &cur.case;
    let sizes = &c.chunking.sizes;
    let n = sizes.len();
    let mut out = Vec::new();
    if sizes.as_slice() != [1] && n > 0 {
        out.push((
            "one chunk of one key".to_string(),
            with_sizes(c, vec![1], &|_| 0),
        ));
    }
    // Drop blocks of chunks (delta debugging), the end first: later chunks carry no targets.
    for b in halvings(n) {
        if b >= n {
            continue;
        }
        let mut start = n - b;
        loop {
            let mut s = sizes.clone();
            s.drain(start..start + b);
            let new_n = s.len() as u32;
            let (lo, hi) = (start as u32, (start + b) as u32);
            out.push((
                format!("drop chunks {lo}..{hi} of {n}"),
                with_sizes(c, s, &move |k| {
                    if k >= hi {
                        k - (hi - lo)
                    } else if k >= lo {
                        lo.min(new_n.saturating_sub(1))
                    } else {
                        k
                    }
                }),
            ));
            if start < b {
                break;
            }
            start -= b;
        }
    }
    if sizes.iter().any(|&s| s > 1) {
        out.push((
            format!("every chunk one key ({n} chunks)"),
            with_sizes(c, vec![1; n], &|k| k),
        ));
        out.push((
            "halve every chunk".to_string(),
            with_sizes(c, sizes.iter().map(|s| s.div_ceil(2)).collect(), &|k| k),
        ));
    }
    // Merge neighbours: fewer chunks, same keys.
    for i in (0..n.saturating_sub(1)).rev() {
        let mut s = sizes.clone();
        s[i] += s[i + 1];
        s.remove(i + 1);
        let at = i as u32;
        out.push((
            format!("merge chunks {i} and {}", i + 1),
            with_sizes(c, s, &move |k| if k > at { k - 1 } else { k }),
        ));
    }
    // One chunk at a time: one key, half, one fewer.
    for i in (0..n).rev() {
        for (what, v) in [
            ("one key", 1),
            ("halved", sizes[i].div_ceil(2)),
            ("one key fewer", sizes[i].saturating_sub(1).max(1)),
        ] {
            if v < sizes[i] {
                let mut s = sizes.clone();
                s[i] = v;
                out.push((format!("chunk {i} {what} ({v})"), with_sizes(c, s, &|k| k)));
            }
        }
    }
    out
}

fn driver_candidates(cur: &Current) -> Vec<(String, Case)> {
    let c = &cur.case;
    let d = c.driver;
    let mut out = Vec::new();
    let with = |edit: &dyn Fn(&mut crate::case::DriverPolicy)| {
        let mut x = c.clone();
        edit(&mut x.driver);
        x
    };
    if d.max_lives > 1 {
        out.push(("one process".to_string(), with(&|p| p.max_lives = 1)));
        if d.max_lives > 2 {
            out.push((
                format!("{} processes", d.max_lives - 1),
                with(&|p| p.max_lives -= 1),
            ));
        }
    }
    if d.on_error != OnError::Restart {
        out.push((
            "restart on error (no retry on the same object)".to_string(),
            with(&|p| p.on_error = OnError::Restart),
        ));
    }
    if d.retries > 0 {
        out.push(("no retries".to_string(), with(&|p| p.retries = 0)));
        if d.retries > 1 {
            out.push((
                format!("{} retries", d.retries - 1),
                with(&|p| p.retries -= 1),
            ));
        }
    }
    out
}

fn smaller_target(t: Target) -> Vec<Target> {
    let idx = target_index(&t) as u32;
    let set = |v: u32| match t {
        Target::NodeBatch { .. } => Target::NodeBatch { nth: v },
        Target::ChunkBatch { .. } => Target::ChunkBatch { chunk: v },
        Target::KvWrite { .. } => Target::KvWrite { nth: v },
        Target::ProgressRead { .. } => Target::ProgressRead { nth: v },
        Target::NodeRead { .. } => Target::NodeRead { nth: v },
        Target::RightmostLeaf { .. } => Target::RightmostLeaf { nth: v },
    };
    let mut vals: Vec<u32> = vec![0, idx / 2, idx.saturating_sub(1)];
    vals.dedup();
    vals.into_iter().filter(|&v| v < idx).map(set).collect()
}

fn simpler_effects(e: Effect) -> Vec<Effect> {
    let mut out = Vec::new();
    if e != Effect::IoError {
        out.push(Effect::IoError);
    }
    match e {
        Effect::Slow { points } if points > 1 => {
            out.push(Effect::Slow { points: 1 });
            if points / 2 > 1 {
                out.push(Effect::Slow { points: points / 2 });
            }
            out.push(Effect::Slow { points: points - 1 });
        }
        Effect::Torn { shards } if shards > 0 => {
            out.push(Effect::Torn { shards: 0 });
            if shards / 2 > 0 {
                out.push(Effect::Torn { shards: shards / 2 });
            }
        }
        _ => {}
    }
    out.dedup();
    out
}

fn detail_candidates(cur: &Current) -> Vec<(String, Case)> {
    let c = &cur.case;
    let f = &c.faults;
    let mut out = Vec::new();
    for (i, x) in f.faults.iter().enumerate() {
        for e in simpler_effects(x.effect) {
            let mut y = c.clone();
            y.faults.faults[i] = Fault {
                target: x.target,
                effect: e,
            };
            out.push((format!("fault {i}: {e:?}"), y));
        }
        for t in smaller_target(x.target) {
            let mut y = c.clone();
            y.faults.faults[i].target = t;
            out.push((format!("fault {i}: target {t:?}"), y));
        }
    }
    for (i, x) in f.crashes.iter().enumerate() {
        let mut steps = vec![
            1,
            x.step / 4,
            x.step / 2,
            x.step - x.step / 4,
            x.step.saturating_sub(1),
        ];
        steps.dedup();
        for st in steps.into_iter().filter(|&v| v >= 1 && v < x.step) {
            let mut y = c.clone();
            y.faults.crashes[i].step = st;
            out.push((format!("crash {i} at step {st}"), y));
        }
        if let CrashKind::PowerLoss {
            lost_writes,
            spread,
        } = x.kind
        {
            let mut kinds = vec![CrashKind::Process];
            if spread.is_some() {
                kinds.push(CrashKind::power_loss(lost_writes));
            }
            if lost_writes > 1 {
                kinds.push(CrashKind::PowerLoss {
                    lost_writes: 1,
                    spread,
                });
                if lost_writes / 2 > 1 {
                    kinds.push(CrashKind::PowerLoss {
                        lost_writes: lost_writes / 2,
                        spread,
                    });
                }
            }
            for k in kinds {
                let mut y = c.clone();
                y.faults.crashes[i].kind = k;
                out.push((format!("crash {i}: {k:?}"), y));
            }
        }
    }
    for (i, x) in f.corruptions.iter().enumerate() {
        if x.deliveries > 1 {
            let mut y = c.clone();
            y.faults.corruptions[i].deliveries = 1;
            out.push((format!("corruption {i}: one bad delivery"), y));
        }
        use crate::fault::TamperKind::*;
        let zeroed = match x.tamper {
            ChangeValue { item } if item > 0 => Some(ChangeValue { item: 0 }),
            DropKey { item } if item > 0 => Some(DropKey { item: 0 }),
            SwapOrder { item } if item > 0 => Some(SwapOrder { item: 0 }),
            WrongSibling { sibling } if sibling > 0 => Some(WrongSibling { sibling: 0 }),
            _ => None,
        };
        if let Some(t) = zeroed {
            let mut y = c.clone();
            y.faults.corruptions[i].tamper = t;
            out.push((format!("corruption {i}: {t:?}"), y));
        }
    }
    out
}

fn snapshot_candidates(cur: &Current) -> Vec<(String, Case)> {
    let c = &cur.case;
    let s = &c.snapshot;
    let mut out = Vec::new();
    let with = |what: String, edit: &dyn Fn(&mut Case)| {
        let mut x = c.clone();
        edit(&mut x);
        (what, x)
    };
    if s.layout != LayoutCase::Random {
        out.push(with("random key layout".into(), &|x| {
            x.snapshot.layout = LayoutCase::Random
        }));
    }
    let (lo, hi) = (
        s.value_len.0.min(s.value_len.1),
        s.value_len.0.max(s.value_len.1),
    );
    for v in [(0, 0), (1, 1), (lo, lo), (lo, lo + (hi - lo) / 2)] {
        if v.0 + v.1 < s.value_len.0 + s.value_len.1 {
            out.push(with(format!("values of {}..={} bytes", v.0, v.1), &|x| {
                x.snapshot.value_len = v
            }));
        }
    }
    let klo = s.key_len.0.min(s.key_len.1);
    if 2 * klo < s.key_len.0 + s.key_len.1 {
        out.push(with(format!("keys of {klo} bytes"), &|x| {
            x.snapshot.key_len = (klo, klo)
        }));
    }
    if s.version > 1 {
        out.push(with("version 1".into(), &|x| x.snapshot.version = 1));
    }
    if c.commit.is_some() {
        out.push(with("the strategy's own commit mode".into(), &|x| {
            x.commit = None
        }));
    }
    out
}
