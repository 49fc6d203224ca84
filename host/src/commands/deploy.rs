//! `pitwall deploy | rollback | recover`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::checks::{Cache, Compiler, Runtime};
use crate::cli::{DeployArgs, Pull, ReleaseArgs, StackArgs};
use crate::config::{Config, EngineKind, Overrides, read_env_file};
use crate::engine::{Compose, ComposeFile, Engine, Swarm};
use crate::exit::Exit;
use crate::report::{self, Progress, Redactor};
use crate::rollout::{
    Cancel, Conclusion, Deployer, PullPolicy, Refused, Report, Request, validate_release_id,
};

mod announce;

pub use announce::{Act, run};

pub fn overrides(stack: &StackArgs) -> Overrides {
    Overrides {
        env_file: stack.env_file.clone(),
        project: stack.project.clone(),
        state_dir: stack.state_dir.clone(),
        health_url: stack.health_url.clone(),
    }
}

/// Loads and validates the configuration for a command that changes the
/// stack; problems are refusals.
pub fn load_config(stack: &StackArgs) -> anyhow::Result<Config> {
    Config::load(&stack.config, &overrides(stack))
        .map_err(|e| Refused::because("the configuration cannot be used", e).into())
}

/// Reads the configuration for a command that only reads (the state, the
/// containers): no env file needed.
pub fn read_config(stack: &StackArgs) -> anyhow::Result<Config> {
    Config::read(&stack.config, &overrides(stack))
        .map_err(|e| Refused::because("the configuration cannot be read", e).into())
}

/// The compose file of `config`, with the compose tool found.
pub async fn compose_file(config: &Config) -> anyhow::Result<ComposeFile> {
    let s = &config.stack;
    ComposeFile::detect(
        &s.project,
        &s.compose_file,
        s.env_file.as_deref(),
        &s.services,
    )
    .await
    .map_err(|e| Refused::because("preflight", e).into())
}

/// Preflight on the compose engine: configuration, compose tool, Docker,
/// every check loaded and its configuration accepted.
pub async fn deployer(config: Config) -> anyhow::Result<Deployer> {
    let (engine, runtime) = setup(&config).await?;
    let progress = Progress::new(Redactor::new(config.secrets.clone()));
    Deployer::preflight(config, engine, runtime, progress).await
}

/// The engine (compose: tool and Docker found; swarm: a manager) and the
/// check runtime.
async fn setup(config: &Config) -> anyhow::Result<(Arc<dyn Engine>, Runtime)> {
    let s = &config.stack;
    let engine: Arc<dyn Engine> = match s.engine {
        EngineKind::Compose => Arc::new(
            Compose::connect(compose_file(config).await?)
                .await
                .map_err(|e| Refused::because("preflight", e))?,
        ),
        EngineKind::Swarm => {
            let env = match &s.env_file {
                Some(f) => read_env_file(f, "the env file")?,
                None => Default::default(),
            };
            Arc::new(
                Swarm::connect(
                    &s.project,
                    &s.compose_file,
                    env,
                    &s.services,
                    s.wait_timeout,
                )
                .await
                .map_err(|e| Refused::because("preflight", e))?,
            )
        }
    };
    let runtime = Runtime::new(Cache::from_env(), Compiler::isolated()?)
        .map_err(|e| Refused::because("cannot start the check runtime", e))?;
    Ok((engine, runtime))
}

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
    validate_release_id(&request.release_id)?;
    Ok(request)
}

pub async fn deploy(args: &DeployArgs) -> anyhow::Result<ExitCode> {
    if args.dry_run {
        return super::plan::plan(&args.release).await;
    }
    let request = request(&args.release, args.soak)?;
    let cancel = Cancel::new();
    let config = load_config(&args.release.stack)?;
    let setup = setup(&config).await;
    tokio::spawn(stop_on_signals(cancel.clone()));
    let report = run(config, setup, Act::Deploy(&request, cancel)).await?;
    print(&report, args.release.stack.json)
}

pub async fn rollback(to: Option<&str>, stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(stack)?;
    let setup = setup(&config).await;
    let report = run(config, setup, Act::Rollback(to)).await?;
    print(&report, stack.json)
}

pub async fn recover(force: bool, stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(stack)?;
    let setup = setup(&config).await;
    let report = run(config, setup, Act::Recover { force }).await?;
    print(&report, stack.json)
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
#[derive(Serialize)]
struct Printed<'a> {
    outcome: Conclusion,
    exit_code: u8,
    message: &'a str,
    record: &'a crate::release::history::Record,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    bookkeeping: &'a [String],
}

fn print(report: &Report, json: bool) -> anyhow::Result<ExitCode> {
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
        report::print(&text)?;
    }
    for note in &report.bookkeeping {
        report::warn(&format!(
            "WARNING: bookkeeping failed (the outcome above still holds): {note}"
        ));
    }
    Ok(exit.into())
}
