//! A canary promotion (`[traffic] steps`): after the verify checks passed
//! on the preview, users are moved in shares (`"10%"`), each share judged by
//! the watch checks for a while (`"wait 2m"`), with manual gates
//! (`"pause"`) answered by `pitwall promote` or `pitwall abort`; a wait
//! whose checks were inconclusive pauses the same way. Any failure is the
//! release's: the deploy's failure path switches users back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::verify::{JudgedFrom, Since, Target};
use super::{Deployer, Failure, Stop, Stoppable, ms};
use crate::checks::Outcome;
use crate::clock;
use crate::config::{Phase, Step};
use crate::release::Release;
use crate::release::gate::{self, Decision, Gate};
use crate::release::history::{CheckResult, FailureMode};
use crate::release::lock::{Lock, LockPhase};

/// How often a paused deploy looks for an answer.
const POLL: Duration = Duration::from_millis(250);

impl Deployer {
    /// Runs `steps` for `release`, whose verify results are `checks`;
    /// returns every result and where the final watch window opens.
    pub(super) async fn canary(
        &self,
        release: &Release,
        steps: &[Step],
        mut checks: Vec<CheckResult>,
        durations: &mut BTreeMap<String, u64>,
        lock: &mut Lock,
    ) -> Result<(Vec<CheckResult>, JudgedFrom), Failure> {
        let t = Instant::now();
        let mut share = 0u8;
        for (i, step) in steps.iter().enumerate() {
            self.progress.step(&format!(
                "canary of release {}, step {}/{}: {step}",
                release.id,
                i + 1,
                steps.len()
            ));
            let failed = |mut f: Failure, checks: &[CheckResult]| {
                f.checks = [checks.to_vec(), f.checks].concat();
                f
            };
            match *step {
                Step::Weight(to) => {
                    let moved = self.engine.weigh(to).await.map_err(|e| {
                        failed(
                            Failure::new(
                                FailureMode::Runtime,
                                format!("canary step {step} failed: {e}"),
                            ),
                            &checks,
                        )
                    })?;
                    for p in &moved {
                        self.moved(p);
                    }
                    share = to;
                }
                Step::Wait(window) => {
                    let _ = lock.phase(LockPhase::Soaking);
                    let target = Target {
                        release,
                        project: &self.config.stack.project,
                        judged_from: JudgedFrom::now(Since::Shared(share)),
                    };
                    let more = self
                        .phase(Phase::Watch, &target, window, Stoppable::BySignal)
                        .await
                        .map_err(|f| failed(f, &checks))?;
                    // A check that could not tell is a person's to judge.
                    let unsure: Vec<String> = more
                        .iter()
                        .filter(|c| c.enforced && c.verdict.outcome == Outcome::Inconclusive)
                        .map(|c| format!("`{}`", c.name))
                        .collect();
                    checks.extend(more);
                    if !unsure.is_empty() {
                        self.progress.line(&format!(
                            "{} could not tell at {share}% of users: pausing for a person",
                            unsure.join(", ")
                        ));
                        self.pause(release, steps, i, share, &checks)
                            .await
                            .map_err(|f| failed(f, &checks))?;
                    }
                }
                Step::Pause => {
                    self.pause(release, steps, i, share, &checks)
                        .await
                        .map_err(|f| failed(f, &checks))?;
                }
            }
        }
        durations.insert("canary".into(), ms(t.elapsed()));
        Ok((checks, JudgedFrom::now(Since::Verified)))
    }

    /// Opens the gate and waits for its answer (or a signal).
    async fn pause(
        &self,
        release: &Release,
        steps: &[Step],
        at: usize,
        share: u8,
        checks: &[CheckResult],
    ) -> Result<(), Failure> {
        let dir = self.state_dir();
        let gate = Gate {
            release_id: release.id.clone(),
            step: at + 1,
            steps: steps.iter().map(ToString::to_string).collect(),
            share,
            since: clock::now_rfc3339(),
            verdicts: checks.iter().map(|c| (c.name.clone(), c.passed)).collect(),
        };
        gate::open(dir, &gate).map_err(|e| {
            Failure::new(
                FailureMode::Runtime,
                format!("cannot open the gate in {}: {e}", dir.display()),
            )
        })?;
        self.progress.event(crate::report::Event::Gate {
            release_id: release.id.clone(),
            step: at + 1,
            share,
        });
        self.progress.line(&format!(
            "release {} waits with {share}% of users: `pitwall promote` goes on, `pitwall abort` \
             switches users back",
            release.id
        ));
        let answered = loop {
            match gate::answer(dir) {
                Ok(Some(answer)) => break answer,
                Ok(None) => {}
                Err(e) => {
                    self.progress
                        .line(&format!("warning: the gate's answer cannot be read: {e}"));
                }
            }
            tokio::select! {
                () = self.cancel.cancelled() => {
                    let _ = gate::close(dir);
                    return Err(Failure::stopped(Stop::Signal, "cancelled by a signal at a pause".into()));
                }
                () = tokio::time::sleep(POLL) => {}
            }
        };
        let closed = gate::close(dir);
        if let Err(e) = closed {
            self.progress
                .line(&format!("warning: the gate was not removed: {e}"));
        }
        match answered.decision {
            Decision::Promote => {
                self.progress.line(&format!("promoted by {}", answered.by));
                Ok(())
            }
            Decision::Abort => Err(Failure::stopped(
                Stop::Abort,
                format!(
                    "aborted by {} at step {} (`pitwall abort`)",
                    answered.by,
                    at + 1
                ),
            )),
        }
    }
}
