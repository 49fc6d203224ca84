//! `pitwall demo`: the whole story on the reference stack with three images
//! the caller built (scripts/demo.sh builds them from the fixture app) — a
//! release, a second release, a broken release rolled back automatically,
//! and the history.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};

use crate::cli::{DemoArgs, StackArgs};
use crate::config::{Config, Overrides};
use crate::report;
use crate::rollout::{Conclusion, PullPolicy, Request};

pub async fn demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let config_path = Path::new("deploy/pitwall.toml");
    ensure!(
        config_path.is_file(),
        "run the demo from the repository root (deploy/pitwall.toml not found)"
    );
    let work = Path::new("target/demo");
    if work.exists() {
        std::fs::remove_dir_all(work).context("cannot clear target/demo")?;
    }
    std::fs::create_dir_all(work)?;
    let env_file = std::path::absolute(work.join(".env.demo"))?;
    std::fs::write(
        &env_file,
        format!(
            "SECRET_KEY=demo-secret-never-printed\nFRONTEND_PORT={}\n",
            args.port
        ),
    )?;
    let overrides = Overrides {
        env_file: Some(env_file),
        project: Some("pitwall-demo".into()),
        state_dir: Some(std::path::absolute(work.join("releases"))?),
        health_url: None,
    };
    let d = super::stack::deployer(Config::load(config_path, &overrides)?).await?;

    let both = |image: &str| {
        BTreeMap::from([
            ("api".to_string(), image.to_string()),
            ("frontend".to_string(), image.to_string()),
        ])
    };
    let mut outcomes = Vec::new();
    for (release, image, expected) in [
        ("1.0", &args.good, Conclusion::Released),
        ("1.1", &args.next, Conclusion::Released),
        ("1.2", &args.broken, Conclusion::RolledBack),
    ] {
        report::warn(&format!(
            "\n######## pitwall deploy --release-id {release} --image api={image} --image frontend={image}"
        ));
        let request = Request {
            release_id: release.parse()?,
            images: both(image),
            pull: PullPolicy::Missing,
            soak: Duration::from_secs(2),
            force: false,
        };
        let report = d.deploy(&request).await?;
        report::print(&format!("{release}: {}\n", report.message))?;
        outcomes.push((release, report.conclusion, expected));
    }

    report::warn("\n######## pitwall history");
    let stack_args = StackArgs {
        config: config_path.to_path_buf(),
        env_file: overrides.env_file.clone(),
        project: overrides.project.clone(),
        state_dir: overrides.state_dir.clone(),
        health_url: None,
        json: false,
    };
    super::status::history(&stack_args).await?;

    if !args.keep {
        d.remove_stack().await?;
    }
    for (release, got, expected) in &outcomes {
        if got != expected {
            bail!("demo: release {release} ended {got:?}, expected {expected:?}");
        }
    }
    report::print(
        "\ndemo ok: 1.0 and 1.1 released, 1.2 rolled back to 1.1 automatically (state in target/demo/releases)\n",
    )?;
    Ok(ExitCode::SUCCESS)
}
