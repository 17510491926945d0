//! Sweep reports: the human table, the JSON report (fixed field names, schema
//! `restore-sim/sweep/v1`) and JUnit XML. Merging shard reports gives the unsharded report.

use std::collections::BTreeMap;

use restore_core::strategy::CommitStrategy;
use serde::{Deserialize, Serialize};

use crate::case::StoreKind;
use crate::expect::{PolicyClass, cell, expectation, witnesses};
use crate::oracle::Oracle;
use crate::sweep::SeedRange;
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
    /// Witnesses whose seed this report covers: oracle name → seed whose case must violate it.
    #[serde(default)]
    pub expected: BTreeMap<String, u64>,
    /// Oracles whose witness seed ran clean: the harness missed a known defect (it went blind).
    #[serde(default)]
    pub missing: Vec<String>,
    /// Oracle name → the smallest seed that violated it.
    #[serde(default)]
    pub first_seed: BTreeMap<String, u64>,
    /// What the cases drew (`dimension/value` → count), and how often each oracle was
    /// evaluated (`oracle-evaluated/<name>`).
    #[serde(default)]
    pub coverage: BTreeMap<String, u64>,
    /// Per store model (`always`, `barrier`, `relaxed-one-db`, `relaxed-split-dbs`): cases and
    /// violations, judged by that model's expectation cell (`expect::cells`).
    #[serde(default)]
    pub by_policy: BTreeMap<String, PolicyReport>,
}

/// One store model's share of a strategy's cases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReport {
    pub cases: u64,
    /// Oracle name → cases violating it (only oracles that fired).
    pub violations: BTreeMap<String, u64>,
}

/// How many cases violated `o` where the strategy's expectation does not allow it: per store
/// model when the report has them, else by the strategy's row.
fn disallowed(
    strategy: CommitStrategy,
    o: Oracle,
    row: &BTreeMap<String, u64>,
    by_policy: &BTreeMap<String, PolicyReport>,
) -> Result<u64, String> {
    if by_policy.is_empty() {
        let e = expectation(strategy);
        let n = row.get(o.name()).copied().unwrap_or(0);
        return Ok(if !e.clean && e.known.contains(&o) {
            0
        } else {
            n
        });
    }
    // Violations the per-model counts do not account for are judged strictly.
    let attributed: u64 = by_policy
        .values()
        .map(|p| p.violations.get(o.name()).copied().unwrap_or(0))
        .sum();
    let mut total = row
        .get(o.name())
        .copied()
        .unwrap_or(0)
        .saturating_sub(attributed);
    for (name, p) in by_policy {
        let class =
            PolicyClass::from_name(name).ok_or_else(|| format!("unknown store model `{name}`"))?;
        if !cell(strategy, class).known.contains(&o) {
            total += p.violations.get(o.name()).copied().unwrap_or(0);
        }
    }
    Ok(total)
}

/// Whether no oracle fired where the expectations do not allow it.
fn allowed_only(
    strategy: CommitStrategy,
    row: &BTreeMap<String, u64>,
    by_policy: &BTreeMap<String, PolicyReport>,
) -> Result<bool, String> {
    for o in Oracle::ALL {
        if disallowed(strategy, o, row, by_policy)? > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub schema: String,
    pub cases_per_second: f64,
    pub elapsed_seconds: f64,
    pub seeds: SeedsReport,
    pub strategies: Vec<StrategyReport>,
    /// A store model every case was given instead of the drawn one (`--layout`, `--sync`), e.g.
    /// `sync=always`. The cases then differ from the default generator's, so witnesses do not
    /// apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_model: Option<String>,
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
        let by_policy: BTreeMap<String, PolicyReport> = s
            .by_class
            .iter()
            .map(|(c, x)| {
                (
                    c.name().to_string(),
                    PolicyReport {
                        cases: x.cases,
                        violations: x
                            .violations
                            .iter()
                            .map(|(o, n)| (o.name().to_string(), *n))
                            .collect(),
                    },
                )
            })
            .collect();
        let as_expected_by_cells = allowed_only(strategy, &violations, &by_policy).unwrap_or(false);
        let expected: BTreeMap<String, u64> = s
            .witnesses
            .iter()
            .map(|(o, (seed, _))| (o.name().to_string(), *seed))
            .collect();
        let missing: Vec<String> = s
            .witnesses
            .iter()
            .filter(|(_, (_, fired))| !fired)
            .map(|(o, _)| o.name().to_string())
            .collect();
        let as_expected = as_expected_by_cells && s.run_errors == 0 && missing.is_empty();
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
            as_expected,
            steps: s.steps,
            run_errors: s.run_errors,
            expected,
            missing,
            first_seed: s
                .first_seed
                .iter()
                .map(|(o, seed)| (o.name().to_string(), *seed))
                .collect(),
            coverage: s.coverage.clone(),
            by_policy,
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

    /// Coverage summed over every strategy and store.
    pub fn coverage(&self) -> BTreeMap<String, u64> {
        let mut all = BTreeMap::new();
        for s in &self.strategies {
            for (k, n) in &s.coverage {
                *all.entry(k.clone()).or_default() += n;
            }
        }
        all
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
            let fired = s.violations.values().any(|n| *n > 0);
            let verdict = match (s.expected_clean, s.as_expected) {
                (true, true) if fired => "as expected per store model",
                (true, true) => "clean, as expected",
                (false, true) => "known-bad, as expected",
                (true, false) => "UNEXPECTED: should be clean",
                (false, false) if !s.missing.is_empty() => "UNEXPECTED: a witness stayed clean",
                (false, false) => "UNEXPECTED oracle or run error",
            };
            out.push_str(&format!(
                " {:>4}k/{:<2}c {:>10}  {}\n",
                s.max_divergence_keys, s.max_divergence_chunks, first, verdict
            ));
        }
        if self.strategies.iter().any(|s| !s.first_seed.is_empty()) {
            out.push_str("first seed per oracle:\n");
            for s in self.strategies.iter().filter(|s| !s.first_seed.is_empty()) {
                let list: Vec<String> = Oracle::ALL
                    .iter()
                    .filter_map(|o| {
                        s.first_seed
                            .get(o.name())
                            .map(|seed| format!("{} {seed}", short(o.name())))
                    })
                    .collect();
                out.push_str(&format!("  {:<15} {}\n", s.strategy, list.join(", ")));
            }
        }
        if self.strategies.iter().any(|s| s.by_policy.len() > 1) {
            out.push_str("by store model (cases: oracles that fired):\n");
            for s in self.strategies.iter().filter(|s| !s.by_policy.is_empty()) {
                let cells: Vec<String> = s
                    .by_policy
                    .iter()
                    .map(|(c, p)| {
                        let fired: Vec<String> = p
                            .violations
                            .iter()
                            .map(|(o, n)| format!("{} {n}", short(o)))
                            .collect();
                        if fired.is_empty() {
                            format!("{c} {}: -", p.cases)
                        } else {
                            format!("{c} {}: {}", p.cases, fired.join(" "))
                        }
                    })
                    .collect();
                out.push_str(&format!("  {:<15} {}\n", s.strategy, cells.join(" | ")));
            }
        }
        for s in &self.strategies {
            for o in &s.missing {
                out.push_str(&format!(
                    "expected {o} at seed {} under {}, saw none\n",
                    s.expected.get(o).copied().unwrap_or_default(),
                    s.strategy
                ));
            }
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
            let strategy = s.strategy_enum();
            for o in Oracle::ALL {
                total += 1;
                let n = s.violations.get(o.name()).copied().unwrap_or(0);
                let bad =
                    strategy.map_or(Ok(n), |st| disallowed(st, o, &s.violations, &s.by_policy));
                let allowed = bad == Ok(0) && (n == 0 || strategy.is_some());
                let name = format!("{}.{}.{}", s.strategy, s.store, o.name());
                let expectation_text = if n > 0 && allowed {
                    "allowed by its store model's expectation"
                } else {
                    "must not fire where its expectation forbids it"
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
            for (o, seed) in &s.expected {
                total += 1;
                let name = format!("{}.{}.witness.{o}.seed{seed}", s.strategy, s.store);
                cases.push_str(&format!(
                    "    <testcase classname=\"restore-sim.{}\" name=\"{}\">\n",
                    xml(&s.strategy),
                    xml(&name)
                ));
                if s.missing.contains(o) {
                    failures += 1;
                    cases.push_str(&format!(
                        "      <failure message=\"expected {} at seed {seed} under {}, saw none\"/>\n",
                        xml(o),
                        xml(&s.strategy)
                    ));
                } else {
                    cases.push_str(&format!(
                        "      <system-out>witness seed {seed} violated {} as it must</system-out>\n",
                        xml(o)
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

    /// Combines shard reports (same seed range, disjoint shards) into one report; see [`Merger`].
    pub fn merge(parts: &[SweepReport]) -> Result<SweepReport, String> {
        let mut m = Merger::default();
        for p in parts {
            m.add(p)?;
        }
        m.finish()
    }
}

/// Merges shard reports one at a time, so `report merge` holds one report at a time plus the
/// running totals, however many shards there are.
///
/// Nothing a shard claims is trusted: counts add up, first failures take the smallest seed, and
/// every verdict (`as_expected`) is recomputed from the merged counts by the expectations table.
/// The shards must tile the range: same range, same shard count `n`, each `k` of `1..=n` exactly
/// once (an unsharded report stands alone).
#[derive(Default)]
pub struct Merger {
    range: Option<(u64, u64)>,
    shard_count: Option<u64>,
    seen: std::collections::BTreeSet<u64>,
    unsharded: bool,
    by_key: BTreeMap<(String, String), StrategyReport>,
    order: Vec<(String, String)>,
    forced_model: Option<Option<String>>,
    elapsed: f64,
    run: u64,
}

fn parse_shard_label(label: &str) -> Result<(u64, u64), String> {
    let (k, n) = label
        .split_once('/')
        .ok_or_else(|| format!("bad shard label `{label}`"))?;
    let k: u64 = k
        .parse()
        .map_err(|_| format!("bad shard label `{label}`"))?;
    let n: u64 = n
        .parse()
        .map_err(|_| format!("bad shard label `{label}`"))?;
    if k == 0 || k > n {
        return Err(format!("bad shard label `{label}`"));
    }
    Ok((k, n))
}

impl Merger {
    pub fn add(&mut self, p: &SweepReport) -> Result<(), String> {
        if p.schema != SCHEMA {
            return Err(format!("unsupported schema `{}`", p.schema));
        }
        let range = (p.seeds.start, p.seeds.count);
        if *self.range.get_or_insert(range) != range {
            return Err("reports cover different seed ranges".into());
        }
        if *self.forced_model.get_or_insert(p.forced_model.clone()) != p.forced_model {
            return Err("reports ran under different forced store models".into());
        }
        match &p.seeds.shard {
            None => {
                if self.unsharded || !self.seen.is_empty() {
                    return Err("an unsharded report overlaps every other report".into());
                }
                self.unsharded = true;
            }
            Some(label) => {
                let (k, n) = parse_shard_label(label)?;
                if self.unsharded {
                    return Err("an unsharded report overlaps every other report".into());
                }
                if *self.shard_count.get_or_insert(n) != n {
                    return Err(format!(
                        "shard {label} does not match the other reports' shard count {}",
                        self.shard_count.unwrap_or(n)
                    ));
                }
                if !self.seen.insert(k) {
                    return Err(format!("shard {label} appears twice"));
                }
            }
        }
        self.elapsed = self.elapsed.max(p.elapsed_seconds);
        self.run += p.seeds.run;
        let covered = SeedRange {
            start: p.seeds.start,
            count: p.seeds.count,
            shard: p
                .seeds
                .shard
                .as_deref()
                .map(parse_shard_label)
                .transpose()?,
        };
        for s in &p.strategies {
            // The witnesses a shard must report follow from its seeds; a shard cannot drop one.
            let strategy: CommitStrategy = s
                .strategy
                .parse()
                .map_err(|_| format!("unknown strategy `{}`", s.strategy))?;
            let want: BTreeMap<String, u64> = witnesses(strategy)
                .iter()
                .filter(|_| p.forced_model.is_none())
                .filter(|w| covered.index_of(w.seed).is_some_and(|i| i < p.seeds.run))
                .map(|w| (w.oracle.name().to_string(), w.seed))
                .collect();
            if s.expected != want {
                return Err(format!(
                    "{} reports witnesses {:?}, but its seeds hold {:?}",
                    s.strategy, s.expected, want
                ));
            }
            let key = (s.strategy.clone(), s.store.clone());
            match self.by_key.get_mut(&key) {
                None => {
                    self.order.push(key.clone());
                    self.by_key.insert(key, s.clone());
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
                    m.max_divergence_chunks = m.max_divergence_chunks.max(s.max_divergence_chunks);
                    m.first_failure = match (m.first_failure.take(), s.first_failure.clone()) {
                        (Some(a), Some(b)) => Some(if b.seed < a.seed { b } else { a }),
                        (a, b) => a.or(b),
                    };
                    m.expected
                        .extend(s.expected.iter().map(|(o, seed)| (o.clone(), *seed)));
                    for (k, n) in &s.coverage {
                        *m.coverage.entry(k.clone()).or_default() += n;
                    }
                    for (c, p) in &s.by_policy {
                        let mine = m.by_policy.entry(c.clone()).or_default();
                        mine.cases += p.cases;
                        for (o, n) in &p.violations {
                            *mine.violations.entry(o.clone()).or_default() += n;
                        }
                    }
                    for (o, seed) in &s.first_seed {
                        let first = m.first_seed.entry(o.clone()).or_insert(*seed);
                        *first = (*first).min(*seed);
                    }
                    for o in &s.missing {
                        if !m.missing.contains(o) {
                            m.missing.push(o.clone());
                        }
                    }
                    m.missing.sort();
                }
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<SweepReport, String> {
        let (start, count) = self.range.ok_or("nothing to merge")?;
        if let Some(n) = self.shard_count {
            let missing: Vec<String> = (1..=n)
                .filter(|k| !self.seen.contains(k))
                .map(|k| format!("{k}/{n}"))
                .collect();
            if !missing.is_empty() {
                return Err(format!("shards missing: {}", missing.join(", ")));
            }
        }
        let mut strategies = Vec::new();
        for key in std::mem::take(&mut self.order) {
            let mut s = self.by_key.remove(&key).expect("key recorded");
            s.recompute_verdict()?;
            strategies.push(s);
        }
        let total: u64 = strategies.iter().map(|s| s.cases).sum();
        Ok(SweepReport {
            forced_model: self.forced_model.flatten(),
            schema: SCHEMA.to_string(),
            cases_per_second: if self.elapsed > 0.0 {
                total as f64 / self.elapsed
            } else {
                0.0
            },
            elapsed_seconds: self.elapsed,
            seeds: SeedsReport {
                start,
                count,
                shard: None,
                run: self.run,
            },
            strategies,
        })
    }
}

impl StrategyReport {
    /// Recomputes `expected_clean` and `as_expected` from the counts, as a sweep does.
    fn recompute_verdict(&mut self) -> Result<(), String> {
        let strategy = self
            .strategy_enum()
            .ok_or_else(|| format!("unknown strategy `{}`", self.strategy))?;
        for name in self
            .violations
            .keys()
            .chain(self.by_policy.values().flat_map(|p| p.violations.keys()))
        {
            if !Oracle::ALL.iter().any(|o| o.name() == name) {
                return Err(format!("unknown oracle `{name}`"));
            }
        }
        // A missing witness must name a witness this report expects.
        if let Some(o) = self
            .missing
            .iter()
            .find(|o| !self.expected.contains_key(*o))
        {
            return Err(format!(
                "`missing` names {o}, which has no witness in `expected`"
            ));
        }
        let e = expectation(strategy);
        self.expected_clean = e.clean;
        self.as_expected = allowed_only(strategy, &self.violations, &self.by_policy)?
            && self.run_errors == 0
            && self.missing.is_empty();
        Ok(())
    }
}

fn short(name: &str) -> String {
    match name {
        "progress-divergence" => "diverge".into(),
        "durable-shape" => "shape".into(),
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
