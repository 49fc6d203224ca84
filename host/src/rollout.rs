//! The deploy / rollback / recover state machine, written against the
//! [`Engine`] seam: preflight, lock, pull, apply, wait, verify, soak, record
//! — and on failure: incident, roll back, verify the previous release,
//! record both. This file holds the `Deployer` and the steps the three
//! commands share; `deploy` and `restore` hold the commands.

mod canary;
mod cancel;
mod deploy;
mod failure;
mod incident;
mod plan;
pub mod preflight;
mod release_id;
mod restore;
mod verify;
mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use cancel::Cancel;
pub use deploy::Request;
pub use failure::{Failure, Refused};
pub use plan::{Change, Plan, Resolved};

use failure::{Cause, Notes, Stop};

use crate::checks::{Io, Runtime, TapeMode};
use crate::config::{Config, Phase};
use crate::engine::{Engine, Spool, StackView};
use crate::release::history::{self, Action, CheckResult, FailureMode, Record};
use crate::release::lock::Lock;
use crate::release::{Refs, Release, state};
use crate::report::Progress;
use verify::{JudgedFrom, Loaded, Since, Target};

/// How a deploy, rollback or recovery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// The release is live and verified.
    Released,
    /// The release failed; the previous release is back and verified.
    RolledBack,
    /// Something failed and the stack is not on a verified release: a human
    /// is needed.
    NotRecovered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

impl PullPolicy {
    /// The policy for one reference: a digest (`repo@sha256:…`, an image
    /// id) names the same bytes forever, so `always` has nothing to refresh
    /// and pulls it only when it is missing (the services a deploy keeps
    /// from the current release are pinned so).
    fn applied_to(self, reference: &str) -> PullPolicy {
        let pinned = reference.contains("@sha256:") || reference.starts_with("sha256:");
        match self {
            PullPolicy::Always if pinned => PullPolicy::Missing,
            policy => policy,
        }
    }
}

/// Why a pull or a registry lookup failed for an image that is present
/// here: most likely it was built on this host and never pushed.
fn built_here_hint(reference: &str) -> String {
    format!(
        "{reference} is present here: if it was built on this host rather than pushed to a \
         registry, use --pull missing (or --pull never)"
    )
}

/// What a command concluded, the message for the operator and the record
/// written to the history.
#[derive(Debug)]
pub struct Report {
    pub conclusion: Conclusion,
    pub message: String,
    pub record: Record,
    /// `CURRENT_RELEASE_ID` in state.env when the command took the lock.
    pub previous_release_id: Option<String>,
    /// Bookkeeping that could not be written; the conclusion still holds.
    pub bookkeeping: Vec<String>,
}

/// When a traffic switch moves users to a release that passed its verify
/// checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Promote {
    /// At once (and nothing to do without a traffic switch).
    OnPass,
    /// Later, step by step (a canary).
    InSteps,
}

/// Whether a signal (SIGINT, SIGTERM) ends a phase: a deploy's do, and the
/// deploy is rolled back; a rollback's never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stoppable {
    BySignal,
    Never,
}

/// Who asked for a rollout and why, for its history record.
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    pub actor: Option<String>,
    pub message: Option<String>,
}

/// Everything a rollout needs, set up and validated in preflight.
pub struct Deployer {
    config: Config,
    engine: Arc<dyn Engine>,
    runtime: Runtime,
    checks: Vec<Loaded>,
    progress: Progress,
    cancel: Cancel,
    attribution: Attribution,
    /// The cap of one service's log spool.
    spool_cap: u64,
    /// The logs checks may read, followed from the first apply on.
    spool: tokio::sync::OnceCell<Option<Arc<Spool>>>,
}

impl Deployer {
    /// Preflight: every check loaded and its configuration accepted. Any
    /// problem is a refusal.
    pub async fn preflight(
        config: Config,
        engine: Arc<dyn Engine>,
        runtime: Runtime,
        progress: Progress,
    ) -> anyhow::Result<Deployer> {
        let mut checks = Vec::new();
        for loaded in preflight::load_checks(&runtime, &config.checks, &progress.redactor).await {
            checks.push(
                loaded.map_err(|p| Refused::because(format!("check `{}`", p.check), p.message))?,
            );
        }
        let spool_cap =
            Spool::cap_from_env().map_err(|e| Refused::because("the log spool's size", e))?;
        progress.line(&format!(
            "preflight ok: {} checks, {} via {}",
            checks.len(),
            config.stack.project,
            engine.name()
        ));
        Ok(Deployer {
            config,
            engine,
            runtime,
            checks,
            progress,
            cancel: Cancel::new(),
            attribution: Attribution::default(),
            spool_cap,
            spool: tokio::sync::OnceCell::new(),
        })
    }

    /// Records who asked for the rollouts of this deployer, and why.
    pub fn attributed(mut self, by: Attribution) -> Deployer {
        self.attribution = by;
        self
    }

    /// Lets `cancel` stop a deploy: once cancelled, the running phase ends
    /// and the release is rolled back and recorded as cancelled.
    pub fn cancellable(mut self, cancel: Cancel) -> Deployer {
        self.cancel = cancel;
        self
    }

    fn state_dir(&self) -> &std::path::Path {
        &self.config.stack.state_dir
    }

    fn lock(&self, action: Action, release_id: &str) -> anyhow::Result<Lock> {
        Lock::acquire(self.state_dir(), action, release_id)
            .map_err(|e| Refused::because("cannot take the deploy lock", e).into())
    }

    /// The release pointers. A state.env that cannot be read is a refusal:
    /// nothing has been touched, and nothing should be until it is fixed.
    fn pointers(&self) -> Result<state::Pointers, Refused> {
        let file = state::path(self.state_dir());
        state::read(self.state_dir(), &self.config.stack.services).map_err(|e| {
            Refused::because(
                format!(
                    "cannot read {}; fix or restore it (pitwall writes it atomically, so only a hand edit or another tool breaks it)",
                    file.display()
                ),
                e,
            )
        })
    }

    /// Runs the checks of `phase` while the container watch looks on. The
    /// watch phase lasts `window` even when its checks finish early (or there
    /// are none), and a container problem during it is a runtime failure. A
    /// phase `Stoppable::BySignal` ends when the deploy is cancelled.
    async fn phase(
        &self,
        phase: Phase,
        target: &Target<'_>,
        window: Duration,
        stoppable: Stoppable,
    ) -> Result<Vec<CheckResult>, Failure> {
        let io = match self.spool.get() {
            Some(Some(spool)) => Io::live(spool.clone(), TapeMode::Off),
            _ => Io::live(self.engine.clone(), TapeMode::Off),
        };
        let checks = async {
            target.judged_from.opened().await;
            let start = Instant::now();
            let results = verify::run_phase(
                &self.runtime,
                &self.checks,
                phase,
                target,
                &io,
                &self.progress,
                window,
            )
            .await?;
            if phase == Phase::Watch {
                tokio::time::sleep(window.saturating_sub(start.elapsed())).await;
            }
            Ok(results)
        };
        let cancelled = async {
            if stoppable == Stoppable::BySignal {
                self.cancel.cancelled().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = cancelled => {
                Err(Failure::stopped(Stop::Signal, "cancelled by a signal".into()))
            }
            results = checks => results,
            mut problem = watch::monitor(&*self.engine, &self.config.stack) => {
                if phase == Phase::Watch {
                    problem.cause = Cause::Release(FailureMode::Runtime);
                }
                Err(problem)
            }
        }
    }

    /// Applies `release` with `refs`, waits for
    /// its containers, then runs the verify phase, judging from when the
    /// units ran. Returns the verify results and when they passed (where the
    /// watch phase's window begins).
    async fn apply_and_verify(
        &self,
        release: &Release,
        refs: Refs,
        durations: &mut BTreeMap<String, u64>,
        prefix: &str,
        promote: Promote,
        stoppable: Stoppable,
    ) -> Result<(Vec<CheckResult>, JudgedFrom), Failure> {
        let stack = &self.config.stack;
        let t = Instant::now();
        self.follow_logs(crate::clock::now_ms()).await;
        self.progress.step(&format!(
            "applying release {} with {}",
            release.id,
            self.engine.name()
        ));
        self.engine
            .apply(&release.refs(refs))
            .await
            .map_err(|e| Failure::new(FailureMode::Startup, e.to_string()))?;
        durations.insert(format!("{prefix}up"), ms(t.elapsed()));
        let t = Instant::now();
        watch::wait_running(&*self.engine, stack, &self.progress).await?;
        durations.insert(format!("{prefix}wait"), ms(t.elapsed()));
        let t = Instant::now();
        self.progress
            .step(&format!("verifying release {}", release.id));
        let target = Target {
            release,
            project: &stack.project,
            judged_from: JudgedFrom::now(Since::UnitsRunning),
        };
        let results = self
            .phase(Phase::Verify, &target, Duration::ZERO, stoppable)
            .await;
        durations.insert(format!("{prefix}verify"), ms(t.elapsed()));
        let results = results?;
        if promote == Promote::InSteps {
            return Ok((results, JudgedFrom::now(Since::Verified)));
        }
        // Users reach what the checks judged only now (blue-green).
        let t = Instant::now();
        let promoted = self.engine.promote().await.map_err(|e| {
            let mut f = Failure::new(FailureMode::Runtime, format!("promotion failed: {e}"));
            f.checks.clone_from(&results);
            f
        })?;
        if !promoted.is_empty() {
            durations.insert(format!("{prefix}promote"), ms(t.elapsed()));
            for p in &promoted {
                self.moved(p);
            }
        }
        Ok((results, JudgedFrom::now(Since::Verified)))
    }

    /// Says that a traffic switch moved users, on the terminal and as an
    /// event.
    fn moved(&self, p: &crate::engine::Promotion) {
        self.progress.line(&p.line());
        self.progress.event(crate::report::Event::Traffic {
            service: p.service.clone(),
            unit: p.unit.clone(),
            share: p.share,
            took_ms: ms(p.took),
        });
    }

    /// Starts following the logs of every service a check may read, once,
    /// before the first apply: the checks then read whole windows from the
    /// spool, whatever the engine rotates away. Without a spool they read
    /// what the engine still has.
    async fn follow_logs(&self, start_ms: u64) {
        self.spool
            .get_or_init(|| async {
                let mut services: Vec<String> = self
                    .checks
                    .iter()
                    .flat_map(|c| c.spec.grants.allow_logs.iter().cloned())
                    .collect();
                services.sort();
                services.dedup();
                if services.is_empty() {
                    return None;
                }
                let temp_area = self.state_dir().join("tmp");
                let view: Arc<dyn StackView> = self.engine.clone();
                match Spool::start(view, &services, start_ms, &temp_area, self.spool_cap).await {
                    Ok(spool) => Some(Arc::new(spool)),
                    Err(e) => {
                        self.progress.line(&format!(
                            "warning: checks read logs from the engine, without a spool: {e}"
                        ));
                        None
                    }
                }
            })
            .await;
    }

    /// Appends the (scrubbed) record to the history, releases the lock and
    /// reports. The stack is on a known release by now, so a history that
    /// cannot be written is reported, not a reason to keep the lock.
    fn conclude(
        &self,
        mut record: Record,
        lock: Lock,
        conclusion: Conclusion,
        mut notes: Notes,
        previous_release_id: Option<String>,
        message: impl FnOnce(&Record) -> String,
    ) -> anyhow::Result<Report> {
        record.finished_at = crate::clock::now_rfc3339();
        record.actor.clone_from(&self.attribution.actor);
        record.message.clone_from(&self.attribution.message);
        let record = self.progress.redactor.scrub(&record)?;
        let appended = history::append(self.state_dir(), &record);
        notes.keep(
            &self.progress,
            "the history record was not written",
            appended,
        );
        lock.release();
        Ok(Report {
            conclusion,
            message: message(&record),
            record,
            previous_release_id,
            bookkeeping: notes.into_vec(),
        })
    }

    /// Stops and removes the whole stack (the demo's clean-up).
    pub async fn remove_stack(&self) -> anyhow::Result<()> {
        Ok(self.engine.remove().await?)
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}
