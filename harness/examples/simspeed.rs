//! Quick probe: cases/s under the scheduler vs the same cases inline (wall clock: not a test).
use std::time::Instant;

use harness::case::{Case, GenConfig};
use harness::run::{Mode, run_case_in};
use restore_core::strategy::CommitStrategy;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let cases: Vec<Case> = (0..n)
        .flat_map(|s| CommitStrategy::ALL.map(|st| Case::generate(s, st, &GenConfig::default())))
        .collect();
    let t = Instant::now();
    let mats: Vec<_> = cases.iter().map(|c| c.materialize()).collect();
    let mat = t.elapsed().as_secs_f64();
    println!("materialize: {:.0} cases/s", cases.len() as f64 / mat);
    drop(mats);
    for mode in [Mode::Inline, Mode::Scheduled] {
        let t = Instant::now();
        let mut steps = 0;
        for c in &cases {
            steps += run_case_in(c, mode).unwrap().counters.steps;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{mode:?}: {} cases in {secs:.2}s = {:.0} cases/s, {:.1} steps/case",
            cases.len(),
            cases.len() as f64 / secs,
            steps as f64 / cases.len() as f64
        );
    }
}
