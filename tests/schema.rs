//! `pitwall schema`: every schema is a valid JSON Schema, every `--json`
//! output that runs without Docker validates against its schema (deploy's
//! and the event stream's are checked in tests/ci.rs, status's needs
//! Docker), and the config schema accepts the reference pitwall.toml and
//! rejects broken ones.

mod common;

use common::http::{Reply, Server};
use common::{pitwall, root, run, schema, violations};
use serde_json::Value;

/// Runs `pitwall ARGS`, which must exit `code` with JSON valid against
/// schema `name`; returns the JSON.
fn valid_output(name: &str, args: &[&str], code: i32) -> Value {
    let out = run(pitwall().args(args));
    assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
    let value: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}): {}", out.stdout));
    let problems = violations(&schema(name), &value);
    assert!(problems.is_empty(), "{args:?} against {name}: {problems:?}");
    assert_eq!(value["schema_version"], 1, "{args:?}");
    value
}

#[test]
fn every_schema_is_listed_and_is_a_valid_json_schema() {
    let list = run(pitwall().args(["schema", "--list"]));
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(run(pitwall().arg("schema")).stdout, list.stdout);
    let names: Vec<&str> = list
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for expected in [
        "config",
        "deploy",
        "status",
        "history",
        "events",
        "check-run",
        "check-list",
        "check-inspect",
        "check-push",
        "check-pull",
        "validate",
        "plan",
        "releases",
        "prune",
        "lock-status",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for name in names {
        schema(name);
    }
    let unknown = run(pitwall().args(["schema", "nope"]));
    assert_eq!(unknown.code, 2, "a usage error: {}", unknown.stderr);
}

#[test]
fn check_outputs_match_their_schemas() {
    let list = valid_output("check-list", &["check", "list", "--json"], 0);
    assert!(list["checks"].as_array().unwrap().len() >= 2);
    valid_output(
        "check-inspect",
        &["check", "inspect", "builtin:http-probe", "--json"],
        0,
    );
    let server = Server::start(|_, path| match path {
        "/up" => Reply::new(200, "ok"),
        _ => Reply::new(503, "down"),
    });
    for (path, code) in [("/up", 0), ("/down", 1)] {
        let config = format!(r#"{{"url":"{}"}}"#, server.url(path));
        let grant = server.url("/");
        let verdict = valid_output(
            "check-run",
            &[
                "check",
                "run",
                "builtin:http-probe",
                "--config",
                &config,
                "--allow-http",
                &grant,
                "--json",
            ],
            code,
        );
        assert_eq!(verdict["check"], "builtin:http-probe");
    }
}

#[test]
fn history_of_an_earlier_version_matches_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    std::fs::write(&env, "SECRET_KEY=x1y2z3w4\n").unwrap();
    let state = root().join("tests/fixtures/state");
    let config = root().join("deploy/pitwall.toml");
    let args = [
        "history",
        "--json",
        "--config",
        config.to_str().unwrap(),
        "--env-file",
        env.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let history = valid_output("history", &args, 0);
    let lines = std::fs::read_to_string(state.join("history.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(history["records"].as_array().unwrap().len(), lines);
}

/// pitwall.toml text as the JSON its schema describes.
fn toml_json(text: &str) -> Value {
    serde_json::to_value(toml::from_str::<toml::Value>(text).unwrap()).unwrap()
}

#[test]
fn the_config_schema_takes_the_reference_config_and_rejects_broken_ones() {
    let schema = schema("config");
    let reference = std::fs::read_to_string(root().join("deploy/pitwall.toml")).unwrap();
    let problems = violations(&schema, &toml_json(&reference));
    assert!(problems.is_empty(), "deploy/pitwall.toml: {problems:?}");

    let base = r#"
[stack]
compose_file = "compose.yml"
project = "shop"
wait_timeout = "${WAIT:-90s}"
[stack.services.api]

[[checks]]
name = "health"
plugin = "builtin:http-probe"
interval = "1h 30m"
config = { url = "http://127.0.0.1/" }
"#;
    assert!(violations(&schema, &toml_json(base)).is_empty(), "{base}");
    for (broken, pointer) in [
        ("failure_limt = 3", "/checks/0"),
        ("successes = 0", "/checks/0/successes"),
        ("memory_mb = 5000", "/checks/0/memory_mb"),
        ("timeout = \"5 parsecs\"", "/checks/0/timeout"),
        ("phase = \"soak\"", "/checks/0/phase"),
        ("allow_http = \"http://x/\"", "/checks/0/allow_http"),
    ] {
        let text = format!("{base}{broken}\n");
        let problems = violations(&schema, &toml_json(&text));
        assert!(
            problems
                .iter()
                .any(|p| p.ends_with(&format!(" at {pointer}"))),
            "`{broken}` is flagged at {pointer}: {problems:?}"
        );
    }
    let without_plugin = base.replace("plugin = \"builtin:http-probe\"\n", "");
    assert!(!violations(&schema, &toml_json(&without_plugin)).is_empty());
    let typo_table = base.replace("[stack.services.api]", "[stack.service.api]");
    assert!(!violations(&schema, &toml_json(&typo_table)).is_empty());
}
