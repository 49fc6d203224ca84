//! One module per CLI verb: what each command does, in terms of the
//! subsystems (rollout, checks, engine, release state).

pub mod check;
pub mod demo;
pub mod deploy;
pub mod gate;
pub mod lock;
pub mod manual;
pub mod plan;
pub mod prune;
pub mod releases;
pub mod schema;
pub mod stack;
pub mod status;
pub mod validate;
