//! The explorer on small shared-variable programs, against naive enumeration of every
//! interleaving: the same final states (variables and every value each thread read), in fewer
//! runs.

use std::collections::BTreeSet;

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read(u8),
    Write(u8, u8),
    /// Touches nothing shared.
    Local,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fp(Op);

impl Dependency for Fp {
    fn dependent(&self, other: &Self) -> bool {
        match (self.0, other.0) {
            (Op::Write(x, _), Op::Write(y, _) | Op::Read(y)) | (Op::Read(x), Op::Write(y, _)) => {
                x == y
            }
            _ => false,
        }
    }
}

type Program = Vec<Vec<Op>>;
/// Variables, then what each thread read, in order.
type Final = (Vec<u8>, Vec<Vec<u8>>);

struct Run {
    exec: Execution<Fp>,
    sleep_at: Vec<(usize, Vec<(u16, Fp)>)>,
    end: Final,
    decisions: Vec<u16>,
}

/// Runs `prog` under `plan` with the live sleep-set policy the real checker's policy uses.
fn run(prog: &Program, plan: &Plan<Fp>) -> Run {
    let mut pc = vec![0usize; prog.len()];
    let mut vars = vec![0u8; 4];
    let mut reads = vec![Vec::new(); prog.len()];
    let mut steps = Vec::new();
    let mut sleep: Vec<(u16, Fp)> = Vec::new();
    let mut sleep_at = Vec::new();
    let mut decisions = Vec::new();
    let mut blocked_at = None;
    let branch = plan.decisions.len().checked_sub(1);
    loop {
        let runnable: Vec<u16> = (0..prog.len())
            .filter(|&t| pc[t] < prog[t].len())
            .map(|t| t as u16)
            .collect();
        if runnable.is_empty() {
            break;
        }
        let mut chosen = runnable[0];
        if runnable.len() > 1 {
            let d = decisions.len();
            if Some(d) == branch {
                sleep = plan.sleep.clone();
            }
            if d < plan.decisions.len() {
                chosen = plan.decisions[d];
            } else {
                sleep_at.push((d, sleep.clone()));
                match runnable
                    .iter()
                    .find(|t| !sleep.iter().any(|(s, _)| s == *t))
                {
                    Some(t) => chosen = *t,
                    None => {
                        blocked_at.get_or_insert(d);
                    }
                }
            }
            decisions.push(chosen);
        }
        let t = chosen as usize;
        let op = prog[t][pc[t]];
        pc[t] += 1;
        match op {
            Op::Read(x) => reads[t].push(vars[x as usize]),
            Op::Write(x, v) => vars[x as usize] = v,
            Op::Local => {}
        }
        sleep_after(&mut sleep, chosen, &Fp(op));
        steps.push(Step {
            life: 0,
            task: chosen,
            runnable,
            footprint: Fp(op),
            after: Vec::new(),
        });
    }
    Run {
        exec: Execution {
            steps,
            fixed: 0,
            blocked_at,
        },
        sleep_at,
        end: (vars, reads),
        decisions,
    }
}

/// Every interleaving, by depth-first search over decisions.
fn naive(prog: &Program) -> (BTreeSet<Final>, u64) {
    let mut ends = BTreeSet::new();
    let mut runs = 0;
    let mut stack = vec![Vec::<u16>::new()];
    while let Some(prefix) = stack.pop() {
        let plan = Plan {
            decisions: prefix.clone(),
            sleep: Vec::new(),
        };
        let r = run(prog, &plan);
        runs += 1;
        ends.insert(r.end);
        // Branch on every decision past the prefix.
        let mut d = 0;
        for s in &r.exec.steps {
            if s.runnable.len() > 1 {
                if d >= prefix.len() {
                    for alt in s.runnable.iter().filter(|t| **t != s.task) {
                        let mut p = r.decisions[..d].to_vec();
                        p.push(*alt);
                        stack.push(p);
                    }
                }
                d += 1;
            }
        }
    }
    (ends, runs)
}

fn reduced(prog: &Program) -> (BTreeSet<Final>, DporStats) {
    let mut dpor = Dpor::new(Vec::new());
    let mut ends = BTreeSet::new();
    while let Some(plan) = dpor.next_plan() {
        let r = run(prog, &plan);
        if r.exec.blocked_at.is_none() {
            ends.insert(r.end.clone());
        }
        dpor.record(&r.exec, &r.sleep_at);
        assert!(dpor.stats.runs < 100_000, "runaway exploration");
    }
    (ends, dpor.stats)
}

fn compare(prog: Program) -> (u64, DporStats) {
    let (want, naive_runs) = naive(&prog);
    let (got, stats) = reduced(&prog);
    assert_eq!(got, want, "reduced search missed or invented final states");
    assert!(stats.runs <= naive_runs);
    (naive_runs, stats)
}

use Op::{Local, Read, Write};

#[test]
fn independent_threads_take_one_run() {
    let (naive_runs, stats) = compare(vec![
        vec![Write(0, 1), Local, Write(0, 2)],
        vec![Write(1, 1), Local],
        vec![Read(2), Local],
    ]);
    assert_eq!(stats.runs, 1);
    // The one run goes thread by thread: thread 0's three steps each pass over two others,
    // thread 1's two steps pass over thread 2: 3·2 + 2·1 alternatives never explored.
    assert_eq!(stats.unexplored, 8);
    // 3 threads of 3, 2, 2 steps: 7!/(3!·2!·2!) = 210 interleavings.
    assert_eq!(naive_runs, 210);
}

#[test]
fn a_write_write_race_is_reversed() {
    let (_, stats) = compare(vec![vec![Write(0, 1)], vec![Write(0, 2)]]);
    assert_eq!(stats.runs - stats.blocked, 2);
}

#[test]
fn reads_of_a_written_variable_see_both_orders() {
    // Two readers and a writer of x: the writer before, between, after the readers; every
    // read-value combination (0 or 1 for each reader) is reachable.
    let prog = vec![vec![Write(0, 1)], vec![Read(0)], vec![Read(0)]];
    let (want, _) = naive(&prog);
    assert_eq!(want.len(), 4);
    let (_, stats) = compare(prog);
    assert_eq!(stats.runs - stats.blocked, 4, "one run per trace");
}

#[test]
fn local_steps_do_not_multiply_schedules() {
    let (naive_runs, stats) = compare(vec![
        vec![Local, Local, Write(0, 1), Local],
        vec![Local, Write(0, 2), Local, Local],
    ]);
    assert!(naive_runs >= 70, "{naive_runs}");
    assert_eq!(
        stats.runs - stats.blocked,
        2,
        "only the two writes' orders differ"
    );
}

#[test]
fn chains_of_races_across_variables() {
    // The classic example where source sets need the initials (not the racing task itself).
    compare(vec![
        vec![Write(0, 1), Read(1)],
        vec![Write(1, 1), Read(0)],
        vec![Read(0), Write(1, 2), Write(2, 1)],
        vec![Read(2), Write(0, 3)],
    ]);
}

#[test]
fn random_programs_agree_with_naive_enumeration() {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut total_naive = 0;
    let mut total_reduced = 0;
    for _ in 0..60 {
        let threads = 2 + (rng.next_u32() % 2) as usize;
        let prog: Program = (0..threads)
            .map(|_| {
                let len = 1 + (rng.next_u32() % 3) as usize;
                (0..len)
                    .map(|_| {
                        let x = (rng.next_u32() % 2) as u8;
                        match rng.next_u32() % 3 {
                            0 => Read(x),
                            1 => Write(x, 1 + (rng.next_u32() % 3) as u8),
                            _ => Local,
                        }
                    })
                    .collect()
            })
            .collect();
        let (n, s) = compare(prog);
        total_naive += n;
        total_reduced += s.runs;
    }
    assert!(
        total_reduced < total_naive,
        "{total_reduced} vs {total_naive}"
    );
}
