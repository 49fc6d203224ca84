//! Blue-green releases on the real Docker engine, through a real HAProxy
//! (Debian's 2.6, scripts/haproxy-image.sh) driven over its Runtime API:
//! the stack of examples/blue-green, under its own project, ports and state
//! directory, with a loopback load generator on the users' port counting
//! every failed request and which release answered.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::build::{fixture_image, haproxy_image};
use common::docker::docker;
use common::http::free_port;
use common::load::{Tally, under_load};
use common::{Output, pitwall, root, run};

/// examples/blue-green under a project, ports and folder of the test's own.
struct Stack {
    project: String,
    public: u16,
    preview: u16,
    dir: tempfile::TempDir,
}

impl Stack {
    fn new(name: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let (public, preview) = (free_port(), free_port());
        let example = root().join("examples/blue-green");
        for file in ["compose.yml", "haproxy.cfg", "pitwall.toml"] {
            let text = std::fs::read_to_string(example.join(file)).unwrap();
            let text = text
                .replace("project = \"bluegreen\"", &format!("project = \"{name}\""))
                .replace("preview_port = 8081", &format!("preview_port = {preview}"))
                .replace("127.0.0.1:8081/", &format!("127.0.0.1:{preview}/"))
                // A 503 is "not up yet" until the deadline: keep it short.
                .replace("deadline = \"30s\"", "deadline = \"6s\"")
                // The fixture image's healthcheck waits out a 60 s start
                // period before it calls a 503 unhealthy: without it, a bad
                // release is judged by the checks on the preview.
                .replace(
                    "    environment:\n      PORT: \"8000\"",
                    "    environment:\n      PORT: \"8000\"\n    healthcheck:\n      disable: true",
                );
            std::fs::write(dir.path().join(file), text).unwrap();
        }
        std::fs::create_dir(dir.path().join("run")).unwrap();
        let stack = Stack {
            project: format!("pwtest-{name}-{}", std::process::id()),
            public,
            preview,
            dir,
        };
        stack.down();
        stack
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("pitwall.toml")
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("PITWALL_PROJECT", &self.project)
            .env("PITWALL_STATE_DIR", self.dir.path().join("releases"))
            .env("PROXY_IMAGE", haproxy_image())
            .env("PUBLIC_ADDR", "127.0.0.1")
            .env("PUBLIC_PORT", self.public.to_string())
            .env("PREVIEW_PORT", self.preview.to_string());
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = pitwall();
        cmd.current_dir(self.dir.path())
            .args(args)
            .arg("--config")
            .arg(self.config());
        self.env(&mut cmd);
        cmd
    }

    fn pitwall(&self, args: &[&str]) -> Output {
        run(&mut self.command(args))
    }

    /// Waits until the deploy lock says `phase`.
    fn wait_for_phase(&self, phase: &str) {
        let lock = self.dir.path().join("releases/deploy.lock");
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(60) {
            if let Ok(text) = std::fs::read_to_string(&lock)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && v["phase"] == phase
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the deploy never reached phase {phase}");
    }

    /// `deploy` of `image` for `api` as `release`, images never pulled.
    fn deploy_args<'a>(release: &'a str, api: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "deploy",
            "--release-id",
            release,
            "--image",
            api,
            "--pull",
            "never",
        ];
        args.extend_from_slice(extra);
        args
    }

    fn deploy(&self, release: &str, image: &str, extra: &[&str]) -> Output {
        let api = format!("api={image}");
        self.pitwall(&Stack::deploy_args(release, &api, extra))
    }

    /// The same deploy, running in the background; its output piped.
    fn spawn_deploy(&self, release: &str, image: &str, extra: &[&str]) -> std::process::Child {
        let api = format!("api={image}");
        self.command(&Stack::deploy_args(release, &api, extra))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn deploy_under_load(&self, release: &str, image: &str, extra: &[&str]) -> (Output, Tally) {
        under_load(self.public, release, || self.deploy(release, image, extra))
    }

    /// The api's containers: id → the version its image bakes in.
    fn api_containers(&self) -> Vec<(String, String)> {
        docker(&[
            "ps",
            "--all",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            "label=com.docker.compose.service=api",
            "--format",
            "{{.ID}} {{.Image}}",
        ])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, image)| (id.to_string(), image.to_string()))
        .collect()
    }

    fn history(&self) -> Vec<serde_json::Value> {
        common::history(&self.dir.path().join("releases"))
    }

    fn version_at(&self, port: u16) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "3"])
            .arg(format!("http://127.0.0.1:{port}/api/health/"))
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["version"].as_str().map(str::to_string)
    }

    fn down(&self) {
        for compose in [&["docker", "compose"][..], &["docker-compose"][..]] {
            let mut cmd = Command::new(compose[0]);
            cmd.args(&compose[1..])
                .args(["--project-name", &self.project, "--file"])
                .arg(self.dir.path().join("compose.yml"))
                .args(["down", "--remove-orphans", "--timeout", "1"])
                .env("API_IMAGE", "none")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            self.env(&mut cmd);
            if cmd.status().is_ok_and(|s| s.success()) {
                return;
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.down();
    }
}

fn said(out: &Output) -> String {
    format!("{}\n{}", out.stdout, out.stderr)
}

fn ids(containers: &[(String, String)]) -> Vec<&str> {
    containers.iter().map(|(id, _)| id.as_str()).collect()
}

/// A first release, live and verified: the api's one container.
fn released_1_0(stack: &Stack) -> String {
    let out = stack.deploy("1.0", &fixture_image("healthy", "1.0"), &[]);
    assert_eq!(out.code, 0, "{}", said(&out));
    assert!(
        said(&out).contains("promoted `api`: users moved to blue"),
        "{}",
        said(&out)
    );
    assert_eq!(stack.version_at(stack.public).as_deref(), Some("1.0"));
    let containers = stack.api_containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    containers[0].0.clone()
}

#[test]
fn a_release_is_judged_through_the_preview_then_promoted_and_a_rollback_switches_back() {
    let stack = Stack::new("bg");
    let blue = released_1_0(&stack);

    let events = stack.dir.path().join("events.ndjson");
    let (out, tally) = stack.deploy_under_load(
        "1.1",
        &fixture_image("healthy", "1.1"),
        &["--events", events.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}", said(&out));
    let moved: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "traffic")
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0]["service"], "api", "{moved:?}");
    assert_eq!(moved[0]["share"], 100, "{moved:?}");
    assert!(
        said(&out).contains("promoted `api`: users moved from blue to green"),
        "{}",
        said(&out)
    );
    assert_eq!(tally.failures, 0, "{tally:?}");
    assert_eq!(tally.versions, ["1.0", "1.1"], "{tally:?}");
    // The unit users left is kept, warm, for a switch back.
    let both = stack.api_containers();
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(ids(&both).contains(&blue.as_str()), "{both:?}");
    let record = stack.history().pop().unwrap();
    assert!(record["durations_ms"]["promote"].is_u64(), "{record}");

    // `pitwall rollback` inside keep_previous: users go back to the very
    // container that served 1.0, no compose `up`, and 1.1's is removed.
    let (out, tally) = under_load(stack.public, "rollback", || stack.pitwall(&["rollback"]));
    assert_eq!(out.code, 0, "{}", said(&out));
    assert_eq!(tally.failures, 0, "{tally:?}");
    assert_eq!(tally.versions.last().map(String::as_str), Some("1.0"));
    let left = stack.api_containers();
    assert_eq!(ids(&left), [blue.as_str()], "{left:?}");
    assert_eq!(stack.version_at(stack.public).as_deref(), Some("1.0"));
    assert_eq!(stack.version_at(stack.preview).as_deref(), Some("1.0"));
}

#[test]
fn a_release_that_fails_its_preview_never_reaches_users() {
    let stack = Stack::new("bgpreview");
    let blue = released_1_0(&stack);
    // Its health answers 503: the verify checks, on the preview, reject it.
    let (out, tally) = stack.deploy_under_load("2.0", &fixture_image("health503", "2.0"), &[]);
    assert_eq!(out.code, 1, "{}", said(&out));
    assert!(
        said(&out).contains("rolled back to 1.0, which is verified"),
        "{}",
        said(&out)
    );
    assert!(
        said(&out).contains("(healthcheck): check `health` failed"),
        "judged on the preview: {}",
        said(&out)
    );
    assert_eq!(
        tally.versions,
        ["1.0"],
        "users only ever saw 1.0: {tally:?}"
    );
    assert!(!tally.served.contains_key("2.0"), "{tally:?}");
    assert_eq!(tally.failures, 0, "{tally:?}");
    let left = stack.api_containers();
    assert_eq!(ids(&left), [blue.as_str()], "{left:?}");
    assert!(!said(&out).contains("promoted"), "{}", said(&out));
}

#[test]
fn a_release_that_fails_under_traffic_is_switched_back_to_the_warm_unit() {
    let stack = Stack::new("bgwatch");
    let blue = released_1_0(&stack);
    // `/api/items` answers 500: the preview's health check passes, the
    // watch check on the users' port fails once users are on it.
    let (out, tally) =
        stack.deploy_under_load("1.1", &fixture_image("errors", "1.1"), &["--soak", "5s"]);
    assert_eq!(out.code, 1, "{}", said(&out));
    assert!(
        said(&out).contains("check `live-items` failed")
            && said(&out).contains("rolled back to 1.0, which is verified"),
        "{}",
        said(&out)
    );
    assert!(
        said(&out).contains("users were back on release 1.0"),
        "{}",
        said(&out)
    );
    assert!(tally.went("1.0", Some("1.1"), "1.0"), "{tally:?}");
    assert_eq!(tally.failures, 0, "{tally:?}");
    // The very container that served 1.0 serves it again: no `up`.
    let left = stack.api_containers();
    assert_eq!(ids(&left), [blue.as_str()], "{left:?}");
    let record = stack.history().pop().unwrap();
    assert_eq!(record["outcome"], "rolled_back", "{record}");
    let back = record["durations_ms"]["users_back"].as_u64().unwrap();
    let restored = record["durations_ms"]["failure_to_restored"]
        .as_u64()
        .unwrap();
    assert!(back <= restored, "{record}");
    eprintln!(
        "switch back: users back {back} ms after detection, 1.0 verified again {restored} ms after"
    );
}

#[test]
fn the_preview_answers_on_loopback_only_and_an_exposed_one_is_refused() {
    let stack = Stack::new("bgexposed");
    released_1_0(&stack);
    assert_eq!(stack.version_at(stack.preview).as_deref(), Some("1.0"));
    // This host's other addresses do not reach the preview.
    let addrs =
        String::from_utf8(Command::new("hostname").arg("-I").output().unwrap().stdout).unwrap();
    let others: Vec<&str> = addrs
        .split_whitespace()
        .filter(|a| !a.starts_with("127.") && !a.contains(':'))
        .collect();
    assert!(!others.is_empty(), "no non-loopback address: {addrs}");
    for addr in others {
        let reached = std::net::TcpStream::connect_timeout(
            &format!("{addr}:{}", stack.preview).parse().unwrap(),
            std::time::Duration::from_secs(1),
        );
        assert!(reached.is_err(), "the preview answered on {addr}");
    }
    // The Runtime API is a socket file only its owner may open.
    let socket = stack.dir.path().join("run/admin.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o077, 0, "{socket:?}");

    // A compose file that publishes the preview to every address is
    // refused before anything is touched.
    let compose = stack.dir.path().join("compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap().replace(
        "\"127.0.0.1:${PREVIEW_PORT:-8081}:8081\"",
        "\"${PREVIEW_PORT:-8081}:8081\"",
    );
    std::fs::write(&compose, text).unwrap();
    let out = stack.pitwall(&["validate"]);
    assert_ne!(out.code, 0, "{}", said(&out));
    assert!(
        said(&out).contains("reachable from other hosts"),
        "{}",
        said(&out)
    );
    let before = stack.api_containers();
    let out = stack.deploy("1.1", &fixture_image("healthy", "1.1"), &[]);
    assert_eq!(out.code, 4, "refused: {}", said(&out));
    assert!(
        said(&out).contains("reachable from other hosts"),
        "{}",
        said(&out)
    );
    assert_eq!(stack.api_containers(), before);
}

#[test]
fn recover_after_a_kill_once_users_were_promoted_puts_them_back_on_the_verified_release() {
    let stack = Stack::new("bgkill");
    let blue = released_1_0(&stack);
    let mut victim =
        stack.spawn_deploy("1.1", &fixture_image("healthy", "1.1"), &["--soak", "60s"]);
    // Soaking: users were promoted to 1.1, which is not verified yet.
    stack.wait_for_phase("soaking");
    assert_eq!(stack.version_at(stack.public).as_deref(), Some("1.1"));
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();

    let (out, tally) = under_load(stack.public, "recover", || stack.pitwall(&["recover"]));
    assert_eq!(out.code, 0, "{}", said(&out));
    assert!(
        said(&out).contains("release 1.0 restored and verified"),
        "{}",
        said(&out)
    );
    assert!(tally.went("1.1", None, "1.0"), "{tally:?}");
    assert_eq!(tally.failures, 0, "{tally:?}");
    assert_eq!(stack.version_at(stack.public).as_deref(), Some("1.0"));
    let left = stack.api_containers();
    assert_eq!(
        ids(&left),
        [blue.as_str()],
        "the warm 1.0 unit serves: {left:?}"
    );
}

/// Deploys 1.1 as a canary (`50%`, a short watch, a `pause`, `100%`) in the
/// background under load, and waits until it waits at the pause: the
/// deploy, the load and what `status` says there.
fn canary_at_the_pause(stack: &Stack) -> (std::process::Child, Load, String) {
    let config = std::fs::read_to_string(stack.config()).unwrap().replace(
        "keep_previous = \"5m\"",
        "keep_previous = \"5m\"\nsteps = [\"50%\", \"wait 2s\", \"pause\", \"100%\"]",
    );
    std::fs::write(stack.config(), config).unwrap();
    let image = fixture_image("healthy", "1.1");
    let api = format!("api={image}");
    let plan = stack.pitwall(&[
        "plan",
        "--release-id",
        "1.1",
        "--image",
        &api,
        "--pull",
        "never",
    ]);
    assert!(
        said(&plan).contains("then users moved in steps [50%, wait 2s, pause, 100%]"),
        "{}",
        said(&plan)
    );
    let deploy = stack.spawn_deploy("1.1", &image, &[]);
    let port = stack.public;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        under_load(port, "canary", move || {
            let _ = stopped.recv_timeout(std::time::Duration::from_secs(80));
        })
        .1
    });
    let load = Load { stop, thread };
    let gate = stack.dir.path().join("releases/gate.json");
    let start = std::time::Instant::now();
    while !gate.exists() {
        assert!(start.elapsed().as_secs() < 60, "the canary never paused");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = stack.pitwall(&["status"]);
    (deploy, load, said(&status))
}

/// A load running until `finish`.
struct Load {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Tally>,
}

impl Load {
    fn finish(self) -> Tally {
        let _ = self.stop.send(());
        self.thread.join().unwrap()
    }
}

fn finished(child: std::process::Child) -> Output {
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_canary_takes_a_share_of_users_and_waits_at_a_pause_until_promoted() {
    let stack = Stack::new("bgcanary");
    released_1_0(&stack);
    let early = stack.pitwall(&["promote"]);
    assert_eq!(early.code, 4, "no pause is open: {}", said(&early));
    assert!(
        said(&early).contains("no release waits at a pause step"),
        "{}",
        said(&early)
    );

    let (deploy, load, status) = canary_at_the_pause(&stack);
    assert!(
        status.contains(
            "gate: release 1.1 waits at step 3 of [50%, wait 2s, pause, 100%] with 50% of users"
        ) && status.contains("live-items pass"),
        "{status}"
    );
    assert!(status.contains("50% → green"), "{status}");
    // Two answers from two processes: the first wins, the second is told.
    let first = stack.pitwall(&["promote", "--release-id", "1.1"]);
    assert_eq!(first.code, 0, "{}", said(&first));
    let second = stack.pitwall(&["abort"]);
    assert_eq!(second.code, 4, "{}", said(&second));
    assert!(
        said(&second).contains("already answered") || said(&second).contains("no release waits"),
        "{}",
        said(&second)
    );
    let out = finished(deploy);
    let tally = load.finish();
    assert_eq!(out.code, 0, "{}", said(&out));
    assert!(
        said(&out).contains("canary `api`: 50% of users on green"),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("promoted by"), "{}", said(&out));
    assert_eq!(tally.failures, 0, "{tally:?}");
    // Both releases answered users while the canary held half of them.
    assert!(tally.versions.len() >= 3, "{tally:?}");
    assert!(
        tally.served.get("1.0").is_some_and(|n| *n > 10)
            && tally.served.get("1.1").is_some_and(|n| *n > 10),
        "each release served a share: {tally:?}"
    );
    assert_eq!(stack.version_at(stack.public).as_deref(), Some("1.1"));
    assert!(!stack.dir.path().join("releases/gate.json").exists());
}

#[test]
fn an_aborted_canary_switches_users_back_to_the_warm_unit() {
    let stack = Stack::new("bgabort");
    let blue = released_1_0(&stack);
    let (deploy, load, _) = canary_at_the_pause(&stack);
    let abort = stack.pitwall(&["abort"]);
    assert_eq!(abort.code, 0, "{}", said(&abort));
    let out = finished(deploy);
    let tally = load.finish();
    assert!(
        said(&out).contains("release 1.1 was cancelled; rolled back to 1.0, which is verified"),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("aborted by"), "{}", said(&out));
    assert!(
        said(&out).contains("users were back on release 1.0"),
        "{}",
        said(&out)
    );
    assert_eq!(tally.failures, 0, "{tally:?}");
    assert!(
        tally.served.contains_key("1.1"),
        "the canary had users: {tally:?}"
    );
    assert_eq!(
        tally.versions.last().map(String::as_str),
        Some("1.0"),
        "{tally:?}"
    );
    let left = stack.api_containers();
    assert_eq!(ids(&left), [blue.as_str()], "{left:?}");
    assert_eq!(stack.history().pop().unwrap()["outcome"], "cancelled");
}

#[test]
fn the_unit_kept_for_a_switch_back_is_not_judged_and_a_rollback_without_it_starts_one() {
    let stack = Stack::new("bgkept");
    let blue = released_1_0(&stack);
    let deploy = stack.spawn_deploy("1.1", &fixture_image("healthy", "1.1"), &["--soak", "6s"]);
    // Promoted and soaking: the 1.0 unit users left stops. It is not the
    // release's: the container watch does not hold it against 1.1.
    stack.wait_for_phase("soaking");
    docker(&["stop", "--time", "1", &blue]);
    let out = finished(deploy);
    assert_eq!(out.code, 0, "{}", said(&out));
    assert_eq!(stack.version_at(stack.public).as_deref(), Some("1.1"));

    // With no unit left to switch back to, a rollback starts one, judges it
    // on the preview and promotes it.
    let out = stack.pitwall(&["rollback"]);
    assert_eq!(out.code, 0, "{}", said(&out));
    assert!(said(&out).contains("promoted `api`"), "{}", said(&out));
    assert_eq!(stack.version_at(stack.public).as_deref(), Some("1.0"));
    let left = stack.api_containers();
    assert_eq!(left.len(), 2, "1.0 live, 1.1 kept: {left:?}");
    assert!(!ids(&left).contains(&blue.as_str()), "{left:?}");
}

#[test]
fn a_restarted_proxy_is_told_the_routing_again_by_a_rollback_to_the_current_release() {
    let stack = Stack::new("bgproxy");
    let blue = released_1_0(&stack);
    let proxy = docker(&[
        "ps",
        "--quiet",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project),
        "--filter",
        "label=com.docker.compose.service=proxy",
    ]);
    docker(&["restart", "--time", "1", proxy.trim()]);
    // Back on its configuration's defaults: both slots disabled.
    let start = std::time::Instant::now();
    while stack.version_at(stack.public).is_some() {
        assert!(start.elapsed().as_secs() < 10, "the proxy kept its routing");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = stack.pitwall(&["rollback", "--to", "1.0"]);
    assert_eq!(out.code, 0, "{}", said(&out));
    assert_eq!(stack.version_at(stack.public).as_deref(), Some("1.0"));
    assert_eq!(stack.version_at(stack.preview).as_deref(), Some("1.0"));
    assert_eq!(
        ids(&stack.api_containers()),
        [blue.as_str()],
        "no unit touched"
    );
}
