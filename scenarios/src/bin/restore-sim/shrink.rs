//! `shrink` (being written).

use anyhow::{Result, bail};
use clap::Args;

use crate::Verdict;

#[derive(Args, Debug)]
pub struct ShrinkArgs {
    /// The failing case file.
    case: std::path::PathBuf,
}

pub fn run(_args: &ShrinkArgs) -> Result<Verdict> {
    bail!("shrink is not implemented yet")
}
