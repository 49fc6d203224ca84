//! The compose engine: releases applied with the compose tool (`docker
//! compose` v2 where it works, else `docker-compose` v1, the same project
//! name either way), containers, logs and images through the Docker API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;
use tokio::sync::OnceCell;

use super::docker::DockerApi;
use super::{Container, Engine, EngineError, LogWindow, PullProgress, StackView};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// `docker compose`
    Plugin,
    /// `docker-compose`
    Standalone,
}

impl Tool {
    /// Finds a compose tool: `docker compose` (v2) where it works, else
    /// `docker-compose` (v1). `PITWALL_COMPOSE=plugin|docker-compose`
    /// insists on one.
    async fn detect() -> Result<Tool, EngineError> {
        const INSTALL: &str = "install one (Debian: apt-get install docker-compose; v2: a docker-compose binary in ~/.docker/cli-plugins)";
        let forced = std::env::var("PITWALL_COMPOSE")
            .ok()
            .filter(|v| !v.is_empty());
        // v1 is a (slow to start) Python program: finding it on PATH is
        // enough; only the plugin needs a probe run.
        let standalone = || which::which("docker-compose").is_ok();
        match forced.as_deref() {
            None if plugin_works().await => Ok(Tool::Plugin),
            None if standalone() => Ok(Tool::Standalone),
            None => Err(EngineError::Unavailable(format!(
                "neither `docker compose` nor `docker-compose` works here; {INSTALL}"
            ))),
            Some("plugin") if plugin_works().await => Ok(Tool::Plugin),
            Some("docker-compose") if standalone() => Ok(Tool::Standalone),
            Some(tool @ ("plugin" | "docker-compose")) => Err(EngineError::Unavailable(format!(
                "PITWALL_COMPOSE={tool}, but that compose tool does not work here; {INSTALL}"
            ))),
            Some(other) => Err(EngineError::Unavailable(format!(
                "PITWALL_COMPOSE is `{other}`: use `plugin` (docker compose) or `docker-compose`"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Tool::Plugin => "docker compose",
            Tool::Standalone => "docker-compose",
        }
    }
}

async fn plugin_works() -> bool {
    Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// The containers and logs of one compose project, over a Docker
/// connection made on first use (a check that only speaks HTTP never needs
/// Docker).
pub struct ProjectView {
    project: String,
    docker: OnceCell<Result<DockerApi, String>>,
}

impl ProjectView {
    pub fn new(project: &str) -> ProjectView {
        ProjectView {
            project: project.to_string(),
            docker: OnceCell::new(),
        }
    }

    async fn docker(&self) -> Result<&DockerApi, EngineError> {
        self.docker
            .get_or_init(|| async { DockerApi::connect().await.map_err(|e| e.to_string()) })
            .await
            .as_ref()
            .map_err(|e| EngineError::Unavailable(e.clone()))
    }
}

#[async_trait::async_trait]
impl StackView for ProjectView {
    async fn containers(&self, services: Option<&[String]>) -> Result<Vec<Container>, EngineError> {
        self.docker()
            .await?
            .containers(&self.project, services)
            .await
    }

    async fn logs(&self, service: &str, window: LogWindow) -> Result<Vec<String>, EngineError> {
        self.docker()
            .await?
            .logs(&self.project, service, window)
            .await
    }
}

/// A compose stack on this host.
pub struct Compose {
    tool: Tool,
    file: PathBuf,
    env_file: Option<PathBuf>,
    /// Service → key: the compose variable `KEY_IMAGE` carries its image.
    keys: BTreeMap<String, String>,
    view: ProjectView,
}

impl Compose {
    /// Project `project` of compose file `file` (with `env_file`), whose
    /// services take their image from `KEY_IMAGE` (`keys`: service → KEY).
    /// Finds the compose tool and connects to Docker: either missing is an
    /// `Unavailable` error, before anything is touched.
    pub async fn connect(
        project: &str,
        file: &Path,
        env_file: Option<&Path>,
        keys: &BTreeMap<String, String>,
    ) -> Result<Compose, EngineError> {
        let tool = Tool::detect().await?;
        let docker = DockerApi::connect().await?;
        Ok(Compose {
            tool,
            file: file.to_path_buf(),
            env_file: env_file.map(Path::to_path_buf),
            keys: keys.clone(),
            view: ProjectView {
                project: project.to_string(),
                docker: OnceCell::new_with(Some(Ok(docker))),
            },
        })
    }

    /// A compose command with the project, file, env file and the image
    /// variables of `images`. Every service's variable is set (to `none` when
    /// `images` lacks it), so a file that requires them still parses.
    fn command(&self, images: &BTreeMap<String, String>, args: &[&str]) -> Command {
        let mut cmd = match self.tool {
            Tool::Plugin => {
                let mut c = Command::new("docker");
                c.arg("compose");
                c
            }
            Tool::Standalone => Command::new("docker-compose"),
        };
        cmd.arg("--project-name")
            .arg(&self.view.project)
            .arg("--file")
            .arg(&self.file);
        if let Some(env) = &self.env_file {
            cmd.arg("--env-file").arg(env);
        }
        for (service, key) in &self.keys {
            let image = images.get(service).map_or("none", String::as_str);
            cmd.env(format!("{key}_IMAGE"), image);
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    async fn run(
        &self,
        images: &BTreeMap<String, String>,
        args: &[&str],
        fail: fn(String) -> EngineError,
    ) -> Result<(), EngineError> {
        let tool = self.tool.name();
        let out = self
            .command(images, args)
            .output()
            .await
            .map_err(|e| EngineError::Unavailable(format!("cannot run {tool}: {e}")))?;
        if out.status.success() {
            return Ok(());
        }
        Err(fail(format!(
            "`{tool} {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )))
    }
}

#[async_trait::async_trait]
impl StackView for Compose {
    async fn containers(&self, services: Option<&[String]>) -> Result<Vec<Container>, EngineError> {
        self.view.containers(services).await
    }

    async fn logs(&self, service: &str, window: LogWindow) -> Result<Vec<String>, EngineError> {
        self.view.logs(service, window).await
    }
}

#[async_trait::async_trait]
impl Engine for Compose {
    fn name(&self) -> String {
        self.tool.name().to_string()
    }

    async fn image_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.view.docker().await?.image_digest(reference).await
    }

    async fn pull(&self, reference: &str, progress: PullProgress<'_>) -> Result<(), EngineError> {
        self.view.docker().await?.pull(reference, progress).await
    }

    async fn apply(&self, images: &BTreeMap<String, String>) -> Result<(), EngineError> {
        self.run(
            images,
            &["up", "--detach", "--remove-orphans"],
            EngineError::Apply,
        )
        .await
    }

    async fn remove(&self) -> Result<(), EngineError> {
        self.run(
            &BTreeMap::new(),
            &["down", "--remove-orphans"],
            EngineError::Call,
        )
        .await
    }
}
