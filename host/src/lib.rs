//! pitwall: deploys Docker Compose stacks and judges each release with
//! sandboxed WebAssembly checks.

pub mod checks;
pub mod cli;
pub mod commands;
pub mod docker;
pub mod fsutil;
pub mod report;

/// The exit code for an error that ended a command: 3 ("error") unless the
/// error says otherwise.
pub fn exit_code_for(_error: &anyhow::Error) -> u8 {
    3
}
