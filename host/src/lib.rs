//! pitwall: deploys Docker Compose stacks and judges each release with
//! sandboxed WebAssembly checks.

pub mod checks;
pub mod compose;
pub mod config;
pub mod cli;
pub mod commands;
pub mod docker;
pub mod fsutil;
pub mod release;
pub mod whoami;
pub mod report;

/// The exit code for an error that ended a command: 3 ("error") unless the
/// error says otherwise.
pub fn exit_code_for(_error: &anyhow::Error) -> u8 {
    3
}
