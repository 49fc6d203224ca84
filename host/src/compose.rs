//! Driving the compose tool: `docker compose` (v2) where it exists, else
//! `docker-compose` (v1), with the same project name either way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context as _, bail};
use tokio::process::Command;

use crate::config::Stack;

async fn plugin_works() -> bool {
    Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `docker compose`
    Plugin,
    /// `docker-compose`
    Standalone,
}

#[derive(Debug, Clone)]
pub struct Compose {
    tool: Tool,
    file: PathBuf,
    project: String,
    env_file: Option<PathBuf>,
}

impl Compose {
    /// Finds a compose tool; `PITWALL_COMPOSE=docker-compose` forces v1.
    pub async fn detect(stack: &Stack) -> anyhow::Result<Compose> {
        let forced = std::env::var("PITWALL_COMPOSE").ok();
        // Only the plugin needs a probe run; v1 is a (slow to start) Python
        // program, so finding it on PATH is enough.
        let tool = if forced.as_deref() != Some("docker-compose") && plugin_works().await {
            Tool::Plugin
        } else if which::which("docker-compose").is_ok() {
            Tool::Standalone
        } else {
            bail!(
                "neither `docker compose` nor `docker-compose` works here; install one (Debian: apt-get install docker-compose)"
            );
        };
        Ok(Compose {
            tool,
            file: stack.compose_file.clone(),
            project: stack.project.clone(),
            env_file: stack.env_file.clone(),
        })
    }

    pub fn tool(&self) -> &'static str {
        match self.tool {
            Tool::Plugin => "docker compose",
            Tool::Standalone => "docker-compose",
        }
    }

    /// A compose command with the project, file, env file and the image
    /// variables (`KEY_IMAGE`) of the release to apply.
    fn command(&self, images: &BTreeMap<String, String>) -> Command {
        let mut cmd = match self.tool {
            Tool::Plugin => {
                let mut c = Command::new("docker");
                c.arg("compose");
                c
            }
            Tool::Standalone => Command::new("docker-compose"),
        };
        cmd.arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(&self.file);
        if let Some(env) = &self.env_file {
            cmd.arg("--env-file").arg(env);
        }
        cmd.envs(images);
        cmd.stdin(Stdio::null());
        cmd
    }

    async fn run(
        &self,
        images: &BTreeMap<String, String>,
        args: &[&str],
    ) -> anyhow::Result<String> {
        let out = self
            .command(images)
            .args(args)
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.tool()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!(
                "`{} {}` failed ({}):\n{}",
                self.tool(),
                args.join(" "),
                out.status,
                text.trim_end()
            );
        }
        Ok(text)
    }

    /// `up -d --remove-orphans` with the given image variables.
    pub async fn up(&self, images: &BTreeMap<String, String>) -> anyhow::Result<String> {
        self.run(images, &["up", "--detach", "--remove-orphans"])
            .await
    }

    /// Stops and removes the project's containers (used by `demo`).
    pub async fn down(&self, images: &BTreeMap<String, String>) -> anyhow::Result<String> {
        self.run(images, &["down", "--remove-orphans"]).await
    }
}
