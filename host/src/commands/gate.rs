//! `pitwall promote` and `pitwall abort`: answer a canary waiting at a
//! `pause` step (see `release::gate`). The waiting deploy does the rest.

use std::process::ExitCode;

use super::stack::read_config;
use crate::cli::GateArgs;
use crate::release::gate::{self, Decision};
use crate::report;
use crate::rollout::Refused;

pub async fn answer(args: &GateArgs, decision: Decision) -> anyhow::Result<ExitCode> {
    let config = read_config(&args.stack)?;
    let by = crate::whoami::actor(args.actor.as_deref());
    let gate = gate::decide(
        &config.stack.state_dir,
        decision,
        args.release_id.as_deref(),
        &by,
    )
    .map_err(|e| Refused::because("cannot answer the gate", e))?;
    let what = match decision {
        Decision::Promote => "goes on with its next steps",
        Decision::Abort => "is being switched back to the previous release",
    };
    report::print(&format!(
        "release {} (step {} of {}, {}% of users) {what}: the deploy that waits carries it out\n",
        gate.release_id,
        gate.step,
        gate.steps.len(),
        gate.share
    ))?;
    Ok(ExitCode::SUCCESS)
}
