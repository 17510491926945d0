//! `corpus` (being written).

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::Verdict;

#[derive(Subcommand, Debug)]
pub enum CorpusCmd {
    /// (being written)
    List,
}

pub fn run(_c: &CorpusCmd) -> Result<Verdict> {
    bail!("corpus is not implemented yet")
}
