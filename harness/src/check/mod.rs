//! Bounded model checking of small restores: every schedule (up to partial-order equivalence),
//! every crash point with every state a crash of either kind may leave there, and every fault
//! point, within bounds on crashes and faults per execution.
//!
//! Layers, bottom up:
//! * [`dependency`] — when two steps may not commute (the relation and why it is sound);
//! * [`dpor`] — source-set partial-order reduction with sleep sets, generic over footprints;
//! * [`state_hash`] — what a restart depends on, hashed, so equal crash states merge;
//! * [`points`] — the fault points of a case;
//! * [`watch`] — the policy and watcher inside each run;
//! * this module — jobs: a fault set and a fixed prefix (ending in a crash) whose remaining
//!   schedules one explorer covers; a crash state never seen before becomes a new job.
//!
//! Everything is deterministic: jobs run in a fixed order and the verdict, the counts and the
//! counterexample do not depend on the machine.

pub mod dependency;
pub mod dpor;
pub mod estimate;
pub mod points;
pub mod state_hash;
pub mod watch;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use restore_core::store::MemStore;

use restore_core::HashValue;
use serde::Serialize;

use crate::case::Case;
use crate::fault::{Crash, CrashAt};
use crate::oracle::Oracle;
use crate::run::{Hooks, Outcome, RunError, run_hooked};
use crate::sim::PolicyKind;
use dpor::{Dpor, Plan};
use points::{FaultPoint, OpCounts, fault_points, fault_sets};
use watch::{CrashScope, Guided, Live, Watcher};

/// How far the checker goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bounds {
    /// Crashes per execution (each at any scheduling point, of either kind, in any state).
    pub crashes: u32,
    /// Fault points per execution (store faults and corrupted deliveries).
    pub faults: u32,
    /// Runs after which the checker stops and calls the verdict incomplete.
    pub budget: u64,
    /// Power-loss states one point may have before the checker stops (incomplete).
    pub states_per_point: usize,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            crashes: 1,
            faults: 1,
            budget: 5_000_000,
            states_per_point: 4096,
        }
    }
}

/// What the checker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Runs of the restore (each a whole execution, replayed from the start).
    pub executions: u64,
    /// Executions that were new schedules (not cut short by a sleep-set block).
    pub schedules: u64,
    /// Executions that repeated a covered trace from some point on (sleep-set blocked).
    pub sleep_blocked: u64,
    /// Races the reduction reversed.
    pub races: u64,
    /// Alternatives at decision points never explored: the reduction found no race that
    /// needs them, or a sibling already covered them (sleep sets). Each is a whole subtree of
    /// the naive search; `--estimate-naive` says how many executions they add up to.
    pub pruned_by_reduction: u64,
    /// Scheduling points at which every crash state was enumerated.
    pub crash_points: u64,
    /// Crash states seen (both kinds, every power loss), before merging.
    pub crash_states_seen: u64,
    /// Distinct crash states explored (each a restart explored over all its schedules).
    pub crash_states: u64,
    /// Crash states merged into one already explored (same state hash).
    pub pruned_by_caching: u64,
    /// Fault points of the fault-free run, and fault sets explored (the empty set included).
    pub fault_points: u64,
    pub fault_sets: u64,
}

impl Stats {
    /// The counts of two searches together (fault points are the case's, not summed).
    pub fn plus(&self, o: &Stats) -> Stats {
        Stats {
            executions: self.executions + o.executions,
            schedules: self.schedules + o.schedules,
            sleep_blocked: self.sleep_blocked + o.sleep_blocked,
            races: self.races + o.races,
            pruned_by_reduction: self.pruned_by_reduction + o.pruned_by_reduction,
            crash_points: self.crash_points + o.crash_points,
            crash_states_seen: self.crash_states_seen + o.crash_states_seen,
            crash_states: self.crash_states + o.crash_states,
            pruned_by_caching: self.pruned_by_caching + o.pruned_by_caching,
            fault_points: self.fault_points.max(o.fault_points),
            fault_sets: self.fault_sets + o.fault_sets,
        }
    }
}

/// A failing execution, ready to replay.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The case: its faults, its crashes (exact states) and the schedule as recorded decisions.
    pub case: Case,
    pub oracle: Oracle,
    pub detail: String,
    pub trace_hash: HashValue,
}

#[derive(Clone, Debug)]
pub enum Verdict {
    /// Every execution within the bounds held every oracle.
    Verified,
    Counterexample(Box<Counterexample>),
    /// The checker stopped early; why.
    Incomplete(String),
}

#[derive(Clone, Debug)]
pub struct Report {
    pub verdict: Verdict,
    pub stats: Stats,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(
        "the model checker needs an explicit store model (a layout, a sync policy and a window); \
         this case runs the legacy one-database model"
    )]
    LegacyModel,
    #[error("a replay did not follow its plan: the run is not deterministic")]
    Nondeterministic,
    #[error("the explored case is outside the case limits (docs/case-limits.md)")]
    OutOfLimits,
}

/// One explorer's worth of work: a case (its faults and the crashes fixed so far) and the
/// decisions that lead to the last of those crashes.
struct Job {
    case: Case,
    fixed: Vec<u16>,
    from_life: u32,
    crashes_left: u32,
}

/// One run as the checker saw it (for tests that compare explorations).
pub struct RunView<'a> {
    pub case: &'a Case,
    pub outcome: &'a Outcome,
    /// The keys of every crash state seen at the run's scheduling points.
    pub crash_keys: Vec<HashValue>,
    /// The durable data of the version when the run ended.
    pub final_image: HashValue,
    /// The run hit a sleep-set block (it repeats covered traces from there).
    pub blocked: bool,
}

/// What a caller can ask of [`check_with`] besides the bounds.
#[derive(Default)]
pub struct Options<'a> {
    /// Go on after a counterexample (the verdict is then the first one found).
    pub keep_going: bool,
    /// Called after every execution with the counts so far.
    pub progress: Option<&'a mut dyn FnMut(&Stats)>,
    /// Called after every execution with the run itself.
    pub on_run: Option<&'a mut dyn FnMut(&RunView<'_>)>,
    /// Only executions that violate this oracle are counterexamples (hunting one property:
    /// a search for a known defect is not stopped by another one met first).
    pub want: Option<Oracle>,
    /// With `want`: only a violation whose detail contains this text counts (one defect of
    /// several an oracle reports: "KV ahead" for the audit race, "KV behind" for the other
    /// divergence).
    pub want_detail: Option<String>,
    /// Threads that share out the fault sets (0 and 1: this thread; `on_run` forces one).
    /// Nothing reported depends on it.
    pub threads: usize,
}

/// Model-checks `base` (its schedule and fault plan are replaced) within `bounds`. `progress`
/// is called after every execution with the counts so far.
pub fn check(
    base: &Case,
    bounds: &Bounds,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Report, CheckError> {
    check_with(
        base,
        bounds,
        Options {
            progress: Some(progress),
            ..Options::default()
        },
    )
}

/// The case the checker explores: `base` without its faults and schedule, with lives enough
/// for every crash and failed operation the bounds allow to restart inside the faulty phase
/// (where a later crash can still hit the restart).
pub fn prepare(base: &Case, bounds: &Bounds) -> Result<Case, CheckError> {
    if base.durability.window.is_none() {
        return Err(CheckError::LegacyModel);
    }
    let mut base = base.clone();
    base.faults = Default::default();
    base.schedule = PolicyKind::FirstRunnable;
    base.store = crate::case::StoreKind::Mem;
    base.driver.max_lives = bounds.crashes + bounds.faults + 2;
    if base.validate().is_err() {
        return Err(CheckError::OutOfLimits);
    }
    Ok(base)
}

/// [`check`] with options.
///
/// Fault sets are independent searches, each with its own state cache, so they are shared out
/// among `opts.threads` threads and their results merged in set order: the verdict, the counts
/// and the counterexample are those of the sets in order, whatever the number of threads.
pub fn check_with(
    base: &Case,
    bounds: &Bounds,
    mut opts: Options<'_>,
) -> Result<Report, CheckError> {
    let base = prepare(base, bounds)?;
    // This thread's snapshot: the fault-free run counts the fault points, and a single-threaded
    // search reuses it (every other thread builds its own: they are `Rc`s).
    let (snapshot, chunks) = materialized(&base);
    let clean = crate::run::run_materialized(&base, Rc::clone(&snapshot), Rc::clone(&chunks))?;
    let points = fault_points(
        OpCounts::of(&clean.trace),
        chunks.len() as u32,
        base.durability.layout,
    );
    let sets = fault_sets(&points, bounds.faults);
    let cases: Vec<Case> = sets
        .iter()
        .map(|set| {
            let mut case = base.clone();
            points::apply(&mut case.faults, set);
            case
        })
        .collect();
    let mut merge = Merge::new(bounds, opts.keep_going, points.len() as u64);
    let threads = if opts.on_run.is_some() {
        1
    } else {
        opts.threads.clamp(1, cases.len().max(1))
    };
    if threads == 1 {
        let ctx = Ctx {
            snapshot: &snapshot,
            chunks: &chunks,
            bounds,
        };
        let mut progress = opts.progress.take();
        for (i, case) in cases.into_iter().enumerate() {
            let done = merge.stats;
            let left = bounds.budget.saturating_sub(done.executions);
            let budget_left = move || left;
            let mut tick = |st: &Stats| {
                if let Some(p) = progress.as_mut() {
                    p(&done.plus(st));
                }
                true
            };
            let mut hooks = SetHooks {
                keep_going: opts.keep_going,
                want: opts.want,
                want_detail: opts.want_detail.as_deref(),
                budget_left: &budget_left,
                on_run: opts
                    .on_run
                    .as_mut()
                    .map(|f| &mut **f as &mut dyn FnMut(&RunView<'_>)),
                tick: &mut tick,
            };
            let outcome = check_set(&ctx, case, &mut hooks)?;
            if let Some(report) = merge.add(i, outcome) {
                return Ok(report);
            }
        }
        return Ok(merge.finish());
    }
    parallel(&base, cases, bounds, &mut opts, merge, threads)
}

/// The snapshot and chunks of `base`, for one thread's runs (shared by `Rc`, so each thread
/// builds its own).
fn materialized(base: &Case) -> (Rc<restore_core::Snapshot>, Rc<Vec<restore_core::Chunk>>) {
    let (snapshot, chunks) = base.materialize();
    (Rc::new(snapshot), Rc::new(chunks))
}

/// What a worker tells the merging thread.
enum Msg {
    Tick(usize, Stats),
    Done(usize, Result<SetOutcome, CheckError>),
}

/// [`check_with`] over `threads` worker threads; this thread merges.
fn parallel(
    base: &Case,
    cases: Vec<Case>,
    bounds: &Bounds,
    opts: &mut Options<'_>,
    mut merge: Merge,
    threads: usize,
) -> Result<Report, CheckError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = cases.len();
    let next = AtomicUsize::new(0);
    // Sets above this index are not needed: an earlier set decided the verdict.
    let needed_up_to = AtomicUsize::new(usize::MAX);
    // Executions of the sets merged so far (a running set comes after all of them).
    let merged_executions = std::sync::atomic::AtomicU64::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let (keep_going, want) = (opts.keep_going, opts.want);
    let want_detail = opts.want_detail.as_deref();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, needed_up_to, cases) = (&next, &needed_up_to, &cases);
            let merged_executions = &merged_executions;
            scope.spawn(move || {
                let (snapshot, chunks) = materialized(base);
                let ctx = Ctx {
                    snapshot: &snapshot,
                    chunks: &chunks,
                    bounds,
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || i > needed_up_to.load(Ordering::Relaxed) {
                        return;
                    }
                    let mut tick = |st: &Stats| {
                        let _ = tx.send(Msg::Tick(i, *st));
                        i <= needed_up_to.load(Ordering::Relaxed)
                    };
                    let budget_left = || {
                        bounds
                            .budget
                            .saturating_sub(merged_executions.load(Ordering::Relaxed))
                    };
                    let mut hooks = SetHooks {
                        keep_going,
                        want,
                        want_detail,
                        budget_left: &budget_left,
                        on_run: None,
                        tick: &mut tick,
                    };
                    let outcome = check_set(&ctx, cases[i].clone(), &mut hooks);
                    let _ = tx.send(Msg::Done(i, outcome));
                }
            });
        }
        drop(tx);
        let mut live: Vec<Stats> = vec![Stats::default(); n];
        let mut done: Vec<Option<SetOutcome>> = (0..n).map(|_| None).collect();
        let mut merged = 0;
        let mut result: Option<Result<Report, CheckError>> = None;
        for msg in rx {
            match msg {
                Msg::Tick(i, st) => {
                    live[i] = st;
                    if result.is_none()
                        && let Some(p) = opts.progress.as_mut()
                    {
                        let mut sum = merge.stats;
                        for st in &live[merged..] {
                            sum = sum.plus(st);
                        }
                        p(&sum);
                    }
                }
                Msg::Done(i, outcome) => {
                    live[i] = Stats::default();
                    match outcome {
                        Err(e) => {
                            needed_up_to.store(0, Ordering::Relaxed);
                            next.store(n, Ordering::Relaxed);
                            if result.is_none() {
                                result = Some(Err(e));
                            }
                        }
                        Ok(o) => done[i] = Some(o),
                    }
                    while result.is_none() && merged < n {
                        let Some(o) = done[merged].take() else { break };
                        if let Some(report) = merge.add(merged, o) {
                            needed_up_to.fetch_min(merged, Ordering::Relaxed);
                            result = Some(Ok(report));
                        }
                        merged_executions.store(merge.stats.executions, Ordering::Relaxed);
                        merged += 1;
                    }
                }
            }
        }
        result.unwrap_or_else(|| {
            debug_assert_eq!(merged, n, "every set was merged");
            Ok(merge.finish())
        })
    })
}

/// The results of fault sets, merged in set order.
struct Merge {
    stats: Stats,
    budget: u64,
    keep_going: bool,
    first: Option<Verdict>,
    next: usize,
}

impl Merge {
    fn new(bounds: &Bounds, keep_going: bool, fault_points: u64) -> Merge {
        Merge {
            stats: Stats {
                fault_points,
                ..Stats::default()
            },
            budget: bounds.budget,
            keep_going,
            first: None,
            next: 0,
        }
    }

    /// Adds set `i` (the next in order); returns the report if the verdict is decided.
    fn add(&mut self, i: usize, o: SetOutcome) -> Option<Report> {
        assert_eq!(i, self.next, "fault sets merge in order");
        self.next += 1;
        self.stats = self.stats.plus(&o.stats);
        self.stats.fault_sets += 1;
        let verdict = match o.verdict {
            Some(v @ Verdict::Incomplete(_)) => Some(v),
            // Each set may use the whole budget; the sum decides.
            _ if self.stats.executions > self.budget => Some(Verdict::Incomplete(format!(
                "the budget of {} executions ran out",
                self.budget
            ))),
            Some(v) if !self.keep_going => Some(v),
            Some(v) => {
                self.first.get_or_insert(v);
                None
            }
            None => None,
        };
        verdict.map(|verdict| Report {
            verdict,
            stats: self.stats,
        })
    }

    fn finish(self) -> Report {
        Report {
            verdict: self.first.unwrap_or(Verdict::Verified),
            stats: self.stats,
        }
    }
}

/// What one fault set's search found.
struct SetOutcome {
    stats: Stats,
    verdict: Option<Verdict>,
}

/// What a fault set's search reports to, besides its result.
struct SetHooks<'a> {
    keep_going: bool,
    want: Option<Oracle>,
    want_detail: Option<&'a str>,
    on_run: Option<&'a mut dyn FnMut(&RunView<'_>)>,
    /// Executions this set may make: the budget less the sets merged before it. Exceeding it
    /// means the sets in order exceed the budget, whatever the sets not merged yet hold, so
    /// the verdict it leads to is the one a single thread would reach.
    budget_left: &'a dyn Fn() -> u64,
    /// Called after every execution with the set's counts so far; `false` stops the search
    /// (an earlier set decided the verdict, and this one's result will not be used).
    tick: &'a mut dyn FnMut(&Stats) -> bool,
}

/// Every schedule and crash state of one fault set, with its own state cache.
fn check_set(
    ctx: &Ctx<'_>,
    case: Case,
    hooks: &mut SetHooks<'_>,
) -> Result<SetOutcome, CheckError> {
    let mut stats = Stats::default();
    let mut seen: BTreeSet<HashValue> = BTreeSet::new();
    let mut first: Option<Verdict> = None;
    let mut jobs = vec![Job {
        case,
        fixed: Vec::new(),
        from_life: 0,
        crashes_left: ctx.bounds.crashes,
    }];
    while let Some(job) = jobs.pop() {
        match explore(ctx, job, &mut jobs, &mut seen, &mut stats, hooks)? {
            None => {}
            Some(v @ Verdict::Incomplete(_)) => {
                return Ok(SetOutcome {
                    stats,
                    verdict: Some(v),
                });
            }
            Some(v) if !hooks.keep_going => {
                return Ok(SetOutcome {
                    stats,
                    verdict: Some(v),
                });
            }
            Some(v) => {
                first.get_or_insert(v);
            }
        }
    }
    Ok(SetOutcome {
        stats,
        verdict: first,
    })
}

/// What one run of the checker returns.
pub struct Run {
    pub outcome: Outcome,
    pub watcher: Watcher,
    pub live: Live,
    /// The inner store the run used (its durable data at the end).
    pub store: Arc<MemStore>,
}

/// Runs `case` once under `plan`, with crash states enumerated per `scope`.
pub fn run_once(
    case: &Case,
    snapshot: &Rc<restore_core::Snapshot>,
    chunks: &Rc<Vec<restore_core::Chunk>>,
    plan: Plan<dependency::Footprint>,
    scope: Option<CrashScope>,
) -> Result<Run, RunError> {
    let live = Rc::new(RefCell::new(Live::default()));
    let faults = !case.faults.faults.is_empty();
    let watcher = Rc::new(RefCell::new(Watcher::new(Rc::clone(&live), scope, faults)));
    let hooks = Hooks {
        policy: Some(Box::new(Guided::new(plan, Rc::clone(&live)))),
        watch: Some(watcher.clone()),
    };
    let store = Arc::new(MemStore::new());
    let outcome = run_hooked(
        case,
        Rc::clone(snapshot),
        Rc::clone(chunks),
        store.clone(),
        hooks,
    )?;
    let watcher = Rc::try_unwrap(watcher)
        .ok()
        .expect("the run released its watcher")
        .into_inner();
    let live = std::mem::take(&mut *live.borrow_mut());
    Ok(Run {
        outcome,
        watcher,
        live,
        store,
    })
}

/// The hash of the durable data of `version` in `store`.
pub fn durable_hash(
    store: &MemStore,
    version: restore_core::Version,
) -> Result<HashValue, RunError> {
    use restore_core::store::{KvStore, TreeStore};
    let image = crate::fault::Image {
        nodes: store.nodes_at(version)?.into_iter().collect(),
        rows: store
            .kv_rows(version)?
            .into_iter()
            .map(|r| (r.key_hash, r))
            .collect(),
        progress: store.get_progress(version)?,
        usage: store.get_usage(version)?,
    };
    Ok(state_hash::image_hash(&image))
}

/// The crash scope of a job.
fn scope_of(job: &Job, bounds: &Bounds) -> Option<CrashScope> {
    CrashScope::of(
        &job.case,
        job.from_life,
        job.crashes_left,
        bounds.states_per_point,
    )
}

struct Ctx<'a> {
    snapshot: &'a Rc<restore_core::Snapshot>,
    chunks: &'a Rc<Vec<restore_core::Chunk>>,
    bounds: &'a Bounds,
}

/// Explores every schedule of one job; new crash states become jobs. Returns a verdict if one
/// was reached (a counterexample, the budget).
fn explore(
    ctx: &Ctx<'_>,
    job: Job,
    jobs: &mut Vec<Job>,
    seen: &mut BTreeSet<HashValue>,
    stats: &mut Stats,
    opts: &mut SetHooks<'_>,
) -> Result<Option<Verdict>, CheckError> {
    let scope = scope_of(&job, ctx.bounds);
    let mut dpor: Dpor<dependency::Footprint> = Dpor::new(job.fixed.clone());
    let mut before = dpor.stats;
    let mut found = None;
    while let Some(plan) = dpor.next_plan() {
        if stats.executions >= (opts.budget_left)() {
            return Ok(Some(Verdict::Incomplete(format!(
                "the budget of {} executions ran out",
                ctx.bounds.budget
            ))));
        }
        let run = run_once(&job.case, ctx.snapshot, ctx.chunks, plan, scope.clone())?;
        stats.executions += 1;
        if run.live.blocked_at.is_some() {
            stats.sleep_blocked += 1;
        } else {
            stats.schedules += 1;
        }
        if run.live.diverged {
            return Err(CheckError::Nondeterministic);
        }
        let outcome = &run.outcome;
        let w = &run.watcher;
        if let Some(f) = opts.on_run.as_mut() {
            f(&RunView {
                case: &job.case,
                outcome,
                crash_keys: w.crash_points.iter().map(|c| c.key).collect(),
                final_image: durable_hash(&run.store, ctx.snapshot.version)?,
                blocked: run.live.blocked_at.is_some(),
            });
        }
        let hit = match opts.want {
            None => outcome.first_violation(),
            Some(o) => outcome
                .violations
                .iter()
                .find(|v| v.oracle == o && opts.want_detail.is_none_or(|d| v.detail.contains(d))),
        };
        if let Some(v) = hit {
            let mut case = job.case.clone();
            case.schedule = PolicyKind::Replay {
                decisions: outcome.decisions.concat(),
            };
            let ce = Verdict::Counterexample(Box::new(Counterexample {
                case,
                oracle: v.oracle,
                detail: v.detail.clone(),
                trace_hash: outcome.trace_hash(),
            }));
            if !opts.keep_going {
                return Ok(Some(ce));
            }
            found.get_or_insert(ce);
        }
        if w.over_limit {
            return Ok(Some(Verdict::Incomplete(format!(
                "a scheduling point has more than {} power-loss states",
                ctx.bounds.states_per_point
            ))));
        }
        let exec = w.execution(outcome, job.from_life);
        dpor.record(&exec, &run.live.sleep_at);
        stats.crash_points += w.points_enumerated;
        let taken: Vec<u16> = outcome.decisions.concat();
        for cp in &w.crash_points {
            stats.crash_states_seen += 1;
            if !seen.insert(cp.key) {
                stats.pruned_by_caching += 1;
                continue;
            }
            stats.crash_states += 1;
            let mut case = job.case.clone();
            case.faults.crashes.push(Crash {
                life: cp.life,
                step: cp.step,
                kind: cp.kind,
                at: CrashAt::Start,
            });
            jobs.push(Job {
                case,
                fixed: taken[..cp.decisions].to_vec(),
                from_life: cp.life + 1,
                crashes_left: job.crashes_left - 1,
            });
        }
        let now = dpor.stats;
        stats.races += now.races - before.races;
        before = now;
        if !(opts.tick)(stats) {
            return Ok(Some(Verdict::Incomplete(
                "stopped: an earlier fault set decided the verdict".into(),
            )));
        }
    }
    stats.pruned_by_reduction += dpor.stats.unexplored;
    Ok(found)
}

/// The fault points of `base` (for reports): every store operation of its fault-free run with
/// each applicable effect, and every chunk with each corruption.
pub fn fault_points_of(base: &Case) -> Result<Vec<FaultPoint>, RunError> {
    let mut c = base.clone();
    c.faults = Default::default();
    c.schedule = PolicyKind::FirstRunnable;
    let clean = crate::run::run_case(&c)?;
    let (_, chunks) = c.materialize();
    Ok(fault_points(
        OpCounts::of(&clean.trace),
        chunks.len() as u32,
        c.durability.layout,
    ))
}
