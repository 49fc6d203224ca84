//! `pitwall deploy | rollback | recover`.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{Pull, StackArgs};
use crate::config::{Config, Overrides};
use crate::report::{Progress, Redactor};
use crate::rollout::{Deployer, PullPolicy, Refused, Report, parse_images};

/// Loads and validates the configuration; problems are refusals.
pub fn load_config(stack: &StackArgs) -> anyhow::Result<Config> {
    let overrides = Overrides {
        env_file: stack.env_file.clone(),
        project: stack.project.clone(),
        state_dir: stack.state_dir.clone(),
        health_url: stack.health_url.clone(),
    };
    Config::load(&stack.config, &overrides).map_err(|e| Refused(format!("{e:#}")).into())
}

async fn deployer(stack: &StackArgs) -> anyhow::Result<Deployer> {
    let config = load_config(stack)?;
    let redactor = Redactor::new(config.secrets.clone());
    Deployer::preflight(config, Progress::new(redactor)).await
}

pub async fn deploy(
    images: &[String],
    release_id: &str,
    pull: Pull,
    soak: Duration,
    stack: &StackArgs,
) -> anyhow::Result<ExitCode> {
    let images = parse_images(images).map_err(|e| Refused(format!("{e:#}")))?;
    let d = deployer(stack).await?;
    let policy = match pull {
        Pull::Always => PullPolicy::Always,
        Pull::Missing => PullPolicy::Missing,
        Pull::Never => PullPolicy::Never,
    };
    let report = d.deploy(release_id, &images, policy, soak).await?;
    print(&report, stack.json)
}

pub async fn rollback(to: Option<&str>, stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let d = deployer(stack).await?;
    let report = d.rollback(to).await?;
    print(&report, stack.json)
}

pub async fn recover(stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let d = deployer(stack).await?;
    let report = d.recover().await?;
    print(&report, stack.json)
}

pub fn print(report: &Report, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        crate::report::print_json(report)?;
    } else {
        println!("{}", report.message);
        for (k, v) in &report.record.durations_ms {
            println!("  {k:<22} {:.1}s", *v as f64 / 1000.0);
        }
    }
    Ok(ExitCode::from(report.exit_code))
}
