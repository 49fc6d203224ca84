//! The container watch: waits for every service to have a running unit,
//! then watches them while checks run. An exited, crash-looping or
//! Docker-unhealthy unit fails the release without waiting for a check to
//! notice.

use std::time::{Duration, Instant};

use super::failure::Failure;
use crate::config::Stack;
use crate::engine::{Engine, Health, RunState};
use crate::release::history::FailureMode;
use crate::report::Progress;

/// How often the units are looked at.
const POLL: Duration = Duration::from_millis(250);

/// One look at the stack's units: a failure for an exited, restarting or
/// unhealthy one, else the services not running yet.
async fn look(engine: &dyn Engine, stack: &Stack) -> Result<Vec<String>, Failure> {
    let services: Vec<String> = stack.services.keys().cloned().collect();
    let containers = engine
        .containers(Some(&services))
        .await
        .map_err(|e| Failure::new(FailureMode::Startup, format!("cannot list containers: {e}")))?;
    let mut waiting = Vec::new();
    for service in &services {
        let mine: Vec<_> = containers
            .iter()
            .filter(|c| &c.service == service)
            .collect();
        if mine.is_empty() {
            waiting.push(format!("{service}: no container"));
        }
        for c in mine {
            let code = c.exit_code.unwrap_or(-1);
            let failure = match (c.state, c.health) {
                (RunState::Exited | RunState::Dead, _) => {
                    Some((FailureMode::Startup, format!("exited with code {code}")))
                }
                (RunState::Restarting, _) => Some((
                    FailureMode::Startup,
                    format!("is restarting: it crashed (last exit code {code})"),
                )),
                _ if c.restart_count > 0 => Some((
                    FailureMode::Startup,
                    format!("restarted {} times", c.restart_count),
                )),
                (_, Some(Health::Unhealthy)) => Some((
                    FailureMode::Healthcheck,
                    "is unhealthy according to its Docker healthcheck".into(),
                )),
                (RunState::Running, _) => None,
                (state, _) => {
                    waiting.push(format!("{service}: {}", state.as_str()));
                    None
                }
            };
            if let Some((mode, what)) = failure {
                return Err(Failure::new(mode, format!("{service} ({}) {what}", c.name)));
            }
        }
    }
    Ok(waiting)
}

/// Polls until every service has a running unit. A Docker healthcheck still
/// `starting` does not hold the checks back: they probe the app themselves
/// while `monitor` keeps watching the healthcheck.
pub async fn wait_running(
    engine: &dyn Engine,
    stack: &Stack,
    progress: &Progress,
) -> Result<(), Failure> {
    let start = Instant::now();
    loop {
        let waiting = look(engine, stack).await?;
        if waiting.is_empty() {
            progress.line(&format!(
                "containers running after {:.1}s",
                start.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if start.elapsed() >= stack.wait_timeout {
            return Err(Failure::new(
                FailureMode::Startup,
                format!(
                    "containers not running after {}: {}",
                    humantime::format_duration(stack.wait_timeout),
                    waiting.join("; ")
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Watches the units while checks run; returns the first problem (exit,
/// crash loop, unhealthy). Never returns while all is well.
pub async fn monitor(engine: &dyn Engine, stack: &Stack) -> Failure {
    loop {
        if let Err(f) = look(engine, stack).await {
            return f;
        }
        tokio::time::sleep(POLL).await;
    }
}
