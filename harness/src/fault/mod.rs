//! Fault injection: plans ([`plan`]) and the store wrapper that carries them out ([`store`]).

mod disk;
pub mod plan;
pub mod store;

pub use disk::{Extremes, Image, Settled, TreeView};
pub use plan::{
    Corruption, Crash, CrashAt, CrashKind, Durability, Effect, Fault, FaultPlan, Side, Spread,
    TamperKind, Target,
};
pub use store::{FaultCarry, FaultyStore, RowCheck, Touch};
