//! Running a case: processes under the deterministic scheduler, crashes and restarts, the
//! forward-progress restart with faults off, and the oracles — giving an [`Outcome`].

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use restore_core::runtime::Runtime;
use restore_core::snapshot_restore::RestoreOptions;
use restore_core::store::{
    Layout, MemStore, RestoreStore, RocksStore, RocksStoreOptions, StoreError,
};
use restore_core::{HashValue, KeyHash, Snapshot, StateItem};

use crate::case::{Case, DriverPolicy, OnError, StoreKind};
use crate::driver::{DriverCtx, DriverShared};
use crate::fault::{Crash, CrashAt, CrashKind, FaultyStore, Settled};
use crate::oracle::{ChunkEnds, Oracle, Violation, describe, durable_shape, progress_divergence};
use crate::sim::{self, Observer, SimRuntime, Stop, TaskId, Verdict};
use crate::trace::{Bounds, DriverStep, Event, Point, Res, Trace};
use restore_core::audit::check_final_state;

/// Test-only hook: when set, every run reports no violation — a harness gone blind. The
/// blind-harness test sets it (through `RESTORE_SIM_TEST_BLIND_ORACLES` in the binary) to prove
/// that a sweep then fails on its witnesses instead of passing.
static BLIND: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every later run blind (see [`BLIND`]); for tests of the harness itself.
pub fn set_blind_for_tests(on: bool) {
    BLIND.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Steps one process may take before it is declared livelocked.
pub const STEP_BUDGET: u64 = 200_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub lives: u32,
    pub steps: u64,
    pub decisions: u64,
    pub chunks_fed: u32,
    pub faults_injected: u32,
    pub crashes: u32,
    pub lost_writes: u32,
    pub corrupted_deliveries: u32,
    /// Writes in flight at a crash that landed, and that did not.
    pub in_flight_landed: u32,
    pub in_flight_dropped: u32,
    /// Barriers that synced a database with unsynced writes.
    pub fsyncs: u64,
    /// Largest K − T seen (keys).
    pub max_divergence: i64,
    /// Smallest K − T seen (negative: KV behind the tree).
    pub min_divergence: i64,
}

/// The result of running one case.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub violations: Vec<Violation>,
    pub trace: Trace,
    /// Computed on first use: a sweep only needs it for the cases it reports, and hashing every
    /// trace would cost ~6% of a case.
    trace_hash: OnceLock<HashValue>,
    pub counters: Counters,
    /// Whether the restore finished during the faulty phase.
    pub completed: bool,
    /// Scheduling decisions per process (replayable).
    pub decisions: Vec<Vec<u16>>,
    /// How each process ended.
    pub stops: Vec<Stop>,
    /// Runnable sets at every decision (only under `PolicyKind::Dfs`).
    pub options: Vec<Vec<u16>>,
    /// Every step of every process (only when the policy records options).
    pub step_logs: Vec<Vec<sim::StepRecord>>,
    /// Where the case's chunks end: the scale of progress-divergence's bound.
    pub chunk_ends: ChunkEnds,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The stable SHA3 hash of the trace ([`Trace::hash`]): equal iff the runs took the same steps.
    pub fn trace_hash(&self) -> HashValue {
        *self.trace_hash.get_or_init(|| self.trace.hash())
    }

    /// The headline violation: earliest in the trace, then by oracle priority.
    pub fn first_violation(&self) -> Option<&Violation> {
        self.violations.first()
    }

    pub fn violated(&self, o: Oracle) -> bool {
        self.violations.iter().any(|v| v.oracle == o)
    }

    /// The timeline, one line per event, with the first bad step marked.
    pub fn timeline(&self) -> String {
        let bad = self.first_violation().map(|v| v.event);
        let mut out = String::new();
        for (i, e) in self.trace.events.iter().enumerate() {
            let mark = if Some(i) == bad { ">>" } else { "  " };
            out.push_str(&format!("{mark} {e}\n"));
        }
        if let Some(v) = self.first_violation() {
            out.push_str(&format!(
                "VIOLATION {} at event {} (process {}, step {}): {}\n",
                v.oracle, v.event, v.life, v.step, v.detail
            ));
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot create a temporary directory for RocksDB: {0}")]
    TempDir(std::io::Error),
    #[error(transparent)]
    Case(#[from] crate::case::CaseError),
    #[error("cannot plant version {version} in the store: {source}")]
    Plant {
        version: u64,
        source: Box<restore_core::RestoreError>,
    },
}

/// Records every scheduling point with the durable K and T, and triggers planned crashes.
struct Recorder {
    events: Vec<Event>,
    life: u32,
    store: Arc<FaultyStore>,
    keys: Rc<Vec<KeyHash>>,
    shared: Rc<RefCell<DriverShared>>,
    /// The crash planned for this process: its anchor and how many points after it.
    crash_at: Option<(CrashAt, u64)>,
    /// Steps of this process's anchors, once reached (`finish` called, `finish` returned Ok).
    finish_step: Option<u64>,
    finished_step: Option<u64>,
    /// verified-only at the seam: the event of the first KV write of unverified rows, and why.
    unverified: Option<(usize, String)>,
    /// durable-shape: the store's tree epoch last checked, and the first offence found.
    shape_epoch: u64,
    misshapen: Option<(usize, String)>,
    /// The first event at which a disk of a store of several databases was lying (an
    /// acknowledged-then-lost write pending). From there the store breaks the contract every
    /// ordering relies on — a lie drops one database's writes and keeps the others' — so
    /// progress-divergence and durable-shape are not judged; final-state and forward-progress
    /// still are. (In one database a lie drops every later write, so K and T fall together.)
    lie_from: Option<usize>,
    /// The model checker's watcher, if one is installed.
    watch: Option<Watch>,
}

/// Sees the end of every step of a run, with the store and the driver's record: the model
/// checker's view (`check`). Calls happen inside the simulation, between a step and the next
/// decision; a watcher must not call into the store except through its oracle-side methods.
pub trait StepWatch {
    /// Process `life` begins (its store is ready, nothing has run).
    fn begin_life(&mut self, life: u32, store: &FaultyStore, shared: &DriverShared);
    /// Step `step` (1-based) of process `life`, run by `task`, ended at the point `what`, or
    /// with the task returning (`None`).
    fn step_end(
        &mut self,
        life: u32,
        step: u64,
        task: TaskId,
        what: Option<&Point>,
        store: &FaultyStore,
        shared: &DriverShared,
    );
    /// Event `index` was just recorded (every event, crashes included), with the store as it
    /// stands then: the replay's view of what became durable (`story::durable`). Most watchers
    /// need only steps.
    fn event(&mut self, _index: usize, _event: &Event, _store: &FaultyStore) {}
}

/// A shared handle to a [`StepWatch`].
pub type Watch = Rc<RefCell<dyn StepWatch>>;

/// What a caller may add to a run: a policy object instead of the case's schedule, a watcher.
#[derive(Default)]
pub struct Hooks {
    pub policy: Option<Box<dyn sim::Policy>>,
    pub watch: Option<Watch>,
}

/// Number of snapshot keys at or below `k`.
fn covered(keys: &[KeyHash], k: Option<KeyHash>) -> u32 {
    match k {
        None => 0,
        Some(k) => keys.partition_point(|x| *x <= k) as u32,
    }
}

impl Recorder {
    fn push(
        &mut self,
        step: u64,
        task: TaskId,
        name: &'static str,
        chunk: Option<u32>,
        what: Point,
    ) {
        let (p, leaf) = self.store.probes();
        let (k, t) = (covered(&self.keys, p), covered(&self.keys, leaf));
        let bounds = self.store.extremes().and_then(|x| {
            let b = Bounds {
                k_lo: covered(&self.keys, x.k_lo),
                k_hi: covered(&self.keys, x.k_hi),
                t_lo: covered(&self.keys, x.t_lo),
                t_hi: covered(&self.keys, x.t_hi),
            };
            (b != Bounds {
                k_lo: k,
                k_hi: k,
                t_lo: t,
                t_hi: t,
            })
            .then_some(b)
        });
        self.events.push(Event {
            life: self.life,
            step,
            task,
            task_name: name,
            chunk,
            what,
            k,
            t,
            l: self.shared.borrow().largest_fed,
            bounds,
        });
        if let Some(w) = &self.watch {
            let i = self.events.len() - 1;
            w.borrow_mut().event(i, &self.events[i], &self.store);
        }
        if let Some(why) = self.store.take_unverified()
            && self.unverified.is_none()
        {
            self.unverified = Some((self.events.len() - 1, why));
        }
        if self.lie_from.is_none() && self.store.layout() != Layout::One && self.store.lie_pending()
        {
            self.lie_from = Some(self.events.len() - 1);
        }
        if self.lie_from.is_none() {
            self.check_shape();
        }
    }

    /// durable-shape, evaluated whenever the visible tree of the version may have changed (a
    /// node shard landed, a crash lost writes): between those moments it cannot change, so this
    /// is the same as checking at every scheduling point. Only the first offence is kept.
    fn check_shape(&mut self) {
        let epoch = self.store.tree_epoch();
        if epoch == self.shape_epoch || self.misshapen.is_some() {
            return;
        }
        self.shape_epoch = epoch;
        let version = self.store.version();
        // An oracle read: no faults, no scheduling point. A store that cannot list its nodes
        // gives the oracle nothing to judge; the restore itself meets that error on its own reads.
        // Every tree a power loss could leave now is judged (one, unless writes are in flight or
        // the tree spans several databases).
        let Ok(views) = self.store.quietly(|| self.store.tree_views()) else {
            return;
        };
        for (i, (label, nodes)) in views.iter().enumerate() {
            if let Some(why) = durable_shape(nodes, version, &self.keys) {
                let why = if i == 0 {
                    why
                } else {
                    format!("{label}: {why}")
                };
                self.misshapen = Some((self.events.len() - 1, why));
                return;
            }
        }
    }
}

impl Observer for Recorder {
    fn point(
        &mut self,
        step: u64,
        task: TaskId,
        name: &'static str,
        chunk: Option<u32>,
        what: &Point,
    ) -> Verdict {
        self.push(step, task, name, chunk, what.clone());
        if let Some(w) = &self.watch {
            w.borrow_mut().step_end(
                self.life,
                step,
                task,
                Some(what),
                &self.store,
                &self.shared.borrow(),
            );
        }
        match what {
            Point::Driver(DriverStep::Finish) => self.finish_step = Some(step),
            Point::Driver(DriverStep::FinishDone(Res::Ok)) => self.finished_step = Some(step),
            _ => {}
        }
        // The first point at or after the planned step: a step whose task ran to completion
        // records no point, and a crash planned there must still happen.
        let due = self.crash_at.and_then(|(at, n)| {
            let base = match at {
                CrashAt::Start => Some(0),
                CrashAt::Finish => self.finish_step,
                CrashAt::AfterFinish => self.finished_step,
            };
            base.map(|b| b.saturating_add(n))
        });
        if due.is_some_and(|d| step >= d) {
            self.crash_at = None;
            Verdict::Crash
        } else {
            Verdict::Continue
        }
    }

    fn task_done(&mut self, step: u64, task: TaskId) {
        if let Some(w) = &self.watch {
            w.borrow_mut().step_end(
                self.life,
                step,
                task,
                None,
                &self.store,
                &self.shared.borrow(),
            );
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Keeps a RocksDB directory alive for the length of a run.
enum Backing {
    Mem,
    Rocks(#[allow(dead_code)] tempfile::TempDir),
}

fn open_store(kind: StoreKind) -> Result<(Arc<dyn RestoreStore>, Backing), RunError> {
    Ok(match kind {
        StoreKind::Mem => (Arc::new(MemStore::new()), Backing::Mem),
        StoreKind::Rocksdb => {
            let dir = tempfile::tempdir().map_err(RunError::TempDir)?;
            let opts = RocksStoreOptions {
                write_buffer_size: 1 << 20,
                ..RocksStoreOptions::default()
            };
            let s = RocksStore::open(dir.path().join("db"), opts)?;
            (Arc::new(s), Backing::Rocks(dir))
        }
    })
}

/// How the processes of a case execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Under the deterministic scheduler: interleavings, crashes, the full trace.
    Scheduled,
    /// The same code run straight through on the calling thread: no scheduler, no interleaving,
    /// no crashes, no trace. The speed limit a scheduler is measured against.
    Inline,
}

/// What the processes of one case accumulate: the policy and observer carried from process to
/// process, and per-process results.
struct Processes {
    mode: Mode,
    policy: Option<Box<dyn sim::Policy>>,
    observer: Box<dyn Observer>,
    steps: u64,
    decisions: Vec<Vec<u16>>,
    runnable_sets: Vec<Vec<u16>>,
    step_logs: Vec<Vec<sim::StepRecord>>,
    stops: Vec<Stop>,
    /// Number of events recorded when each process ended.
    life_ends: Vec<usize>,
    panics: Vec<(u32, String)>,
}

impl Processes {
    /// Runs one process whose driver is `ctx`; returns how it stopped and whether the restore
    /// finished in it.
    fn run(&mut self, life: u32, ctx: DriverCtx) -> (Stop, bool) {
        let done = Rc::new(RefCell::new(false));
        let done2 = Rc::clone(&done);
        let observer = std::mem::replace(&mut self.observer, Box::new(Detached));
        let (end, p, o) = execute(
            self.mode,
            self.policy
                .take()
                .expect("the policy is returned after every process"),
            observer,
            Box::new(move || {
                let ok = ctx.run();
                *done2.borrow_mut() = ok;
            }),
        );
        self.policy = Some(p);
        self.observer = o;
        self.steps += end.steps;
        self.decisions.push(end.decisions);
        self.runnable_sets.extend(end.options);
        self.step_logs.push(end.step_log);
        self.panics.extend(
            end.panics
                .into_iter()
                .map(|(t, m)| (life, format!("{t}: {m}"))),
        );
        self.stops.push(end.stop.clone());
        self.life_ends
            .push(recorder(&mut self.observer).events.len());
        let finished = *done.borrow();
        (end.stop, finished)
    }
}

/// Placeholder observer while the real one is lent to the scheduler.
struct Detached;

impl Observer for Detached {
    fn point(&mut self, _: u64, _: TaskId, _: &'static str, _: Option<u32>, _: &Point) -> Verdict {
        Verdict::Continue
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Runs `case` and evaluates every oracle.
pub fn run_case(case: &Case) -> Result<Outcome, RunError> {
    case.validate()?;
    let (snapshot, chunks) = case.materialize();
    run_materialized(case, Rc::new(snapshot), Rc::new(chunks))
}

/// Runs `case` in `mode` (see [`Mode::Inline`] for what the inline mode leaves out).
pub fn run_case_in(case: &Case, mode: Mode) -> Result<Outcome, RunError> {
    run_case_hooked(case, mode, Hooks::default())
}

/// Validates and materializes `case`, opens its store, and runs it in `mode` with `hooks`.
fn run_case_hooked(case: &Case, mode: Mode, hooks: Hooks) -> Result<Outcome, RunError> {
    case.validate()?;
    let (snapshot, chunks) = case.materialize();
    let (inner, _backing) = open_store(case.store)?;
    run_with(
        case,
        Rc::new(snapshot),
        Rc::new(chunks),
        inner,
        mode,
        Arc::new(SimRuntime),
        hooks,
    )
}

type Process = (sim::ProcessEnd, Box<dyn sim::Policy>, Box<dyn Observer>);

fn execute(
    mode: Mode,
    policy: Box<dyn sim::Policy>,
    observer: Box<dyn Observer>,
    main: Box<dyn FnOnce()>,
) -> Process {
    match mode {
        Mode::Scheduled => sim::run_process(policy, observer, STEP_BUDGET, main),
        Mode::Inline => {
            sim::set_quiet_panics(true);
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(main));
            sim::set_quiet_panics(false);
            let panics = match caught {
                Ok(()) => Vec::new(),
                Err(p) => vec![(
                    "driver#0".to_string(),
                    restore_core::runtime::panic_message(p.as_ref()),
                )],
            };
            let end = sim::ProcessEnd {
                stop: Stop::Completed,
                steps: 0,
                decisions: Vec::new(),
                panics,
                options: Vec::new(),
                step_log: Vec::new(),
            };
            (end, policy, observer)
        }
    }
}

/// Runs a case whose snapshot and chunks are already materialized (sweeps reuse them).
pub fn run_materialized(
    case: &Case,
    snapshot: Rc<Snapshot>,
    chunks: Rc<Vec<restore_core::Chunk>>,
) -> Result<Outcome, RunError> {
    run_materialized_in(case, snapshot, chunks, Mode::Scheduled)
}

/// [`run_materialized`] in a given mode.
pub fn run_materialized_in(
    case: &Case,
    snapshot: Rc<Snapshot>,
    chunks: Rc<Vec<restore_core::Chunk>>,
    mode: Mode,
) -> Result<Outcome, RunError> {
    let (inner, _backing) = open_store(case.store)?;
    run_with(
        case,
        snapshot,
        chunks,
        inner,
        mode,
        Arc::new(SimRuntime),
        Hooks::default(),
    )
}

/// Runs `case` over `inner` (an empty store) with `hooks` (the model checker's policy and
/// watcher); the case's own schedule is ignored when a policy is given, and `case.store` is.
pub fn run_hooked(
    case: &Case,
    snapshot: Rc<Snapshot>,
    chunks: Rc<Vec<restore_core::Chunk>>,
    inner: Arc<dyn RestoreStore>,
    hooks: Hooks,
) -> Result<Outcome, RunError> {
    run_with(
        case,
        snapshot,
        chunks,
        inner,
        Mode::Scheduled,
        Arc::new(SimRuntime),
        hooks,
    )
}

/// [`run_case`] with a watcher installed and the case's own schedule: the same run, step for
/// step (a watcher reads the store only quietly), seen by `watch` as it happens.
pub fn run_case_watched(case: &Case, watch: Watch) -> Result<Outcome, RunError> {
    let hooks = Hooks {
        policy: None,
        watch: Some(watch),
    };
    run_case_hooked(case, Mode::Scheduled, hooks)
}

/// [`Mode::Inline`] with the restore on another `runtime`: for running the same cases under
/// another scheduler (the benchmark's shuttle comparison), which must then be driving this
/// thread. Crashes planned in the case do not happen (nothing stops the process at a step).
pub fn run_materialized_on(
    case: &Case,
    snapshot: Rc<Snapshot>,
    chunks: Rc<Vec<restore_core::Chunk>>,
    runtime: Arc<dyn Runtime>,
) -> Result<Outcome, RunError> {
    let (inner, _backing) = open_store(case.store)?;
    run_with(
        case,
        snapshot,
        chunks,
        inner,
        Mode::Inline,
        runtime,
        Hooks::default(),
    )
}

/// Runs a case over a given (empty) inner store — for tests that need a special store, e.g. a
/// deliberately nondeterministic one. `case.store` is ignored.
pub fn run_on_store(
    case: &Case,
    snapshot: Rc<Snapshot>,
    chunks: Rc<Vec<restore_core::Chunk>>,
    inner: Arc<dyn RestoreStore>,
) -> Result<Outcome, RunError> {
    run_with(
        case,
        snapshot,
        chunks,
        inner,
        Mode::Scheduled,
        Arc::new(SimRuntime),
        Hooks::default(),
    )
}

fn run_with(
    case: &Case,
    snapshot: Rc<Snapshot>,
    chunks: Rc<Vec<restore_core::Chunk>>,
    inner: Arc<dyn RestoreStore>,
    mode: Mode,
    runtime: Arc<dyn Runtime>,
    hooks: Hooks,
) -> Result<Outcome, RunError> {
    for o in &case.others {
        o.plant(&inner).map_err(|source| RunError::Plant {
            version: o.version,
            source: Box::new(source),
        })?;
    }
    let store = Arc::new(FaultyStore::new(
        inner,
        snapshot.version,
        &case.faults.faults,
        case.durability,
    )?);
    let keys: Rc<Vec<KeyHash>> = Rc::new(snapshot.items.iter().map(|i| i.key_hash).collect());
    let shared = Rc::new(RefCell::new(DriverShared::default()));
    let mut options = RestoreOptions::new(case.strategy);
    options.commit = case.commit;
    options.scheme = snapshot.scheme;

    let observer: Box<dyn Observer> = Box::new(Recorder {
        events: Vec::with_capacity(256),
        life: 0,
        store: Arc::clone(&store),
        keys: Rc::clone(&keys),
        shared: Rc::clone(&shared),
        crash_at: None,
        finish_step: None,
        finished_step: None,
        unverified: None,
        shape_epoch: 0,
        misshapen: None,
        lie_from: None,
        watch: hooks.watch,
    });
    store.set_row_check(row_check(&snapshot));
    let mut procs = Processes {
        mode,
        policy: Some(hooks.policy.unwrap_or_else(|| case.schedule.build())),
        observer,
        steps: 0,
        decisions: Vec::new(),
        runnable_sets: Vec::new(),
        step_logs: Vec::new(),
        stops: Vec::new(),
        life_ends: Vec::new(),
        panics: Vec::new(),
    };
    let mut counters = Counters::default();

    let make_ctx = |policy: DriverPolicy, corrupt: bool| DriverCtx {
        store: Arc::clone(&store),
        snapshot: Rc::clone(&snapshot),
        chunks: Rc::clone(&chunks),
        options,
        policy,
        corruptions: if corrupt {
            case.faults.corruptions.clone()
        } else {
            Vec::new()
        },
        shared: Rc::clone(&shared),
        runtime: Arc::clone(&runtime),
        overwrite: case.overwrite,
        phases: case.plan.modes(),
    };

    let mut life = 0u32;
    let mut completed = false;
    let mut disturbed = false;
    // final-state findings on what survived a crash after a successful finish.
    let mut after_finish: Vec<(usize, String)> = Vec::new();
    // The faulty phase: processes until the restore finishes or the driver runs out of lives.
    while life < case.driver.max_lives.max(1) && !completed {
        let crash = case.faults.crashes.iter().find(|c| c.life == life).copied();
        store.begin_process(case.durability.unsynced_window(crash.map(|c| c.kind)))?;
        set_life(&mut procs.observer, life, crash);
        let oks_before = shared.borrow().finish_oks;
        let (stop, finished) = procs.run(life, make_ctx(case.driver, true));
        if stop == Stop::Crashed {
            let kind = crash.map(|c| c.kind).unwrap_or(CrashKind::Process);
            // A lying disk (acknowledged-then-lost) breaks the durability every strategy relies
            // on: what it drops is not the restore's doing, so no re-check after it.
            let lied = store.lie_pending();
            let settled = store.crash(kind)?;
            let at = push_crash(&mut procs.observer, kind, settled);
            disturbed = true;
            // A process crash keeps every write that returned: a restore that reported
            // success must still be whole. (A power loss may take unsynced writes with it; the
            // next `finish` is judged instead.)
            if kind == CrashKind::Process && !lied && shared.borrow().finish_oks > oks_before {
                let judged = store.quietly(|| check_final_state(&*store, &*store, &snapshot));
                if let Err(e) = judged {
                    after_finish.push((
                        at,
                        format!(
                            "after a crash that followed a successful finish: {}",
                            describe(&e)
                        ),
                    ));
                }
            }
        } else {
            completed = finished;
        }
        life += 1;
    }
    counters.lives = life;
    let fc = store.counters();
    let faulty = disturbed
        || fc.injected > 0
        || shared.borrow().corrupted_deliveries > 0
        || !shared.borrow().errors.is_empty();

    // forward-progress: one restart with faults off must complete.
    let mut forward_ok = true;
    if !completed || faulty {
        // A lie still pending (acknowledged-then-lost with no crash after it) ends here: the
        // restart is a reboot, and the lying disk drops what it acknowledged. Otherwise every
        // write of the restart would stay volatile and the durable probes would never see it.
        if store.lie_pending() {
            let settled = store.crash(CrashKind::Process)?;
            push_crash(&mut procs.observer, CrashKind::Process, settled);
        }
        store.set_faults_enabled(false);
        store.begin_process(0)?;
        set_life(&mut procs.observer, life, None);
        let restart = DriverPolicy {
            on_error: OnError::Restart,
            retries: 0,
            max_lives: 1,
        };
        forward_ok = procs.run(life, make_ctx(restart, false)).1;
        counters.lives += 1;
    }
    counters.steps = procs.steps;
    counters.decisions = procs.decisions.iter().map(|d| d.len() as u64).sum();
    let Processes {
        mut observer,
        decisions,
        runnable_sets,
        step_logs,
        stops,
        life_ends,
        panics,
        ..
    } = procs;

    let unverified = recorder(&mut observer).unverified.take();
    let misshapen = recorder(&mut observer).misshapen.take();
    let lie_from = recorder(&mut observer).lie_from.take();
    let trace = Trace {
        events: take_events(&mut observer),
    };
    let mut violations = Vec::new();
    if let Some((at, why)) = unverified {
        violations.push(violation(&trace, Oracle::VerifiedOnly, at, why));
    }
    if let Some((at, why)) = misshapen {
        violations.push(violation(&trace, Oracle::DurableShape, at, why));
    }
    for (l, msg) in &panics {
        let at = trace
            .events
            .iter()
            .position(|e| {
                e.life == *l && matches!(&e.what, Point::Panicked(m) if msg.ends_with(m.as_str()))
            })
            .unwrap_or(trace.events.len().saturating_sub(1));
        violations.push(violation(&trace, Oracle::NoPanic, at, msg.clone()));
    }
    let chunk_ends = ChunkEnds::from_sizes(chunks.iter().map(|c| c.len()));
    // K and T move together only when both sides restore from each chunk: a two-phase plan
    // runs one side to the end before the other starts, by design.
    let judged = &trace.events[..lie_from.unwrap_or(trace.events.len())];
    if case.plan.is_default()
        && let Some(v) = progress_divergence(judged, &chunk_ends)
    {
        violations.push(v);
    }
    let finish_dones: Vec<usize> = trace
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(
                &e.what,
                Point::Driver(crate::trace::DriverStep::FinishDone(crate::trace::Res::Ok))
            )
        })
        .map(|(i, _)| i)
        .collect();
    for (o, why, nth) in shared.borrow().finish_findings.iter() {
        let at = finish_dones
            .get(*nth as usize)
            .copied()
            .unwrap_or(trace.events.len().saturating_sub(1));
        if !violations.iter().any(|v: &Violation| v.oracle == *o) {
            violations.push(violation(&trace, *o, at, why.clone()));
        }
    }
    if let Some((at, why)) = after_finish.into_iter().next()
        && !violations.iter().any(|v| v.oracle == Oracle::FinalState)
    {
        violations.push(violation(&trace, Oracle::FinalState, at, why));
    }
    for (i, stop) in stops.iter().enumerate() {
        let why = match stop {
            Stop::Deadlock { blocked } => {
                format!("deadlock: no task can run; blocked: {}", blocked.join(", "))
            }
            Stop::StepBudget { steps } => {
                format!("livelock: process {i} used its whole budget of {steps} steps")
            }
            Stop::Completed | Stop::Crashed => continue,
        };
        let at = life_ends.get(i).map_or(0, |n| n.saturating_sub(1));
        violations.push(violation(&trace, Oracle::ForwardProgress, at, why));
    }
    if !forward_ok
        && !violations
            .iter()
            .any(|v| v.oracle == Oracle::ForwardProgress)
    {
        let last = shared
            .borrow()
            .errors
            .last()
            .cloned()
            .unwrap_or_else(|| "did not complete".into());
        violations.push(violation(
            &trace,
            Oracle::ForwardProgress,
            trace.events.len().saturating_sub(1),
            format!("restart with faults off did not complete: {last}"),
        ));
    }
    violations.sort_by_key(|v| (v.event, v.oracle));
    if BLIND.load(std::sync::atomic::Ordering::Relaxed) {
        violations.clear();
    }

    // K − T means something only while both sides restore together (see progress-divergence).
    let paired: &[Event] = if case.plan.is_default() {
        &trace.events
    } else {
        &[]
    };
    for e in paired {
        let d = i64::from(e.k) - i64::from(e.t);
        counters.max_divergence = counters.max_divergence.max(d);
        counters.min_divergence = counters.min_divergence.min(d);
    }
    let fc = store.counters();
    counters.faults_injected = fc.injected;
    counters.crashes = fc.crashes;
    counters.lost_writes = fc.lost_writes;
    counters.in_flight_landed = fc.in_flight_landed;
    counters.in_flight_dropped = fc.in_flight_dropped;
    counters.fsyncs = fc.fsyncs;
    counters.chunks_fed = shared.borrow().chunks_fed;
    counters.corrupted_deliveries = shared.borrow().corrupted_deliveries;
    Ok(Outcome {
        violations,
        trace,
        trace_hash: OnceLock::new(),
        counters,
        completed,
        decisions,
        stops,
        options: runnable_sets,
        step_logs,
        chunk_ends,
    })
}

/// verified-only at the store seam: a KV row of the version is fine if it is the snapshot's own
/// row, byte for byte; anything else can only have come from a chunk that did not verify (a
/// verified chunk proves its rows are the snapshot's).
fn row_check(snapshot: &Snapshot) -> crate::fault::RowCheck {
    let items: Arc<Vec<StateItem>> = Arc::new(snapshot.items.clone());
    debug_assert!(items.windows(2).all(|w| w[0].key_hash < w[1].key_hash));
    Arc::new(move |rows: &[StateItem]| {
        let foreign = |r: &&StateItem| {
            items
                .binary_search_by(|x| x.key_hash.cmp(&r.key_hash))
                .map_or(true, |i| items[i] != **r)
        };
        let n = rows.iter().filter(foreign).count();
        rows.iter().find(foreign).map(|first| {
            format!(
                "a KV write lands {n} row(s) that are not the snapshot's (first {:?}): bytes of a \
                 chunk that did not verify",
                first.key_hash
            )
        })
    })
}

fn violation(trace: &Trace, oracle: Oracle, at: usize, detail: String) -> Violation {
    let (life, step) = trace.events.get(at).map_or((0, 0), |e| (e.life, e.step));
    Violation {
        oracle,
        event: at,
        life,
        step,
        detail,
    }
}

// The observer is a trait object while the scheduler owns it; these helpers reach the recorder.
fn recorder(o: &mut Box<dyn Observer>) -> &mut Recorder {
    o.as_any_mut()
        .downcast_mut::<Recorder>()
        .expect("run_materialized only installs a Recorder")
}

fn set_life(o: &mut Box<dyn Observer>, life: u32, crash: Option<Crash>) {
    let r = recorder(o);
    r.life = life;
    r.crash_at = crash.map(|c| (c.at, c.step));
    r.finish_step = None;
    r.finished_step = None;
    if let Some(w) = &r.watch {
        w.borrow_mut()
            .begin_life(life, &r.store, &r.shared.borrow());
    }
}

/// Records the crash as an event; returns its index.
fn push_crash(o: &mut Box<dyn Observer>, kind: CrashKind, settled: Settled) -> usize {
    let r = recorder(o);
    let (step, task, name) = r
        .events
        .last()
        .map_or((0, TaskId(0), "driver"), |e| (e.step, e.task, e.task_name));
    r.push(
        step,
        task,
        name,
        None,
        Point::Crash {
            power_loss: matches!(kind, CrashKind::PowerLoss { .. }),
            lost_writes: settled.lost,
            in_flight_landed: settled.landed,
            in_flight_dropped: settled.dropped,
        },
    );
    r.events.len() - 1
}

fn take_events(o: &mut Box<dyn Observer>) -> Vec<Event> {
    std::mem::take(&mut recorder(o).events)
}

/// Runs `case` twice and reports the first differing event if the traces differ.
pub fn check_determinism(case: &Case) -> Result<Result<HashValue, Divergence>, RunError> {
    let a = run_case(case)?;
    let b = run_case(case)?;
    Ok(compare(&a, &b))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub event: usize,
    pub first: Option<String>,
    pub second: Option<String>,
}

pub fn compare(a: &Outcome, b: &Outcome) -> Result<HashValue, Divergence> {
    if a.trace_hash() == b.trace_hash() {
        return Ok(a.trace_hash());
    }
    let i = a.trace.first_difference(&b.trace).unwrap_or(0);
    Err(Divergence {
        event: i,
        first: a.trace.events.get(i).map(|e| e.to_string()),
        second: b.trace.events.get(i).map(|e| e.to_string()),
    })
}
