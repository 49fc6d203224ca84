//! `incident-<timestamp>.log`: the runbook's ticket fields, the failing
//! checks' evidence and the stack's logs, captured before the rollback.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{Deployer, Failure};
use crate::engine::{LogWindow, RemovedUnit, newest};
use crate::fsutil::write_atomic;
use crate::release::Release;
use crate::release::history::{Record, RecordOutcome, RollbackOutcome};
use crate::report::{self, Redactor};

const ROLLBACK_PENDING: &str = "rollback:      in progress";

/// Log lines kept per service.
const MAX_LOG_LINES: usize = 5_000;

pub async fn write(
    d: &Deployer,
    release: &Release,
    failure: &Failure,
    started_at_ms: u64,
) -> anyhow::Result<PathBuf> {
    let stack = &d.config.stack;
    let path = stack
        .state_dir
        .join(format!("incident-{}.log", crate::clock::now_compact()));
    // Straight from the engine (not `compose logs`): the rollback waits for
    // this, and the containers' logs are gone once it replaces them.
    let window = LogWindow {
        since_ms: started_at_ms,
        until_ms: None,
    };
    let captures =
        futures_util::future::join_all(stack.services.keys().map(|service| async move {
            let lines = match d.engine.logs(service, window).await {
                Ok(lines) => newest(lines, MAX_LOG_LINES).await.map(|n| n.lines),
                Err(e) => Err(e),
            };
            (service, lines)
        }))
        .await;
    let mut logs = String::new();
    for (service, lines) in captures {
        match lines {
            Ok(lines) => lines
                .iter()
                .for_each(|l| logs.push_str(&format!("{service} | {l}\n"))),
            Err(e) => logs.push_str(&format!("{service} | (cannot capture its logs: {e})\n")),
        }
    }
    let mut text = format!(
        "pitwall incident\n\
         release id:    {}\n\
         images:        {}\n\
         failure mode:  {}\n\
         failure:       {}\n\
         {ROLLBACK_PENDING}\n\
         project:       {}\n\
         host:          {}\n\
         at:            {}\n\n",
        release.id,
        release
            .images
            .iter()
            .map(|(s, i)| format!(
                "{s}={} ({})",
                i.reference,
                i.digest.as_deref().unwrap_or("no digest")
            ))
            .collect::<Vec<_>>()
            .join(", "),
        failure.mode().map_or("stopped", |m| m.as_str()),
        failure.message,
        stack.project,
        crate::whoami::host(),
        crate::clock::now_rfc3339(),
    );
    for c in &failure.checks {
        let verdict =
            report::verdict_text(&format!("{} (attempt {})", c.name, c.attempts), &c.verdict);
        text.push_str(&report::plain(&verdict));
    }
    text.push_str("\n---- container logs since the rollout started ----\n");
    text.push_str(&logs);
    text.push_str(&removed_units(&d.engine.removed_units()));
    write_atomic(&path, d.progress.redactor.apply(&text).as_bytes())
        .with_context(|| format!("cannot write the incident record {}", path.display()))?;
    d.progress
        .line(&format!("incident recorded in {}", path.display()));
    Ok(path)
}

/// The units pitwall removed itself, with the last lines they logged:
/// `docker logs` can no longer show them.
fn removed_units(units: &[RemovedUnit]) -> String {
    if units.is_empty() {
        return String::new();
    }
    let mut text = String::from("\n---- containers pitwall removed, with their last lines ----\n");
    for unit in units {
        let (service, name) = (&unit.service, &unit.name);
        text.push_str(&format!(
            "{service} | == {name}: {} ==\n",
            unit.why.as_str()
        ));
        match &unit.lines {
            Ok(lines) => lines
                .iter()
                .for_each(|l| text.push_str(&format!("{service} | {l}\n"))),
            Err(e) => text.push_str(&format!("{service} | (its logs could not be read: {e})\n")),
        }
    }
    text
}

/// Fills in the rollback status once it is known.
pub fn finish(path: &Path, record: &Record, redactor: &Redactor) -> anyhow::Result<()> {
    let status = match &record.rollback {
        None => {
            "rollback:      none (no previous release to roll back to); the stack needs a human"
                .to_string()
        }
        Some(r) if r.outcome == RollbackOutcome::Verified => {
            format!("rollback:      to {}, verified", r.to_release)
        }
        Some(r) => format!(
            "rollback:      to {} FAILED: {}",
            r.to_release,
            r.failure.as_deref().unwrap_or("")
        ),
    };
    set_rollback_status(path, &status, redactor)
}

/// Closes the incident of a deploy that was killed while rolling back, with
/// what `pitwall recover` did instead.
pub fn close_interrupted(
    path: &Path,
    recovery: &Record,
    redactor: &Redactor,
) -> anyhow::Result<()> {
    let status = format!(
        "rollback:      interrupted (pitwall was killed); `pitwall recover` at {} {} release {}",
        crate::clock::now_rfc3339(),
        if recovery.outcome == RecordOutcome::Restored {
            "restored and verified"
        } else {
            "could NOT restore"
        },
        recovery.release_id
    );
    set_rollback_status(path, &status, redactor)
}

fn set_rollback_status(path: &Path, status: &str, redactor: &Redactor) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = text.replacen(ROLLBACK_PENDING, &redactor.apply(status), 1);
    write_atomic(path, text.as_bytes()).with_context(|| format!("cannot update {}", path.display()))
}
