//! `report merge`: combine the JSON reports of sharded sweeps into one.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use harness::report::{Merger, SweepReport};

use crate::Verdict;

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// Merge shard reports (same seed range, shards 1/N..N/N each exactly once) into one report
    /// with the same schema; every verdict is recomputed from the merged counts, and the exit
    /// code follows the same expectation rule as a sweep.
    Merge {
        /// JSON reports written by `sweep --json`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Write the merged JSON report here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write a JUnit XML report of the merged result here.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
}

pub fn run(c: &ReportCmd) -> Result<Verdict> {
    let ReportCmd::Merge {
        reports,
        json,
        junit,
    } = c;
    // One report in memory at a time: the merger keeps only running totals.
    let mut merger = Merger::default();
    for p in reports {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let r: SweepReport = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a sweep report", p.display()))?;
        merger
            .add(&r)
            .map_err(|e| anyhow!("cannot merge {}: {e}", p.display()))?;
    }
    let merged = merger.finish().map_err(|e| anyhow!("cannot merge: {e}"))?;
    print!("{}", merged.table());
    if let Some(p) = json {
        std::fs::write(p, serde_json::to_string_pretty(&merged)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = junit {
        std::fs::write(p, merged.junit()).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(if merged.all_as_expected() {
        Verdict::AsExpected
    } else {
        Verdict::Unexpected
    })
}
