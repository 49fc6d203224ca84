//! The end of a deploy, rollback or recovery, told to the outside: the
//! `[[notify]]` webhooks and the post_deploy / on_failure hooks, run at
//! once after the lock is released. Neither can change the outcome or the
//! exit code: a failure is a warning on stderr.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::{Config, Hooks, Notify, Outcome, Stage};
use crate::exit::Exit;
use crate::hooks::{self, Vars};
use crate::notify::{self, Event, SCHEMA_VERSION};
use crate::release::history::Action;
use crate::report::{self, Progress};
use crate::rollout::{Attribution, Cancel, Conclusion, Deployer, Report, Request};

use crate::commands::stack::Backend;

/// What the command was asked to do.
pub enum Act<'a> {
    Deploy(&'a Request, Cancel),
    Rollback(Option<&'a str>),
    Recover {
        /// Take over another host's lock (`recover --force`).
        force: bool,
    },
}

impl Act<'_> {
    fn action(&self) -> Action {
        match self {
            Act::Deploy(..) => Action::Deploy,
            Act::Rollback(_) => Action::Rollback,
            Act::Recover { .. } => Action::Recover,
        }
    }

    /// The release asked for, before any record says more.
    fn release_id(&self) -> Option<&str> {
        match self {
            Act::Deploy(r, _) => Some(r.release_id.as_str()),
            Act::Rollback(to) => *to,
            Act::Recover { .. } => None,
        }
    }
}

/// Preflight on `setup` (the engine and the check runtime, or why they
/// could not be had: a refusal), the command, then the announcements.
/// Everything after the configuration is loaded is announced; a
/// configuration that cannot be loaded names no one to tell.
pub async fn run(
    config: Config,
    progress: Progress,
    attribution: Attribution,
    backend: anyhow::Result<Backend>,
    act: Act<'_>,
) -> anyhow::Result<Report> {
    let teller = Teller {
        notify: config.notify.clone(),
        hooks: config.hooks.clone(),
        project: config.stack.project.clone(),
        state_dir: config.stack.state_dir.clone(),
        progress: progress.clone(),
    };
    let action = act.action();
    let release_id = act.release_id().map(str::to_string);
    let result = async {
        let Backend { engine, runtime } = backend?;
        let d = Deployer::preflight(config, engine, runtime, progress)
            .await?
            .attributed(attribution);
        match act {
            Act::Deploy(request, cancel) => d.cancellable(cancel).deploy(request).await,
            Act::Rollback(to) => d.rollback(to).await,
            Act::Recover { force } => d.recover(force).await,
        }
    }
    .await;
    teller.tell(action, release_id, &result).await;
    result
}

/// What announcing needs, kept from the configuration the deployer takes.
struct Teller {
    notify: Vec<Notify>,
    hooks: Hooks,
    project: String,
    state_dir: PathBuf,
    progress: Progress,
}

impl Teller {
    async fn tell(
        &self,
        action: Action,
        release_id: Option<String>,
        result: &anyhow::Result<Report>,
    ) {
        let event = self.event(action, release_id, result);
        let stage = match event.outcome {
            Outcome::Released | Outcome::Restored => Some(Stage::PostDeploy),
            Outcome::RolledBack | Outcome::NotRecovered => Some(Stage::OnFailure),
            Outcome::Refused => None,
        };
        let hook = async {
            let stage = stage?;
            let images: BTreeMap<String, String> = event
                .record
                .iter()
                .flat_map(|r| &r.images)
                .map(|(s, i)| (s.clone(), i.reference.clone()))
                .collect();
            let vars = Vars::new(
                &event.project,
                event.action,
                event.release_id.as_deref(),
                event.previous_release_id.as_deref(),
                &images,
                &self.state_dir,
            )
            .ended(
                event.outcome,
                event.exit_code,
                &event.message,
                event.record.as_ref().and_then(|r| r.incident.as_deref()),
            );
            hooks::run(&self.hooks, stage, &vars, &self.progress)
                .await
                .err()
        };
        let (warnings, failed) = tokio::join!(
            notify::send_all(&self.notify, &event, &self.progress.redactor),
            hook
        );
        for w in warnings {
            report::warn(&format!("WARNING: {w}"));
        }
        if let Some(e) = failed {
            report::warn(&format!(
                "WARNING (the outcome stands): {}",
                self.progress.redactor.apply(&e.to_string())
            ));
        }
    }

    fn event(
        &self,
        action: Action,
        release_id: Option<String>,
        result: &anyhow::Result<Report>,
    ) -> Event {
        let (outcome, exit, message, report) = match result {
            Ok(report) => {
                let outcome = match (report.conclusion, action) {
                    (Conclusion::Released, Action::Deploy) => Outcome::Released,
                    (Conclusion::Released, _) => Outcome::Restored,
                    (Conclusion::RolledBack, _) => Outcome::RolledBack,
                    (Conclusion::NotRecovered, _) => Outcome::NotRecovered,
                };
                let exit = Exit::of_conclusion(report.conclusion);
                (outcome, exit, report.message.clone(), Some(report))
            }
            Err(e) => {
                let exit = Exit::of_error(e);
                // An error that is not a refusal may have left the stack
                // anywhere: a human is needed.
                let outcome = if exit == Exit::Refused {
                    Outcome::Refused
                } else {
                    Outcome::NotRecovered
                };
                (outcome, exit, format!("{e:#}"), None)
            }
        };
        Event {
            schema_version: SCHEMA_VERSION,
            outcome,
            project: self.project.clone(),
            action,
            release_id: report.map(|r| r.record.release_id.clone()).or(release_id),
            previous_release_id: report.and_then(|r| r.previous_release_id.clone()),
            exit_code: exit.code(),
            message: self.progress.redactor.apply(&message),
            record: report.map(|r| r.record.clone()),
            bookkeeping: report.map(|r| r.bookkeeping.clone()).unwrap_or_default(),
        }
    }
}
