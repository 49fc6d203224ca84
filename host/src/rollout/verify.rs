//! Running checks on the host's schedule: interval, per-attempt timeout,
//! deadline, consecutive successes, failure limit. Checks of a phase run concurrently; the first definitive failure
//! stops the others, so a rollback starts as soon as the release is known bad.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::failure::Failure;
use crate::checks::{Evidence, Io, Outcome, Plugin, Run, Runtime, Verdict, types};
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
    /// Where the window the checks judge begins (the context's
    /// `started-at-ms`).
    pub judged_from: JudgedFrom,
}

/// The moment a release's verdict window opens: never before its units are
/// up, so the deploy's own switch (a proxy's 502s while a container is
/// replaced, a unit still booting) is not held against the release.
#[derive(Debug, Clone, Copy)]
pub struct JudgedFrom {
    pub ms: u64,
    pub since: Since,
}

/// What had happened at [`JudgedFrom::ms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Every service had a running unit of the release (verify phase).
    UnitsRunning,
    /// The verify phase passed: the release serves (watch phase). The
    /// window opens [`IN_FLIGHT`] later.
    Verified,
    /// A canary step gave the release this share of users (percent); the
    /// window opens [`IN_FLIGHT`] later.
    Shared(u8),
}

/// How long after verification the watch window opens: requests a proxy
/// still held across the switch (refused by a unit not yet listening,
/// answered 502 a moment later) finish, and their log lines, which the
/// engine timestamps when it reads them, arrive before the window does.
pub const IN_FLIGHT: Duration = Duration::from_secs(1);

impl JudgedFrom {
    pub fn now(since: Since) -> JudgedFrom {
        let settle = match since {
            Since::UnitsRunning => 0,
            Since::Verified | Since::Shared(_) => IN_FLIGHT.as_millis() as u64,
        };
        JudgedFrom {
            ms: crate::clock::now_ms() + settle,
            since,
        }
    }

    /// Waits until the window opens (a no-op once it has).
    pub async fn opened(&self) {
        let now = crate::clock::now_ms();
        if self.ms > now {
            tokio::time::sleep(Duration::from_millis(self.ms - now)).await;
        }
    }

    /// What opened the window, for the operator.
    pub fn reason(&self) -> String {
        match self.since {
            Since::UnitsRunning => "when its units ran".into(),
            Since::Verified => format!(
                "{} s after it was verified, so requests in flight across the switch are not held against it",
                IN_FLIGHT.as_secs()
            ),
            Since::Shared(share) => {
                format!("{} s after it took {share}% of users", IN_FLIGHT.as_secs())
            }
        }
    }

    /// The host's evidence line: when, and why then.
    fn evidence(&self, release: &str) -> Evidence {
        let why = match self.since {
            Since::UnitsRunning => format!("every service of release {release} had a running unit"),
            Since::Verified => format!(
                "{} s after release {release} passed its verify checks: requests in flight across the switch are not held against it",
                IN_FLIGHT.as_secs()
            ),
            Since::Shared(share) => format!(
                "{} s after release {release} took {share}% of users",
                IN_FLIGHT.as_secs()
            ),
        };
        Evidence::new(
            "host.judged_from",
            format!("{} ({why})", crate::clock::rfc3339_ms(self.ms)),
        )
    }
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
        started_at_ms: target.judged_from.ms,
        now_ms: crate::clock::now_ms(),
        attempt,
        phase: phase.as_str().into(),
    }
}

async fn attempt(
    runtime: &Runtime,
    check: &Loaded,
    target: &Target<'_>,
    n: u32,
    io: &Io,
) -> Verdict {
    let mut verdict = runtime
        .run(
            &check.plugin,
            Run {
                context: context(target, n, check.spec.phase),
                config: &check.spec.config,
                grants: &check.spec.grants,
                limits: check.spec.limits,
                io: io.clone(),
            },
        )
        .await;
    // A check that reads logs judges a window: say where it began.
    if !check.spec.grants.allow_logs.is_empty() {
        let from = target.judged_from.evidence(&target.release.id);
        verdict.evidence.push(from);
    }
    verdict
}

/// Verify phase: attempts until `successes` consecutive passes,
/// `failure_limit` failed attempts, or the deadline. Until the check first
/// passes, and for at most `startup`, an attempt whose target gave no
/// response at all is "not up yet" (a slow boot), not a failure; a crash or
/// an unhealthy container is the container watch's to catch meanwhile.
/// Returns the result and, when it failed, how.
async fn settle(
    runtime: &Runtime,
    check: &Loaded,
    target: &Target<'_>,
    io: &Io,
    progress: &Progress,
) -> (CheckResult, FailureMode) {
    let spec = &check.spec;
    let start = Instant::now();
    let (mut n, mut streak, mut failures) = (0, 0, 0);
    let mut seen_up = false;
    loop {
        n += 1;
        let v = attempt(runtime, check, target, n, io).await;
        let not_up_yet = !seen_up && v.no_response && start.elapsed() < spec.startup;
        progress.verdict(&spec.name, spec.phase, n, &v, !not_up_yet);
        match v.outcome {
            Outcome::Pass => {
                streak += 1;
                seen_up = true;
            }
            Outcome::Fail | Outcome::Error if not_up_yet => streak = 0,
            Outcome::Fail | Outcome::Error => {
                streak = 0;
                failures += 1;
            }
            Outcome::Inconclusive => streak = 0,
        }
        let done = streak >= spec.successes || failures >= spec.failure_limit;
        if done || start.elapsed() + spec.interval >= spec.deadline {
            // Never answered at all: the release did not come up.
            let mode = if !seen_up && v.no_response {
                FailureMode::Startup
            } else {
                FailureMode::Healthcheck
            };
            let result = CheckResult {
                name: spec.name.clone(),
                phase: spec.phase,
                passed: streak >= spec.successes,
                enforced: spec.enforce,
                attempts: n,
                verdict: v,
            };
            return (result, mode);
        }
        tokio::time::sleep(spec.interval).await;
    }
}

/// Watch phase: an attempt every interval and one as `soak` ends; fails at
/// `failure_limit` failed attempts.
async fn soak(
    runtime: &Runtime,
    check: &Loaded,
    target: &Target<'_>,
    io: &Io,
    progress: &Progress,
    window: Duration,
) -> (CheckResult, FailureMode) {
    let spec = &check.spec;
    let start = Instant::now();
    let (mut n, mut failures) = (0, 0);
    loop {
        n += 1;
        let v = attempt(runtime, check, target, n, io).await;
        progress.verdict(&spec.name, spec.phase, n, &v, true);
        if matches!(v.outcome, Outcome::Fail | Outcome::Error) {
            failures += 1;
        }
        let elapsed = start.elapsed();
        if failures >= spec.failure_limit || elapsed >= window {
            let result = CheckResult {
                name: spec.name.clone(),
                phase: spec.phase,
                passed: failures < spec.failure_limit,
                enforced: spec.enforce,
                attempts: n,
                verdict: v,
            };
            return (result, FailureMode::Runtime);
        }
        // The last attempt is at the window's end, so it judges all of it.
        tokio::time::sleep(spec.interval.min(window - elapsed)).await;
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
    while let Some((result, mode)) = running.next().await {
        if result.passed {
            results.push(result);
            continue;
        }
        if !result.enforced {
            progress.line(&format!(
                "check `{}` failed, recorded without gating (enforce = false): {}",
                result.name, result.verdict.summary
            ));
            results.push(result);
            continue;
        }
        let message = match mode {
            FailureMode::Startup => format!(
                "check `{}` got no response in {} attempts: the release never came up ({})",
                result.name, result.attempts, result.verdict.summary
            ),
            _ => format!("check `{}` failed: {}", result.name, result.verdict.summary),
        };
        results.push(result);
        return Err(Failure {
            cause: super::Cause::Release(mode),
            message,
            checks: results,
        });
    }
    Ok(results)
}
