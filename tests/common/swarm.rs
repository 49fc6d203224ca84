//! A swarm for the Swarm engine's tests: this machine's daemon made a
//! manager for one test at a time (a turn through a file lock), and stacks
//! of the fixture app deployed on it by pitwall.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;

use super::build::fixture_image;
use super::docker::{Registry, docker};
use super::{Output, root, run};

/// The network Docker makes for a swarm node's published host ports; it
/// outlives the swarm, so whoever made it removes it.
const GWBRIDGE: &str = "docker_gwbridge";

/// This machine's daemon as a swarm manager, for one test at a time; left
/// (and what joining made removed) when dropped.
pub struct Swarm {
    _turn: File,
    made: bool,
    made_gwbridge: bool,
}

impl Swarm {
    /// This test's turn at the daemon's swarm membership: held until the
    /// file is closed (dropped), even if the test panics.
    pub fn turn() -> File {
        let turn = File::create(root().join("target/swarm-tests.lock")).unwrap();
        // SAFETY: flock on a file descriptor owned by `turn`, valid here.
        assert_eq!(unsafe { libc::flock(turn.as_raw_fd(), libc::LOCK_EX) }, 0);
        turn
    }

    /// A single-node swarm on loopback (the daemon's own, if it is one).
    pub fn join() -> Swarm {
        let turn = Swarm::turn();
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        if state.trim() == "active" {
            return Swarm {
                _turn: turn,
                made: false,
                made_gwbridge: false,
            };
        }
        Swarm::init(turn, "127.0.0.1")
    }

    /// A new swarm whose manager other nodes reach at `address`.
    pub fn manager_at(address: &str) -> Swarm {
        let turn = Swarm::turn();
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        assert_eq!(state.trim(), "inactive", "the daemon is in a swarm already");
        Swarm::init(turn, address)
    }

    fn init(turn: File, address: &str) -> Swarm {
        let had_gwbridge = Command::new("docker")
            .args(["network", "inspect", GWBRIDGE])
            .output()
            .is_ok_and(|o| o.status.success());
        let swarm = Swarm {
            _turn: turn,
            made: true,
            made_gwbridge: !had_gwbridge,
        };
        docker(&["swarm", "init", "--advertise-addr", address]);
        swarm
    }

    /// The token a worker joins with.
    pub fn worker_token(&self) -> String {
        docker(&["swarm", "join-token", "--quiet", "worker"])
            .trim()
            .to_string()
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.made {
            let _ = Command::new("docker")
                .args(["swarm", "leave", "--force"])
                .output();
        }
        if self.made_gwbridge {
            let _ = Command::new("docker")
                .args(["network", "rm", GWBRIDGE])
                .output();
        }
    }
}

/// The reference stack for a swarm: DNS round robin (no VIP) and a
/// host-mode published port, which this sandbox supports.
pub const COMPOSE: &str = r#"services:
  api:
    image: ${BACKEND_IMAGE}
    command: ["api"]
    environment:
      PORT: "8000"
      SECRET_KEY: ${SECRET_KEY:-}
    deploy:
      endpoint_mode: dnsrr
  frontend:
    image: ${FRONTEND_IMAGE}
    command: ["frontend"]
    environment:
      PORT: "8080"
      API_UPSTREAM: api:8000
    ports:
      - target: 8080
        published: ${FRONTEND_PORT}
        mode: host
    deploy:
      endpoint_mode: dnsrr
"#;

/// The reference checks against a frontend at `address`: its health twice
/// in a row, its items (which an `errors` release fails).
pub fn probes(name: &str, address: &str) -> String {
    format!(
        r#"
[[checks]]
name = "health{name}"
plugin = "builtin:http-probe"
allow_http = ["http://{address}/api/"]
successes = 2
config = {{ url = "http://{address}/api/health/", json_field = "status", json_equals = "ok" }}

[[checks]]
name = "items{name}"
plugin = "builtin:http-probe"
allow_http = ["http://{address}/api/"]
config = {{ url = "http://{address}/api/items" }}
"#
    )
}

/// The api's logs, as the watch phase reads them from every node.
const LOG_CHECK: &str = r#"
[[checks]]
name = "logs"
plugin = "builtin:log-5xx"
phase = "watch"
interval = "1s"
allow_logs = ["api"]
config = { services = ["api"], max_ratio = 0.05 }
"#;

/// A stack of the fixture app on the swarm: its own name, port, state.
pub struct Stack {
    pub name: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// The reference stack, checked through its port on loopback.
    pub fn new(name: &str) -> Stack {
        Stack::with(name, COMPOSE, |port| {
            probes("", &format!("127.0.0.1:{port}"))
        })
    }

    /// Stack `name` of `compose`, with the probes `checks` gives for its
    /// published port, and the log check.
    pub fn with(name: &str, compose: &str, checks: impl Fn(u16) -> String) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let port = super::http::free_port();
        let name = format!("pwswarm-{name}-{}", std::process::id());
        std::fs::write(dir.path().join("compose.yml"), compose).unwrap();
        std::fs::write(
            dir.path().join(".env"),
            format!("SECRET_KEY=swarm-s3cret-{name}\nFRONTEND_PORT={port}\n"),
        )
        .unwrap();
        let config = format!(
            r#"[stack]
engine = "swarm"
compose_file = "compose.yml"
project = "{name}"
env_file = ".env"
wait_timeout = "90s"

[stack.services.api]
key = "BACKEND"

[stack.services.frontend]
key = "FRONTEND"

[defaults]
interval = "500ms"
deadline = "40s"
startup = "40s"
{}{LOG_CHECK}"#,
            checks(port)
        );
        std::fs::write(dir.path().join("pitwall.toml"), config).unwrap();
        Stack { name, port, dir }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("releases")
    }

    pub fn pitwall(&self, args: &[&str]) -> Output {
        run(super::pitwall()
            .args(args)
            .arg("--config")
            .arg(self.dir.path().join("pitwall.toml")))
    }

    /// `pitwall deploy` of `image` for both services.
    pub fn deploy(&self, release: &str, image: &str) -> Output {
        self.deploy_each(release, image, image)
    }

    /// `pitwall deploy` of `api` and `frontend` images.
    pub fn deploy_each(&self, release: &str, api: &str, frontend: &str) -> Output {
        self.pitwall(&[
            "deploy",
            "--release-id",
            release,
            "--image",
            &format!("api={api}"),
            "--image",
            &format!("frontend={frontend}"),
            "--soak",
            "2s",
        ])
    }

    /// The version the frontend on loopback answers for.
    pub fn version(&self) -> Option<String> {
        self.version_at("127.0.0.1")
    }

    /// The version the frontend at `host` (a node's address) answers for.
    pub fn version_at(&self, host: &str) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "3"])
            .arg(format!("http://{host}:{}/api/health/", self.port))
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["version"].as_str().map(str::to_string)
    }

    /// The image the swarm service runs, as its spec says.
    pub fn service_image(&self, service: &str) -> String {
        self.service_spec(service, "{{.Spec.TaskTemplate.ContainerSpec.Image}}")
    }

    /// A field of the service's spec, as `docker service inspect --format`.
    pub fn service_spec(&self, service: &str, format: &str) -> String {
        docker(&[
            "service",
            "inspect",
            "--format",
            format,
            &format!("{}_{service}", self.name),
        ])
        .trim()
        .to_string()
    }

    pub fn history(&self) -> Vec<serde_json::Value> {
        super::history(&self.state_dir())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["stack", "rm", &self.name])
            .output();
        // The network goes once the tasks are gone; wait so the swarm can
        // be left clean.
        for _ in 0..60 {
            let left = docker(&[
                "network",
                "ls",
                "--quiet",
                "--filter",
                &format!("label=com.docker.stack.namespace={}", self.name),
            ]);
            if left.trim().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

/// Images in a registry, as a swarm's nodes pull them: (mode, version).
pub fn images(registry: &Registry, name: &str, which: &[(&str, &str)]) -> Vec<String> {
    which
        .iter()
        .map(|(mode, version)| {
            registry.push(
                &fixture_image(mode, version),
                &format!("{name}/app:{version}"),
            )
        })
        .collect()
}
