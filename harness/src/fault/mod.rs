//! Fault injection: plans ([`plan`]) and the store wrapper that carries them out ([`store`]).

pub mod plan;
pub mod store;

pub use plan::{
    Corruption, Crash, CrashAt, CrashKind, Effect, Fault, FaultPlan, TamperKind, Target,
};
pub use store::{FaultyStore, RowCheck};
