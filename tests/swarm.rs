//! The Swarm engine end to end on a real single-node swarm: the same
//! compose file deployed as a stack, pinned to registry digests, judged by
//! the same checks, rolled back as a whole. The swarm is made for the test
//! and left afterwards (tests take turns through a file lock), so the
//! compose tests on the same daemon are unaffected.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;

use common::build::fixture_image;
use common::docker::{Registry, docker};
use common::{Output, root, run};

/// This machine's daemon as a swarm manager, for one test at a time.
struct Swarm {
    _turn: File,
    made: bool,
}

impl Swarm {
    /// This test's turn at the daemon's swarm membership: held until the
    /// file is closed (dropped), even if the test panics.
    fn turn() -> File {
        let turn = File::create(root().join("target/swarm-tests.lock")).unwrap();
        // SAFETY: flock on a file descriptor owned by `turn`, valid here.
        assert_eq!(unsafe { libc::flock(turn.as_raw_fd(), libc::LOCK_EX) }, 0);
        turn
    }

    fn join() -> Swarm {
        let turn = Swarm::turn();
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        let made = state.trim() != "active";
        if made {
            docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        }
        Swarm { _turn: turn, made }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.made {
            let _ = Command::new("docker")
                .args(["swarm", "leave", "--force"])
                .output();
        }
    }
}

/// A stack of the fixture app on the swarm: its own name, port, state.
struct Stack {
    name: String,
    port: u16,
    dir: tempfile::TempDir,
}

const COMPOSE: &str = r#"# The reference stack for a swarm: DNS round robin (no VIP) and a
# host-mode published port, which this sandbox supports.
services:
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

impl Stack {
    fn new(name: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let port = common::http::free_port();
        let name = format!("pwswarm-{name}-{}", std::process::id());
        std::fs::write(dir.path().join("compose.yml"), COMPOSE).unwrap();
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

[[checks]]
name = "health"
plugin = "builtin:http-probe"
allow_http = ["http://127.0.0.1:{port}/api/"]
successes = 2
config = {{ url = "http://127.0.0.1:{port}/api/health/", json_field = "status", json_equals = "ok" }}

[[checks]]
name = "items"
plugin = "builtin:http-probe"
allow_http = ["http://127.0.0.1:{port}/api/"]
config = {{ url = "http://127.0.0.1:{port}/api/items" }}

[[checks]]
name = "logs"
plugin = "builtin:log-5xx"
phase = "watch"
interval = "1s"
allow_logs = ["api"]
config = {{ services = ["api"], max_ratio = 0.05 }}
"#
        );
        std::fs::write(dir.path().join("pitwall.toml"), config).unwrap();
        Stack { name, port, dir }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("releases")
    }

    fn pitwall(&self, args: &[&str]) -> Output {
        run(common::pitwall()
            .args(args)
            .arg("--config")
            .arg(self.dir.path().join("pitwall.toml")))
    }

    fn deploy(&self, release: &str, image: &str) -> Output {
        self.pitwall(&[
            "deploy",
            "--release-id",
            release,
            "--image",
            &format!("api={image}"),
            "--image",
            &format!("frontend={image}"),
            "--soak",
            "2s",
        ])
    }

    fn version(&self) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "3"])
            .arg(format!("http://127.0.0.1:{}/api/health/", self.port))
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["version"].as_str().map(str::to_string)
    }

    /// The image the swarm service runs, as its spec says.
    fn service_image(&self, service: &str) -> String {
        docker(&[
            "service",
            "inspect",
            "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
            &format!("{}_{service}", self.name),
        ])
        .trim()
        .to_string()
    }

    fn history(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state_dir().join("history.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
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
fn images(registry: &Registry, name: &str, which: &[(&str, &str)]) -> Vec<String> {
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

#[test]
fn swarm_good_release_then_a_broken_one_rolled_back_to_pinned_digests() {
    let _swarm = Swarm::join();
    let registry = Registry::start();
    let built = images(
        &registry,
        "good",
        &[("healthy", "1.0"), ("errors", "2.0"), ("crash", "3.0")],
    );
    let (v1, broken, crashing) = (&built[0], &built[1], &built[2]);
    let stack = Stack::new("good");

    let out = stack.deploy("1.0", v1);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("docker stack (swarm)"),
        "{}",
        out.stderr
    );
    assert_eq!(stack.version().as_deref(), Some("1.0"));
    let released = stack.history().pop().unwrap();
    let digest = released["images"]["api"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(digest.contains("@sha256:"), "{released}");

    // A release whose checks fail: every service back on 1.0's digests.
    let out = stack.deploy("2.0", broken);
    assert_eq!(out.code, 1, "rolled back\n{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("rolled back to 1.0, which is verified"),
        "{}",
        out.stdout
    );
    assert_eq!(stack.version().as_deref(), Some("1.0"));
    // Every service is back on the digest 1.0 was verified with.
    assert_eq!(stack.service_image("api"), digest);
    assert_eq!(stack.service_image("frontend"), digest);
    let failed = stack.history().pop().unwrap();
    assert_eq!(failed["outcome"], "rolled_back");
    assert_eq!(failed["failure_mode"], "healthcheck", "{failed}");
    assert_eq!(failed["rollback"]["outcome"], "verified");

    // A release whose tasks never start: the update stops, and that is a
    // startup failure, rolled back the same way.
    let out = stack.deploy("3.0", crashing);
    assert_eq!(out.code, 1, "rolled back\n{}\n{}", out.stdout, out.stderr);
    assert_eq!(stack.version().as_deref(), Some("1.0"));
    assert_eq!(stack.service_image("api"), digest);
    let failed = stack.history().pop().unwrap();
    assert_eq!(failed["failure_mode"], "startup", "{failed}");

    // status reads the swarm's tasks: no drift on the restored release.
    let status = stack.pitwall(&["status"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("drift: none"), "{}", status.stdout);
}

#[test]
fn swarm_manual_rollback_and_recover_after_a_killed_deploy() {
    let _swarm = Swarm::join();
    let registry = Registry::start();
    let built = images(
        &registry,
        "manual",
        &[("healthy", "1.0"), ("healthy", "1.1")],
    );
    let stack = Stack::new("manual");
    assert_eq!(stack.deploy("1.0", &built[0]).code, 0);
    let out = stack.deploy("1.1", &built[1]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(stack.version().as_deref(), Some("1.1"));

    let out = stack.pitwall(&["rollback"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(stack.version().as_deref(), Some("1.0"));

    // A deploy killed while applying leaves its lock; recover restores the
    // current release (1.0) on the swarm.
    std::fs::write(
        stack.state_dir().join("deploy.lock"),
        serde_json::json!({
            "pid": 999_999,
            "host": hostname(),
            "command": "deploy",
            "release_id": "1.2",
            "since": "2026-11-27T05:00:00Z",
            "phase": "applying",
        })
        .to_string(),
    )
    .unwrap();
    let out = stack.pitwall(&["recover"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(stack.version().as_deref(), Some("1.0"));
    assert!(!stack.state_dir().join("deploy.lock").exists());
    assert_eq!(stack.history().pop().unwrap()["outcome"], "restored");
}

#[test]
fn swarm_engine_is_refused_where_docker_is_not_a_manager() {
    // Between the other tests' turns the daemon is no swarm member.
    let _turn = Swarm::turn();
    let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_eq!(state.trim(), "inactive", "the swarm tests leave the swarm");
    let stack = Stack::new("nomanager");
    let out = stack.deploy("1.0", "pitwall-test/app:healthy-1.0");
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("not a swarm manager"), "{}", out.stderr);
    assert!(
        !stack.state_dir().join("history.jsonl").exists(),
        "nothing recorded"
    );
}

fn hostname() -> String {
    String::from_utf8(Command::new("hostname").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}
