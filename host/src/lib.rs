//! pitwall: deploys Docker Compose stacks and judges each release with
//! sandboxed WebAssembly checks.

pub mod checks;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod config;
pub mod docker;
pub mod fsutil;
pub mod release;
pub mod report;
pub mod rollout;
pub mod whoami;

/// The exit code for an error that ended a command: 4 for a refusal (nothing
/// was changed), else 3 ("error; a human should look").
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<rollout::Refused>().is_some() {
        rollout::EXIT_REFUSED
    } else {
        3
    }
}
