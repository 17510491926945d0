use harness::case::{Case, GenConfig};
use harness::run::run_case;
use restore_core::strategy::CommitStrategy;

#[test]
fn explore() {
    for s in CommitStrategy::ALL {
        let mut counts = std::collections::BTreeMap::new();
        let mut first = None;
        for seed in 0..300u64 {
            let case = Case::generate(seed, s, &GenConfig::default());
            let o = run_case(&case).unwrap();
            for v in &o.violations {
                *counts.entry(v.oracle.name()).or_insert(0) += 1;
            }
            if first.is_none() && !o.passed() {
                first = Some(seed);
            }
        }
        println!("{s}: {counts:?} first={first:?}");
    }
}
