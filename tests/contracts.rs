//! Checks built against the first contract, `pitwall:check@0.1.0`, keep
//! running unchanged beside 0.2.0 ones: the fixture `contract-0-1` is built
//! from `wit/0.1.0/check.wit` alone, as an outside team's check was, and it
//! uses every import of that contract.

mod common;

use common::build::guest;
use common::http::{Reply, Server};
use common::{evidence, pitwall, run, run_json};

#[test]
fn a_check_built_against_0_1_0_is_inspected_as_such() {
    let wasm = guest("contract-0-1");
    let (code, v) = run_json(pitwall().args(["check", "inspect"]).arg(&wasm));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["contract"], "pitwall:check@0.1.0");
    assert_eq!(v["name"], "contract-0-1");
    assert_eq!(v["capabilities"], serde_json::json!(["http", "logs"]));
}

#[test]
fn a_check_built_against_0_1_0_runs_live_and_in_a_test_case() {
    let wasm = guest("contract-0-1");
    let server = Server::start(|_, _| Reply::new(200, "ok"));
    let config = format!(r#"{{"url": "{}"}}"#, server.url("/health"));
    let (code, v) = run_json(
        pitwall()
            .args(["check", "run", "--allow-http", &server.base, "--config"])
            .arg(&config)
            .arg(&wasm),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["outcome"], "pass", "{v}");
    assert_eq!(evidence(&v, "status"), ["200"]);

    // Every import: http, stack.containers, stack.logs, log.write.
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("old.toml");
    std::fs::write(
        &case,
        format!(
            r#"
plugin = "{}"
config = {{ url = "http://app.internal/health", service = "api" }}
allow_http = ["http://app.internal/"]
allow_logs = ["api"]

[[http]]
url = "http://app.internal/health"
status = 204

[[logs]]
service = "api"
lines = ["GET / 200", "GET / 200", "GET / 503"]

[[containers]]
service = "api"

[expect]
outcome = "pass"
summary_contains = "the 0.1.0 check ran"
evidence = ["status", "running", "lines"]
"#,
            wasm.display()
        ),
    )
    .unwrap();
    let out = run(pitwall().args(["check", "test"]).arg(&case));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("ok"), "{}", out.stdout);
}
