//! harness: deterministic simulation and fault injection for restore-core.
//!
//! [`sim`] is the scheduler (coroutines, policies, the simulated runtime); [`fault`] the faulty
//! store and fault plans; [`case`] what a run needs, drawn from a seed; [`driver`] the backup
//! controller; [`oracle`] the named checks; [`run`] puts them together into an [`run::Outcome`].

pub mod case;
pub mod case_limits;
pub mod check;
pub mod corpus;
pub mod coverage;
pub mod driver;
pub mod expect;
pub mod explore;
pub mod fault;
mod generate;
pub mod oracle;
pub mod others;
pub mod report;
pub mod run;
pub mod shrink;
pub mod sim;
pub mod story;
pub mod svg;
pub mod sweep;
pub mod trace;
mod witnesses;
