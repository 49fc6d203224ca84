//! Going back to a known release: the rollback inside a failed deploy,
//! `pitwall rollback [--to ID]`, and `pitwall recover` after a deploy died.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::{Conclusion, Deployer, Notes, Promote, Refused, Report, Stoppable, incident, ms};
use crate::clock;
use crate::release::history::{self, Action, Record, RecordOutcome, Rollback, RollbackOutcome};
use crate::release::lock::{self, Holder, Holding, Lock, LockPhase};
use crate::release::{Refs, Release, state};
use crate::report::Event;

impl Deployer {
    /// Re-applies `previous` pinned to its digests and verifies it.
    pub(super) async fn roll_back_to(
        &self,
        previous: &Release,
        durations: &mut BTreeMap<String, u64>,
    ) -> Rollback {
        self.progress
            .step(&format!("rolling back to release {}", previous.id));
        let rollback = match self
            .apply_and_verify(
                previous,
                Refs::Pinned,
                durations,
                "rollback_",
                Promote::OnPass,
                Stoppable::Never,
            )
            .await
        {
            Ok((checks, _)) => {
                self.progress
                    .line(&format!("release {} is back and verified", previous.id));
                Rollback {
                    to_release: previous.id.clone(),
                    outcome: RollbackOutcome::Verified,
                    failure: None,
                    checks,
                }
            }
            Err(f) => {
                self.progress.line(&format!(
                    "rollback to {} FAILED: {}",
                    previous.id, f.message
                ));
                Rollback {
                    to_release: previous.id.clone(),
                    outcome: RollbackOutcome::Failed,
                    failure: Some(f.message),
                    checks: f.checks,
                }
            }
        };
        self.progress.event(Event::Rollback {
            to_release: rollback.to_release.clone(),
            outcome: rollback.outcome,
            failure: rollback.failure.clone(),
        });
        rollback
    }

    /// `pitwall rollback [--to ID]`: re-applies the previous release (or a
    /// release that was live and verified here), verifies it, swaps the
    /// pointers.
    pub async fn rollback(&self, to: Option<&str>) -> anyhow::Result<Report> {
        let stack = &self.config.stack;
        let mut lock = self.lock(Action::Rollback, to.unwrap_or("(previous)"))?;
        let pointers = self.pointers()?;
        let previous_id = pointers.current.as_ref().map(|(r, _)| r.id.clone());
        let target = match to {
            None => pointers.previous.clone().map(|(r, _)| r).ok_or_else(|| {
                Refused::new(format!(
                    "there is no previous release in {} to roll back to",
                    state::path(self.state_dir()).display()
                ))
            })?,
            Some(id) => history::read(self.state_dir())
                .map_err(|e| Refused::because("cannot read the history", e))?
                .into_iter()
                .rev()
                .find(|r| r.release_id == id && r.outcome.verified_live())
                .map(|r| Release {
                    id: r.release_id,
                    images: r.images,
                })
                .ok_or_else(|| {
                    Refused::new(format!(
                        "release {id} was never released here (see `pitwall history`)"
                    ))
                })?,
        };
        let t0 = Instant::now();
        let mut durations = BTreeMap::new();
        let started = clock::now_rfc3339();
        let mut notes = Notes::default();
        lock.phase(LockPhase::Applying).map_err(|e| {
            Refused::because("cannot record the rollback's progress in its lock", e)
        })?;
        let rollback = self.roll_back_to(&target, &mut durations).await;
        let restored = rollback.outcome == RollbackOutcome::Verified;
        if restored {
            let phase = lock.phase(LockPhase::Recording);
            notes.keep(&self.progress, "the lock's phase was not updated", phase);
            let moved = pointers.moved_to(target.clone(), clock::now_rfc3339());
            state::write(self.state_dir(), &stack.services, &moved)?;
        }
        durations.insert("total".into(), ms(t0.elapsed()));
        let (outcome, conclusion) = if restored {
            (RecordOutcome::Restored, Conclusion::Released)
        } else {
            (RecordOutcome::Failed, Conclusion::NotRecovered)
        };
        let mut record = Record::new(Action::Rollback, &target, outcome, started);
        record.failure = rollback.failure;
        record.checks = rollback.checks;
        record.durations_ms = durations;
        self.conclude(
            record,
            lock,
            conclusion,
            notes,
            previous_id,
            |r| match conclusion {
                Conclusion::Released => format!("release {} restored and verified", r.release_id),
                _ => format!(
                    "rollback to {} failed: {}; the stack is not on a verified release",
                    r.release_id,
                    r.failure.as_deref().unwrap_or_default()
                ),
            },
        )
    }

    /// `pitwall recover`: after a command died holding the lock, re-applies
    /// the current release and verifies it, then clears the lock.
    /// `force` overrides a lock held on another host, whose process pitwall
    /// cannot see (a CI runner that is gone): the operator vouches for it.
    pub async fn recover(&self, force: bool) -> anyhow::Result<Report> {
        let Some(holder) = lock::read(self.state_dir())? else {
            return Err(Refused::new("nothing to recover: no deploy lock is held").into());
        };
        match holder.alive() {
            _ if holder.command == Holding::Manual => {
                return Err(Refused::new(format!(
                    "nothing to recover: the stack is held by {}; `pitwall lock release` ends it",
                    holder.describe()
                ))
                .into());
            }
            Some(false) => {}
            Some(true) => {
                return Err(Refused::new(format!(
                    "cannot recover: {} is still running on this host; wait for it, or stop it (Ctrl-C) and then recover",
                    holder.describe()
                ))
                .into());
            }
            None if force => self.progress.line(&format!(
                "--force: overriding the lock of {}; pitwall cannot see that host's processes, so you vouch that it no longer runs",
                holder.describe()
            )),
            None => {
                return Err(Refused::new(format!(
                    "cannot recover: {} may still be running there (pitwall cannot see another host's processes); \
                     if it is gone (a CI runner that ended), run `pitwall recover --force`",
                    holder.describe()
                ))
                .into());
            }
        }
        self.progress
            .line(&format!("found an interrupted {}", holder.describe()));
        let pointers = self.pointers()?;
        let previous_id = pointers.current.as_ref().map(|(r, _)| r.id.clone());
        let mut lock = Lock::take_over(self.state_dir(), &holder)?;
        // A canary that died at a pause: its answer can no longer be carried
        // out; users go back to the verified release like any other.
        if let Ok(Some(g)) = crate::release::gate::read(self.state_dir()) {
            self.progress.line(&format!(
                "release {} was waiting at step {} with {}% of users; it is abandoned",
                g.release_id, g.step, g.share
            ));
            let closed = crate::release::gate::close(self.state_dir());
            if let Err(e) = closed {
                self.progress
                    .line(&format!("warning: the gate was not removed: {e}"));
            }
        }
        let t0 = Instant::now();
        let mut durations = BTreeMap::new();
        let started = clock::now_rfc3339();
        let (conclusion, mut record) = match &pointers.current {
            None => {
                let interrupted = Release {
                    id: holder.release_id.clone(),
                    images: BTreeMap::new(),
                };
                let mut record = Record::new(
                    Action::Recover,
                    &interrupted,
                    RecordOutcome::Interrupted,
                    started,
                );
                record.failure = Some(
                    "no released release to restore; the stack was left as the interrupted deploy made it".into(),
                );
                (Conclusion::NotRecovered, record)
            }
            Some((current, _)) => {
                let rollback = self.roll_back_to(current, &mut durations).await;
                let (outcome, conclusion) = match rollback.outcome {
                    RollbackOutcome::Verified => (RecordOutcome::Restored, Conclusion::Released),
                    RollbackOutcome::Failed => (RecordOutcome::Failed, Conclusion::NotRecovered),
                };
                let mut record = Record::new(Action::Recover, current, outcome, started);
                record.failure = rollback.failure;
                record.checks = rollback.checks;
                (conclusion, record)
            }
        };
        let mut notes = Notes::default();
        let phase = lock.phase(LockPhase::Recording);
        notes.keep(&self.progress, "the lock's phase was not updated", phase);
        if let Some(incident) = &holder.incident {
            self.close_failed_deploy(&holder, Path::new(incident), &record, &mut notes);
        }
        durations.insert("total".into(), ms(t0.elapsed()));
        record.failure = Some(format!(
            "recovered from an interrupted {} (phase {}){}",
            holder.describe(),
            holder.phase.as_str(),
            record.failure.map(|f| format!(": {f}")).unwrap_or_default()
        ));
        record.durations_ms = durations;
        self.conclude(
            record,
            lock,
            conclusion,
            notes,
            previous_id,
            |r| match conclusion {
                Conclusion::Released => format!(
                    "interrupted deploy of {} cleaned up; release {} restored and verified",
                    holder.release_id, r.release_id
                ),
                _ => format!(
                    "recovery incomplete: {}",
                    r.failure.as_deref().unwrap_or_default()
                ),
            },
        )
    }

    /// A deploy killed while rolling back left its failed release without a
    /// history record and its incident "in progress": both are closed with
    /// what this recovery did.
    fn close_failed_deploy(
        &self,
        holder: &Holder,
        incident: &Path,
        recovery: &Record,
        notes: &mut Notes,
    ) {
        let failed = Release {
            id: holder.release_id.clone(),
            images: BTreeMap::new(),
        };
        let restored = recovery.outcome == RecordOutcome::Restored;
        let outcome = if restored {
            RecordOutcome::RolledBack
        } else {
            RecordOutcome::Failed
        };
        let mut record = Record::new(Action::Deploy, &failed, outcome, holder.since.clone());
        record.finished_at = clock::now_rfc3339();
        record.failure = Some(format!(
            "pitwall was killed in phase {} of this deploy; `pitwall recover` closed it",
            holder.phase.as_str()
        ));
        record.incident = Some(incident.display().to_string());
        record.rollback = Some(Rollback {
            to_release: recovery.release_id.clone(),
            outcome: if restored {
                RollbackOutcome::Verified
            } else {
                RollbackOutcome::Failed
            },
            failure: None,
            checks: Vec::new(),
        });
        // A recovery killed after this append must not record it twice.
        let recorded = history::read(self.state_dir())
            .is_ok_and(|records| records.iter().any(|r| r.incident == record.incident));
        let appended = if recorded {
            Ok(())
        } else {
            self.progress
                .redactor
                .scrub(&record)
                .and_then(|r| history::append(self.state_dir(), &r))
        };
        notes.keep(
            &self.progress,
            "the failed deploy's history record was not written",
            appended,
        );
        let closed = incident::close_interrupted(incident, recovery, &self.progress.redactor);
        notes.keep(&self.progress, "the incident was not closed", closed);
    }
}
