//! `pitwall deploy`: lock, pull, apply, verify, soak, record — or, when the
//! release fails, incident, roll back, verify the previous release.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::verify::Target;
use super::{
    Conclusion, Deployer, Failure, Notes, Promote, PullPolicy, Refused, Report, Stoppable,
    built_here_hint, incident, ms,
};
use crate::clock;
use crate::config::{Phase, Stage};
use crate::hooks;
use crate::release::history::{Action, Record, RecordOutcome, RollbackOutcome};
use crate::release::id::ReleaseId;
use crate::release::lock::{Lock, LockPhase};
use crate::release::{Image, Refs, Release, state};
use crate::report::Event;

/// What `pitwall deploy` was asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    pub release_id: ReleaseId,
    /// Service → reference; services not named keep the current release's
    /// image, pinned to its digest.
    pub images: BTreeMap<String, String>,
    pub pull: PullPolicy,
    /// How long the watch phase lasts after verification.
    pub soak: Duration,
    /// Reuse a release id that was deployed with other images.
    pub force: bool,
}

impl Deployer {
    /// `pitwall deploy`.
    pub async fn deploy(&self, request: &Request) -> anyhow::Result<Report> {
        let stack = &self.config.stack;
        let Request {
            release_id,
            images,
            pull: policy,
            soak,
            force,
        } = request;
        let (release_id, policy, soak) = (release_id.as_str(), *policy, *soak);
        // Lock first: the pointers read next must not change under us.
        let mut lock = self.lock(Action::Deploy, release_id)?;
        let pointers = self.pointers()?;
        let current = pointers.current.clone();
        let previous_id = current.as_ref().map(|(r, _)| r.id.clone());
        let wanted = self.wanted(images, current.as_ref().map(|(r, _)| r))?;
        if !force {
            self.refuse_reused_id(release_id, images)?;
        }
        // Under the lock (the hook sees the release it precedes, and no
        // other deploy starts meanwhile), before anything is pulled.
        let vars = hooks::Vars::new(
            &stack.project,
            Action::Deploy,
            Some(release_id),
            previous_id.as_deref(),
            &wanted,
            self.state_dir(),
        );
        tokio::select! {
            // A signal already received wins over a hook that has nothing to run.
            biased;
            () = self.cancel.cancelled() => {
                return Err(Refused::new(
                    "cancelled by a signal during the pre_deploy hook (which was stopped); \
                     the stack was not touched",
                )
                .into());
            }
            ran = hooks::run(&self.config.hooks, Stage::PreDeploy, &vars, &self.progress) => {
                ran.map_err(|e| {
                    Refused::because("the pre_deploy hook failed; nothing was pulled or applied", e)
                })?;
            }
        }

        let started = clock::now_rfc3339();
        let t0 = Instant::now();
        let mut durations = BTreeMap::new();
        let mut notes = Notes::default();
        lock.phase(LockPhase::Pulling)
            .map_err(|e| Refused::because("cannot record the deploy's progress in its lock", e))?;
        self.progress
            .step(&format!("pulling images for release {release_id}"));
        let release = Release {
            id: release_id.to_string(),
            images: self.resolve_images(&wanted, policy).await?,
        };
        durations.insert("pull".into(), ms(t0.elapsed()));
        if self.cancel.is_cancelled() {
            return Err(Refused::new("cancelled by a signal before the stack was touched").into());
        }

        lock.phase(LockPhase::Applying)
            .map_err(|e| Refused::because("cannot record the deploy's progress in its lock", e))?;
        let rollout_started_ms = clock::now_ms();
        let steps = self
            .config
            .stack
            .traffic
            .as_ref()
            .map(|t| t.steps.clone())
            .unwrap_or_default();
        // A first release has no users to spread: it is promoted at once.
        let promote = if steps.is_empty() || current.is_none() {
            Promote::OnPass
        } else {
            Promote::InSteps
        };
        let mut result = self
            .apply_and_verify(
                &release,
                if self.engine.pins_deploys() {
                    Refs::Pinned
                } else {
                    Refs::AsGiven
                },
                &mut durations,
                "",
                promote,
                Stoppable::BySignal,
            )
            .await;
        if let Ok((verified, _)) = &result
            && promote == Promote::InSteps
        {
            result = self
                .canary(
                    &release,
                    &steps,
                    verified.clone(),
                    &mut durations,
                    &mut lock,
                )
                .await;
        }
        let watching = self.checks.iter().any(|c| c.spec.phase == Phase::Watch);
        if let Ok((verified, judged_from)) = &result
            && (watching || !soak.is_zero())
        {
            let phase = lock.phase(LockPhase::Soaking);
            notes.keep(&self.progress, "the lock's phase was not updated", phase);
            self.progress.step(&format!(
                "soaking release {release_id} for {}",
                humantime::format_duration(soak)
            ));
            let t = Instant::now();
            let target = Target {
                release: &release,
                project: &stack.project,
                judged_from: *judged_from,
            };
            self.progress.line(&format!(
                "watch checks judge release {release_id} from {}, {}",
                clock::rfc3339_ms(judged_from.ms),
                judged_from.reason()
            ));
            let watched = self
                .phase(Phase::Watch, &target, soak, Stoppable::BySignal)
                .await;
            durations.insert("soak".into(), ms(t.elapsed()));
            result = match watched {
                Ok(more) => Ok(([verified.clone(), more].concat(), *judged_from)),
                Err(mut f) => {
                    f.checks = [verified.clone(), f.checks].concat();
                    Err(f)
                }
            };
        }

        let (mut record, conclusion) = match result {
            Ok((checks, _)) => {
                let phase = lock.phase(LockPhase::Recording);
                notes.keep(&self.progress, "the lock's phase was not updated", phase);
                let pointers = pointers.moved_to(release.clone(), clock::now_rfc3339());
                state::write(self.state_dir(), &stack.services, &pointers)?;
                let mut record =
                    Record::new(Action::Deploy, &release, RecordOutcome::Released, started);
                record.checks = checks;
                (record, Conclusion::Released)
            }
            Err(failure) => {
                let phase = lock.phase(LockPhase::RollingBack);
                notes.keep(&self.progress, "the lock's phase was not updated", phase);
                let previous = current.map(|(r, _)| r);
                let failed = Failed {
                    release: &release,
                    failure,
                    started,
                    rollout_started_ms,
                };
                self.fail(
                    failed,
                    previous.as_ref(),
                    &mut durations,
                    &mut notes,
                    &mut lock,
                )
                .await
            }
        };
        durations.insert("total".into(), ms(t0.elapsed()));
        record.durations_ms = durations;
        self.conclude(record, lock, conclusion, notes, previous_id, |r| {
            message(r, conclusion)
        })
    }

    /// Service → reference to deploy: those asked for, and for the others
    /// the current release's image pinned to its digest.
    pub(super) fn wanted(
        &self,
        images: &BTreeMap<String, String>,
        current: Option<&Release>,
    ) -> Result<BTreeMap<String, String>, Refused> {
        let services = &self.config.stack.services;
        if let Some(service) = images.keys().find(|s| !services.contains_key(*s)) {
            return Err(Refused::new(format!(
                "--image names `{service}`, which is not a service of the stack ({})",
                services.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut wanted = BTreeMap::new();
        for service in services.keys() {
            let kept = current.and_then(|r| r.images.get(service));
            let reference = match (images.get(service), kept) {
                (Some(r), _) => r.clone(),
                (None, Some(img)) => img.pinned().to_string(),
                (None, None) => {
                    return Err(Refused::new(format!(
                        "no image for `{service}`: give --image {service}=REF (there is no current release to keep it from)"
                    )));
                }
            };
            wanted.insert(service.clone(), reference);
        }
        Ok(wanted)
    }

    /// Makes every image present per `policy` and resolves its digest.
    /// Nothing has changed yet, so every problem is a refusal.
    async fn resolve_images(
        &self,
        images: &BTreeMap<String, String>,
        policy: PullPolicy,
    ) -> Result<BTreeMap<String, Image>, Refused> {
        let unresolved = |e| Refused::because("cannot resolve the release's images", e);
        let mut out = BTreeMap::new();
        for (service, reference) in images {
            let local = self
                .engine
                .image_digest(reference)
                .await
                .map_err(unresolved)?;
            let policy = policy.applied_to(reference);
            let here = local.is_some();
            let digest = match (policy, local) {
                (PullPolicy::Never, None) => {
                    return Err(Refused::new(format!(
                        "image {reference} for {service} is not present locally and --pull never was given"
                    )));
                }
                (PullPolicy::Missing | PullPolicy::Never, Some(d)) => Some(d),
                (PullPolicy::Always, _) | (PullPolicy::Missing, None) => {
                    let bar = self.progress.pull_bar(reference);
                    let pulled = self
                        .engine
                        .pull(reference, &|done, total| bar.update(done, total))
                        .await;
                    bar.finish();
                    pulled.map_err(|e| {
                        let refused = format!(
                            "cannot pull {reference} for {service}; the running stack was not touched"
                        );
                        if here {
                            Refused::new(format!("{refused}: {e}. {}", built_here_hint(reference)))
                        } else {
                            Refused::because(refused, e)
                        }
                    })?;
                    self.engine
                        .image_digest(reference)
                        .await
                        .map_err(unresolved)?
                }
            };
            self.progress.pulled(service, reference, digest.as_deref());
            let image = Image {
                reference: reference.clone(),
                digest,
            };
            out.insert(service.clone(), image);
        }
        Ok(out)
    }

    /// The failure path: incident, roll back to `previous` (if any) and
    /// verify it, fill in the incident's rollback status. Bookkeeping that
    /// fails (the incident) is noted; the rollback runs regardless.
    async fn fail(
        &self,
        failed: Failed<'_>,
        previous: Option<&Release>,
        durations: &mut BTreeMap<String, u64>,
        notes: &mut Notes,
        lock: &mut Lock,
    ) -> (Record, Conclusion) {
        let Failed {
            release,
            failure,
            started,
            rollout_started_ms,
        } = failed;
        let detected = Instant::now();
        let mode = failure.mode();
        let cancelled = mode.is_none();
        let incident = if let Some(mode) = mode {
            self.progress.step(&format!(
                "release {} failed ({}): {}",
                release.id,
                mode.as_str(),
                failure.message
            ));
            self.progress.event(Event::Failure {
                release_id: release.id.clone(),
                mode: Some(mode),
                message: failure.message.clone(),
            });
            let written = incident::write(self, release, &failure, rollout_started_ms).await;
            notes.keep(
                &self.progress,
                "the incident record was not written",
                written,
            )
        } else {
            // Nothing went wrong with the release: no incident to file.
            self.progress.step(&format!(
                "release {} cancelled ({}): rolling back",
                release.id, failure.message
            ));
            self.progress.event(Event::Failure {
                release_id: release.id.clone(),
                mode: None,
                message: failure.message.clone(),
            });
            None
        };
        if let Some(path) = &incident {
            let named = lock.incident(path);
            notes.keep(&self.progress, "the lock does not name the incident", named);
        }
        durations.insert("incident".into(), ms(detected.elapsed()));
        let mut record = Record::new(Action::Deploy, release, RecordOutcome::Failed, started);
        record.checks = failure.checks;
        record.failure_mode = mode;
        record.failure = Some(failure.message);
        record.incident = incident.as_ref().map(|p| p.display().to_string());
        let conclusion = match previous {
            None => {
                self.progress
                    .line("this was the first release: there is nothing to roll back to");
                Conclusion::NotRecovered
            }
            Some(previous) => {
                let rollback = self.roll_back_to(previous, durations).await;
                // A blue-green switch back moved users before its checks ran.
                if let Some(at) = self.engine.routed_at().filter(|at| *at > detected) {
                    let back = at.duration_since(detected);
                    durations.insert("users_back".into(), ms(back));
                    self.progress.line(&format!(
                        "users were back on release {} {} ms after the failure was detected",
                        previous.id,
                        back.as_millis()
                    ));
                }
                let restored = rollback.outcome == RollbackOutcome::Verified;
                record.rollback = Some(rollback);
                if restored {
                    record.outcome = if cancelled {
                        RecordOutcome::Cancelled
                    } else {
                        RecordOutcome::RolledBack
                    };
                    Conclusion::RolledBack
                } else {
                    Conclusion::NotRecovered
                }
            }
        };
        durations.insert("failure_to_restored".into(), ms(detected.elapsed()));
        if let Some(path) = &incident {
            let finished = incident::finish(path, &record, &self.progress.redactor);
            notes.keep(
                &self.progress,
                "the incident's rollback status was not written",
                finished,
            );
        }
        (record, conclusion)
    }
}

/// A release that failed, and what its record needs.
struct Failed<'a> {
    release: &'a Release,
    failure: Failure,
    started: String,
    rollout_started_ms: u64,
}

fn message(record: &Record, conclusion: Conclusion) -> String {
    // Only a cancelled deploy has no failure mode.
    let mode = record.failure_mode.map_or("cancelled", |m| m.as_str());
    let failure = record.failure.as_deref().unwrap_or("");
    let incident = record.incident.as_deref().unwrap_or("-");
    let to = record
        .rollback
        .as_ref()
        .map_or("?", |r| r.to_release.as_str());
    let id = &record.release_id;
    match conclusion {
        Conclusion::Released => format!("release {id} is live and verified"),
        Conclusion::RolledBack if record.outcome == RecordOutcome::Cancelled => {
            format!("release {id} was cancelled; rolled back to {to}, which is verified")
        }
        Conclusion::RolledBack => format!(
            "release {id} failed ({mode}: {failure}); rolled back to {to}, which is verified. Incident: {incident}"
        ),
        Conclusion::NotRecovered => format!(
            "release {} failed ({mode}: {failure}) and the stack is NOT on a verified release: {}. Incident: {incident}",
            record.release_id,
            match &record.rollback {
                None => "there was no previous release to roll back to".to_string(),
                Some(r) => format!(
                    "rollback to {} failed: {}",
                    r.to_release,
                    r.failure.as_deref().unwrap_or("")
                ),
            },
        ),
    }
}
