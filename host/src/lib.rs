//! pitwall: deploys Docker Compose stacks and judges each release with
//! sandboxed WebAssembly checks.
//!
//! Layers, each using only those after it: `commands` (one per CLI verb,
//! with `cli` and `exit`) → `rollout` (the state machine) → `release` (state
//! files), `report`, `config`, `notify` and `hooks` (telling the outside) →
//! `checks` (the wasm runtime) → `engine` (what runs the stack) → `traffic`
//! (the proxy a blue-green switch drives) → `fsutil`, `whoami`,
//! `clock`.

pub mod checks;
pub mod cli;
mod clock;
pub mod commands;
pub mod config;
pub mod engine;
pub mod exit;
mod fsutil;
pub mod hooks;
pub mod notify;
pub mod release;
pub mod report;
pub mod rollout;
pub mod tls;
pub mod traffic;
mod whoami;
