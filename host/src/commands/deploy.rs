//! `pitwall deploy | rollback | recover`.

mod announce;
mod summary;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use crate::cli::{DeployArgs, Pull, ReleaseArgs, RolloutArgs, StackArgs};
use crate::config::Config;
use crate::exit::Exit;
use crate::release::history::Action;
use crate::report::{self, Ending, Event, Events, Progress, Redactor};
use crate::rollout::{Attribution, Cancel, Conclusion, PullPolicy, Refused, Report, Request};

pub use announce::{Act, run};

pub use super::stack::Backend;
use super::stack::load_config;

/// The deploy request `args` describe.
pub fn request(args: &ReleaseArgs, soak: Duration) -> anyhow::Result<Request> {
    let request = Request {
        release_id: args.release_id.clone(),
        images: parse_images(&args.images)?,
        pull: match args.pull {
            Pull::Always => PullPolicy::Always,
            Pull::Missing => PullPolicy::Missing,
            Pull::Never => PullPolicy::Never,
        },
        soak,
        force: args.force,
    };
    Ok(request)
}

/// `pitwall deploy` on `backend` (default: the stack's engine).
pub async fn deploy(args: &DeployArgs, backend: Option<Backend>) -> anyhow::Result<ExitCode> {
    if args.dry_run {
        return super::plan::plan(&args.release).await;
    }
    let request = request(&args.release, args.soak)?;
    let run = Run::start(
        &args.release.stack,
        &args.rollout,
        Action::Deploy,
        Some(request.release_id.as_str()),
    )?;
    let cancel = Cancel::new();
    tokio::spawn(stop_on_signals(cancel.clone()));
    let result = run.act(backend, Act::Deploy(&request, cancel)).await;
    run.finish(result)
}

/// `pitwall rollback` on `backend` (default: the stack's engine).
pub async fn rollback(
    to: Option<&str>,
    stack: &StackArgs,
    rollout: &RolloutArgs,
    backend: Option<Backend>,
) -> anyhow::Result<ExitCode> {
    let run = Run::start(stack, rollout, Action::Rollback, to)?;
    let result = run.act(backend, Act::Rollback(to)).await;
    run.finish(result)
}

/// `pitwall recover` on `backend` (default: the stack's engine); `force`
/// takes over another host's lock.
pub async fn recover(
    force: bool,
    stack: &StackArgs,
    rollout: &RolloutArgs,
    backend: Option<Backend>,
) -> anyhow::Result<ExitCode> {
    let run = Run::start(stack, rollout, Action::Recover, None)?;
    let result = run.act(backend, Act::Recover { force }).await;
    run.finish(result)
}

/// One deploy, rollback or recovery as the operator and CI see it: its
/// configuration, its progress (GitHub Actions, `--events`), who asked for
/// it and why.
struct Run {
    config: Config,
    progress: Progress,
    attribution: Attribution,
    action: Action,
    release_id: Option<String>,
    json: bool,
}

impl Run {
    /// Loads the configuration, opens the event stream and tells it what
    /// starts. Until the configuration is loaded there is nothing to scrub
    /// output with, so a configuration that cannot be used ends the command
    /// before the stream begins.
    fn start(
        stack: &StackArgs,
        args: &RolloutArgs,
        action: Action,
        release_id: Option<&str>,
    ) -> anyhow::Result<Run> {
        let events_to_stdout = args.events.as_deref() == Some(Path::new("-"));
        if events_to_stdout && stack.json {
            return Err(Refused::new(
                "--events - and --json both write to stdout: send the events to a file \
                 (--events events.ndjson) or leave out --json",
            )
            .into());
        }
        let config = load_config(stack)?;
        let mut progress = Progress::new(Redactor::new(config.secrets.clone()));
        if let Some(target) = &args.events {
            let events = Events::open(target).map_err(|e| {
                Refused::because(
                    format!("cannot create the event stream {}", target.display()),
                    e,
                )
            })?;
            progress = progress.with_events(events);
        }
        let attribution = Attribution {
            actor: Some(crate::whoami::actor(args.actor.as_deref())),
            message: args.message.clone().filter(|m| !m.trim().is_empty()),
        };
        progress.event(Event::Started {
            action,
            release_id: release_id.map(Into::into),
            actor: attribution.actor.clone().unwrap_or_default(),
            message: attribution.message.clone(),
            host: crate::whoami::host(),
        });
        Ok(Run {
            config,
            progress,
            attribution,
            action,
            release_id: release_id.map(Into::into),
            json: stack.json,
        })
    }

    /// Preflight and the command on `backend` (default: the stack's
    /// engine), then the announcements (webhooks, hooks).
    async fn act(&self, backend: Option<Backend>, act: Act<'_>) -> anyhow::Result<Report> {
        let backend = match backend {
            Some(b) => Ok(b),
            None => Backend::for_stack(&self.config).await,
        };
        run(
            self.config.clone(),
            self.progress.clone(),
            self.attribution.clone(),
            backend,
            act,
        )
        .await
    }

    /// Tells CI how it ended (the last group, an error annotation, the step
    /// summary, the last event), then prints the report.
    fn finish(&self, result: anyhow::Result<Report>) -> anyhow::Result<ExitCode> {
        let (ending, exit, message) = match &result {
            Ok(r) => (
                match r.conclusion {
                    Conclusion::Released => Ending::Released,
                    Conclusion::RolledBack => Ending::RolledBack,
                    Conclusion::NotRecovered => Ending::NotRecovered,
                },
                Exit::of_conclusion(r.conclusion),
                r.message.clone(),
            ),
            Err(e) => {
                let exit = Exit::of_error(e);
                let ending = if exit == Exit::Refused {
                    Ending::Refused
                } else {
                    Ending::Error
                };
                (ending, exit, format!("{e:#}"))
            }
        };
        let report = result.as_ref().ok();
        let record = report.map(|r| &r.record);
        self.progress.finish(
            ending,
            exit.code(),
            &message,
            record.and_then(|r| r.incident.as_deref()),
            || {
                summary::markdown(&summary::Ended {
                    action: self.action,
                    release_id: record
                        .map_or(self.release_id.as_deref(), |r| Some(r.release_id.as_str())),
                    ending,
                    exit_code: exit.code(),
                    message: &message,
                    record,
                    bookkeeping: report.map_or(&[], |r| &r.bookkeeping),
                })
            },
        );
        // main prints an error through `report::warn`, which redacts it.
        let report = result?;
        print(&report, self.json, self.progress.events_on_stdout())?;
        Ok(exit.into())
    }
}

/// SIGINT or SIGTERM (Ctrl-C, a CI cancellation): the first ends the
/// running verify or soak phase (a pull or an apply in progress finishes
/// first), then the release is rolled back and recorded as cancelled; a
/// second stops at once, leaving the lock for `pitwall recover`.
async fn stop_on_signals(cancel: Cancel) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        report::warn("warning: cannot watch for signals; Ctrl-C stops the deploy at once");
        return;
    };
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    report::warn(
        "signal received: stopping the checks, then rolling back to the previous release; \
         signal again to stop at once (then run `pitwall recover`)",
    );
    cancel.cancel();
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    report::warn("second signal: stopping now; the lock stays, run `pitwall recover`");
    std::process::exit(Exit::Interrupted.code().into());
}

/// Reads `--image SERVICE=REF` values.
fn parse_images(values: &[String]) -> Result<BTreeMap<String, String>, Refused> {
    let mut out = BTreeMap::new();
    for v in values {
        let (service, reference) = v
            .split_once('=')
            .filter(|(s, r)| !s.is_empty() && !r.is_empty())
            .ok_or_else(|| {
                Refused::new(format!(
                    "--image `{v}` must be SERVICE=REF, e.g. api=registry/api:1.4"
                ))
            })?;
        if out
            .insert(service.to_string(), reference.to_string())
            .is_some()
        {
            return Err(Refused::new(format!("--image names `{service}` twice")));
        }
    }
    Ok(out)
}

/// The `--json` form of a report.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Printed<'a> {
    outcome: Conclusion,
    exit_code: u8,
    message: &'a str,
    record: &'a crate::release::history::Record,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    bookkeeping: &'a [String],
}

/// Prints `report` on stdout, or on stderr when the event stream has stdout.
fn print(report: &Report, json: bool, to_stderr: bool) -> anyhow::Result<()> {
    let exit = Exit::of_conclusion(report.conclusion);
    if json {
        report::print_json(&Printed {
            outcome: report.conclusion,
            exit_code: exit.code(),
            message: &report.message,
            record: &report.record,
            bookkeeping: &report.bookkeeping,
        })?;
    } else {
        let mut text = format!("{}\n", report.message);
        for (k, v) in &report.record.durations_ms {
            text.push_str(&format!("  {k:<22} {:.1}s\n", *v as f64 / 1000.0));
        }
        if to_stderr {
            report::warn(text.trim_end());
        } else {
            report::print(&text)?;
        }
    }
    for note in &report.bookkeeping {
        report::warn(&format!(
            "WARNING: bookkeeping failed (the outcome above still holds): {note}"
        ));
    }
    Ok(())
}
