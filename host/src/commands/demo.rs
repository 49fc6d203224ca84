//! `pitwall demo`: the whole story on the reference stack with fixture
//! images built here — a release, a second release, a broken release rolled
//! back automatically, and the history.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};

use crate::config::{Config, Overrides};
use crate::report::{Progress, Redactor};
use crate::rollout::{Deployer, Outcome, PullPolicy};

const DOCKERFILE: &str = include_str!("../../../tests/fixture-app/Dockerfile");
const REPO: &str = "pitwall-demo/app";

/// Builds `REPO:tag` from the fixture binary with its behaviour baked in.
pub fn build_fixture_image(
    fixture_bin: &Path,
    tag: &str,
    mode: &str,
    version: &str,
) -> anyhow::Result<String> {
    let ctx = tempfile::tempdir().context("cannot create a build context")?;
    std::fs::copy(fixture_bin, ctx.path().join("fixture-app"))
        .with_context(|| format!("cannot read the fixture binary {}", fixture_bin.display()))?;
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE)?;
    let out = std::process::Command::new("docker")
        .args(["build", "--quiet", "--build-arg"])
        .arg(format!("MODE={mode}"))
        .arg("--build-arg")
        .arg(format!("VERSION={version}"))
        .arg("--tag")
        .arg(tag)
        .arg(ctx.path())
        .stdin(Stdio::null())
        .output()
        .context("cannot run `docker build`")?;
    ensure!(
        out.status.success(),
        "`docker build` of {tag} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(tag.to_string())
}

pub async fn demo(fixture_bin: &Path, keep: bool, port: u16) -> anyhow::Result<ExitCode> {
    let config_path = Path::new("deploy/pitwall.toml");
    ensure!(
        config_path.is_file(),
        "run the demo from the repository root (deploy/pitwall.toml not found)"
    );
    eprintln!("==> building fixture images");
    let good1 = build_fixture_image(fixture_bin, &format!("{REPO}:1.0"), "healthy", "1.0")?;
    let good2 = build_fixture_image(fixture_bin, &format!("{REPO}:1.1"), "healthy", "1.1")?;
    let broken = build_fixture_image(
        fixture_bin,
        &format!("{REPO}:1.2-broken"),
        "health503",
        "1.2",
    )?;

    let work = Path::new("target/demo");
    if work.exists() {
        std::fs::remove_dir_all(work).context("cannot clear target/demo")?;
    }
    std::fs::create_dir_all(work)?;
    let env_file = std::path::absolute(work.join(".env.demo"))?;
    std::fs::write(
        &env_file,
        format!("SECRET_KEY=demo-secret-never-printed\nFRONTEND_PORT={port}\n"),
    )?;
    let overrides = Overrides {
        env_file: Some(env_file),
        project: Some("pitwall-demo".into()),
        state_dir: Some(std::path::absolute(work.join("releases"))?),
        health_url: None,
    };
    let config = Config::load(config_path, &overrides)?;
    let redactor = Redactor::new(config.secrets.clone());
    let d = Deployer::preflight(config, Progress::new(redactor)).await?;

    let both = |image: &str| {
        BTreeMap::from([
            ("api".to_string(), image.to_string()),
            ("frontend".to_string(), image.to_string()),
        ])
    };
    let mut outcomes = Vec::new();
    for (release, image, expected) in [
        ("1.0", &good1, Outcome::Released),
        ("1.1", &good2, Outcome::Released),
        ("1.2", &broken, Outcome::RolledBack),
    ] {
        eprintln!(
            "\n######## pitwall deploy --release-id {release} --image api={image} --image frontend={image}"
        );
        let report = d
            .deploy(
                release,
                &both(image),
                PullPolicy::Missing,
                Duration::from_secs(2),
            )
            .await?;
        println!("{release}: {}", report.message);
        outcomes.push((release, report.outcome, expected));
    }

    eprintln!("\n######## pitwall history");
    let stack_args = crate::cli::StackArgs {
        config: config_path.to_path_buf(),
        env_file: overrides.env_file.clone(),
        project: overrides.project.clone(),
        state_dir: overrides.state_dir.clone(),
        health_url: None,
        json: false,
    };
    super::status::history(&stack_args).await?;

    if !keep {
        d.down(&both(&good2)).await?;
    }
    for (release, got, expected) in &outcomes {
        if got != expected {
            bail!("demo: release {release} ended {got:?}, expected {expected:?}");
        }
    }
    println!(
        "\ndemo ok: 1.0 and 1.1 released, 1.2 rolled back to 1.1 automatically (state in target/demo/releases)"
    );
    Ok(ExitCode::SUCCESS)
}
