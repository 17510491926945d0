//! The checker's instruments inside one run: the policy that replays a plan and then keeps the
//! sleep set, and the watcher that records each step's footprint and happens-before edges and,
//! at every scheduling point, the crash states a crash there would leave.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use restore_core::HashValue;
use restore_core::store::Layout;

use super::dependency::Footprint;
use super::dpor::{Execution, Plan, Step, sleep_after};
use super::state_hash::{Carry, crash_state_hash};
use crate::driver::DriverShared;
use crate::fault::{CrashKind, FaultyStore};
use crate::run::{Outcome, StepWatch};
use crate::sim::{Policy, TaskId};
use crate::trace::Point;

/// State shared by the policy and the watcher of one run.
#[derive(Default)]
pub struct Live {
    /// Decisions made so far in the run.
    decisions: usize,
    /// Whether the sleep set is being kept (from the plan's last decision on).
    armed: bool,
    sleep: Vec<(u16, Footprint)>,
    /// Steps run since the last decision (task, footprint), while armed.
    pending: Vec<(u16, Footprint)>,
    /// The sleep set at every decision past the plan.
    pub sleep_at: Vec<(usize, Vec<(u16, Footprint)>)>,
    /// The first decision at which every runnable task was asleep.
    pub blocked_at: Option<usize>,
    /// The plan named a task that could not run (the run is not the one planned).
    pub diverged: bool,
}

/// Replays the plan's decisions, then picks the lowest runnable task that is not asleep (or,
/// for the naive-size estimate, a uniformly random one).
pub struct Guided {
    plan: Plan<Footprint>,
    live: Rc<RefCell<Live>>,
    random: Option<rand_chacha::ChaCha8Rng>,
}

impl Guided {
    pub fn new(plan: Plan<Footprint>, live: Rc<RefCell<Live>>) -> Guided {
        Guided {
            plan,
            live,
            random: None,
        }
    }

    /// Past the plan, a uniformly random runnable task from a seeded stream.
    pub fn random(plan: Plan<Footprint>, live: Rc<RefCell<Live>>, seed: u64) -> Guided {
        use rand_core::SeedableRng;
        Guided {
            plan,
            live,
            random: Some(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
        }
    }
}

impl Policy for Guided {
    fn wants_options(&self) -> bool {
        true
    }

    fn choose(&mut self, runnable: &[TaskId], _current: Option<TaskId>) -> TaskId {
        let mut l = self.live.borrow_mut();
        let d = l.decisions;
        l.decisions += 1;
        if let Some(&want) = self.plan.decisions.get(d) {
            if d + 1 == self.plan.decisions.len() {
                // The branch: from here on the siblings explored before sleep.
                l.sleep = self.plan.sleep.clone();
                l.armed = true;
                l.pending.clear();
            }
            return match runnable.iter().find(|t| t.0 == want) {
                Some(t) => *t,
                None => {
                    l.diverged = true;
                    runnable[0]
                }
            };
        }
        if let Some(rng) = self.random.as_mut() {
            use rand_core::Rng;
            return runnable[(rng.next_u64() % runnable.len() as u64) as usize];
        }
        if !l.armed {
            l.armed = true;
            l.pending.clear();
        }
        let pending = std::mem::take(&mut l.pending);
        for (t, fp) in &pending {
            sleep_after(&mut l.sleep, *t, fp);
        }
        let sleep = l.sleep.clone();
        l.sleep_at.push((d, sleep));
        let awake = runnable
            .iter()
            .find(|t| !l.sleep.iter().any(|(s, _)| *s == t.0));
        match awake {
            Some(t) => *t,
            None => {
                l.blocked_at.get_or_insert(d);
                runnable[0]
            }
        }
    }
}

/// What a step did, as the watcher saw it.
#[derive(Clone, Debug, Default)]
struct StepFacts {
    task: u16,
    footprint: Footprint,
    /// Tasks it created (spawn, join).
    created: Vec<u16>,
    /// Tasks its task then waits for (join, await): its next step comes after their last.
    waits_for: Vec<u16>,
    /// Its task returned.
    ended: bool,
}

/// A crash state seen at a scheduling point.
#[derive(Clone, Debug)]
pub struct CrashPoint {
    pub life: u32,
    pub step: u64,
    /// Decisions made up to and including this step (the prefix to replay).
    pub decisions: usize,
    pub kind: CrashKind,
    pub key: HashValue,
}

/// Where and how many crash states the watcher enumerates.
#[derive(Clone, Debug)]
pub struct CrashScope {
    /// Processes from this one on may crash...
    pub from_life: u32,
    /// ...up to (not including) this one: the driver's lives (later processes are the
    /// faults-off restart, which the runner never crashes).
    pub below_life: u32,
    /// Crashes the bound allows after one here.
    pub left_after: u32,
    /// Most power-loss states one point may have before the run is reported incomplete.
    pub limit: usize,
    /// The case has corruptions (their delivery counts then survive a crash).
    pub corruptions: bool,
    /// The case's corruptions in text form (part of every state's key).
    pub corruption_text: String,
}

impl CrashScope {
    /// Crashes in processes `from_life..` of `case` (its driver's lives), `crashes_left` of
    /// them still allowed; `None` if none is.
    pub fn of(
        case: &crate::case::Case,
        from_life: u32,
        crashes_left: u32,
        limit: usize,
    ) -> Option<CrashScope> {
        (crashes_left > 0).then(|| CrashScope {
            from_life,
            below_life: case.driver.max_lives,
            left_after: crashes_left - 1,
            limit,
            corruptions: !case.faults.corruptions.is_empty(),
            corruption_text: serde_json::to_string(&case.faults.corruptions).unwrap_or_default(),
        })
    }
}

/// The watcher of one run.
pub struct Watcher {
    live: Rc<RefCell<Live>>,
    facts: BTreeMap<(u32, u64), StepFacts>,
    scope: Option<CrashScope>,
    pub crash_points: Vec<CrashPoint>,
    /// A point had more crash states than the limit.
    pub over_limit: bool,
    finish_oks_at_start: u32,
    lie_seen: bool,
    /// Points at which crash states were enumerated.
    pub points_enumerated: u64,
    /// The carried driver and fault state after the last step (visibility of the next).
    last_carried: Vec<u64>,
    /// The case has store faults (their counters are carried while one is armed).
    faults_armed: bool,
}

/// The driver and fault state a crash state carries, as numbers to compare step to step.
fn carried(shared: &DriverShared, store: &FaultyStore, faults: bool) -> Vec<u64> {
    let mut v = vec![
        u64::from(shared.finish_oks),
        u64::from(shared.finish_dones),
        u64::from(shared.completed),
        shared.phase as u64,
        shared.corrupted_items.len() as u64,
        shared.finish_findings.len() as u64,
    ];
    v.extend(shared.deliveries.iter().map(|d| u64::from(*d)));
    if faults && let Some(c) = store.carry().counters {
        v.extend(c.iter().map(|x| u64::from(*x)));
    }
    v
}

impl Watcher {
    pub fn new(live: Rc<RefCell<Live>>, scope: Option<CrashScope>, faults: bool) -> Watcher {
        Watcher {
            last_carried: Vec::new(),
            faults_armed: faults,
            live,
            facts: BTreeMap::new(),
            scope,
            crash_points: Vec::new(),
            over_limit: false,
            finish_oks_at_start: 0,
            lie_seen: false,
            points_enumerated: 0,
        }
    }

    fn enumerate_crashes(
        &mut self,
        life: u32,
        step: u64,
        store: &FaultyStore,
        shared: &DriverShared,
    ) {
        let Some(scope) = self.scope.clone() else {
            return;
        };
        if life < scope.from_life || life >= scope.below_life {
            return;
        }
        if self.live.borrow().blocked_at.is_some() {
            // Past a sleep-set block the run repeats states covered elsewhere.
            return;
        }
        let images = match store.crash_images(scope.limit) {
            Ok(Some(i)) => i,
            Ok(None) => {
                self.over_limit = true;
                return;
            }
            // The inner store failed an oracle-side read: no state to judge here.
            Err(_) => return,
        };
        self.points_enumerated += 1;
        let carry = Carry {
            next_life: life + 1,
            crashes_left: scope.left_after,
            faults: store.carry(),
            finished_in_life: shared.finish_oks > self.finish_oks_at_start,
            completed: shared.completed,
            phase: shared.phase,
            deliveries: if scope.corruptions {
                shared.deliveries.clone()
            } else {
                Vec::new()
            },
            corrupted_keys: if scope.corruptions {
                shared.corrupted_items.iter().map(|i| i.key_hash).collect()
            } else {
                Vec::new()
            },
            plan_rest: format!(
                "{}|{}",
                serde_json::to_string(&store.armed_faults()).unwrap_or_default(),
                scope.corruption_text
            ),
            lie_seen: self.lie_seen,
        };
        let decisions = self.live.borrow().decisions;
        for (kind, image) in images {
            let power = matches!(kind, CrashKind::PowerLoss { .. });
            self.crash_points.push(CrashPoint {
                life,
                step,
                decisions,
                kind,
                key: crash_state_hash(&image, power, &carry),
            });
        }
    }

    /// The run as the explorer sees it: its steps (from the scheduler's step log and the
    /// footprints seen here) and where the policy found every task asleep.
    pub fn execution(&self, outcome: &Outcome, fixed_lives: u32) -> Execution<Footprint> {
        let mut steps: Vec<Step<Footprint>> = Vec::new();
        let mut fixed = 0;
        for (life, log) in outcome.step_logs.iter().enumerate() {
            let life = life as u32;
            // Per task: index of its last step so far, what that step waits for, and who
            // created it.
            let mut last: BTreeMap<u16, usize> = BTreeMap::new();
            let mut waits: BTreeMap<u16, Vec<u16>> = BTreeMap::new();
            let mut created_at: BTreeMap<u16, usize> = BTreeMap::new();
            for (n, rec) in log.iter().enumerate() {
                let facts = self
                    .facts
                    .get(&(life, n as u64 + 1))
                    .cloned()
                    .unwrap_or_default();
                debug_assert!(
                    facts.task == rec.task || facts == StepFacts::default_for(rec.task),
                    "the watcher and the scheduler agree on who ran"
                );
                let mut after = Vec::new();
                if !last.contains_key(&rec.task)
                    && let Some(&c) = created_at.get(&rec.task)
                {
                    after.push(c);
                }
                for w in waits.remove(&rec.task).unwrap_or_default() {
                    if let Some(&e) = last.get(&w) {
                        after.push(e);
                    }
                }
                let index = steps.len();
                for c in &facts.created {
                    created_at.insert(*c, index);
                }
                if !facts.waits_for.is_empty() {
                    waits.insert(rec.task, facts.waits_for.clone());
                }
                last.insert(rec.task, index);
                steps.push(Step {
                    life,
                    task: rec.task,
                    runnable: rec.runnable.clone(),
                    footprint: facts.footprint,
                    after,
                });
            }
            if life < fixed_lives {
                fixed = steps.len();
            }
        }
        Execution {
            steps,
            fixed,
            blocked_at: self.live.borrow().blocked_at,
        }
    }
}

impl StepFacts {
    fn default_for(task: u16) -> StepFacts {
        StepFacts {
            task,
            ..StepFacts::default()
        }
    }
}

impl PartialEq for StepFacts {
    fn eq(&self, o: &Self) -> bool {
        self.task == o.task
            && self.footprint == o.footprint
            && self.created == o.created
            && self.waits_for == o.waits_for
            && self.ended == o.ended
    }
}

impl StepWatch for Watcher {
    fn begin_life(&mut self, _life: u32, store: &FaultyStore, shared: &DriverShared) {
        // Whatever the runner did between processes is nobody's step.
        store.take_touch();
        self.finish_oks_at_start = shared.finish_oks;
        self.last_carried = carried(shared, store, self.faults_armed);
        let mut l = self.live.borrow_mut();
        // The tasks that slept are gone with their process.
        l.sleep.clear();
        l.pending.clear();
    }

    fn step_end(
        &mut self,
        life: u32,
        step: u64,
        task: TaskId,
        what: Option<&Point>,
        store: &FaultyStore,
        shared: &DriverShared,
    ) {
        let touch = store.take_touch();
        let now = carried(shared, store, self.faults_armed);
        let visible = now != self.last_carried;
        self.last_carried = now;
        let f = self.facts.entry((life, step)).or_default();
        f.task = task.0;
        f.footprint.store = f.footprint.store.union(touch);
        f.footprint.visible |= visible;
        match what {
            Some(Point::Spawn(c)) => {
                f.created.push(c.0);
                f.footprint.creates_tasks = true;
            }
            Some(Point::Join(a, b)) => {
                f.created.extend([a.0, b.0]);
                f.footprint.creates_tasks = true;
                f.waits_for.extend([a.0, b.0]);
            }
            Some(Point::Await(t)) => f.waits_for.push(t.0),
            None => f.ended = true,
            _ => {}
        }
        let fp = f.footprint;
        {
            let mut l = self.live.borrow_mut();
            if l.armed {
                l.pending.push((task.0, fp));
            }
        }
        if store.layout() != Layout::One && store.lie_pending() {
            self.lie_seen = true;
        }
        if matches!(what, Some(p) if !matches!(p, Point::Panicked(_))) {
            self.enumerate_crashes(life, step, store, shared);
        }
    }
}
