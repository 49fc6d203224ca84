//! A stack of one busy service: the fixture app writes a burst of access
//! lines (`FIXTURE_BURST`) while a `log-5xx` watch check reads the whole
//! window, and Docker's json-file driver keeps only a little of it (it
//! rotates at `max-size` × `max-file`). For the log spool's test and its
//! benchmark.

use std::path::PathBuf;
use std::process::Command;

use super::build::fixture_image;
use super::{Output, pitwall, run};

pub struct BusyStack {
    pub project: String,
    dir: tempfile::TempDir,
    image: String,
}

/// How Docker rotates the service's log: `max-size`, `max-file`; `None`
/// leaves it to the daemon's configuration.
pub struct Rotation(pub &'static str, pub &'static str);

impl BusyStack {
    /// `burst` is `N/MS[/K]` (N lines over MS ms, every K-th a 503); the
    /// check watches for `soak` and may use `memory_mb` MiB.
    pub fn new(name: &str, burst: &str, rotation: Option<Rotation>, memory_mb: u32) -> BusyStack {
        let dir = tempfile::tempdir().unwrap();
        let project = format!("pwtest-{name}-{}", std::process::id());
        let image = fixture_image("healthy", &format!("busy-{}", std::process::id()));
        let logging = match rotation {
            Some(Rotation(size, files)) => format!(
                "    logging:\n      driver: json-file\n      options:\n        max-size: \"{size}\"\n        max-file: \"{files}\"\n"
            ),
            None => String::new(),
        };
        std::fs::write(
            dir.path().join("compose.yml"),
            format!(
                r#"services:
  api:
    image: ${{API_IMAGE}}
    command: ["api"]
    environment:
      FIXTURE_BURST: "{burst}"
    # Its probes would add access lines of their own.
    healthcheck:
      disable: true
{logging}"#
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join(".env"), "UNUSED=1\n").unwrap();
        std::fs::write(
            dir.path().join("pitwall.toml"),
            format!(
                r#"[stack]
compose_file = "compose.yml"
project = "{project}"
env_file = ".env"
state_dir = "releases"
wait_timeout = "60s"

[stack.services.api]
key = "API"

[[checks]]
name = "logs"
plugin = "builtin:log-5xx"
phase = "watch"
interval = "4s"
failure_limit = 1
timeout = "20s"
memory_mb = {memory_mb}
allow_logs = ["api"]
config = {{ services = ["api"], max_ratio = 0.01 }}
"#
            ),
        )
        .unwrap();
        BusyStack {
            project,
            dir,
            image,
        }
    }

    /// `pitwall deploy`, watched for `soak`.
    pub fn deploy_command(&self, soak: &str) -> Command {
        let mut cmd = pitwall();
        cmd.current_dir(self.dir.path()).args([
            "deploy",
            "--config",
            "pitwall.toml",
            "--release-id",
            "1",
            "--image",
            &format!("api={}", self.image),
            "--soak",
            soak,
            "--pull",
            "never",
        ]);
        cmd
    }

    pub fn deploy(&self, soak: &str) -> Output {
        run(&mut self.deploy_command(soak))
    }

    /// The `logs` check's result in the last history record.
    pub fn log_check(&self) -> serde_json::Value {
        let history = std::fs::read_to_string(self.state_dir().join("history.jsonl")).unwrap();
        let record: serde_json::Value =
            serde_json::from_str(history.lines().last().unwrap()).unwrap();
        record["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "logs")
            .cloned()
            .unwrap_or_else(|| panic!("no logs check in {record}"))
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("releases")
    }

    /// How many lines Docker itself still has of the service.
    pub fn docker_lines(&self) -> usize {
        let out = self.compose(&["logs", "--no-color", "api"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("/burst/"))
            .count()
    }

    fn compose(&self, args: &[&str]) -> std::process::Output {
        let mut last = None;
        for tool in [&["docker", "compose"][..], &["docker-compose"][..]] {
            let out = Command::new(tool[0])
                .args(&tool[1..])
                .current_dir(self.dir.path())
                .args(["--project-name", &self.project, "--file", "compose.yml"])
                .args(args)
                .env("API_IMAGE", &self.image)
                .output();
            match out {
                Ok(o) if o.status.success() => return o,
                other => last = other.ok(),
            }
        }
        last.expect("no compose tool ran")
    }
}

impl Drop for BusyStack {
    fn drop(&mut self) {
        self.compose(&["down", "--remove-orphans", "--timeout", "1"]);
        let _ = Command::new("docker").args(["rmi", &self.image]).output();
    }
}
