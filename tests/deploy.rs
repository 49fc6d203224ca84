//! End to end on the real Docker engine: the reference stack (deploy/)
//! deployed with the real compose tool from images in a real local registry
//! or built locally, checked by the built-in checks over real HTTP and logs.
//! Each test has its own compose project, port and state directory.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::build::fixture_image;
use common::docker::{Registry, Stack};
use common::{root, run};

fn last(stack: &Stack) -> serde_json::Value {
    stack.history().pop().expect("a history record")
}

fn assert_no_secret(stack: &Stack, out: &common::Output) {
    assert!(
        !out.stdout.contains(&stack.secret) && !out.stderr.contains(&stack.secret),
        "the secret leaked into output"
    );
    for entry in std::fs::read_dir(stack.state_dir()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !text.contains(&stack.secret),
            "the secret leaked into the state directory"
        );
    }
}

#[test]
fn healthy_release_pulled_from_the_registry_is_recorded_with_digests() {
    let registry = Registry::start();
    let image = registry.push(&fixture_image("healthy", "1.0"), "shop/app:1.0");
    let stack = Stack::new("pull");
    let out = stack.deploy("1.0", &image, &["--pull", "always"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("release 1.0 is live and verified"),
        "{}",
        out.stdout
    );

    let state = stack.state();
    assert!(state.contains("CURRENT_RELEASE_ID='1.0'"), "{state}");
    assert!(
        state.contains(&format!("CURRENT_BACKEND_IMAGE='{image}'")),
        "{state}"
    );
    let digest_prefix = format!("CURRENT_BACKEND_DIGEST='{}/shop/app@sha256:", registry.host);
    assert!(state.contains(&digest_prefix), "{state}");

    let record = last(&stack);
    assert_eq!(record["outcome"], "released");
    let checks: Vec<&str> = record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in ["health", "api-docs", "auth", "logs"] {
        assert!(checks.contains(&name), "{name} missing from {checks:?}");
    }
    assert!(
        record["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true),
        "{record}"
    );
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
    assert_no_secret(&stack, &out);

    let (code, status) = common::run_json(&mut stack.pitwall(&["status"]));
    assert_eq!(code, 0, "{status}");
    let invalid = common::violations(&common::schema("status"), &status);
    assert!(invalid.is_empty(), "{invalid:?}");
    assert_eq!(status["current"]["release"]["id"], "1.0");
    let containers = status["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "{status}");
    assert!(
        containers.iter().all(|c| c["state"] == "running"),
        "{status}"
    );
    let (code, history) = common::run_json(&mut stack.pitwall(&["history"]));
    assert_eq!(code, 0);
    assert_eq!(history["records"].as_array().unwrap().len(), 1);
}

/// Deploys a good 1.0, then `bad` as 2.0; asserts 1.0 is restored and
/// verified and returns the failed record.
fn broken_release_is_rolled_back(
    name: &str,
    bad: &str,
    extra: &[&str],
) -> (Stack, serde_json::Value) {
    let stack = Stack::new(name);
    let good = fixture_image("healthy", "1.0");
    let bad = fixture_image(bad, "2.0");
    let out = stack.deploy("1.0", &good, &["--pull", "missing"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    let out = stack.deploy("2.0", &bad, &[&["--pull", "missing"], extra].concat());
    assert_eq!(
        out.code, 1,
        "exit 1 = failed and rolled back\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("rolled back to 1.0, which is verified"),
        "{}",
        out.stdout
    );
    assert!(
        stack.state().contains("CURRENT_RELEASE_ID='1.0'"),
        "{}",
        stack.state()
    );
    assert_eq!(
        stack.live_version().as_deref(),
        Some("1.0"),
        "1.0 must be serving again"
    );

    let record = last(&stack);
    assert_eq!(record["release_id"], "2.0");
    assert_eq!(record["outcome"], "rolled_back");
    assert_eq!(record["rollback"]["to_release"], "1.0");
    assert_eq!(record["rollback"]["outcome"], "verified");
    let incident = record["incident"].as_str().unwrap();
    let text = std::fs::read_to_string(incident).unwrap();
    assert!(text.contains("release id:    2.0"), "{text}");
    assert!(text.contains("rollback:      to 1.0, verified"), "{text}");
    assert!(
        text.contains("---- container logs since the rollout started ----"),
        "{text}"
    );
    assert!(
        text.contains("api | "),
        "the failed release's logs are captured: {text}"
    );
    assert_no_secret(&stack, &out);
    (stack, record)
}

#[test]
fn crash_on_start_is_a_startup_failure_and_rolls_back() {
    let (_stack, record) = broken_release_is_rolled_back("crash", "crash", &[]);
    assert_eq!(record["failure_mode"], "startup", "{record}");
}

#[test]
fn health_503_is_a_healthcheck_failure_and_rolls_back() {
    let (_stack, record) = broken_release_is_rolled_back("h503", "health503", &[]);
    assert_eq!(record["failure_mode"], "healthcheck", "{record}");
}

#[test]
fn a_5xx_spike_during_the_soak_is_a_runtime_failure_and_rolls_back() {
    let stack = Stack::new("spike");
    let good = fixture_image("healthy", "1.0");
    let bad = fixture_image("errors", "2.0");
    stack.deployed("1.0", &good, &["--pull", "missing"]);
    // Real traffic against the release: /api/items fails only in the bad one,
    // which the checklist's probes never touch; only the logs show it.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, url) = (stop.clone(), stack.url("/api/items"));
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let _ = Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "--max-time", "1", &url])
                    .status();
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let out = stack.deploy("2.0", &bad, &["--pull", "missing", "--soak", "5s"]);
    stop.store(true, Ordering::SeqCst);
    traffic.join().unwrap();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let record = last(&stack);
    assert_eq!(record["failure_mode"], "runtime", "{record}");
    assert!(
        record["failure"]
            .as_str()
            .unwrap()
            .contains("check `logs` failed"),
        "{record}"
    );
    assert_eq!(record["rollback"]["outcome"], "verified");
    assert!(stack.state().contains("CURRENT_RELEASE_ID='1.0'"));
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
}

#[test]
fn a_missing_image_is_refused_before_the_stack_is_touched() {
    let registry = Registry::start();
    let good = registry.push(&fixture_image("healthy", "1.0"), "shop/app:1.0");
    let stack = Stack::new("missing");
    stack.deployed("1.0", &good, &[]);
    let before = stack.state();
    let history = stack.history().len();

    // A reference that holds an env file value: the error quotes it, and
    // prints it redacted.
    let missing = format!("{}/shop/app:{}", registry.host, stack.secret);
    let out = stack.deploy("2.0", &missing, &[]);
    assert_no_secret(&stack, &out);
    assert_eq!(
        out.code, 4,
        "exit 4 = refused\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.contains("cannot pull")
            && out.stderr.contains("the running stack was not touched"),
        "{}",
        out.stderr
    );
    assert_eq!(stack.state(), before);
    assert_eq!(stack.history().len(), history);
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
    assert!(
        !stack.state_dir().join("deploy.lock").exists(),
        "the lock is released"
    );
}

#[test]
fn manual_rollback_and_rollback_to_a_named_release() {
    let stack = Stack::new("manual");
    let v1 = fixture_image("healthy", "1.0");
    let v2 = fixture_image("healthy", "1.1");
    stack.deployed("1.0", &v1, &["--pull", "missing"]);
    stack.deployed("1.1", &v2, &["--pull", "missing"]);
    assert_eq!(stack.live_version().as_deref(), Some("1.1"));

    let out = run(&mut stack.pitwall(&["rollback"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
    let state = stack.state();
    assert!(
        state.contains("CURRENT_RELEASE_ID='1.0'") && state.contains("PREVIOUS_RELEASE_ID='1.1'"),
        "{state}"
    );

    let out = run(&mut stack.pitwall(&["rollback", "--to", "1.1"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(stack.live_version().as_deref(), Some("1.1"));
    assert_eq!(last(&stack)["action"], "rollback");

    let out = run(&mut stack.pitwall(&["rollback", "--to", "9.9"]));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("release 9.9 was never released here"),
        "{}",
        out.stderr
    );
}

fn wait_for_phase(stack: &Stack, phase: &str) -> serde_json::Value {
    let lock = stack.state_dir().join("deploy.lock");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(text) = std::fs::read_to_string(&lock)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && v["phase"] == phase
        {
            return v;
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("the deploy never reached phase {phase}");
}

#[test]
fn a_concurrent_deploy_is_refused_with_the_holder() {
    let stack = Stack::new("concurrent");
    let v1 = fixture_image("healthy", "1.0");
    let mut first = stack
        .deploy_command("1.0", &v1, &["--pull", "missing", "--soak", "6s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let holder = wait_for_phase(&stack, "soaking");
    assert_eq!(holder["pid"], first.id());

    let out = stack.deploy("1.1", &v1, &["--pull", "missing"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("another deploy holds the lock"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("pid {}", first.id())) && out.stderr.contains("release 1.0"),
        "{}",
        out.stderr
    );
    assert!(first.wait().unwrap().success());
}

#[test]
fn a_deploy_killed_during_verification_is_noticed_and_recovered() {
    let stack = Stack::new("killed");
    let v1 = fixture_image("healthy", "1.0");
    let v2 = fixture_image("healthy", "1.1");
    stack.deployed("1.0", &v1, &["--pull", "missing"]);

    let mut victim = stack
        .deploy_command("1.1", &v2, &["--pull", "missing", "--soak", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_phase(&stack, "soaking");
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();

    let out = stack.deploy("1.2", &v2, &["--pull", "missing"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("died without finishing") && out.stderr.contains("pitwall recover"),
        "{}",
        out.stderr
    );
    let status = run(&mut stack.pitwall(&["status"]));
    assert!(
        status.stdout.contains("DEAD: run `pitwall recover`"),
        "{}",
        status.stdout
    );

    let out = run(&mut stack.pitwall(&["recover"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("release 1.0 restored and verified"),
        "{}",
        out.stdout
    );
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
    assert!(!stack.state_dir().join("deploy.lock").exists());
    assert_eq!(last(&stack)["action"], "recover");
    assert!(stack.state().contains("CURRENT_RELEASE_ID='1.0'"));
    // And deploys work again.
    stack.deployed("1.1", &v2, &["--pull", "missing"]);
}

#[test]
fn the_runbook_scripts_work_verbatim() {
    let registry = Registry::start();
    let v1 = registry.push(&fixture_image("healthy", "1.0"), "shop/app:1.0");
    let v2 = registry.push(&fixture_image("healthy", "1.1"), "shop/app:1.1");
    let stack = Stack::new("runbook");
    let env_file = stack.env_file();
    let health = stack.url("/api/health/");
    let script = |name: &str, args: &[&str]| {
        let mut cmd = Command::new("bash");
        cmd.arg(root().join("scripts").join(name))
            .args(args)
            .env("PITWALL_BIN", env!("CARGO_BIN_EXE_pitwall"))
            .env("PITWALL_PROJECT", &stack.project)
            .env("PITWALL_STATE_DIR", stack.state_dir())
            .env("PITWALL_CACHE_DIR", root().join("target/test-cache"));
        run(&mut cmd)
    };
    let env = env_file.to_str().unwrap();
    for (release, image) in [("1.0", &v1), ("1.1", &v2)] {
        let out = script(
            "deploy_release.sh",
            &[
                "--backend-image",
                image,
                "--frontend-image",
                image,
                "--release-id",
                release,
                "--env-file",
                env,
                "--health-url",
                &health,
            ],
        );
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    assert_eq!(stack.live_version().as_deref(), Some("1.1"));
    let out = script(
        "rollback_release.sh",
        &["--env-file", env, "--health-url", &health],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
    assert!(
        stack.state().contains("PREVIOUS_BACKEND_IMAGE"),
        "runbook pointers: {}",
        stack.state()
    );
}

#[test]
fn a_failed_first_deploy_says_there_is_nothing_to_roll_back_to() {
    let stack = Stack::new("first");
    let out = stack.deploy(
        "1.0",
        &fixture_image("crash", "1.0"),
        &["--pull", "missing"],
    );
    assert_eq!(
        out.code, 3,
        "exit 3 = not recovered\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("no previous release to roll back to"),
        "{}",
        out.stdout
    );
    let record = last(&stack);
    assert_eq!(record["outcome"], "failed");
    assert!(record["incident"].as_str().is_some());
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let stack = Stack::new("badinput");
    let out = run(&mut stack.pitwall(&["deploy", "--release-id", "1", "--image", "nonsense"]));
    assert_eq!(out.code, 4);
    assert!(out.stderr.contains("must be SERVICE=REF"), "{}", out.stderr);
    let out =
        run(&mut stack.pitwall(&["deploy", "--release-id", "1", "--image", "db=postgres:16"]));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr
            .contains("`db`, which is not a service of the stack"),
        "{}",
        out.stderr
    );
    let out = run(stack
        .pitwall(&["deploy", "--release-id", "1", "--image", "api=x"])
        .args(["--config", "/nope.toml"]));
    assert_eq!(out.code, 4);
    assert!(
        out.stderr
            .contains("cannot read the configuration /nope.toml"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_healthy_release_that_takes_ten_seconds_to_listen_is_released() {
    let stack = Stack::new("bootslow");
    let out = stack.deploy(
        "1.0",
        &fixture_image("boot-slow", "1.0"),
        &["--pull", "missing"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(last(&stack)["outcome"], "released");
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
}

#[test]
fn a_release_that_never_listens_is_rolled_back_within_its_deadline() {
    let stack = Stack::new("nolisten");
    let config = stack.config_with(&[("deadline", "\"15s\"")]);
    let config = config.to_str().unwrap();
    let good = fixture_image("healthy", "1.0");
    let out = stack.deploy("1.0", &good, &["--pull", "missing", "--config", config]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let bad = fixture_image("never-listens", "2.0");
    let out = stack.deploy("2.0", &bad, &["--pull", "missing", "--config", config]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let record = last(&stack);
    assert_eq!(record["failure_mode"], "startup", "{record}");
    assert!(
        record["failure"]
            .as_str()
            .unwrap()
            .contains("the release never came up"),
        "{record}"
    );
    assert_eq!(record["rollback"]["outcome"], "verified");
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
}

fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} {pid}");
}

#[test]
fn sigterm_during_the_soak_rolls_back_and_records_the_deploy_as_cancelled() {
    let stack = Stack::new("sigterm");
    let v1 = fixture_image("healthy", "1.0");
    let v2 = fixture_image("healthy", "1.1");
    stack.deployed("1.0", &v1, &["--pull", "missing"]);
    let deploy = stack
        .deploy_command("1.1", &v2, &["--pull", "missing", "--soak", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_phase(&stack, "soaking");
    signal(deploy.id(), "TERM");
    let out = deploy.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let record = last(&stack);
    assert_eq!(record["release_id"], "1.1");
    assert_eq!(record["outcome"], "cancelled", "{record}");
    assert_eq!(record["rollback"]["outcome"], "verified");
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
    assert!(stack.state().contains("CURRENT_RELEASE_ID='1.0'"));
    assert!(!stack.state_dir().join("deploy.lock").exists());
}

#[test]
fn a_second_signal_stops_at_once_and_leaves_the_lock_for_recover() {
    let stack = Stack::new("sigtwice");
    let v1 = fixture_image("healthy", "1.0");
    let v2 = fixture_image("healthy", "1.1");
    stack.deployed("1.0", &v1, &["--pull", "missing"]);
    let mut deploy = stack
        .deploy_command("1.1", &v2, &["--pull", "missing", "--soak", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_phase(&stack, "soaking");
    signal(deploy.id(), "INT");
    // Two signals delivered together count as one; an operator's second
    // Ctrl-C comes a moment later.
    thread::sleep(Duration::from_millis(300));
    signal(deploy.id(), "INT");
    assert_eq!(deploy.wait().unwrap().code(), Some(130));
    assert!(stack.state_dir().join("deploy.lock").exists());
    let out = run(&mut stack.pitwall(&["recover"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
}
