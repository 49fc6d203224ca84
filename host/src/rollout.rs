//! The deploy / rollback / recover state machine: preflight, lock, pull,
//! apply, wait, verify, soak, record — and on failure: incident, roll back,
//! verify the previous release, record both.

mod incident;
pub mod verify;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::checks::{Cache, Io, Runtime};
use crate::compose::Compose;
use crate::config::{Config, Phase};
use crate::docker;
use crate::release::history::{self, CheckResult, Record, Rollback};
use crate::release::lock::Lock;
use crate::release::{Image, Release, state};
use crate::report::Progress;
use crate::whoami;
use verify::{Loaded, Target};

/// How a deploy, rollback or recovery ended; each has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The release is live and verified.
    Released,
    /// The release failed; the previous release is back and verified.
    RolledBack,
    /// Something failed and the stack is not on a verified release: a human
    /// is needed.
    NotRecovered,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Released => 0,
            Outcome::RolledBack => 1,
            Outcome::NotRecovered => 3,
        }
    }
}

/// Refused before anything changed (bad input, lock held, image missing):
/// exit code 4.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub const EXIT_REFUSED: u8 = 4;

/// Failure modes of the runbook's incident ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Startup,
    Healthcheck,
    Runtime,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Startup => "startup",
            Mode::Healthcheck => "healthcheck",
            Mode::Runtime => "runtime",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub mode: Mode,
    pub message: String,
    pub checks: Vec<CheckResult>,
}

impl Failure {
    pub fn new(mode: Mode, message: String) -> Failure {
        Failure {
            mode,
            message,
            checks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

/// What the commands print (human) or serialise (`--json`).
#[derive(Debug, Serialize)]
pub struct Report {
    pub outcome: Outcome,
    pub exit_code: u8,
    pub message: String,
    pub record: Record,
}

/// Everything a rollout needs, set up and validated in preflight.
pub struct Deployer {
    pub config: Config,
    compose: Compose,
    engine: docker::Engine,
    runtime: Runtime,
    checks: Vec<Loaded>,
    pub progress: Progress,
}

impl Deployer {
    /// Preflight: compose tool, Docker, every check loaded and its
    /// configuration accepted. Any problem is a refusal.
    pub async fn preflight(config: Config, progress: Progress) -> anyhow::Result<Deployer> {
        let refuse = |e: anyhow::Error| anyhow::Error::new(Refused(format!("{e:#}")));
        let compose = Compose::detect(&config.stack).await.map_err(refuse)?;
        let engine = docker::Engine::connect()
            .await
            .map_err(|e| refuse(e.into()))?;
        let runtime = Runtime::new(Cache::from_env())?;
        let mut checks = Vec::new();
        for spec in &config.checks {
            let plugin = crate::commands::check::load_and_validate(
                &runtime,
                &spec.plugin,
                &spec.config,
                spec.limits(),
            )
            .await
            .map_err(|e| refuse(anyhow::anyhow!("check `{}`: {e}", spec.name)))?;
            checks.push(Loaded {
                spec: spec.clone(),
                plugin,
            });
        }
        progress.line(&format!(
            "preflight ok: {} checks, {} via {}",
            checks.len(),
            config.stack.project,
            compose.tool()
        ));
        Ok(Deployer {
            config,
            compose,
            engine,
            runtime,
            checks,
            progress,
        })
    }

    fn state_dir(&self) -> &std::path::Path {
        &self.config.stack.state_dir
    }

    fn lock(&self, command: &str, release_id: &str) -> anyhow::Result<Lock> {
        Lock::acquire(self.state_dir(), command, release_id)
            .map_err(|e| anyhow::Error::new(Refused(e.to_string())))
    }

    /// Makes every image present locally per `policy` and resolves digests.
    async fn resolve_images(
        &self,
        images: &BTreeMap<String, String>,
        policy: PullPolicy,
    ) -> anyhow::Result<BTreeMap<String, Image>> {
        let mut out = BTreeMap::new();
        for (service, reference) in images {
            let local = self.engine.local_digest(reference).await?;
            let digest = match (policy, local) {
                (PullPolicy::Never, None) => {
                    return Err(Refused(format!(
                        "image {reference} for {service} is not present locally and --pull never was given"
                    ))
                    .into());
                }
                (PullPolicy::Missing, Some(d)) | (PullPolicy::Never, Some(d)) => Some(d),
                (PullPolicy::Always, _) | (PullPolicy::Missing, None) => {
                    let bar = self.progress.pull_bar(reference);
                    let pulled = self
                        .engine
                        .pull(reference, &|done, total| bar.update(done, total))
                        .await;
                    bar.finish();
                    if let Err(e) = pulled {
                        return Err(Refused(format!(
                            "cannot pull {reference} for {service}: {e}; the running stack was not touched"
                        ))
                        .into());
                    }
                    self.engine.local_digest(reference).await?
                }
            };
            self.progress.line(&format!(
                "{service}: {reference} → {}",
                digest.as_deref().unwrap_or("(no digest)")
            ));
            out.insert(
                service.clone(),
                Image {
                    reference: reference.clone(),
                    digest,
                },
            );
        }
        Ok(out)
    }

    /// Runs the checks of `phase` while watching the containers; a container
    /// problem during the soak is a runtime failure.
    async fn phase(
        &self,
        phase: Phase,
        target: &Target<'_>,
        window: Duration,
    ) -> Result<Vec<CheckResult>, Failure> {
        let io = Io::live(&self.config.stack.project, false);
        tokio::select! {
            results = verify::run_phase(&self.runtime, &self.checks, phase, target, &io, &self.progress, window) => results,
            mut problem = verify::monitor(&self.engine, &self.config.stack) => {
                if phase == Phase::Watch {
                    problem.mode = Mode::Runtime;
                }
                Err(problem)
            }
        }
    }

    /// `compose up` of `release`, then containers, then the verify phase.
    async fn apply_and_verify(
        &self,
        release: &Release,
        pinned: bool,
        durations: &mut BTreeMap<String, u64>,
        prefix: &str,
    ) -> Result<(Vec<CheckResult>, u64), Failure> {
        let stack = &self.config.stack;
        let t = Instant::now();
        let started_at_ms = crate::whoami::now_ms();
        self.progress.step(&format!(
            "applying release {} with {}",
            release.id,
            self.compose.tool()
        ));
        self.compose
            .up(&verify::image_vars(stack, &release.refs(pinned)))
            .await
            .map_err(|e| Failure::new(Mode::Startup, format!("{e:#}")))?;
        durations.insert(format!("{prefix}up"), ms(t.elapsed()));
        let t = Instant::now();
        verify::wait_running(&self.engine, stack, &self.progress).await?;
        durations.insert(format!("{prefix}wait"), ms(t.elapsed()));
        let t = Instant::now();
        self.progress
            .step(&format!("verifying release {}", release.id));
        let target = Target {
            release,
            project: &stack.project,
            started_at_ms,
        };
        let results = self.phase(Phase::Verify, &target, Duration::ZERO).await;
        durations.insert(format!("{prefix}verify"), ms(t.elapsed()));
        Ok((results?, started_at_ms))
    }

    /// `pitwall deploy`.
    pub async fn deploy(
        &self,
        release_id: &str,
        images: &BTreeMap<String, String>,
        policy: PullPolicy,
        soak: Duration,
    ) -> anyhow::Result<Report> {
        let stack = &self.config.stack;
        for service in images.keys() {
            if !stack.services.contains_key(service) {
                return Err(Refused(format!(
                    "--image names `{service}`, which is not a service of the stack ({})",
                    stack
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into());
            }
        }
        // Lock first: the pointers read next must not change under us.
        let mut lock = self.lock("deploy", release_id)?;
        let pointers = state::read(self.state_dir(), &stack.services)?;
        let current = pointers.current.clone();
        // Services not given keep the current release's image.
        let mut wanted = BTreeMap::new();
        for service in stack.services.keys() {
            match (
                images.get(service),
                current.as_ref().and_then(|(r, _)| r.images.get(service)),
            ) {
                (Some(r), _) => wanted.insert(service.clone(), r.clone()),
                (None, Some(img)) => wanted.insert(service.clone(), img.pinned().to_string()),
                (None, None) => {
                    return Err(Refused(format!(
                        "no image for `{service}`: give --image {service}=REF (there is no current release to keep it from)"
                    ))
                    .into());
                }
            };
        }

        let started = whoami::now_rfc3339();
        let t0 = Instant::now();
        let mut durations = BTreeMap::new();
        lock.phase("pulling")?;
        self.progress
            .step(&format!("pulling images for release {release_id}"));
        // Nothing has changed yet: any problem here is a refusal.
        let resolved = self.resolve_images(&wanted, policy).await.map_err(|e| {
            if e.is::<Refused>() {
                e
            } else {
                Refused(format!("{e:#}")).into()
            }
        })?;
        durations.insert("pull".into(), ms(t0.elapsed()));
        let release = Release {
            id: release_id.to_string(),
            images: resolved,
        };
        let mut record = Record::start("deploy", &release);
        record.started_at = started;

        lock.phase("applying")?;
        let rollout_started_ms = crate::whoami::now_ms();
        let mut result = self
            .apply_and_verify(&release, false, &mut durations, "")
            .await;
        // Watch checks look at least once, even with no soak window.
        if let Ok((checks, started_at_ms)) = &result
            && self.checks.iter().any(|c| c.spec.phase == Phase::Watch)
        {
            lock.phase("soaking")?;
            self.progress.step(&format!(
                "soaking release {release_id} for {}",
                humantime::format_duration(soak)
            ));
            let t = Instant::now();
            let target = Target {
                release: &release,
                project: &stack.project,
                started_at_ms: *started_at_ms,
            };
            let io = Io::live(&stack.project, false);
            let watched = verify::run_phase(
                &self.runtime,
                &self.checks,
                Phase::Watch,
                &target,
                &io,
                &self.progress,
                soak,
            )
            .await;
            durations.insert("soak".into(), ms(t.elapsed()));
            result = match watched {
                Ok(more) => Ok(([checks.clone(), more].concat(), *started_at_ms)),
                Err(mut f) => {
                    f.checks = [checks.clone(), f.checks].concat();
                    Err(f)
                }
            };
        }

        let outcome = match result {
            Ok((checks, _)) => {
                lock.phase("recording")?;
                record.checks = checks;
                record.outcome = "released".into();
                let now = whoami::now_rfc3339();
                let previous = current;
                state::write(
                    self.state_dir(),
                    &stack.services,
                    &state::Pointers {
                        current: Some((release.clone(), now)),
                        previous,
                    },
                )?;
                Outcome::Released
            }
            Err(failure) => {
                let detected = Instant::now();
                lock.phase("rolling-back")?;
                record.checks = failure.checks.clone();
                record.failure_mode = Some(failure.mode.as_str().into());
                record.failure = Some(failure.message.clone());
                self.progress.step(&format!(
                    "release {release_id} failed ({}): {}",
                    failure.mode.as_str(),
                    failure.message
                ));
                let incident =
                    incident::write(self, &release, &failure, rollout_started_ms).await?;
                durations.insert("incident".into(), ms(detected.elapsed()));
                record.incident = Some(incident.display().to_string());
                let outcome = match &current {
                    None => {
                        self.progress
                            .line("this was the first release: there is nothing to roll back to");
                        record.outcome = "failed".into();
                        Outcome::NotRecovered
                    }
                    Some((previous, _)) => {
                        let (rollback, outcome) = self.roll_back_to(previous, &mut durations).await;
                        record.outcome = if outcome == Outcome::RolledBack {
                            "rolled_back"
                        } else {
                            "failed"
                        }
                        .into();
                        record.rollback = Some(rollback);
                        outcome
                    }
                };
                durations.insert("failure_to_restored".into(), ms(detected.elapsed()));
                incident::finish(&incident, &record, &self.progress.redactor)?;
                outcome
            }
        };
        durations.insert("total".into(), ms(t0.elapsed()));
        self.conclude(record, lock, durations, outcome, |r| message(r, outcome))
    }

    /// Appends the (scrubbed) record to the history, releases the lock and
    /// reports.
    fn conclude(
        &self,
        mut record: Record,
        lock: Lock,
        durations: BTreeMap<String, u64>,
        outcome: Outcome,
        message: impl FnOnce(&Record) -> String,
    ) -> anyhow::Result<Report> {
        record.durations_ms = durations;
        record.finished_at = whoami::now_rfc3339();
        let record = self.progress.redactor.scrub(&record)?;
        history::append(self.state_dir(), &record)?;
        lock.release();
        Ok(Report {
            outcome,
            exit_code: outcome.exit_code(),
            message: message(&record),
            record,
        })
    }

    /// Re-applies `previous` (pinned to its digests) and verifies it.
    async fn roll_back_to(
        &self,
        previous: &Release,
        durations: &mut BTreeMap<String, u64>,
    ) -> (Rollback, Outcome) {
        self.progress
            .step(&format!("rolling back to release {}", previous.id));
        match self
            .apply_and_verify(previous, true, durations, "rollback_")
            .await
        {
            Ok((checks, _)) => {
                self.progress
                    .line(&format!("release {} is back and verified", previous.id));
                (
                    Rollback {
                        to_release: previous.id.clone(),
                        outcome: "verified".into(),
                        failure: None,
                        checks,
                    },
                    Outcome::RolledBack,
                )
            }
            Err(f) => {
                self.progress.line(&format!(
                    "rollback to {} FAILED: {}",
                    previous.id, f.message
                ));
                (
                    Rollback {
                        to_release: previous.id.clone(),
                        outcome: "failed".into(),
                        failure: Some(f.message),
                        checks: f.checks,
                    },
                    Outcome::NotRecovered,
                )
            }
        }
    }

    /// `pitwall rollback [--to ID]`: re-apply a known release, verify it,
    /// swap the pointers.
    pub async fn rollback(&self, to: Option<&str>) -> anyhow::Result<Report> {
        let stack = &self.config.stack;
        let mut lock = self.lock("rollback", to.unwrap_or("(previous)"))?;
        let pointers = state::read(self.state_dir(), &stack.services)?;
        let target = match to {
            None => pointers.previous.clone().map(|(r, _)| r).ok_or_else(|| {
                Refused(format!(
                    "there is no previous release in {} to roll back to",
                    state::path(self.state_dir()).display()
                ))
            })?,
            Some(id) => history::read(self.state_dir())?
                .into_iter()
                .rev()
                .find(|r| {
                    r.release_id == id && matches!(r.outcome.as_str(), "released" | "restored")
                })
                .map(|r| Release {
                    id: r.release_id,
                    images: r.images,
                })
                .ok_or_else(|| {
                    Refused(format!(
                        "release {id} was never released here (see `pitwall history`)"
                    ))
                })?,
        };
        let t0 = Instant::now();
        let mut durations = BTreeMap::new();
        let started = whoami::now_rfc3339();
        lock.phase("applying")?;
        let (rollback, outcome) = self.roll_back_to(&target, &mut durations).await;
        let mut record = Record::start("rollback", &target);
        record.started_at = started;
        record.outcome = if outcome == Outcome::RolledBack {
            "restored"
        } else {
            "failed"
        }
        .into();
        record.failure = rollback.failure.clone();
        record.checks = rollback.checks.clone();
        if outcome == Outcome::RolledBack {
            lock.phase("recording")?;
            state::write(
                self.state_dir(),
                &stack.services,
                &state::Pointers {
                    current: Some((target.clone(), whoami::now_rfc3339())),
                    previous: pointers.current.filter(|(r, _)| r.id != target.id),
                },
            )?;
        }
        durations.insert("total".into(), ms(t0.elapsed()));
        let outcome = if outcome == Outcome::RolledBack {
            Outcome::Released
        } else {
            Outcome::NotRecovered
        };
        self.conclude(record, lock, durations, outcome, |r| match outcome {
            Outcome::Released => format!("release {} restored and verified", r.release_id),
            _ => format!(
                "rollback to {} failed: {}; the stack is not on a verified release",
                r.release_id,
                r.failure.as_deref().unwrap_or_default()
            ),
        })
    }

    /// `pitwall recover`: after a deploy died, re-apply the last released
    /// release and verify it.
    pub async fn recover(&self) -> anyhow::Result<Report> {
        use crate::release::lock;
        let stack = &self.config.stack;
        let holder = lock::read(self.state_dir())?;
        let Some(holder) = holder else {
            return Err(Refused("nothing to recover: no deploy lock is held".into()).into());
        };
        if holder.alive() != Some(false) {
            return Err(Refused(format!(
                "cannot recover: {} may still be running (on this host: alive; elsewhere: unknown)",
                holder.describe()
            ))
            .into());
        }
        self.progress
            .line(&format!("found an interrupted {}", holder.describe()));
        let pointers = state::read(self.state_dir(), &stack.services)?;
        let mut lock = Lock::take_over(self.state_dir(), &holder.release_id)?;
        let t0 = Instant::now();
        let mut durations = BTreeMap::new();
        let started = whoami::now_rfc3339();
        let (outcome, record_outcome, failure, checks, release) = match &pointers.current {
            None => (
                Outcome::NotRecovered,
                "interrupted",
                Some("no released release to restore; the stack was left as the interrupted deploy made it".to_string()),
                Vec::new(),
                Release {
                    id: holder.release_id.clone(),
                    images: BTreeMap::new(),
                },
            ),
            Some((current, _)) => {
                let (rollback, outcome) = self.roll_back_to(current, &mut durations).await;
                let verified = outcome == Outcome::RolledBack;
                (
                    if verified { Outcome::Released } else { Outcome::NotRecovered },
                    if verified { "restored" } else { "failed" },
                    rollback.failure,
                    rollback.checks,
                    current.clone(),
                )
            }
        };
        lock.phase("recording")?;
        durations.insert("total".into(), ms(t0.elapsed()));
        let mut record = Record::start("recover", &release);
        record.started_at = started;
        record.outcome = record_outcome.into();
        record.checks = checks;
        record.failure = Some(format!(
            "recovered from an interrupted {} (phase {}){}",
            holder.describe(),
            holder.phase,
            failure.map(|f| format!(": {f}")).unwrap_or_default()
        ));
        self.conclude(record, lock, durations, outcome, |r| match outcome {
            Outcome::Released => format!(
                "interrupted deploy of {} cleaned up; release {} restored and verified",
                holder.release_id, r.release_id
            ),
            _ => format!(
                "recovery incomplete: {}",
                r.failure.as_deref().unwrap_or_default()
            ),
        })
    }

    /// `compose down` of the project (images: service → reference).
    pub async fn down(&self, images: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let vars = verify::image_vars(&self.config.stack, images);
        self.compose.down(&vars).await.map(drop)
    }

    pub fn engine(&self) -> &docker::Engine {
        &self.engine
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn message(record: &Record, outcome: Outcome) -> String {
    match outcome {
        Outcome::Released => format!("release {} is live and verified", record.release_id),
        Outcome::RolledBack => format!(
            "release {} failed ({}: {}); rolled back to {}, which is verified. Incident: {}",
            record.release_id,
            record.failure_mode.as_deref().unwrap_or("?"),
            record.failure.as_deref().unwrap_or(""),
            record
                .rollback
                .as_ref()
                .map_or("?", |r| r.to_release.as_str()),
            record.incident.as_deref().unwrap_or("-")
        ),
        Outcome::NotRecovered => format!(
            "release {} failed ({}: {}) and the stack is NOT on a verified release: {}. Incident: {}",
            record.release_id,
            record.failure_mode.as_deref().unwrap_or("?"),
            record.failure.as_deref().unwrap_or(""),
            match &record.rollback {
                None => "there was no previous release to roll back to".to_string(),
                Some(r) => format!(
                    "rollback to {} failed: {}",
                    r.to_release,
                    r.failure.as_deref().unwrap_or("")
                ),
            },
            record.incident.as_deref().unwrap_or("-")
        ),
    }
}

/// Reads `--image SERVICE=REF` values.
pub fn parse_images(values: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for v in values {
        let (service, reference) = v
            .split_once('=')
            .filter(|(s, r)| !s.is_empty() && !r.is_empty())
            .with_context(|| {
                format!("--image `{v}` must be SERVICE=REF, e.g. api=registry/api:1.4")
            })?;
        if out
            .insert(service.to_string(), reference.to_string())
            .is_some()
        {
            anyhow::bail!("--image names `{service}` twice");
        }
    }
    Ok(out)
}
