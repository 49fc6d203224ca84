//! The rollout state machine against a scripted in-memory engine: every
//! failure mode in every phase (preflight, pull, apply, verify, soak, roll
//! back, record), with the real built-in checks judging a real HTTP endpoint
//! on loopback and the engine's logs. No Docker: this tier runs with
//! `DOCKER_HOST` pointing nowhere. Each test asserts what an operator would
//! look at afterwards: the exit code, state.env, the history record, the
//! incident file and the lock.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::fault::{SmallDisk, fill};
use common::http::{Reply, Server};
use common::memory::{Behaviour, Image, MemoryEngine};
use pitwall::checks::{Cache, Compiler, Runtime};
use pitwall::config::{Config, Overrides};
use pitwall::engine::Engine as _;
use pitwall::exit::Exit;
use pitwall::release::gate::{self, Decision};
use pitwall::release::id::ReleaseId;
use pitwall::report::{Progress, Redactor};
use pitwall::rollout::{Cancel, Change, Deployer, PullPolicy, Refused, Report, Request, Resolved};
use serde_json::Value;

/// Checks of the test stack: the health endpoint gates the release; the api
/// logs are watched through the soak.
const CHECKS: &str = r#"
[[checks]]
name = "health"
plugin = "builtin:http-probe"
allow_http = ["BASE/"]
config = { url = "BASE/health" }

[[checks]]
name = "logs"
plugin = "builtin:log-5xx"
phase = "watch"
interval = "200ms"
failure_limit = 1
allow_logs = ["api"]
config = { services = ["api"], max_ratio = 0.05 }
"#;

/// A stack of two services on the in-memory engine, its configuration and
/// state in a directory of its own, and an HTTP endpoint answering for
/// whatever image the engine runs.
struct Rig {
    dir: tempfile::TempDir,
    state_dir: PathBuf,
    engine: MemoryEngine,
    _server: Server,
    disk: Option<SmallDisk>,
}

/// How one command ended.
struct Ended {
    exit: Exit,
    report: Option<Report>,
    error: String,
}

impl Rig {
    fn new() -> Rig {
        Rig::with_checks(CHECKS)
    }

    /// A rig whose state directory is on a small disk of its own.
    fn on_small_disk() -> Rig {
        let disk = SmallDisk::mount(256);
        let mut rig = Rig::with_state_dir(CHECKS, Some(disk.path().join("releases")));
        rig.disk = Some(disk);
        rig
    }

    fn disk(&self) -> &SmallDisk {
        self.disk.as_ref().unwrap()
    }

    fn with_checks(checks: &str) -> Rig {
        Rig::with_state_dir(checks, None)
    }

    fn with_state_dir(checks: &str, state_dir: Option<PathBuf>) -> Rig {
        let engine = MemoryEngine::new();
        let serving = engine.clone();
        let server = Server::start(move |_, path| match path {
            "/health" => Reply::new(serving.health_status("api"), r#"{"status":"ok"}"#),
            _ => Reply::new(404, "not found"),
        });
        let dir = tempfile::tempdir().unwrap();
        let state_dir = state_dir.unwrap_or_else(|| dir.path().join("releases"));
        std::fs::write(dir.path().join("compose.yml"), "services: {}\n").unwrap();
        let config = format!(
            r#"
[stack]
compose_file = "compose.yml"
project = "memtest"
state_dir = "STATE_DIR"
wait_timeout = "1s"

[stack.services.api]
key = "BACKEND"

[stack.services.frontend]
key = "FRONTEND"

[defaults]
interval = "50ms"
timeout = "2s"
deadline = "3s"
failure_limit = 2
{}"#,
            checks.replace("BASE", &server.base)
        )
        .replace("STATE_DIR", state_dir.to_str().unwrap());
        std::fs::write(dir.path().join("pitwall.toml"), config).unwrap();
        Rig {
            dir,
            state_dir,
            engine,
            _server: server,
            disk: None,
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }

    async fn deployer(&self) -> anyhow::Result<Deployer> {
        // As the CLI does: a configuration that cannot be used is a refusal.
        let config = Config::load(&self.dir.path().join("pitwall.toml"), &Overrides::default())
            .map_err(|e| Refused::because("the configuration cannot be used", e))?;
        let progress = Progress::new(Redactor::new(config.secrets.clone()));
        let runtime = Runtime::new(Cache::from_env(), Compiler::InProcess)?;
        Deployer::preflight(config, Arc::new(self.engine.clone()), runtime, progress).await
    }

    async fn ended(result: anyhow::Result<Report>) -> Ended {
        match result {
            Ok(report) => Ended {
                exit: Exit::of_conclusion(report.conclusion),
                report: Some(report),
                error: String::new(),
            },
            Err(e) => Ended {
                exit: Exit::of_error(&e),
                report: None,
                error: format!("{e:#}"),
            },
        }
    }

    /// `pitwall deploy` of `reference` for both services.
    async fn deploy(&self, release: &str, reference: &str, soak: Duration) -> Ended {
        self.deploy_with(release, reference, PullPolicy::Missing, soak)
            .await
    }

    async fn deploy_with(
        &self,
        release: &str,
        reference: &str,
        pull: PullPolicy,
        soak: Duration,
    ) -> Ended {
        let request = Request {
            release_id: release.parse().unwrap(),
            images: [("api", reference), ("frontend", reference)]
                .into_iter()
                .map(|(s, r)| (s.to_string(), r.to_string()))
                .collect(),
            pull,
            soak,
            force: false,
        };
        self.deploy_request(&request).await
    }

    async fn deploy_request(&self, request: &Request) -> Ended {
        let result = match self.deployer().await {
            Ok(d) => d.deploy(request).await,
            Err(e) => Err(e),
        };
        Rig::ended(result).await
    }

    async fn rollback(&self, to: Option<&str>) -> Ended {
        let result = match self.deployer().await {
            Ok(d) => d.rollback(to).await,
            Err(e) => Err(e),
        };
        Rig::ended(result).await
    }

    async fn recover(&self) -> Ended {
        self.recover_with(false).await
    }

    async fn recover_with(&self, force: bool) -> Ended {
        let result = match self.deployer().await {
            Ok(d) => d.recover(force).await,
            Err(e) => Err(e),
        };
        Rig::ended(result).await
    }

    /// Release 1.0 of a healthy image, live and verified.
    async fn released_1_0(&self) -> String {
        let digest = self.engine.local("app:1.0", Image::healthy());
        let ended = self.deploy("1.0", "app:1.0", Duration::ZERO).await;
        assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
        digest
    }

    fn state(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("state.env")).unwrap_or_default()
    }

    fn current(&self) -> Option<String> {
        self.state()
            .lines()
            .find_map(|l| l.strip_prefix("CURRENT_RELEASE_ID="))
            .map(|v| v.trim_matches('\'').to_string())
    }

    fn history(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir().join("history.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn last(&self) -> Value {
        self.history().pop().expect("a history record")
    }

    fn lock(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.state_dir().join("deploy.lock")).ok()?;
        Some(serde_json::from_str(&text).unwrap())
    }

    fn incident(record: &Value) -> String {
        let path = record["incident"].as_str().expect("an incident path");
        std::fs::read_to_string(path).unwrap()
    }

    /// A lock left by a command of `pid` in `phase`, as a killed pitwall
    /// leaves it.
    fn leave_lock(&self, pid: u32, phase: &str) {
        self.leave_lock_with(pid, phase, serde_json::json!({}));
    }

    /// The same, with more holder fields (`extra` is merged in).
    fn leave_lock_with(&self, pid: u32, phase: &str, extra: Value) {
        std::fs::create_dir_all(self.state_dir()).unwrap();
        let mut holder = serde_json::json!({
            "pid": pid,
            "host": hostname::get().unwrap().to_string_lossy(),
            "command": "deploy",
            "release_id": "2.0",
            "since": "2026-11-26T13:00:00Z",
            "phase": phase,
        });
        for (k, v) in extra.as_object().unwrap() {
            holder[k] = v.clone();
        }
        std::fs::write(self.state_dir().join("deploy.lock"), holder.to_string()).unwrap();
    }
}

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Asserts a failed 2.0 was rolled back to a verified 1.0, with everything
/// an operator needs; returns the record.
fn assert_rolled_back(rig: &Rig, ended: &Ended, mode: &str) -> Value {
    assert_eq!(ended.exit, Exit::RolledBack, "{}", ended.error);
    let report = ended.report.as_ref().unwrap();
    assert!(
        report
            .message
            .contains("rolled back to 1.0, which is verified"),
        "{}",
        report.message
    );
    assert_eq!(rig.current().as_deref(), Some("1.0"), "{}", rig.state());
    let record = rig.last();
    assert_eq!(record["release_id"], "2.0");
    assert_eq!(record["action"], "deploy");
    assert_eq!(record["outcome"], "rolled_back");
    assert_eq!(record["failure_mode"], mode, "{record}");
    assert_eq!(record["rollback"]["to_release"], "1.0");
    assert_eq!(record["rollback"]["outcome"], "verified");
    let incident = Rig::incident(&record);
    assert!(incident.contains("release id:    2.0"), "{incident}");
    assert!(
        incident.contains(&format!("failure mode:  {mode}")),
        "{incident}"
    );
    assert!(
        incident.contains("rollback:      to 1.0, verified"),
        "{incident}"
    );
    assert!(rig.lock().is_none(), "the lock is released");
    // What runs is 1.0, pinned to its digest.
    let running = rig.engine.running().unwrap();
    assert!(running["api"].starts_with("app@sha256:"), "{running:?}");
    record
}

// ---- preflight ----

#[tokio::test]
async fn a_check_that_rejects_its_config_is_refused_before_anything_is_touched() {
    let rig = Rig::with_checks(&CHECKS.replace("max_ratio = 0.05", "max_ratio = 5.0"));
    rig.engine.local("app:1.0", Image::healthy());
    let ended = rig.deploy("1.0", "app:1.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("check `logs`") && ended.error.contains("max_ratio"),
        "{}",
        ended.error
    );
    assert_eq!(rig.engine.applies(), 0);
    assert!(!rig.state_dir().exists(), "nothing written");
}

#[tokio::test]
async fn an_unknown_builtin_is_refused_in_preflight() {
    let rig = Rig::with_checks(&CHECKS.replace("builtin:log-5xx", "builtin:log5xx"));
    let ended = rig.deploy("1.0", "app:1.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended
            .error
            .contains("unknown built-in check `builtin:log5xx`"),
        "{}",
        ended.error
    );
    assert!(!rig.state_dir().exists());
}

#[tokio::test]
async fn release_ids_outside_the_grammar_never_reach_a_rollout() {
    // A request holds a parsed `ReleaseId`: an id outside the grammar is a
    // parse error where it enters (the command line: exit 2), so no
    // rollout, lock or state file ever sees it.
    let rig = Rig::new();
    rig.engine.local("app:1.0", Image::healthy());
    let long = "7".repeat(10_000);
    for id in [
        "",
        "1.0\nCURRENT_RELEASE_ID=evil",
        "../1.0",
        "-rf",
        "1 0",
        long.as_str(),
    ] {
        let error = id.parse::<ReleaseId>().unwrap_err().to_string();
        assert!(error.contains("is not valid"), "{error}");
        assert!(error.len() < 1_000, "the id is not echoed whole");
        assert!(!error.contains('\n'), "{error}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pitwall"))
        .args(["deploy", "--release-id", "../1.0", "--image", "api=app:1.0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not valid"));
    assert_eq!(rig.engine.applies(), 0);
    assert!(!rig.state_dir().exists());
    for id in [
        "2026-11-26.1",
        "1.4.0+build.7",
        "9fceb02d0ae598e95dc970b74767f19372d61af8",
    ] {
        assert_eq!(
            rig.deploy(id, "app:1.0", Duration::ZERO).await.exit,
            Exit::Ok,
            "{id}"
        );
    }
}

#[tokio::test]
async fn reusing_a_release_id_for_other_images_is_refused_unless_forced() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:1.1", Image::healthy());
    let ended = rig.deploy("1.0", "app:1.1", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("already deployed with other images")
            && ended.error.contains("--force"),
        "{}",
        ended.error
    );
    assert_eq!(rig.engine.applies(), 1);
    assert!(rig.lock().is_none());
    assert_eq!(
        rig.deploy("1.0", "app:1.0", Duration::ZERO).await.exit,
        Exit::Ok,
        "the same images again are fine"
    );
    let forced = Request {
        release_id: "1.0".parse().unwrap(),
        images: [("api", "app:1.1"), ("frontend", "app:1.1")]
            .into_iter()
            .map(|(s, r)| (s.to_string(), r.to_string()))
            .collect(),
        pull: PullPolicy::Missing,
        soak: Duration::ZERO,
        force: true,
    };
    assert_eq!(rig.deploy_request(&forced).await.exit, Exit::Ok);
}

#[tokio::test]
async fn a_garbled_state_env_is_a_refusal_that_names_it() {
    let rig = Rig::new();
    rig.released_1_0().await;
    std::fs::write(
        rig.state_dir().join("state.env"),
        "CURRENT_RELEASE_ID='1.0\ngarbage-line-zq9 here\n\"",
    )
    .unwrap();
    rig.engine.local("app:2.0", Image::healthy());
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.error);
    assert!(ended.error.contains("state.env"), "{}", ended.error);
    assert!(!ended.error.contains("garbage-line-zq9"), "{}", ended.error);
    assert_eq!(rig.engine.applies(), 1, "nothing touched");
    assert!(rig.lock().is_none());
}

#[tokio::test]
async fn a_check_missing_its_grant_is_refused_before_anything_naming_the_key() {
    // Without the refusal, the check could only fail and the release would
    // be blamed and rolled back. A target URL in the check's configuration
    // that no grant covers is caught with the configuration, at its line.
    let rig = Rig::with_checks(&CHECKS.replace("allow_http = [\"BASE/\"]\n", ""));
    rig.engine.local("app:1.0", Image::healthy());
    let ended = rig.deploy("1.0", "app:1.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.error);
    assert!(
        ended.error.contains("pitwall.toml:")
            && ended.error.contains("checks[0].config.url: check `health`")
            && ended.error.contains("no allow_http grant"),
        "{}",
        ended.error
    );
    assert_eq!(rig.engine.applies(), 0, "nothing touched");

    // A capability the check declares (its `describe`) and nothing grants
    // is caught at preflight, with the key to add.
    let rig = Rig::with_checks(&CHECKS.replace("allow_logs = [\"api\"]\n", ""));
    rig.engine.local("app:1.0", Image::healthy());
    let ended = rig.deploy("1.0", "app:1.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.error);
    assert!(
        ended
            .error
            .contains("check `logs` needs `logs` and nothing grants it: add allow_logs = ["),
        "{}",
        ended.error
    );
    assert_eq!(rig.engine.applies(), 0, "nothing touched");
}

// ---- pull ----

#[tokio::test]
async fn an_image_missing_from_the_registry_is_refused_and_the_running_release_stays() {
    let rig = Rig::new();
    rig.released_1_0().await;
    let state = rig.state();
    let ended = rig.deploy("2.0", "app:missing", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.error);
    assert!(
        ended.error.contains("cannot pull app:missing")
            && ended.error.contains("the running stack was not touched")
            && ended.error.contains("manifest for app:missing not found"),
        "the refusal keeps its cause: {}",
        ended.error
    );
    assert_eq!(rig.state(), state);
    assert_eq!(rig.history().len(), 1);
    assert_eq!(rig.engine.applies(), 1);
    assert!(rig.lock().is_none());
}

#[tokio::test]
async fn an_image_in_the_registry_is_pulled_and_recorded_with_its_digest() {
    let rig = Rig::new();
    let digest = rig.engine.remote("app:1.0", Image::healthy());
    let ended = rig
        .deploy_with("1.0", "app:1.0", PullPolicy::Always, Duration::ZERO)
        .await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    assert!(
        rig.state()
            .contains(&format!("CURRENT_BACKEND_DIGEST='{digest}'")),
        "{}",
        rig.state()
    );
    let record = rig.last();
    assert_eq!(record["outcome"], "released");
    assert_eq!(record["images"]["api"]["digest"], digest.as_str());
    assert!(record["checks"].as_array().unwrap().len() == 2, "{record}");
}

#[tokio::test]
async fn pull_never_refuses_an_image_that_is_not_here() {
    let rig = Rig::new();
    rig.engine.remote("app:1.0", Image::healthy());
    let ended = rig
        .deploy_with("1.0", "app:1.0", PullPolicy::Never, Duration::ZERO)
        .await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(ended.error.contains("--pull never"), "{}", ended.error);
    assert!(rig.lock().is_none());
    assert!(rig.history().is_empty());
}

#[tokio::test]
async fn pull_always_leaves_kept_services_be_and_says_how_to_deploy_local_images() {
    let rig = Rig::new();
    rig.released_1_0().await;
    // Built on this host: no registry has it.
    rig.engine.local("app:1.1", Image::healthy());
    let ended = rig
        .deploy_with("1.1", "app:1.1", PullPolicy::Always, Duration::ZERO)
        .await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("is present here") && ended.error.contains("--pull missing"),
        "{}",
        ended.error
    );
    // Only the api changes: the frontend, kept from 1.0 pinned to its
    // digest, needs no pull (its registry never had it).
    rig.engine.remote("app:2.0", Image::healthy());
    let request = Request {
        release_id: "2.0".parse().unwrap(),
        images: [("api".to_string(), "app:2.0".to_string())].into(),
        pull: PullPolicy::Always,
        soak: Duration::ZERO,
        force: false,
    };
    let ended = rig.deploy_request(&request).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
}

#[tokio::test]
async fn an_engine_outage_before_the_apply_is_a_refusal() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    rig.engine.go_down();
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.error);
    assert!(ended.error.contains("scripted outage"), "{}", ended.error);
    assert_eq!(rig.current().as_deref(), Some("1.0"));
    assert_eq!(rig.history().len(), 1);
    assert!(rig.lock().is_none());
}

// ---- apply ----

#[tokio::test]
async fn a_failed_apply_is_a_startup_failure_and_rolls_back() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    rig.engine.fail_apply(2);
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    let record = assert_rolled_back(&rig, &ended, "startup");
    assert!(
        record["failure"]
            .as_str()
            .unwrap()
            .contains("apply 2 failed"),
        "{record}"
    );
}

#[tokio::test]
async fn a_failed_first_release_has_nothing_to_roll_back_to_and_needs_a_human() {
    let rig = Rig::new();
    rig.engine
        .local("app:1.0", Image::behaving(Behaviour::Exits(1)));
    let ended = rig.deploy("1.0", "app:1.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::NeedsHuman, "{}", ended.error);
    assert!(
        ended
            .report
            .unwrap()
            .message
            .contains("no previous release to roll back to")
    );
    assert_eq!(rig.state(), "", "no release is recorded as current");
    let record = rig.last();
    assert_eq!(record["outcome"], "failed");
    assert_eq!(record["failure_mode"], "startup");
    assert!(record.get("rollback").is_none());
    assert!(
        Rig::incident(&record).contains("rollback:      none (no previous release"),
        "{record}"
    );
    assert!(rig.lock().is_none());
}

// ---- verify ----

/// Releases a healthy 1.0, then deploys `image` as 2.0 with `soak`; asserts
/// 2.0 failed in `mode`, for a reason that mentions `why`, and that 1.0 is
/// back and verified. Returns the record of 2.0.
async fn second_release_fails(
    rig: &Rig,
    image: Image,
    soak: Duration,
    mode: &str,
    why: &str,
) -> Value {
    rig.released_1_0().await;
    rig.engine.local("app:2.0", image);
    let ended = rig.deploy("2.0", "app:2.0", soak).await;
    let record = assert_rolled_back(rig, &ended, mode);
    let failure = record["failure"].as_str().unwrap();
    assert!(failure.contains(why), "{failure}");
    record
}

#[tokio::test]
async fn a_container_that_exits_on_start_is_a_startup_failure() {
    let exits = Image::behaving(Behaviour::Exits(2));
    second_release_fails(
        &Rig::new(),
        exits,
        Duration::ZERO,
        "startup",
        "exited with code 2",
    )
    .await;
}

#[tokio::test]
async fn a_crash_looping_container_is_a_startup_failure() {
    let crashes = Image::behaving(Behaviour::CrashLoops);
    second_release_fails(
        &Rig::new(),
        crashes,
        Duration::ZERO,
        "startup",
        "restarting",
    )
    .await;
}

#[tokio::test]
async fn a_container_that_never_runs_fails_at_the_wait_timeout() {
    let rig = Rig::new();
    let stuck = Image::behaving(Behaviour::NeverRuns);
    let why = "containers not running after 1s";
    second_release_fails(&rig, stuck, Duration::ZERO, "startup", why).await;
}

#[tokio::test]
async fn an_unhealthy_container_is_a_healthcheck_failure() {
    let unhealthy = Image::behaving(Behaviour::Unhealthy);
    second_release_fails(
        &Rig::new(),
        unhealthy,
        Duration::ZERO,
        "healthcheck",
        "unhealthy",
    )
    .await;
}

#[tokio::test]
async fn a_failing_verify_check_is_a_healthcheck_failure_with_its_evidence() {
    let rig = Rig::new();
    let why = "check `health` failed";
    let record = second_release_fails(
        &rig,
        Image::answering(503),
        Duration::ZERO,
        "healthcheck",
        why,
    )
    .await;
    let health = &record["checks"][0];
    assert_eq!(health["name"], "health");
    assert_eq!(health["passed"], false);
    assert_eq!(health["attempts"], 2, "failure_limit 2: {health}");
    assert!(
        Rig::incident(&record).contains("status 503"),
        "the incident carries the evidence"
    );
}

// ---- soak ----

#[tokio::test]
async fn a_5xx_spike_in_the_logs_during_the_soak_is_a_runtime_failure() {
    let rig = Rig::new();
    let soak = Duration::from_millis(500);
    let why = "check `logs` failed";
    let record = second_release_fails(&rig, Image::serving_errors(), soak, "runtime", why).await;
    let names: Vec<&str> = record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["health", "logs"], "verify results are kept");
    assert!(
        Rig::incident(&record).contains("api | 127.0.0.1"),
        "the failed release's logs are captured"
    );
}

#[tokio::test]
async fn the_switch_is_not_held_against_the_release() {
    // 5xx logged while the release's units were being switched (a proxy's
    // 502s during a recreate) fall before the watch window, which opens
    // a moment after the release is verified; its steady traffic is all
    // 200s.
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::switching_with_errors());
    let ended = rig
        .deploy("2.0", "app:2.0", Duration::from_millis(500))
        .await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    let record = rig.last();
    let logs = record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "logs")
        .unwrap();
    let evidence = logs["verdict"]["evidence"].as_array().unwrap();
    let judged_from = evidence
        .iter()
        .find(|e| e["label"] == "host.judged_from")
        .unwrap_or_else(|| panic!("the window's start is evidence: {logs}"));
    let value = judged_from["value"].as_str().unwrap();
    assert!(
        value.contains("after release 2.0 passed its verify checks"),
        "{value}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e["label"] == "5xx" && e["value"] == "0"),
        "{logs}"
    );
}

#[tokio::test]
async fn a_check_that_only_observes_is_run_and_recorded_but_never_gates() {
    // `enforce = false` trials a new check: the same 5xx spike that fails
    // the release above is recorded, and the release goes live.
    let rig = Rig::with_checks(
        &CHECKS.replace("name = \"logs\"\n", "name = \"logs\"\nenforce = false\n"),
    );
    rig.engine.local("app:1.0", Image::serving_errors());
    let ended = rig
        .deploy("1.0", "app:1.0", Duration::from_millis(500))
        .await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    let record = rig.last();
    assert_eq!(record["outcome"], "released");
    let logs = record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "logs")
        .expect("the observed check is recorded");
    assert_eq!(logs["passed"], false, "{logs}");
    assert_eq!(logs["enforced"], false, "{logs}");
    assert_eq!(logs["verdict"]["outcome"], "fail", "{logs}");
    let health = &record["checks"][0];
    assert!(
        health.get("enforced").is_none(),
        "gating is the default: {health}"
    );

    // The gating checks still gate.
    let rig = Rig::with_checks(
        &CHECKS.replace("name = \"logs\"\n", "name = \"logs\"\nenforce = false\n"),
    );
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::serving_errors());
    let mut broken = Image::healthy();
    broken.health_status = 503;
    rig.engine.local("app:2.1", broken);
    let ended = rig.deploy("2.1", "app:2.1", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::RolledBack, "{}", ended.error);
}

fn dies_during_the_soak() -> Image {
    Image::behaving(Behaviour::DiesAfter(Duration::from_millis(700)))
}

#[tokio::test]
async fn a_container_that_dies_during_the_soak_is_caught_and_rolled_back() {
    let rig = Rig::new();
    let soak = Duration::from_secs(3);
    let why = "exited with code 137";
    second_release_fails(&rig, dies_during_the_soak(), soak, "runtime", why).await;
}

#[tokio::test]
async fn a_soak_without_watch_checks_still_watches_the_containers() {
    let verify_only = CHECKS.split("[[checks]]\nname = \"logs\"").next().unwrap();
    let rig = Rig::with_checks(verify_only);
    let soak = Duration::from_secs(3);
    second_release_fails(
        &rig,
        dies_during_the_soak(),
        soak,
        "runtime",
        "exited with code 137",
    )
    .await;
}

#[tokio::test]
async fn a_release_that_stays_up_through_the_soak_is_released() {
    let rig = Rig::new();
    let v1 = rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    let ended = rig
        .deploy("2.0", "app:2.0", Duration::from_millis(600))
        .await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    let state = rig.state();
    assert!(
        state.contains("CURRENT_RELEASE_ID='2.0'") && state.contains("PREVIOUS_RELEASE_ID='1.0'"),
        "{state}"
    );
    assert!(
        state.contains(&format!("PREVIOUS_BACKEND_DIGEST='{v1}'")),
        "{state}"
    );
    let record = rig.last();
    assert_eq!(record["outcome"], "released");
    assert!(
        record["durations_ms"]["soak"].as_u64().unwrap() >= 600,
        "{record}"
    );
    assert!(rig.lock().is_none());
}

#[tokio::test]
async fn a_cancelled_deploy_is_rolled_back_and_recorded_as_cancelled() {
    let rig = Rig::new();
    let v1 = rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    let cancel = Cancel::new();
    let d = rig.deployer().await.unwrap().cancellable(cancel.clone());
    let request = Request {
        release_id: "2.0".parse().unwrap(),
        images: [("api", "app:2.0"), ("frontend", "app:2.0")]
            .into_iter()
            .map(|(s, r)| (s.to_string(), r.to_string()))
            .collect(),
        pull: PullPolicy::Missing,
        soak: Duration::from_secs(30),
        force: false,
    };
    let stop = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel.cancel();
    });
    let ended = Rig::ended(d.deploy(&request).await).await;
    stop.await.unwrap();
    assert_eq!(ended.exit, Exit::RolledBack, "{}", ended.error);
    assert!(
        ended.report.unwrap().message.contains("was cancelled"),
        "the message says so"
    );
    let record = rig.last();
    assert_eq!(record["outcome"], "cancelled");
    assert!(record.get("failure_mode").is_none(), "{record}");
    assert!(
        record.get("incident").is_none(),
        "no incident: nothing failed"
    );
    assert_eq!(record["rollback"]["outcome"], "verified");
    assert_eq!(rig.engine.running().unwrap()["api"], v1);
    assert_eq!(rig.current().as_deref(), Some("1.0"));
    assert!(rig.lock().is_none());
}

// ---- roll back ----

#[tokio::test]
async fn a_rollback_whose_apply_fails_leaves_the_stack_needing_a_human() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::answering(503));
    rig.engine.fail_apply(3);
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::NeedsHuman, "{}", ended.error);
    assert!(
        ended
            .report
            .unwrap()
            .message
            .contains("NOT on a verified release"),
    );
    let record = rig.last();
    assert_eq!(record["outcome"], "failed");
    assert_eq!(record["failure_mode"], "healthcheck");
    assert_eq!(record["rollback"]["outcome"], "failed");
    assert!(
        Rig::incident(&record).contains("rollback:      to 1.0 FAILED: apply 3 failed"),
        "{record}"
    );
    assert_eq!(
        rig.current().as_deref(),
        Some("1.0"),
        "the pointers still name the last verified release"
    );
    assert!(rig.lock().is_none());
}

#[tokio::test]
async fn a_rollback_target_that_fails_verification_leaves_the_stack_needing_a_human() {
    let rig = Rig::new();
    let v1 = rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::answering(503));
    let engine = rig.engine.clone();
    rig.engine
        .before_apply(3, move || engine.rescript(&v1, Image::answering(500)));
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::NeedsHuman, "{}", ended.error);
    let record = rig.last();
    assert_eq!(record["outcome"], "failed");
    assert_eq!(record["rollback"]["outcome"], "failed");
    assert!(
        record["rollback"]["failure"]
            .as_str()
            .unwrap()
            .contains("status 500"),
        "{record}"
    );
}

#[tokio::test]
async fn manual_rollback_swaps_the_pointers_and_runs_the_pinned_digests() {
    let rig = Rig::new();
    let v1 = rig.released_1_0().await;
    rig.engine.local("app:1.1", Image::healthy());
    assert_eq!(
        rig.deploy("1.1", "app:1.1", Duration::ZERO).await.exit,
        Exit::Ok
    );
    let ended = rig.rollback(None).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    let state = rig.state();
    assert!(
        state.contains("CURRENT_RELEASE_ID='1.0'") && state.contains("PREVIOUS_RELEASE_ID='1.1'"),
        "{state}"
    );
    assert_eq!(rig.engine.running().unwrap()["api"], v1);
    let record = rig.last();
    assert_eq!(record["action"], "rollback");
    assert_eq!(record["outcome"], "restored");
    assert!(rig.lock().is_none());

    let ended = rig.rollback(Some("1.1")).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    assert_eq!(rig.current().as_deref(), Some("1.1"));
}

#[tokio::test]
async fn re_applying_the_current_release_keeps_the_previous_pointer() {
    // `status` advises `rollback --to <current>` after drift, and a repair
    // redeploys the current release: neither may lose the way back.
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:1.1", Image::healthy());
    assert_eq!(
        rig.deploy("1.1", "app:1.1", Duration::ZERO).await.exit,
        Exit::Ok
    );
    let ended = rig.rollback(Some("1.1")).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    let state = rig.state();
    assert!(
        state.contains("CURRENT_RELEASE_ID='1.1'") && state.contains("PREVIOUS_RELEASE_ID='1.0'"),
        "{state}"
    );
    let redeployed = rig.deploy("1.1", "app:1.1", Duration::ZERO).await;
    assert_eq!(redeployed.exit, Exit::Ok, "{}", redeployed.error);
    let state = rig.state();
    assert!(state.contains("PREVIOUS_RELEASE_ID='1.0'"), "{state}");
    let ended = rig.rollback(None).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    assert_eq!(rig.current().as_deref(), Some("1.0"));
    let state = rig.state();
    assert!(state.contains("PREVIOUS_RELEASE_ID='1.1'"), "{state}");
}

#[tokio::test]
async fn rollback_without_a_previous_release_or_to_an_unknown_one_is_refused() {
    let rig = Rig::new();
    rig.released_1_0().await;
    let ended = rig.rollback(None).await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("no previous release"),
        "{}",
        ended.error
    );
    let ended = rig.rollback(Some("9.9")).await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("release 9.9 was never released here"),
        "{}",
        ended.error
    );
    assert_eq!(rig.history().len(), 1);
    assert!(rig.lock().is_none());
}

#[tokio::test]
async fn a_manual_rollback_that_fails_verification_keeps_the_pointers() {
    let rig = Rig::new();
    let v1 = rig.released_1_0().await;
    rig.engine.local("app:1.1", Image::healthy());
    assert_eq!(
        rig.deploy("1.1", "app:1.1", Duration::ZERO).await.exit,
        Exit::Ok
    );
    let state = rig.state();
    rig.engine
        .rescript(&v1, Image::behaving(Behaviour::Exits(3)));
    let ended = rig.rollback(None).await;
    assert_eq!(ended.exit, Exit::NeedsHuman, "{}", ended.error);
    assert_eq!(rig.state(), state, "pointers untouched");
    let record = rig.last();
    assert_eq!(record["action"], "rollback");
    assert_eq!(record["outcome"], "failed");
    assert!(rig.lock().is_none());
}

// ---- lock and recover ----

#[tokio::test]
async fn a_live_holder_refuses_a_deploy_and_a_dead_one_sends_the_operator_to_recover() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    rig.leave_lock(std::process::id(), "soaking");
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("another deploy holds the lock"),
        "{}",
        ended.error
    );
    let recover = rig.recover().await;
    assert_eq!(recover.exit, Exit::Refused);
    assert!(
        recover.error.contains("is still running on this host"),
        "{}",
        recover.error
    );

    rig.leave_lock(dead_pid(), "applying");
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("died without finishing") && ended.error.contains("pitwall recover"),
        "{}",
        ended.error
    );
    assert_eq!(rig.lock().unwrap()["phase"], "applying", "the lock is kept");
    assert_eq!(rig.engine.applies(), 1);
}

#[tokio::test]
async fn the_lock_of_a_holder_that_died_before_touching_the_stack_is_taken_over() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    rig.leave_lock(dead_pid(), "pulling");
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Ok, "nothing to recover: {}", ended.error);
    assert!(rig.lock().is_none());
}

#[tokio::test]
async fn recover_restores_the_current_release_and_clears_the_lock() {
    let rig = Rig::new();
    let v1 = rig.released_1_0().await;
    rig.leave_lock(dead_pid(), "applying");
    let ended = rig.recover().await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    assert!(
        ended
            .report
            .unwrap()
            .message
            .contains("release 1.0 restored and verified")
    );
    assert_eq!(rig.engine.running().unwrap()["api"], v1);
    let record = rig.last();
    assert_eq!(record["action"], "recover");
    assert_eq!(record["outcome"], "restored");
    assert!(
        record["failure"]
            .as_str()
            .unwrap()
            .contains("phase applying"),
        "{record}"
    );
    assert!(rig.lock().is_none());
    assert_eq!(rig.current().as_deref(), Some("1.0"));
}

#[tokio::test]
async fn recover_with_no_release_to_restore_records_an_interruption() {
    let rig = Rig::new();
    rig.leave_lock(dead_pid(), "applying");
    let ended = rig.recover().await;
    assert_eq!(ended.exit, Exit::NeedsHuman, "{}", ended.error);
    let record = rig.last();
    assert_eq!(record["outcome"], "interrupted");
    assert!(rig.lock().is_none());
    let ended = rig.recover().await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("no deploy lock is held"),
        "{}",
        ended.error
    );
}

#[tokio::test]
async fn recover_after_a_killed_rollback_closes_the_incident_and_records_the_failed_release() {
    let rig = Rig::new();
    rig.released_1_0().await;
    let incident = rig.state_dir().join("incident-20261126T130000Z.log");
    std::fs::write(
        &incident,
        "pitwall incident\nrelease id:    2.0\nrollback:      in progress\n",
    )
    .unwrap();
    rig.leave_lock_with(
        dead_pid(),
        "rolling-back",
        serde_json::json!({"incident": incident.display().to_string()}),
    );
    let ended = rig.recover().await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    let history = rig.history();
    let failed = &history[history.len() - 2];
    assert_eq!(failed["release_id"], "2.0");
    assert_eq!(failed["action"], "deploy");
    assert_eq!(failed["outcome"], "rolled_back");
    assert_eq!(failed["rollback"]["to_release"], "1.0");
    assert_eq!(rig.last()["action"], "recover");
    let text = std::fs::read_to_string(&incident).unwrap();
    assert!(!text.contains("in progress"), "{text}");
    assert!(
        text.contains("interrupted") && text.contains("restored and verified release 1.0"),
        "{text}"
    );
    assert!(rig.lock().is_none());

    // A recovery that itself died after recording: the next one does not
    // record the failed release twice.
    rig.leave_lock_with(
        dead_pid(),
        "recovering",
        serde_json::json!({"incident": incident.display().to_string()}),
    );
    assert_eq!(rig.recover().await.exit, Exit::Ok);
    let failed = rig
        .history()
        .iter()
        .filter(|r| r["release_id"] == "2.0" && r["action"] == "deploy")
        .count();
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn a_lock_from_another_host_is_overridden_only_with_force_and_says_so() {
    // A CI runner gets a new hostname every job: its lock could never be
    // cleared without --force.
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.leave_lock_with(
        4242,
        "applying",
        serde_json::json!({ "host": "ci-runner-gone-7f3a" }),
    );
    let refused = rig.recover().await;
    assert_eq!(refused.exit, Exit::Refused, "{}", refused.error);
    assert!(
        refused.error.contains("ci-runner-gone-7f3a")
            && refused.error.contains("pitwall recover --force"),
        "{}",
        refused.error
    );
    assert!(rig.lock().is_some(), "the lock stays without --force");

    let forced = rig.recover_with(true).await;
    assert_eq!(forced.exit, Exit::Ok, "{}", forced.error);
    assert!(rig.lock().is_none());
    let record = rig.last();
    assert_eq!(record["action"], "recover");
    assert_eq!(record["outcome"], "restored");
    assert!(
        record["failure"]
            .as_str()
            .unwrap()
            .contains("pid 4242 on ci-runner-gone-7f3a"),
        "the record names what was overridden: {record}"
    );
}

#[tokio::test]
async fn a_manual_lock_holds_deploys_off_until_released() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    let dir = rig.state_dir();
    let held = pitwall::release::lock::Lock::acquire_with(
        &dir,
        pitwall::release::lock::Holding::Manual,
        "-",
        Some("database migration, ask ana".into()),
    )
    .unwrap();
    held.hold();
    for ended in [
        rig.deploy("2.0", "app:2.0", Duration::ZERO).await,
        rig.rollback(None).await,
        rig.recover_with(true).await,
    ] {
        assert_eq!(ended.exit, Exit::Refused, "{}", ended.error);
        assert!(
            ended.error.contains("database migration, ask ana"),
            "{}",
            ended.error
        );
    }
    assert_eq!(rig.engine.applies(), 1, "nothing applied while held");
    let holder = pitwall::release::lock::read(&dir).unwrap().unwrap();
    pitwall::release::lock::release_held(&dir, &holder).unwrap();
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
}

// ---- plan ----

#[tokio::test]
async fn plan_shows_what_would_change_and_changes_nothing() {
    let rig = Rig::new();
    let v1 = rig.released_1_0().await;
    let v2 = rig.engine.remote("app:2.0", Image::healthy());
    let state = rig.state();
    let history = rig.history().len();
    let request = |image: &str, pull| Request {
        release_id: "2.0".parse().unwrap(),
        images: [("api".to_string(), image.to_string())].into(),
        pull,
        soak: Duration::ZERO,
        force: false,
    };
    let d = rig.deployer().await.unwrap();

    // api changes (only the registry has it: resolved there, not pulled);
    // frontend keeps 1.0, pinned.
    let plan = d
        .plan(&request("app:2.0", PullPolicy::Missing))
        .await
        .unwrap();
    assert!(plan.changes);
    assert_eq!(plan.current.as_deref(), Some("1.0"));
    let by_service = |name: &str| plan.services.iter().find(|s| s.service == name).unwrap();
    assert_eq!(by_service("api").change, Change::Changed);
    assert_eq!(by_service("api").new.digest.as_deref(), Some(v2.as_str()));
    assert_eq!(by_service("api").resolved_from, Resolved::Registry);
    assert_eq!(by_service("frontend").change, Change::Kept);
    assert_eq!(by_service("frontend").new.reference, v1);
    let diff = plan.diff.as_deref().unwrap();
    assert!(
        diff.contains(&format!("-api: {v1}")) && diff.contains(&format!("+api: {v2}")),
        "{diff}"
    );
    assert!(
        !diff.contains("-frontend") && !diff.contains("+frontend"),
        "an unchanged service is no change: {diff}"
    );
    assert_eq!(plan.checks.len(), 2);
    assert_eq!(plan.checks[0].allow_http.len(), 1);

    // The same images again: nothing would change.
    let same = d
        .plan(&request("app:1.0", PullPolicy::Missing))
        .await
        .unwrap();
    assert!(!same.changes, "{same:?}");
    assert!(same.services.iter().all(|s| s.change == Change::Kept));

    // Nothing was pulled, applied, locked or recorded.
    assert_eq!(rig.engine.applies(), 1);
    assert_eq!(
        rig.engine.image_digest("app:2.0").await.unwrap(),
        None,
        "not pulled"
    );
    assert!(rig.lock().is_none());
    assert_eq!(rig.state(), state);
    assert_eq!(rig.history().len(), history);

    // What the deploy would refuse, the plan refuses.
    let missing = d
        .plan(&request("app:9.9", PullPolicy::Always))
        .await
        .unwrap_err();
    assert_eq!(Exit::of_error(&missing), Exit::Refused);
    assert!(
        format!("{missing:#}").contains("api: app:9.9"),
        "{missing:#}"
    );
    let unknown = Request {
        images: [("worker".to_string(), "app:2.0".to_string())].into(),
        ..request("app:2.0", PullPolicy::Always)
    };
    let refused = d.plan(&unknown).await.unwrap_err();
    assert!(format!("{refused:#}").contains("`worker`"), "{refused:#}");
}

// ---- record ----

/// Puts a non-empty directory where `file` is, so writing it fails.
fn block(file: &Path) {
    let _ = std::fs::remove_file(file);
    std::fs::create_dir_all(file.join("in-the-way")).unwrap();
}

#[tokio::test]
async fn a_state_file_that_cannot_be_written_after_verification_keeps_the_lock_for_recover() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    let state_env = rig.state_dir().join("state.env");
    rig.engine.before_apply(2, move || block(&state_env));
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::NeedsHuman);
    assert!(ended.error.contains("state.env"), "{}", ended.error);
    assert_eq!(rig.history().len(), 1, "no record claims 2.0 was released");
    let lock = rig.lock().expect("the lock stays: the stack was changed");
    assert_eq!(lock["phase"], "recording");
}

#[tokio::test]
async fn a_history_that_cannot_be_appended_is_reported_beside_a_true_outcome() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::healthy());
    let history = rig.state_dir().join("history.jsonl");
    rig.engine.before_apply(2, move || block(&history));
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(
        ended.exit,
        Exit::Ok,
        "2.0 is live and verified: {}",
        ended.error
    );
    let report = ended.report.unwrap();
    assert!(
        report
            .bookkeeping
            .iter()
            .any(|n| n.contains("history.jsonl")),
        "{:?}",
        report.bookkeeping
    );
    assert_eq!(rig.current().as_deref(), Some("2.0"));
    assert!(rig.lock().is_none(), "the stack is on a known release");
}

// ---- a full disk ----

#[tokio::test]
async fn a_full_disk_when_a_release_fails_does_not_stop_the_rollback() {
    let rig = Rig::on_small_disk();
    let v1 = rig.released_1_0().await;
    // The spool's followers, aborted when 1.0's deploy ended, close their
    // (removed) files once the runtime drops them: only then is that room
    // free, and it must be before the disk is filled.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let state = rig.state();
    let history = std::fs::read(rig.state_dir().join("history.jsonl")).unwrap();
    rig.engine.local("app:2.0", Image::answering(503));
    rig.disk().fill();
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    // The disk was full before the deploy: it cannot even take the lock.
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.error);
    assert!(
        !rig.state_dir().join("deploy.lock").exists(),
        "no empty lock left"
    );
    rig.disk().free();

    // Full only once the release is applied: everything after is bookkeeping.
    let disk = rig.disk().path().to_path_buf();
    rig.engine.before_apply(2, move || fill(&disk));
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::RolledBack, "{}", ended.error);
    let report = ended.report.unwrap();
    assert!(
        report.bookkeeping.iter().any(|n| n.contains("incident")),
        "{:?}",
        report.bookkeeping
    );
    assert_eq!(rig.engine.running().unwrap()["api"], v1, "1.0 runs again");
    assert_eq!(rig.state(), state, "the pointers still say 1.0");
    assert!(!rig.state_dir().join("deploy.lock").exists());
    // The record went into the history's last free bytes, or not at all:
    // never half of it.
    let now = std::fs::read(rig.state_dir().join("history.jsonl")).unwrap();
    let noted = report.bookkeeping.iter().any(|n| n.contains("history"));
    assert_eq!(noted, now == history, "{:?}", report.bookkeeping);
    rig.disk().free();
    rig.engine.local("app:2.1", Image::healthy());
    let ended = rig.deploy("2.1", "app:2.1", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Ok, "with room again: {}", ended.error);
    let records = rig.history(); // every line parses
    assert_eq!(records.last().unwrap()["release_id"], "2.1");
}

#[tokio::test]
async fn state_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine.local("app:2.0", Image::answering(503));
    rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&rig.state_dir()), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(rig.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert_eq!(files, 3, "state.env, history.jsonl and an incident");
}

// ---- startup ----

#[tokio::test]
async fn a_release_that_takes_a_while_to_listen_is_released_not_failed() {
    let rig = Rig::new();
    rig.released_1_0().await;
    rig.engine
        .local("app:2.0", Image::booting(Some(Duration::from_millis(1500))));
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    let record = rig.last();
    assert_eq!(record["outcome"], "released");
    let health = &record["checks"][0];
    assert!(
        health["attempts"].as_u64().unwrap() > 2,
        "refused attempts before it listened did not count against failure_limit 2: {health}"
    );
}

#[tokio::test]
async fn a_proxys_502_while_the_app_boots_is_not_a_failure() {
    // The stack's proxy answers 502 while the app behind it migrates: the
    // release is not up yet, not broken, until it answers or `startup` ends.
    let rig = Rig::new();
    rig.released_1_0().await;
    let booting = Image::booting_behind_a_proxy(Some(Duration::from_millis(1500)));
    rig.engine.local("app:2.0", booting);
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    let health = &rig.last()["checks"][0];
    assert!(
        health["attempts"].as_u64().unwrap() > 2,
        "the 502s did not count against failure_limit 2: {health}"
    );
    // One that never comes up fails as `startup`, not as a bad answer.
    let rig = Rig::new();
    second_release_fails(
        &rig,
        Image::booting_behind_a_proxy(None),
        Duration::ZERO,
        "startup",
        "the release never came up",
    )
    .await;
}

#[tokio::test]
async fn a_release_that_never_listens_fails_as_startup_within_its_deadline() {
    let rig = Rig::new();
    let started = std::time::Instant::now();
    let record = second_release_fails(
        &rig,
        Image::booting(None),
        Duration::ZERO,
        "startup",
        "the release never came up",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the 3 s deadline"
    );
    assert!(
        Rig::incident(&record).contains("host.http"),
        "the evidence shows the unanswered requests"
    );
}

#[tokio::test]
async fn a_startup_grace_shorter_than_the_deadline_bounds_the_wait() {
    let rig = Rig::with_checks(&CHECKS.replace(
        "config = { url = \"BASE/health\" }",
        "startup = \"300ms\"\nconfig = { url = \"BASE/health\" }",
    ));
    second_release_fails(
        &rig,
        Image::booting(None),
        Duration::ZERO,
        "startup",
        "never came up",
    )
    .await;
    let health = &rig.last()["checks"][0];
    assert!(
        health["attempts"].as_u64().unwrap() < 20,
        "after 300 ms the unanswered attempts count: {health}"
    );
}

// ---- links planted in the state directory ----

/// Replaces `name` in the state directory with a link to a copy of it
/// elsewhere; returns the copy's path and content.
fn plant_link(state_dir: &Path, outside: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let inside = state_dir.join(name);
    let target = outside.join(name);
    let content = std::fs::read(&inside).unwrap_or_else(|_| b"outside content\n".to_vec());
    std::fs::write(&target, &content).unwrap();
    let _ = std::fs::remove_file(&inside);
    std::os::unix::fs::symlink(&target, &inside).unwrap();
    (target, content)
}

#[tokio::test]
async fn nothing_is_written_through_links_planted_for_state_and_history() {
    let rig = Rig::new();
    rig.released_1_0().await;
    let outside = tempfile::tempdir().unwrap();
    let planted: Vec<_> = ["state.env", "history.jsonl"]
        .iter()
        .map(|name| plant_link(&rig.state_dir(), outside.path(), name))
        .collect();
    rig.engine.local("app:2.0", Image::healthy());
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    for (target, content) in &planted {
        assert_eq!(
            &std::fs::read(target).unwrap(),
            content,
            "{} was written through",
            target.display()
        );
    }
    // state.env was replaced (the link, not its target); the history link
    // was refused and said so beside an honest outcome.
    let state = rig.state_dir().join("state.env");
    assert!(!std::fs::symlink_metadata(&state).unwrap().is_symlink());
    assert_eq!(rig.current().as_deref(), Some("2.0"), "{}", ended.error);
    let report = ended.report.expect("released");
    assert!(
        report
            .bookkeeping
            .iter()
            .any(|b| b.contains("symbolic link")),
        "{:?}",
        report.bookkeeping
    );
}

#[tokio::test]
async fn a_lock_planted_as_a_link_is_refused_and_its_target_untouched() {
    let rig = Rig::new();
    rig.released_1_0().await;
    let outside = tempfile::tempdir().unwrap();
    let (target, content) = plant_link(&rig.state_dir(), outside.path(), "deploy.lock");
    rig.engine.local("app:2.0", Image::healthy());
    let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.error);
    assert_eq!(std::fs::read(&target).unwrap(), content);
    assert_eq!(rig.current().as_deref(), Some("1.0"));
}

#[tokio::test]
async fn a_pitwall_killed_in_any_phase_is_told_truthfully_and_recovered() {
    // SIGKILL leaves the lock in the phase the holder was in; each phase
    // must lead to a truthful next command and a verified stack.
    for (phase, touched) in [
        ("preflight", false),
        ("pulling", false),
        ("applying", true),
        ("soaking", true),
        ("rolling-back", true),
        ("recording", true),
        ("recovering", true),
    ] {
        let rig = Rig::new();
        let v1 = rig.released_1_0().await;
        rig.engine.local("app:2.0", Image::healthy());
        rig.leave_lock(dead_pid(), phase);
        let ended = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
        if !touched {
            assert_eq!(ended.exit, Exit::Ok, "{phase}: {}", ended.error);
            assert_eq!(rig.current().as_deref(), Some("2.0"), "{phase}");
            continue;
        }
        assert_eq!(ended.exit, Exit::Refused, "{phase}: {}", ended.error);
        assert!(
            ended.error.contains("pitwall recover"),
            "{phase}: {}",
            ended.error
        );
        assert_eq!(rig.engine.applies(), 1, "{phase}: refused untouched");
        let recovered = rig.recover().await;
        assert_eq!(recovered.exit, Exit::Ok, "{phase}: {}", recovered.error);
        assert_eq!(rig.engine.running().unwrap()["api"], v1, "{phase}");
        assert_eq!(rig.current().as_deref(), Some("1.0"), "{phase}");
        assert!(rig.lock().is_none(), "{phase}");
        assert_eq!(rig.last()["action"], "recover", "{phase}");
        let again = rig.deploy("2.0", "app:2.0", Duration::ZERO).await;
        assert_eq!(
            again.exit,
            Exit::Ok,
            "{phase}: after recover: {}",
            again.error
        );
    }
}

#[tokio::test]
async fn a_sha256_pin_that_does_not_match_is_refused_naming_both() {
    let actual =
        pitwall::checks::sha256(pitwall::checks::builtin::find("http-probe").unwrap().wasm);
    let pinned = "0".repeat(64);
    let rig = Rig::with_checks(&CHECKS.replace(
        "plugin = \"builtin:http-probe\"",
        &format!("plugin = \"builtin:http-probe\"\nsha256 = \"{pinned}\""),
    ));
    rig.engine.local("app:1.0", Image::healthy());
    let ended = rig.deploy("1.0", "app:1.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Refused);
    assert!(
        ended.error.contains("check `health`")
            && ended.error.contains(&pinned)
            && ended.error.contains(&actual),
        "{}",
        ended.error
    );
    assert_eq!(rig.engine.applies(), 0);
    assert!(!rig.state_dir().exists(), "nothing written");

    let rig = Rig::with_checks(&CHECKS.replace(
        "plugin = \"builtin:http-probe\"",
        "plugin = \"builtin:http-probe\"\nsha256 = \"sha256:abc\"",
    ));
    let ended = rig.deploy("1.0", "app:1.0", Duration::ZERO).await;
    assert!(
        ended
            .error
            .contains("is not a SHA-256: 64 lowercase hex digits"),
        "{}",
        ended.error
    );

    // The right pin deploys.
    let rig = Rig::with_checks(&CHECKS.replace(
        "plugin = \"builtin:http-probe\"",
        &format!("plugin = \"builtin:http-probe\"\nsha256 = \"{actual}\""),
    ));
    rig.engine.local("app:1.0", Image::healthy());
    let ended = rig.deploy("1.0", "app:1.0", Duration::ZERO).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
}

// ---- canary steps and manual gates ----

/// The rig with a canary: half the users, a short watch, a pause, all.
fn canary_rig() -> Rig {
    Rig::with_checks(&format!(
        "{CHECKS}\n[traffic]\nproxy = \"frontend\"\nadmin_socket = \"run/admin.sock\"\npreview_port = 8081\nsteps = [\"50%\", \"wait 300ms\", \"pause\", \"100%\"]\n"
    ))
}

/// Deploys 2.0 while `answer` waits for the gate and answers it; how the
/// deploy ended and the gate as it was seen.
async fn deploy_past_the_gate(rig: &Rig, answer: Decision) -> (Ended, gate::Gate) {
    rig.engine.local("app:2.0", Image::healthy());
    let dir = rig.state_dir();
    let answering = async {
        assert!(
            matches!(
                gate::decide(&dir, answer, None, "early"),
                Err(gate::GateError::NoneOpen)
            ),
            "no gate before the pause"
        );
        loop {
            if let Ok(Some(open)) = gate::read(&dir) {
                gate::decide(&dir, answer, Some("2.0"), "the test").unwrap();
                return open;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (ended, seen) = tokio::join!(rig.deploy("2.0", "app:2.0", Duration::ZERO), answering);
    (ended, seen)
}

#[tokio::test]
async fn a_canary_waits_at_its_pause_with_its_verdicts_until_promoted() {
    let rig = canary_rig();
    rig.released_1_0().await;
    let (ended, seen) = deploy_past_the_gate(&rig, Decision::Promote).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    assert_eq!(
        (seen.release_id.as_str(), seen.step, seen.share),
        ("2.0", 3, 50)
    );
    assert_eq!(seen.steps, ["50%", "wait 300ms", "pause", "100%"]);
    // The verify check, then the watch check of the `wait` step.
    assert_eq!(
        seen.verdicts,
        [("health".to_string(), true), ("logs".to_string(), true)]
    );
    let record = rig.last();
    assert_eq!(record["outcome"], "released", "{record}");
    assert!(record["durations_ms"]["canary"].is_u64(), "{record}");
    assert_eq!(rig.current().as_deref(), Some("2.0"));
    assert_eq!(
        gate::read(&rig.state_dir()).unwrap(),
        None,
        "the gate is closed"
    );
}

#[tokio::test]
async fn an_aborted_canary_is_rolled_back_and_recorded_as_cancelled() {
    let rig = canary_rig();
    rig.released_1_0().await;
    let (ended, _) = deploy_past_the_gate(&rig, Decision::Abort).await;
    assert_eq!(
        ended.exit,
        Exit::of_conclusion(pitwall::rollout::Conclusion::RolledBack)
    );
    let record = rig.last();
    assert_eq!(record["outcome"], "cancelled", "{record}");
    assert!(
        record["failure"]
            .as_str()
            .is_some_and(|f| f.contains("aborted by the test at step 3")),
        "{record}"
    );
    assert_eq!(rig.current().as_deref(), Some("1.0"));
    assert_eq!(gate::read(&rig.state_dir()).unwrap(), None);
}

#[tokio::test]
async fn an_inconclusive_canary_step_pauses_for_a_person() {
    // The logs check cannot tell (too few requests): the wait step pauses
    // though the steps have no `pause`.
    let rig = Rig::with_checks(&format!(
        "{}\n[traffic]\nproxy = \"frontend\"\nadmin_socket = \"run/admin.sock\"\npreview_port = 8081\nsteps = [\"50%\", \"wait 300ms\", \"100%\"]\n",
        CHECKS.replace(
            "max_ratio = 0.05",
            "max_ratio = 0.05, min_requests = 1000000"
        )
    ));
    rig.released_1_0().await;
    let (ended, seen) = deploy_past_the_gate(&rig, Decision::Promote).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.error);
    assert_eq!((seen.step, seen.share), (2, 50));
    assert_eq!(rig.current().as_deref(), Some("2.0"));
}
