//! Running checks on the host's schedule: interval, per-attempt timeout,
//! deadline, consecutive successes, failure limit. Checks of a phase run concurrently; the first definitive failure
//! stops the others, so a rollback starts as soon as the release is known bad.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::failure::Failure;
use crate::checks::{Io, Outcome, Plugin, Run, Runtime, Verdict, types};
use crate::config::{CheckSpec, Phase};
use crate::release::Release;
use crate::release::history::{CheckResult, FailureMode};
use crate::report::Progress;

/// A configured check with its plugin loaded.
pub struct Loaded {
    pub spec: CheckSpec,
    pub plugin: Plugin,
}

/// What a check run needs to know about the release.
pub struct Target<'a> {
    pub release: &'a Release,
    pub project: &'a str,
    pub started_at_ms: u64,
}

fn context(target: &Target<'_>, attempt: u32, phase: Phase) -> types::Context {
    types::Context {
        release_id: target.release.id.clone(),
        project: target.project.to_string(),
        images: target
            .release
            .images
            .iter()
            .map(|(service, image)| types::ServiceImage {
                service: service.clone(),
                image: image.reference.clone(),
            })
            .collect(),
        started_at_ms: target.started_at_ms,
        now_ms: crate::whoami::now_ms(),
        attempt,
        phase: match phase {
            Phase::Verify => "verify".into(),
            Phase::Watch => "watch".into(),
        },
    }
}

async fn attempt(
    runtime: &Runtime,
    check: &Loaded,
    target: &Target<'_>,
    n: u32,
    io: &Io,
) -> Verdict {
    runtime
        .run(
            &check.plugin,
            Run {
                context: context(target, n, check.spec.phase),
                config: &check.spec.config,
                grants: &check.spec.grants,
                limits: check.spec.limits(),
                io: io.clone(),
            },
        )
        .await
}

/// Verify phase: attempts until `successes` consecutive passes, `failure_limit`
/// failed attempts, or the deadline.
async fn settle(
    runtime: &Runtime,
    check: &Loaded,
    target: &Target<'_>,
    io: &Io,
    progress: &Progress,
) -> CheckResult {
    let spec = &check.spec;
    let start = Instant::now();
    let (mut n, mut streak, mut failures) = (0, 0, 0);
    loop {
        n += 1;
        let v = attempt(runtime, check, target, n, io).await;
        progress.verdict(&spec.name, n, &v);
        match v.outcome {
            Outcome::Pass => streak += 1,
            Outcome::Fail | Outcome::Error => {
                streak = 0;
                failures += 1;
            }
            Outcome::Inconclusive => streak = 0,
        }
        let done = streak >= spec.successes || failures >= spec.failure_limit;
        if done || start.elapsed() + spec.interval >= spec.deadline {
            return CheckResult {
                name: spec.name.clone(),
                phase: spec.phase,
                passed: streak >= spec.successes,
                attempts: n,
                verdict: v,
            };
        }
        tokio::time::sleep(spec.interval).await;
    }
}

/// Watch phase: an attempt every interval until `soak` ends; fails at
/// `failure_limit` failed attempts.
async fn soak(
    runtime: &Runtime,
    check: &Loaded,
    target: &Target<'_>,
    io: &Io,
    progress: &Progress,
    window: Duration,
) -> CheckResult {
    let spec = &check.spec;
    let start = Instant::now();
    let (mut n, mut failures) = (0, 0);
    loop {
        n += 1;
        let v = attempt(runtime, check, target, n, io).await;
        progress.verdict(&spec.name, n, &v);
        if matches!(v.outcome, Outcome::Fail | Outcome::Error) {
            failures += 1;
        }
        if failures >= spec.failure_limit || start.elapsed() + spec.interval >= window {
            return CheckResult {
                name: spec.name.clone(),
                phase: spec.phase,
                passed: failures < spec.failure_limit,
                attempts: n,
                verdict: v,
            };
        }
        tokio::time::sleep(spec.interval).await;
    }
}

/// Runs the checks of `phase` concurrently (for `soak` when watching).
/// Returns every finished result; stops at the first failed check.
pub async fn run_phase(
    runtime: &Runtime,
    checks: &[Loaded],
    phase: Phase,
    target: &Target<'_>,
    io: &Io,
    progress: &Progress,
    window: Duration,
) -> Result<Vec<CheckResult>, Failure> {
    let mut running: FuturesUnordered<_> = checks
        .iter()
        .filter(|c| c.spec.phase == phase)
        .map(|c| async move {
            match phase {
                Phase::Verify => settle(runtime, c, target, io, progress).await,
                Phase::Watch => soak(runtime, c, target, io, progress, window).await,
            }
        })
        .collect();
    let mut results = Vec::new();
    while let Some(result) = running.next().await {
        let failed = !result.passed;
        results.push(result);
        if failed {
            let r = results
                .last()
                .map(|r| (r.name.clone(), r.verdict.summary.clone()))
                .unwrap_or_default();
            let mode = match phase {
                Phase::Verify => FailureMode::Healthcheck,
                Phase::Watch => FailureMode::Runtime,
            };
            return Err(Failure {
                mode,
                message: format!("check `{}` failed: {}", r.0, r.1),
                checks: results,
            });
        }
    }
    Ok(results)
}
