//! `scenario` (being written).

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::Verdict;

#[derive(Subcommand, Debug)]
pub enum ScenarioCmd {
    /// (being written)
    List,
}

pub fn run(_c: &ScenarioCmd) -> Result<Verdict> {
    bail!("scenario is not implemented yet")
}
