//! One module per CLI verb: what each command does, in terms of the
//! subsystems (rollout, checks, engine, release state).

pub mod check;
pub mod demo;
pub mod deploy;
pub mod manual;
pub mod schema;
pub mod status;
