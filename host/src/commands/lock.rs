//! `pitwall lock status | acquire | release`: the deploy lock by hand. A
//! manual lock holds deploys off (maintenance, an incident); `release`
//! clears it, or a lock whose holder never touched the stack. A lock whose
//! holder may have left the stack half-way is for `pitwall recover`.

use std::process::ExitCode;

use schemars::JsonSchema;
use serde::Serialize;

use super::stack::read_config;
use crate::cli::LockCommand;
use crate::release::lock::{self, Holder, Holding, Lock, LockPhase};
use crate::report;
use crate::rollout::Refused;

#[derive(Serialize, JsonSchema)]
pub(crate) struct LockStatus {
    held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<Holder>,
    /// Whether the holder still runs: `true`, `false` (died), or `null`
    /// (on another host: pitwall cannot tell).
    #[serde(skip_serializing_if = "Option::is_none")]
    alive: Option<Option<bool>>,
}

pub async fn execute(command: LockCommand) -> anyhow::Result<ExitCode> {
    match command {
        LockCommand::Status { stack } => {
            let config = read_config(&stack)?;
            let holder = lock::read(&config.stack.state_dir)?;
            let status = LockStatus {
                held: holder.is_some(),
                alive: holder.as_ref().map(Holder::alive),
                holder,
            };
            if stack.json {
                report::print_json(&status)?;
            } else {
                report::print(&match &status.holder {
                    None => "the deploy lock is free\n".to_string(),
                    Some(h) => format!("held by {} [{}]\n", h.describe(), liveness(h)),
                })?;
            }
        }
        LockCommand::Acquire { message, stack } => {
            let config = read_config(&stack)?;
            if message.trim().is_empty() {
                return Err(Refused::new("--message must say why the stack is locked").into());
            }
            let taken =
                Lock::acquire_with(&config.stack.state_dir, Holding::Manual, "-", Some(message))
                    .map_err(|e| Refused::because("cannot take the deploy lock", e))?;
            taken.hold();
            report::print(
                "locked: deploys, rollbacks and prunes are refused until `pitwall lock release`\n",
            )?;
        }
        LockCommand::Release { force, stack } => {
            let config = read_config(&stack)?;
            let dir = &config.stack.state_dir;
            let Some(holder) = lock::read(dir)? else {
                report::print("the deploy lock is free; nothing to release\n")?;
                return Ok(ExitCode::SUCCESS);
            };
            refuse_unsafe_release(&holder, force)?;
            lock::release_held(dir, &holder)
                .map_err(|e| Refused::because("the lock changed hands meanwhile", e))?;
            report::print(&format!("released {}\n", holder.describe()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn liveness(h: &Holder) -> &'static str {
    match (h.command, h.alive()) {
        (Holding::Manual, _) => "held until `pitwall lock release`",
        (_, Some(true)) => "running",
        (_, Some(false)) => "DEAD",
        (_, None) => "on another host: cannot tell whether it runs",
    }
}

/// Only a lock nobody needs is released: a manual one, or one whose holder
/// is gone and never touched the stack. Anything else is a refusal that says
/// what to do instead.
fn refuse_unsafe_release(h: &Holder, force: bool) -> Result<(), Refused> {
    if h.command == Holding::Manual {
        return Ok(());
    }
    let half_way = h.phase.touches_stack() || h.phase == LockPhase::Recovering;
    match h.alive() {
        Some(true) => Err(Refused::new(format!(
            "{} is running on this host: wait for it to finish",
            h.describe()
        ))),
        None if !force => Err(Refused::new(format!(
            "{} is held on another host, where pitwall cannot see whether it still runs; \
             if it is gone, add --force{}",
            h.describe(),
            if half_way {
                " to `pitwall recover`: it had touched the stack"
            } else {
                ""
            }
        ))),
        _ if half_way => Err(Refused::new(format!(
            "{} touched the stack (phase {}), which may be half-way: run `pitwall recover{}` \
             to restore the last good release and clear the lock",
            h.describe(),
            h.phase.as_str(),
            if h.alive().is_none() { " --force" } else { "" }
        ))),
        _ => Ok(()),
    }
}
