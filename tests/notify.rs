//! `[[notify]]` webhooks and `[hooks]` on the in-memory engine, through the
//! same `commands::deploy::run` the CLI runs: a real webhook receiver on
//! loopback sees every outcome with its body; a receiver that fails or is
//! down changes nothing; secrets stay out; hooks run real processes with
//! the variables they are promised, and a failing pre_deploy refuses.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::{Reply, Server, free_port};
use common::memory::{Image, MemoryEngine};
use common::{pitwall, run as run_cli};
use pitwall::checks::{Cache, Compiler, Runtime};
use pitwall::commands::deploy::{Act, Backend, run};
use pitwall::config::{Config, Overrides};
use pitwall::exit::Exit;
use pitwall::report::{Progress, Redactor};
use pitwall::rollout::{Attribution, Cancel, PullPolicy, Request};
use serde_json::Value;

const SECRET: &str = "tok-5ecret-zq9";

/// A one-service stack on the in-memory engine, its health endpoint on
/// loopback, and `extra` (notify and hooks) added to its configuration.
struct Rig {
    dir: tempfile::TempDir,
    engine: MemoryEngine,
    _health: Server,
}

/// How one command ended.
struct Ended {
    exit: Exit,
    message: String,
}

impl Rig {
    fn new(extra: &str) -> Rig {
        let engine = MemoryEngine::new();
        let serving = engine.clone();
        let health = Server::start(move |_, path| match path {
            "/health" => Reply::new(serving.health_status("api"), "ok"),
            _ => Reply::new(404, "not found"),
        });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yml"), "services: {}\n").unwrap();
        std::fs::write(
            dir.path().join(".env"),
            format!("API_TOKEN={SECRET}\nFRONTEND_PORT=8080\n"),
        )
        .unwrap();
        let config = format!(
            r#"
[stack]
compose_file = "compose.yml"
project = "notifytest"
env_file = ".env"
wait_timeout = "1s"

[stack.services.api]

[defaults]
interval = "50ms"
timeout = "2s"
deadline = "2s"
failure_limit = 2

[[checks]]
name = "health"
plugin = "builtin:http-probe"
allow_http = ["{base}/"]
config = {{ url = "{base}/health" }}
{extra}"#,
            base = health.base
        );
        std::fs::write(dir.path().join("pitwall.toml"), config).unwrap();
        Rig {
            dir,
            engine,
            _health: health,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn run(&self, act: Act<'_>) -> Ended {
        let config = Config::load(&self.path("pitwall.toml"), &Overrides::default()).unwrap();
        let engine: Arc<dyn pitwall::engine::Engine> = Arc::new(self.engine.clone());
        let backend = Runtime::new(Cache::from_env(), Compiler::InProcess)
            .map(|runtime| Backend { engine, runtime });
        let progress = Progress::new(Redactor::new(config.secrets.clone()));
        match run(config, progress, Attribution::default(), backend, act).await {
            Ok(report) => Ended {
                exit: Exit::of_conclusion(report.conclusion),
                message: report.message,
            },
            Err(e) => Ended {
                exit: Exit::of_error(&e),
                message: format!("{e:#}"),
            },
        }
    }

    async fn deploy(&self, release: &str, reference: &str) -> Ended {
        let request = Request {
            release_id: release.parse().unwrap(),
            images: [("api".to_string(), reference.to_string())].into(),
            pull: PullPolicy::Missing,
            soak: Duration::ZERO,
            force: false,
        };
        self.run(Act::Deploy(&request, Cancel::new())).await
    }

    /// Deploys `release` of an image that is healthy, or whose health
    /// endpoint answers 500.
    async fn deploy_image(&self, release: &str, healthy: bool) -> Ended {
        let reference = format!("app:{release}");
        let image = if healthy {
            Image::healthy()
        } else {
            Image::answering(500)
        };
        self.engine.local(&reference, image);
        self.deploy(release, &reference).await
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

/// A webhook receiver on loopback that answers `status` and keeps every
/// request it gets.
struct Receiver {
    server: Server,
    /// The bodies received.
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Receiver {
    fn answering(status: u16) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        let server = Server::answering(move |r| {
            keep.lock().unwrap().push(r.body.clone());
            Reply::new(status, "")
        });
        Receiver { server, got }
    }

    /// A `[[notify]]` entry for this receiver.
    fn entry(&self, more: &str) -> String {
        format!(
            "\n[[notify]]\nurl = \"{}\"\n{more}\n",
            self.server.url("/hooks/pitwall")
        )
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect()
    }

    fn raw(&self) -> String {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn outcomes(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .map(|b| b["outcome"].as_str().unwrap().to_string())
        .collect()
}

// ---- notifications ----

#[tokio::test]
async fn the_receiver_is_told_every_outcome_with_the_record() {
    let receiver = Receiver::answering(200);
    let rig = Rig::new(&receiver.entry(""));

    let ended = rig.deploy_image("1.0", true).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.message);
    assert_eq!(rig.deploy_image("1.1", true).await.exit, Exit::Ok);
    let ended = rig.run(Act::Rollback(None)).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.message);
    let ended = rig.deploy_image("2.0", false).await;
    assert_eq!(ended.exit, Exit::RolledBack, "{}", ended.message);
    let ended = rig.deploy("2.1", "app:missing").await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.message);
    // 3.0 fails, and so does the apply that would roll back to 1.0.
    rig.engine.fail_apply(rig.engine.applies() + 2);
    let ended = rig.deploy_image("3.0", false).await;
    assert_eq!(ended.exit, Exit::NeedsHuman, "{}", ended.message);

    let bodies = receiver.bodies();
    assert_eq!(
        outcomes(&bodies),
        [
            "released",
            "released",
            "restored",
            "rolled_back",
            "refused",
            "not_recovered"
        ]
    );
    let codes: Vec<u64> = bodies
        .iter()
        .map(|b| b["exit_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [0, 0, 0, 1, 4, 3]);
    for b in &bodies {
        assert_eq!(b["schema_version"], 1, "{b}");
        assert_eq!(b["project"], "notifytest", "{b}");
    }

    let released = &bodies[1];
    assert_eq!(released["action"], "deploy");
    assert_eq!(released["release_id"], "1.1");
    assert_eq!(released["previous_release_id"], "1.0");
    assert_eq!(released["message"], "release 1.1 is live and verified");
    assert_eq!(released["record"]["outcome"], "released");
    assert_eq!(released["record"]["checks"][0]["name"], "health");
    assert_eq!(released["record"]["checks"][0]["passed"], true);

    let restored = &bodies[2];
    assert_eq!(restored["action"], "rollback");
    assert_eq!(restored["release_id"], "1.0");
    assert_eq!(restored["previous_release_id"], "1.1");

    let rolled_back = &bodies[3];
    assert_eq!(rolled_back["release_id"], "2.0");
    assert_eq!(rolled_back["record"]["failure_mode"], "healthcheck");
    assert_eq!(rolled_back["record"]["rollback"]["to_release"], "1.0");
    let incident = rolled_back["record"]["incident"].as_str().unwrap();
    assert!(Path::new(incident).is_file(), "{incident}");

    let refused = &bodies[4];
    assert_eq!(refused["release_id"], "2.1");
    assert!(
        refused["record"].is_null(),
        "nothing was recorded: {refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("cannot pull app:missing"),
        "{refused}"
    );

    let not_recovered = &bodies[5];
    assert_eq!(not_recovered["record"]["rollback"]["outcome"], "failed");
    assert!(
        not_recovered["message"]
            .as_str()
            .unwrap()
            .contains("NOT on a verified release"),
        "{not_recovered}"
    );
}

#[tokio::test]
async fn a_receiver_that_fails_is_retried_within_its_bound_and_changes_nothing() {
    let failing = Receiver::answering(500);
    let rejecting = Receiver::answering(404);
    let down = format!(
        "\n[[notify]]\nurl = \"http://127.0.0.1:{}/hook\"\nretries = 1\n",
        free_port()
    );
    let rig = Rig::new(&format!(
        "{}{}{down}",
        failing.entry("retries = 2"),
        rejecting.entry("retries = 5")
    ));
    let ended = rig.deploy_image("1.0", true).await;
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.message);
    // The first attempt and two retries; a 404 is final.
    assert_eq!(failing.bodies().len(), 3);
    assert_eq!(rejecting.bodies().len(), 1);

    let ended = rig.deploy_image("2.0", false).await;
    assert_eq!(ended.exit, Exit::RolledBack, "{}", ended.message);
    assert_eq!(failing.bodies().len(), 6);
}

#[tokio::test]
async fn notifications_are_sent_only_on_the_outcomes_named() {
    let receiver = Receiver::answering(200);
    let rig = Rig::new(&receiver.entry(r#"on = ["rolled_back", "not_recovered"]"#));
    assert_eq!(rig.deploy_image("1.0", true).await.exit, Exit::Ok);
    assert_eq!(rig.deploy_image("2.0", false).await.exit, Exit::RolledBack);
    assert_eq!(outcomes(&receiver.bodies()), ["rolled_back"]);
}

#[tokio::test]
async fn the_slack_format_is_a_text_summary() {
    let receiver = Receiver::answering(200);
    let rig = Rig::new(&receiver.entry(r#"format = "slack""#));
    assert_eq!(rig.deploy_image("1.0", true).await.exit, Exit::Ok);
    assert_eq!(rig.deploy_image("2.0", false).await.exit, Exit::RolledBack);
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2);
    for b in &bodies {
        let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["text"], "{b}");
    }
    let released = bodies[0]["text"].as_str().unwrap();
    assert!(
        released.contains("*notifytest*: deploy of release `1.0` released (exit 0)"),
        "{released}"
    );
    let rolled_back = bodies[1]["text"].as_str().unwrap();
    assert!(
        rolled_back.contains("rolled back (exit 1)") && rolled_back.contains("incident: `"),
        "{rolled_back}"
    );
}

#[tokio::test]
async fn a_secret_from_the_env_file_never_reaches_a_receiver() {
    let json = Receiver::answering(200);
    let slack = Receiver::answering(200);
    // The hook may see the env file, and prints its secret as it fails.
    let hook = r#"
[hooks.pre_deploy]
command = ["sh", "-c", "echo \"using $API_TOKEN\"; exit 3"]
env_file = true
"#;
    let rig = Rig::new(&format!(
        "{}{}{hook}",
        json.entry(""),
        slack.entry(r#"format = "slack""#)
    ));
    let ended = rig.deploy_image("1.0", true).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.message);
    assert!(ended.message.contains("using ***"), "{}", ended.message);
    assert_eq!(outcomes(&json.bodies()), ["refused"]);
    assert_eq!(slack.bodies().len(), 1);
    for raw in [json.raw(), slack.raw()] {
        assert!(raw.contains("using ***"), "{raw}");
        assert!(!raw.contains(SECRET), "{raw}");
    }
}

// ---- hooks ----

#[tokio::test]
async fn a_failing_pre_deploy_hook_refuses_before_anything_is_touched() {
    let rig = Rig::new(
        r#"
[hooks.pre_deploy]
command = ["sh", "-c", "echo checking the maintenance window; echo outside the window >&2; exit 3"]
"#,
    );
    let ended = rig.deploy_image("1.0", true).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.message);
    assert!(
        ended.message.contains("the pre_deploy hook failed")
            && ended.message.contains("(sh) exited with 3")
            && ended.message.contains("outside the window"),
        "{}",
        ended.message
    );
    assert_eq!(rig.engine.applies(), 0, "nothing applied");
    let state_dir = rig.path("releases");
    assert!(
        !state_dir.join("deploy.lock").exists(),
        "the lock is released"
    );
    assert!(
        !state_dir.join("history.jsonl").exists(),
        "nothing recorded"
    );
}

#[tokio::test]
async fn a_pre_deploy_hook_that_runs_too_long_is_killed_and_refuses() {
    let rig = Rig::new(
        r#"
[hooks.pre_deploy]
command = ["sleep", "30"]
timeout = "300ms"
"#,
    );
    let ended = rig.deploy_image("1.0", true).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.message);
    assert!(
        ended
            .message
            .contains("did not finish within its timeout of 300ms and was killed"),
        "{}",
        ended.message
    );
    assert_eq!(rig.engine.applies(), 0);
}

#[tokio::test]
async fn a_hook_that_leaves_a_process_behind_is_done_when_it_exits() {
    // The background sleep keeps the hook's stdout open long after the
    // hook itself has exited 0, and past the hook's timeout.
    let rig = Rig::new(
        r#"
[hooks.pre_deploy]
command = ["sh", "-c", "sleep 30 & echo $! > left.pid; echo ready"]
timeout = "5s"
"#,
    );
    let ended = rig.deploy_image("1.0", true).await;
    let left = rig.file("left.pid");
    if let Ok(pid) = left.trim().parse::<i32>() {
        // SAFETY: only sends a signal to the process this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert_eq!(ended.exit, Exit::Ok, "{}", ended.message);
}

#[tokio::test]
async fn a_signal_during_pre_deploy_stops_the_hook_and_what_it_started() {
    // The hook's shell starts a child, notes its pid, and waits on it.
    let rig = Rig::new(
        r#"
[hooks.pre_deploy]
command = ["sh", "-c", "sleep 60 & echo $! > child.pid; wait"]
"#,
    );
    rig.engine.local("app:1.0", Image::healthy());
    let request = Request {
        release_id: "1.0".parse().unwrap(),
        images: [("api".to_string(), "app:1.0".to_string())].into(),
        pull: PullPolicy::Missing,
        soak: Duration::ZERO,
        force: false,
    };
    let cancel = Cancel::new();
    let pid_file = rig.path("child.pid");
    let signal = cancel.clone();
    tokio::spawn(async move {
        while !std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n')) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal.cancel();
    });
    let ended = rig.run(Act::Deploy(&request, cancel)).await;
    assert_eq!(ended.exit, Exit::Refused, "{}", ended.message);
    assert!(
        ended
            .message
            .contains("cancelled by a signal during the pre_deploy hook"),
        "{}",
        ended.message
    );
    assert_eq!(rig.engine.applies(), 0);
    // Killed with the hook's process group: gone (or a zombie) once the
    // kill is delivered, long before its 60 s sleep ends.
    let child = rig.file("child.pid").trim().to_string();
    let alive = || {
        std::fs::read_to_string(format!("/proc/{child}/stat"))
            .is_ok_and(|stat| stat.split_whitespace().nth(2) != Some("Z"))
    };
    for _ in 0..250 {
        if !alive() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the hook's child {child} still runs");
}

/// A hook that writes its environment to `file` (in the config's folder,
/// where hooks run).
fn env_dump(stage: &str, file: &str, grant: bool) -> String {
    format!("\n[hooks.{stage}]\ncommand = [\"sh\", \"-c\", \"env > {file}\"]\nenv_file = {grant}\n")
}

#[tokio::test]
async fn a_hook_gets_the_pitwall_variables_and_the_env_file_only_when_granted() {
    let rig = Rig::new(&env_dump("pre_deploy", "pre.env", false));
    assert_eq!(rig.deploy_image("1.0", true).await.exit, Exit::Ok);
    assert_eq!(rig.deploy_image("2.0", true).await.exit, Exit::Ok);
    let env = rig.file("pre.env");
    let state_dir = rig.path("releases");
    for line in [
        "PITWALL_PROJECT=notifytest".to_string(),
        "PITWALL_ACTION=deploy".into(),
        "PITWALL_RELEASE_ID=2.0".into(),
        "PITWALL_PREVIOUS_RELEASE_ID=1.0".into(),
        "PITWALL_IMAGES=api=app:2.0".into(),
        format!("PITWALL_STATE_DIR={}", state_dir.display()),
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing:\n{env}");
    }
    assert!(!env.contains("PITWALL_OUTCOME"), "not ended yet:\n{env}");
    assert!(!env.contains("API_TOKEN") && !env.contains(SECRET), "{env}");
    assert!(!env.contains("FRONTEND_PORT"), "{env}");

    let granted = Rig::new(&env_dump("pre_deploy", "pre.env", true));
    assert_eq!(granted.deploy_image("1.0", true).await.exit, Exit::Ok);
    let env = granted.file("pre.env");
    assert!(
        env.lines().any(|l| l == format!("API_TOKEN={SECRET}")),
        "{env}"
    );
}

#[tokio::test]
async fn post_deploy_and_on_failure_run_on_their_outcomes_and_never_change_them() {
    let log = |stage: &str, fail: bool| {
        format!(
            "\n[hooks.{stage}]\ncommand = [\"sh\", \"-c\", \"echo {stage} $PITWALL_ACTION $PITWALL_RELEASE_ID $PITWALL_OUTCOME $PITWALL_EXIT_CODE ${{PITWALL_INCIDENT:+incident}} >> hooks.log; echo \\\"$PITWALL_OUTCOME_MESSAGE\\\" >> messages.log; exit {}\"]\n",
            u8::from(fail)
        )
    };
    // Both hooks fail: a warning, never a different outcome.
    let rig = Rig::new(&format!(
        "{}{}",
        log("post_deploy", true),
        log("on_failure", true)
    ));
    assert_eq!(rig.deploy_image("1.0", true).await.exit, Exit::Ok);
    assert_eq!(rig.deploy_image("2.0", false).await.exit, Exit::RolledBack);
    assert_eq!(rig.deploy_image("2.1", true).await.exit, Exit::Ok);
    assert_eq!(rig.run(Act::Rollback(None)).await.exit, Exit::Ok);
    assert_eq!(rig.deploy("3.0", "app:missing").await.exit, Exit::Refused);
    assert_eq!(
        rig.file("hooks.log").lines().collect::<Vec<_>>(),
        [
            "post_deploy deploy 1.0 released 0",
            "on_failure deploy 2.0 rolled_back 1 incident",
            "post_deploy deploy 2.1 released 0",
            "post_deploy rollback 1.0 restored 0",
        ],
        "no hook after a refusal"
    );
    let messages = rig.file("messages.log");
    assert!(
        messages.contains("release 2.0 failed (healthcheck: "),
        "{messages}"
    );
}

// ---- through the CLI ----

#[test]
fn the_cli_tells_the_receiver_of_a_deploy_it_refuses() {
    // No Docker here: preflight refuses, and the receiver hears of it.
    let receiver = Receiver::answering(200);
    let rig = Rig::new(&receiver.entry(""));
    let out = run_cli(
        pitwall()
            .env("DOCKER_HOST", "unix:///nonexistent")
            .args(["deploy", "--release-id", "1.0", "--image", "api=app:1.0"])
            .arg("--config")
            .arg(rig.path("pitwall.toml")),
    );
    assert_eq!(out.code, 4, "{}", out.stderr);
    let bodies = receiver.bodies();
    assert_eq!(outcomes(&bodies), ["refused"], "{}", out.stderr);
    assert_eq!(bodies[0]["release_id"], "1.0");
    assert_eq!(bodies[0]["exit_code"], 4);
}
