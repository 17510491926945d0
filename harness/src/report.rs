//! Sweep reports: the human table, the JSON report (fixed field names, schema
//! `restore-sim/sweep/v1`) and JUnit XML. Merging shard reports gives the unsharded report.

use std::collections::BTreeMap;

use restore_core::strategy::CommitStrategy;
use serde::{Deserialize, Serialize};

use crate::case::StoreKind;
use crate::expect::expectation;
use crate::oracle::Oracle;
use crate::sweep::Stats;

pub const SCHEMA: &str = "restore-sim/sweep/v1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirstFailure {
    pub seed: u64,
    pub oracle: String,
    /// Path of the saved case file, when failures were saved.
    pub case_file: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrategyReport {
    pub strategy: String,
    pub store: String,
    pub cases: u64,
    /// Oracle name → number of cases violating it; all six names present.
    pub violations: BTreeMap<String, u64>,
    pub failing_cases: u64,
    pub max_divergence_keys: i64,
    pub max_divergence_chunks: i64,
    pub first_failure: Option<FirstFailure>,
    pub expected_clean: bool,
    pub as_expected: bool,
    pub steps: u64,
    pub run_errors: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub schema: String,
    pub cases_per_second: f64,
    pub elapsed_seconds: f64,
    pub seeds: SeedsReport,
    pub strategies: Vec<StrategyReport>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedsReport {
    pub start: u64,
    pub count: u64,
    /// "k/n" when sharded.
    pub shard: Option<String>,
    /// Seeds actually run (fewer than `count` when a time budget ended the sweep).
    pub run: u64,
}

fn store_name(s: StoreKind) -> &'static str {
    match s {
        StoreKind::Mem => "mem",
        StoreKind::Rocksdb => "rocksdb",
    }
}

pub fn store_from_name(s: &str) -> Option<StoreKind> {
    match s {
        "mem" => Some(StoreKind::Mem),
        "rocksdb" => Some(StoreKind::Rocksdb),
        _ => None,
    }
}

impl StrategyReport {
    pub fn new(
        strategy: CommitStrategy,
        store: StoreKind,
        s: &Stats,
        case_file: Option<String>,
    ) -> StrategyReport {
        let violations: BTreeMap<String, u64> = Oracle::ALL
            .iter()
            .map(|o| {
                (
                    o.name().to_string(),
                    s.violations.get(o).copied().unwrap_or(0),
                )
            })
            .collect();
        let e = expectation(strategy);
        let fired: Vec<(Oracle, u64)> = s.violations.iter().map(|(o, n)| (*o, *n)).collect();
        StrategyReport {
            strategy: strategy.name().to_string(),
            store: store_name(store).to_string(),
            cases: s.cases,
            violations,
            failing_cases: s.failing_cases,
            max_divergence_keys: s.max_divergence_keys,
            max_divergence_chunks: s.max_divergence_chunks,
            first_failure: s.first_failure.map(|(seed, o)| FirstFailure {
                seed,
                oracle: o.name().to_string(),
                case_file,
            }),
            expected_clean: e.clean,
            as_expected: e.holds(&fired) && s.run_errors == 0,
            steps: s.steps,
            run_errors: s.run_errors,
        }
    }

    fn strategy_enum(&self) -> Option<CommitStrategy> {
        self.strategy.parse().ok()
    }
}

impl SweepReport {
    pub fn all_as_expected(&self) -> bool {
        self.strategies.iter().all(|s| s.as_expected)
    }

    pub fn total_cases(&self) -> u64 {
        self.strategies.iter().map(|s| s.cases).sum()
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let names: Vec<&str> = Oracle::ALL.iter().map(|o| o.name()).collect();
        out.push_str(&format!("{:<15} {:<7} {:>7}", "strategy", "store", "cases"));
        for n in &names {
            out.push_str(&format!(" {:>9}", short(n)));
        }
        out.push_str(&format!(
            " {:>10} {:>10}  {}\n",
            "max K-T", "1st fail", "expected"
        ));
        for s in &self.strategies {
            out.push_str(&format!("{:<15} {:<7} {:>7}", s.strategy, s.store, s.cases));
            for n in &names {
                out.push_str(&format!(
                    " {:>9}",
                    s.violations.get(*n).copied().unwrap_or(0)
                ));
            }
            let first = s
                .first_failure
                .as_ref()
                .map_or("-".to_string(), |f| format!("seed {}", f.seed));
            let verdict = match (s.expected_clean, s.as_expected) {
                (true, true) => "clean, as expected",
                (false, true) => "known-bad, as expected",
                (true, false) => "UNEXPECTED: should be clean",
                (false, false) => "UNEXPECTED oracle or run error",
            };
            out.push_str(&format!(
                " {:>4}k/{:<2}c {:>10}  {}\n",
                s.max_divergence_keys, s.max_divergence_chunks, first, verdict
            ));
        }
        out.push_str(&format!(
            "{} cases in {:.1}s = {:.0} cases/s\n",
            self.total_cases(),
            self.elapsed_seconds,
            self.cases_per_second
        ));
        out
    }

    /// JUnit XML: one test case per strategy × oracle expectation.
    pub fn junit(&self) -> String {
        let mut cases = String::new();
        let mut failures = 0;
        let mut total = 0;
        for s in &self.strategies {
            let known = s.strategy_enum().map(expectation);
            for o in Oracle::ALL {
                total += 1;
                let n = s.violations.get(o.name()).copied().unwrap_or(0);
                let allowed = known
                    .as_ref()
                    .is_some_and(|e| !e.clean && e.known.contains(&o));
                let name = format!("{}.{}.{}", s.strategy, s.store, o.name());
                let expectation_text = if allowed {
                    "known-bad: may fire"
                } else {
                    "must not fire"
                };
                cases.push_str(&format!(
                    "    <testcase classname=\"restore-sim.{}\" name=\"{}\">\n",
                    xml(&s.strategy),
                    xml(&name)
                ));
                if n > 0 && !allowed {
                    failures += 1;
                    cases.push_str(&format!(
                        "      <failure message=\"{} violated in {} of {} cases\">first failing seed: {}</failure>\n",
                        o.name(),
                        n,
                        s.cases,
                        s.first_failure.as_ref().map_or("-".into(), |f| f.seed.to_string())
                    ));
                } else {
                    cases.push_str(&format!(
                        "      <system-out>{} ({} of {} cases)</system-out>\n",
                        expectation_text, n, s.cases
                    ));
                }
                cases.push_str("    </testcase>\n");
            }
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"restore-sim\" tests=\"{total}\" failures=\"{failures}\">\n  <testsuite name=\"sweep\" tests=\"{total}\" failures=\"{failures}\" time=\"{:.3}\">\n{cases}  </testsuite>\n</testsuites>\n",
            self.elapsed_seconds
        )
    }

    /// Combines shard reports (same seed range, disjoint shards) into one report with the same
    /// schema and expectation rule. Timings add up; first failures take the smallest seed.
    pub fn merge(parts: &[SweepReport]) -> Result<SweepReport, String> {
        let first = parts.first().ok_or("nothing to merge")?;
        let mut by_key: BTreeMap<(String, String), StrategyReport> = BTreeMap::new();
        let mut order: Vec<(String, String)> = Vec::new();
        let mut elapsed: f64 = 0.0;
        let mut run = 0;
        for p in parts {
            if p.schema != SCHEMA {
                return Err(format!("unsupported schema `{}`", p.schema));
            }
            if (p.seeds.start, p.seeds.count) != (first.seeds.start, first.seeds.count) {
                return Err("reports cover different seed ranges".into());
            }
            elapsed = elapsed.max(p.elapsed_seconds);
            run += p.seeds.run;
            for s in &p.strategies {
                let key = (s.strategy.clone(), s.store.clone());
                match by_key.get_mut(&key) {
                    None => {
                        order.push(key.clone());
                        by_key.insert(key, s.clone());
                    }
                    Some(m) => {
                        m.cases += s.cases;
                        m.failing_cases += s.failing_cases;
                        m.steps += s.steps;
                        m.run_errors += s.run_errors;
                        for (o, n) in &s.violations {
                            *m.violations.entry(o.clone()).or_default() += n;
                        }
                        m.max_divergence_keys = m.max_divergence_keys.max(s.max_divergence_keys);
                        m.max_divergence_chunks =
                            m.max_divergence_chunks.max(s.max_divergence_chunks);
                        m.first_failure = match (m.first_failure.take(), s.first_failure.clone()) {
                            (Some(a), Some(b)) => Some(if b.seed < a.seed { b } else { a }),
                            (a, b) => a.or(b),
                        };
                        m.as_expected &= s.as_expected;
                    }
                }
            }
        }
        let strategies: Vec<StrategyReport> = order
            .into_iter()
            .map(|k| by_key.remove(&k).expect("key recorded"))
            .collect();
        let total: u64 = strategies.iter().map(|s| s.cases).sum();
        Ok(SweepReport {
            schema: SCHEMA.to_string(),
            cases_per_second: if elapsed > 0.0 {
                total as f64 / elapsed
            } else {
                0.0
            },
            elapsed_seconds: elapsed,
            seeds: SeedsReport {
                start: first.seeds.start,
                count: first.seeds.count,
                shard: None,
                run,
            },
            strategies,
        })
    }
}

fn short(name: &str) -> String {
    match name {
        "progress-divergence" => "diverge".into(),
        "forward-progress" => "stuck".into(),
        "final-state" => "final".into(),
        "verified-only" => "unverif".into(),
        "honest-result" => "dishonest".into(),
        "no-panic" => "panic".into(),
        other => other.into(),
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
