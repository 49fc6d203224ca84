//! The compose engine: releases applied with the compose tool (`docker
//! compose` v2 where it works, else `docker-compose` v1, the same project
//! name either way), containers, logs and images through the Docker API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::OnceCell;

use super::docker::DockerApi;
use super::removed::{Removed, RemovedUnit};
use super::{
    Container, Engine, EngineError, LogLines, LogWindow, Promotion, PullProgress, StackView,
};

mod blue_green;
mod exposure;
mod switch;

pub use blue_green::BlueGreen;
pub use exposure::{preview_exposure, socket_exposure};
pub use switch::{Switch, port_conflicts};

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

    async fn logs(&self, service: &str, window: LogWindow) -> Result<LogLines, EngineError> {
        self.docker()
            .await?
            .logs(&self.project, service, window)
            .await
    }

    async fn follow(&self, service: &str, since_ms: u64) -> Result<LogLines, EngineError> {
        Ok(self
            .docker()
            .await?
            .follow(&self.project, service, since_ms))
    }
}

/// A compose file as the compose tool reads it, with pitwall's variables:
/// runs the tool's commands without needing Docker (`config` needs none).
pub struct ComposeFile {
    tool: Tool,
    project: String,
    file: PathBuf,
    env_file: Option<PathBuf>,
    /// Service → key: the compose variable `KEY_IMAGE` carries its image.
    keys: BTreeMap<String, String>,
}

impl ComposeFile {
    /// Finds the compose tool for project `project` of compose file `file`
    /// (with `env_file`), whose services take their image from `KEY_IMAGE`
    /// (`keys`: service → KEY).
    pub async fn detect(
        project: &str,
        file: &Path,
        env_file: Option<&Path>,
        keys: &BTreeMap<String, String>,
    ) -> Result<ComposeFile, EngineError> {
        Ok(ComposeFile {
            tool: Tool::detect().await?,
            project: project.to_string(),
            file: file.to_path_buf(),
            env_file: env_file.map(Path::to_path_buf),
            keys: keys.clone(),
        })
    }

    /// `docker compose` or `docker-compose`.
    pub fn tool(&self) -> &'static str {
        self.tool.name()
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
            .arg(&self.project)
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
        // If pitwall dies mid-apply (a second signal, a kill), compose stops
        // with it: an orphaned `up` would race the `pitwall recover` that
        // follows, each removing the containers the other is creating.
        // SAFETY: between fork and exec only prctl runs, one
        // async-signal-safe system call on constants: no allocation, no locks.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs a compose command; its stdout when it succeeds.
    async fn run(
        &self,
        images: &BTreeMap<String, String>,
        args: &[&str],
        fail: fn(String) -> EngineError,
    ) -> Result<String, EngineError> {
        let tool = self.tool.name();
        let out = self
            .command(images, args)
            .output()
            .await
            .map_err(|e| EngineError::Unavailable(format!("cannot run {tool}: {e}")))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(fail(format!(
            "`{tool} {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )))
    }

    /// Starts new containers of `service` beside those it has, up to
    /// `count` in all, leaving the others and the rest of the stack alone
    /// (`up --no-deps --no-recreate --scale`): how a start-first or
    /// blue-green switch begins. Compose keeps no record of the scale.
    async fn scale_beside(
        &self,
        images: &BTreeMap<String, String>,
        service: &str,
        count: usize,
    ) -> Result<String, EngineError> {
        let scale = format!("{service}={count}");
        let args = [
            "up",
            "--detach",
            "--no-deps",
            "--no-recreate",
            "--scale",
            &scale,
            service,
        ];
        self.run(images, &args, EngineError::Apply).await
    }

    /// The file as the tool resolves it with `images` (service → reference):
    /// what `up` would apply. The tool's own parser finds every mistake.
    pub async fn resolved(&self, images: &BTreeMap<String, String>) -> Result<String, EngineError> {
        self.run(images, &["config"], EngineError::Call).await
    }

    /// Compose's hash of `service`'s configuration with `images`: what it
    /// labels the service's containers with, and recreates them when it
    /// changes.
    async fn config_hash(
        &self,
        images: &BTreeMap<String, String>,
        service: &str,
    ) -> Result<String, EngineError> {
        let out = self
            .run(images, &["config", "--hash", service], EngineError::Call)
            .await?;
        // One `SERVICE HASH` line.
        out.split_whitespace()
            .nth(1)
            .map(str::to_string)
            .ok_or_else(|| {
                EngineError::Call(format!(
                    "`{} config --hash {service}` printed no hash: {out}",
                    self.tool()
                ))
            })
    }

    /// The host ports each service publishes (service → ports, as the tool
    /// prints them), from the resolved file.
    pub async fn published_ports(&self) -> Result<BTreeMap<String, Vec<String>>, EngineError> {
        let text = self.resolved(&BTreeMap::new()).await?;
        published_ports(&text)
            .map_err(|e| EngineError::Call(format!("cannot read `{} config`: {e}", self.tool())))
    }

    /// The services the file defines.
    pub async fn services(&self) -> Result<Vec<String>, EngineError> {
        let out = self
            .run(
                &BTreeMap::new(),
                &["config", "--services"],
                EngineError::Call,
            )
            .await?;
        Ok(out
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect())
    }
}

/// A service of the compose file as `config` resolves it: what pitwall
/// reads of it.
#[derive(serde::Deserialize)]
pub(super) struct ResolvedService {
    #[serde(default)]
    pub ports: Vec<serde_norway::Value>,
    #[serde(default)]
    pub volumes: Vec<serde_norway::Value>,
}

/// The services of a resolved compose file (`config`'s output).
pub(super) fn resolved_services(
    resolved: &str,
) -> Result<BTreeMap<String, ResolvedService>, serde_norway::Error> {
    #[derive(serde::Deserialize)]
    struct Resolved {
        #[serde(default)]
        services: BTreeMap<String, ResolvedService>,
    }
    Ok(serde_norway::from_str::<Resolved>(resolved)?.services)
}

/// The ports each service of a resolved compose file (`config`'s output)
/// publishes, for the services that publish any.
fn published_ports(resolved: &str) -> Result<BTreeMap<String, Vec<String>>, serde_norway::Error> {
    Ok(resolved_services(resolved)?
        .into_iter()
        .filter(|(_, s)| !s.ports.is_empty())
        .map(|(name, s)| (name, s.ports.iter().map(port_text).collect()))
        .collect())
}

/// A port as `config` prints it: `127.0.0.1:8080:8080/tcp` (v1), or a
/// mapping with `host_ip`, `published` and `target` (v2).
fn port_text(port: &serde_norway::Value) -> String {
    if let Some(text) = port.as_str() {
        return text.to_string();
    }
    let field = |key: &str| {
        port.get(key).and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
    };
    [field("host_ip"), field("published"), field("target")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(":")
}

/// A compose stack on this host.
pub struct Compose {
    file: ComposeFile,
    view: ProjectView,
    /// The services switched start-first, in this order, before `up`.
    start_first: Vec<String>,
    /// How long a start-first service's new container may take to run.
    wait: Duration,
    /// The units the switches removed, with their last lines.
    removed: Removed,
    /// The blue-green services' switch, when there are any.
    blue_green: Option<BlueGreen>,
    /// When the last apply moved users (a blue-green switch back).
    routed: std::sync::Mutex<Option<Instant>>,
}

impl Compose {
    /// The compose stack of `file` (see `ComposeFile::detect`), connected to
    /// Docker: a missing tool or daemon is an `Unavailable` error, before
    /// anything is touched.
    pub async fn connect(file: ComposeFile) -> Result<Compose, EngineError> {
        let docker = DockerApi::connect().await?;
        Ok(Compose {
            view: ProjectView {
                project: file.project.clone(),
                docker: OnceCell::new_with(Some(Ok(docker))),
            },
            file,
            start_first: Vec::new(),
            wait: Duration::ZERO,
            removed: Removed::default(),
            blue_green: None,
            routed: std::sync::Mutex::new(None),
        })
    }

    /// Switches the blue-green services through `setup`'s proxy; refused
    /// when haproxy.cfg lacks their slots or the proxy cannot be reached
    /// (once it runs: the first deploy starts it).
    pub async fn blue_green(mut self, setup: BlueGreen) -> Result<Compose, EngineError> {
        let docker = self.view.docker().await?;
        let resolved = self.file.resolved(&BTreeMap::new()).await?;
        let proxy = docker
            .units(&self.file.project, Some(std::slice::from_ref(&setup.proxy)))
            .await?;
        if let Some(why) = preview_exposure(
            &self.file.published_ports().await?,
            &setup.proxy,
            setup.preview_port,
        )
        .or_else(|| socket_exposure(&resolved, &setup.proxy, setup.admin.socket()))
        {
            return Err(EngineError::Apply(why));
        }
        if proxy
            .iter()
            .any(|u| u.container.state == crate::engine::RunState::Running)
        {
            setup.preflight().await?;
        }
        self.blue_green = Some(setup);
        Ok(self)
    }

    /// Switches the services `switches` marks start-first that way (see
    /// `Switch`), their new containers given `wait` to run. Refused when
    /// one of them publishes a host port.
    pub async fn switching(
        mut self,
        switches: &BTreeMap<String, Switch>,
        wait: Duration,
    ) -> Result<Compose, EngineError> {
        let start_first: Vec<String> = switches
            .iter()
            .filter(|(_, s)| **s == Switch::StartFirst)
            .map(|(service, _)| service.clone())
            .collect();
        if !start_first.is_empty() {
            let conflicts = port_conflicts(switches, &self.file.published_ports().await?);
            if !conflicts.is_empty() {
                let why: Vec<String> = conflicts.into_iter().map(|(_, why)| why).collect();
                return Err(EngineError::Apply(why.join("\n")));
            }
        }
        self.start_first = start_first;
        self.wait = wait;
        Ok(self)
    }
}

impl Compose {
    /// `apply` with blue-green services: each staged (a new unit beside the
    /// live one, or a switch back), the rest of the stack brought up without
    /// touching them, then the proxy told the record again.
    async fn apply_blue_green(
        &self,
        setup: &BlueGreen,
        images: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        let docker = self.view.docker().await?;
        let staging = blue_green::Staging {
            file: &self.file,
            docker,
            removed: &self.removed,
            wait: self.wait,
            setup,
        };
        let mut routes = setup.read_routes()?;
        let mut routed = None;
        let (mut staged, mut fresh) = (Vec::new(), Vec::new());
        for service in setup.ports.keys() {
            let outcome = staging
                .stage(service, images, &mut routes, &mut routed)
                .await;
            // What was done before a failure is recorded all the same.
            setup.write_routes(&routes)?;
            *self.routed.lock().unwrap_or_else(|p| p.into_inner()) = routed;
            match outcome? {
                blue_green::Staged::Fresh => fresh.push(service.clone()),
                _ => staged.push(service.clone()),
            }
        }
        // `up` would scale a staged service back to one container.
        let others: Vec<String> = self
            .file
            .services()
            .await?
            .into_iter()
            .filter(|s| !staged.contains(s))
            .collect();
        if staged.is_empty() {
            self.file
                .run(
                    images,
                    &["up", "--detach", "--remove-orphans"],
                    EngineError::Apply,
                )
                .await?;
        } else if !others.is_empty() {
            let mut args = vec!["up", "--detach", "--remove-orphans", "--no-deps"];
            args.extend(others.iter().map(String::as_str));
            self.file.run(images, &args, EngineError::Apply).await?;
        }
        setup.preflight().await?;
        for service in &fresh {
            staging.route_fresh(service, &mut routes).await?;
            setup.write_routes(&routes)?;
        }
        setup.reassert(&routes).await
    }
}

#[async_trait::async_trait]
impl StackView for Compose {
    /// With blue-green services, the units of the release being judged:
    /// not the one kept for a switch back, nor the live one beside a
    /// candidate (`BlueGreen::aside`).
    async fn containers(&self, services: Option<&[String]>) -> Result<Vec<Container>, EngineError> {
        let all = self.view.containers(services).await?;
        let Some(setup) = &self.blue_green else {
            return Ok(all);
        };
        let aside = setup.aside();
        Ok(all.into_iter().filter(|c| !aside.contains(&c.id)).collect())
    }

    async fn logs(&self, service: &str, window: LogWindow) -> Result<LogLines, EngineError> {
        self.view.logs(service, window).await
    }

    async fn follow(&self, service: &str, since_ms: u64) -> Result<LogLines, EngineError> {
        self.view.follow(service, since_ms).await
    }
}

#[async_trait::async_trait]
impl Engine for Compose {
    fn name(&self) -> String {
        self.file.tool().to_string()
    }

    async fn image_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.view.docker().await?.image_digest(reference).await
    }

    async fn registry_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.view.docker().await?.registry_digest(reference).await
    }

    /// Compose recreates a container whose configuration hash label
    /// differs from what the file now hashes to: exactly what `up` does.
    async fn replaced(
        &self,
        images: &BTreeMap<String, String>,
    ) -> Result<Option<Vec<String>>, EngineError> {
        let docker = self.view.docker().await?;
        let mut out = Vec::new();
        for service in self.file.keys.keys() {
            let hash = self.file.config_hash(images, service).await?;
            let units = docker
                .units(&self.file.project, Some(std::slice::from_ref(service)))
                .await?;
            let mut current = units.iter().filter(|u| !u.one_off).peekable();
            if current.peek().is_none() || current.any(|u| u.config_hash != hash) {
                out.push(service.clone());
            }
        }
        Ok(Some(out))
    }

    async fn render(
        &self,
        images: &BTreeMap<String, String>,
    ) -> Result<Option<String>, EngineError> {
        self.file.resolved(images).await.map(Some)
    }

    async fn pull(&self, reference: &str, progress: PullProgress<'_>) -> Result<(), EngineError> {
        self.view.docker().await?.pull(reference, progress).await
    }

    async fn apply(&self, images: &BTreeMap<String, String>) -> Result<(), EngineError> {
        if let Some(setup) = &self.blue_green {
            return self.apply_blue_green(setup, images).await;
        }
        if !self.start_first.is_empty() {
            let docker = self.view.docker().await?;
            for service in &self.start_first {
                let switch = switch::Switching {
                    file: &self.file,
                    docker,
                    removed: &self.removed,
                    wait: self.wait,
                };
                switch.start_first(service, images).await?;
            }
        }
        // Start-first services are up to date by now: `up` leaves them be.
        self.file
            .run(
                images,
                &["up", "--detach", "--remove-orphans"],
                EngineError::Apply,
            )
            .await
            .map(drop)
    }

    fn removed_units(&self) -> Vec<RemovedUnit> {
        self.removed.list()
    }

    async fn promote(&self) -> Result<Vec<Promotion>, EngineError> {
        match &self.blue_green {
            Some(setup) => setup.promote().await,
            None => Ok(Vec::new()),
        }
    }

    async fn weigh(&self, share: u8) -> Result<Vec<Promotion>, EngineError> {
        match &self.blue_green {
            Some(setup) => setup.weigh(share).await,
            None => Ok(Vec::new()),
        }
    }

    fn routed_at(&self) -> Option<Instant> {
        *self.routed.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn remove(&self) -> Result<(), EngineError> {
        self.file
            .run(
                &BTreeMap::new(),
                &["down", "--remove-orphans"],
                EngineError::Call,
            )
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// `config` of the reference stack, as v1 and v2 print it.
    #[test]
    fn published_ports_are_read_from_both_tools_output() {
        let v1 = "services:\n  api:\n    image: x\n  frontend:\n    image: \"y\"\n    ports:\n    - 127.0.0.1:8080:8080/tcp\nversion: '3.9'\n";
        let v2 = "name: deploy\nservices:\n  api:\n    image: x\n    networks:\n      default: null\n  frontend:\n    image: \"y\"\n    ports:\n      - mode: ingress\n        host_ip: 127.0.0.1\n        target: 8080\n        published: \"8080\"\n        protocol: tcp\n";
        let expected =
            |port: &str| BTreeMap::from([("frontend".to_string(), vec![port.to_string()])]);
        assert_eq!(
            super::published_ports(v1).unwrap(),
            expected("127.0.0.1:8080:8080/tcp")
        );
        assert_eq!(
            super::published_ports(v2).unwrap(),
            expected("127.0.0.1:8080:8080")
        );
    }
}
