//! Zero-downtime switches on the compose engine, on the real Docker engine:
//! the reference stack with its `api` set to `switch = "start-first"`,
//! deployed and rolled back while a loopback load generator requests
//! `/api/health/` through the frontend (which proxies to `api` by its
//! service name) and counts every failed request. A control run with the
//! default `recreate` shows the same load does see the gap.

mod common;

use std::path::{Path, PathBuf};

use common::build::fixture_image;
use common::docker::Stack;
use common::load::{Tally, under_load};
use common::{Output, run};

/// The reference configuration with `api` switched `switch`, and a verify
/// check on `/api/items` (which an `errors` release fails).
fn config(stack: &Stack, switch: &str) -> PathBuf {
    let path = stack.config_with(&[]);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "key = \"BACKEND\"",
        &format!("key = \"BACKEND\"\nswitch = \"{switch}\""),
    ) + r#"
[[checks]]
name = "items"
plugin = "builtin:http-probe"
allow_http = ["http://127.0.0.1:${FRONTEND_PORT}/api/"]
config = { url = "http://127.0.0.1:${FRONTEND_PORT}/api/items" }
"#;
    std::fs::write(&path, text).unwrap();
    path
}

/// `pitwall deploy` of `api` as `api` with the frontend kept on one image
/// (so only the api changes), under `config`.
fn deploy(stack: &Stack, config: &Path, release: &str, api: &str) -> Output {
    let frontend = fixture_image("healthy", "1.0");
    run(&mut stack.pitwall(&[
        "deploy",
        "--release-id",
        release,
        "--image",
        &format!("api={api}"),
        "--image",
        &format!("frontend={frontend}"),
        "--pull",
        "missing",
        "--config",
        config.to_str().unwrap(),
    ]))
}

/// Deploys under load; what the load saw.
fn deploy_under_load(stack: &Stack, config: &Path, release: &str, api: &str) -> (Output, Tally) {
    under_load(stack.port, release, || deploy(stack, config, release, api))
}

fn api_containers(stack: &Stack) -> Vec<String> {
    common::docker::docker(&[
        "ps",
        "--all",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project),
        "--filter",
        "label=com.docker.compose.service=api",
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn start_first_deploys_and_rolls_back_without_a_failed_request() {
    let stack = Stack::new("zdt");
    let config = config(&stack, "start-first");
    let out = deploy(&stack, &config, "1.0", &fixture_image("healthy", "1.0"));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    // A good release: 1.0 → 1.1.
    let (out, tally) = deploy_under_load(&stack, &config, "1.1", &fixture_image("healthy", "1.1"));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(tally.went("1.0", None, "1.1"), "{tally:?}");
    assert_eq!(tally.failures, 0, "{tally:?}");
    assert_eq!(api_containers(&stack).len(), 1, "the old container is gone");

    // A broken release the checks reject (`/api/items` answers 500), rolled
    // back to 1.1 by the same switch.
    let (out, tally) = deploy_under_load(&stack, &config, "1.2", &fixture_image("errors", "1.2"));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("rolled back to 1.1, which is verified"),
        "{}",
        out.stdout
    );
    assert!(tally.went("1.1", Some("1.2"), "1.1"), "{tally:?}");
    assert_eq!(tally.failures, 0, "{tally:?}");
    assert_eq!(api_containers(&stack).len(), 1);
    assert_eq!(stack.live_version().as_deref(), Some("1.1"));
}

#[test]
fn a_new_container_that_crashes_leaves_the_old_one_serving() {
    let stack = Stack::new("zdtfail");
    let config = config(&stack, "start-first");
    let out = deploy(&stack, &config, "1.0", &fixture_image("healthy", "1.0"));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // It exits on start: the switch gives up and removes it.
    let (out, tally) = deploy_under_load(&stack, &config, "2.0", &fixture_image("crash", "2.0"));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("start-first switch of `api` failed")
            && (said.contains("crashed") || said.contains("exited with code 3"))
            && said.contains("still serves the previous release"),
        "{said}"
    );
    // Why it crashed: its last lines, kept before it was removed, are in
    // the failure and in the incident, though `docker logs` lost them.
    let why = "fixture: FIXTURE_MODE=crash, exiting on start";
    assert!(said.contains(why), "{said}");
    let record = stack.history().pop().unwrap();
    let incident = std::fs::read_to_string(record["incident"].as_str().unwrap()).unwrap();
    assert!(incident.contains(why), "{incident}");
    assert!(
        incident.contains("containers pitwall removed") && incident.contains("never became ready"),
        "{incident}"
    );
    assert_eq!(tally.versions, ["1.0"], "{tally:?}");
    assert_eq!(tally.failures, 0, "{tally:?}");
    assert_eq!(api_containers(&stack).len(), 1);
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
}

/// The control: the same load sees the gap when compose recreates the api.
#[test]
fn recreate_drops_requests_under_the_same_load() {
    let stack = Stack::new("zdtctl");
    let config = config(&stack, "recreate");
    let out = deploy(&stack, &config, "1.0", &fixture_image("healthy", "1.0"));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let (out, tally) = deploy_under_load(&stack, &config, "1.1", &fixture_image("healthy", "1.1"));
    assert_eq!(
        tally.versions.first().map(String::as_str),
        Some("1.0"),
        "{tally:?}"
    );
    assert!(tally.failures > 0, "{tally:?}");
    // The gap shows as 502s in the frontend's log, before 1.1 was verified:
    // the `logs` check judges the release from then on, not the switch.
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(tally.went("1.0", None, "1.1"), "{tally:?}");
}

#[test]
fn start_first_on_a_service_that_publishes_a_port_is_refused() {
    let stack = Stack::new("zdtport");
    let path = config(&stack, "recreate");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "key = \"FRONTEND\"",
        "key = \"FRONTEND\"\nswitch = \"start-first\"",
    );
    std::fs::write(&path, text).unwrap();

    let out = deploy(&stack, &path, "1.0", &fixture_image("healthy", "1.0"));
    assert_eq!(out.code, 4, "refused\n{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("`frontend` publishes host port")
            && out.stderr.contains("put a proxy service in front"),
        "{}",
        out.stderr
    );
    assert!(api_containers(&stack).is_empty(), "nothing was started");

    let (code, validation) = common::run_json(
        stack
            .pitwall(&["validate"])
            .args(["--config", path.to_str().unwrap()]),
    );
    assert_eq!(code, 4, "{validation}");
    let finding = validation["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["setting"] == "stack.services.frontend.switch")
        .unwrap_or_else(|| panic!("no finding on the switch: {validation}"));
    assert_eq!(finding["severity"], "error");
    assert!(finding["line"].as_u64().is_some(), "{finding}");

    // An unknown switch is a shape error at its line.
    let bad = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"start-first\"", "\"green-blue\"");
    std::fs::write(&path, bad).unwrap();
    let out = run(stack
        .pitwall(&["validate"])
        .args(["--config", path.to_str().unwrap()]));
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "unknown variant `green-blue`, expected one of `recreate`, `start-first`, `blue-green`"
        ),
        "{}",
        out.stdout
    );
}
