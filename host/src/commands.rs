//! One module per CLI verb: what each command does, in terms of the
//! subsystems (checks, compose, docker, release state).

pub mod check;
pub mod demo;
pub mod deploy;
pub mod status;
