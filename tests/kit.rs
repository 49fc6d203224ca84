//! The check authoring kit as a new author meets it, outside the repository:
//! `check wit`, `check new`, the project's own tests, `check test` passing
//! and failing with expected against actual, and the SDK's strict config.

mod common;

use std::path::Path;
use std::process::Command;

use common::{pitwall, run};

/// Runs `cmd` in `dir`, asserting success; the output on failure.
fn ok(cmd: &mut Command, dir: &Path) -> String {
    let out = cmd.current_dir(dir).output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn wit_prints_and_writes_the_contract() {
    let out = run(pitwall().args(["check", "wit"]));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("package pitwall:check@0.2.0;"));
    let dir = tempfile::tempdir().unwrap();
    let out = run(pitwall()
        .args(["check", "wit", "-o"])
        .arg(dir.path().join("wit")));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written = std::fs::read_to_string(dir.path().join("wit/check.wit")).unwrap();
    assert_eq!(
        written,
        std::fs::read_to_string(common::root().join("wit/check.wit")).unwrap()
    );

    // The earlier contract, for a check that stays on it.
    let out = run(pitwall().args(["check", "wit", "--contract", "0.1.0"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        std::fs::read_to_string(common::root().join("wit/0.1.0/check.wit")).unwrap()
    );
    let out = run(pitwall().args(["check", "wit", "--contract", "0.3.0"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("0.3.0") && out.stderr.contains("contracts 0.2.0 and 0.1.0"),
        "{}",
        out.stderr
    );
}

#[test]
fn new_refuses_bad_names_and_existing_folders() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(pitwall()
        .current_dir(dir.path())
        .args(["check", "new", "Bad_Name", "--lang", "rust"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is not a check name"), "{}", out.stderr);
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    let out = run(pitwall()
        .current_dir(dir.path())
        .args(["check", "new", "taken", "--lang", "rust"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing else written"
    );
}

#[test]
fn a_rust_check_from_nothing_to_a_passing_check_test() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        pitwall().args(["check", "new", "db-health", "--lang", "rust"]),
        dir.path(),
    );
    // Its own workspace and target: nothing of this repository is used.
    let project = dir.path().join("db-health");
    let tests = ok(cargo().args(["test", "--quiet"]), &project);
    assert!(tests.contains("3 passed"), "{tests}");
    ok(
        cargo().args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"]),
        &project,
    );
    let out = ok(pitwall().args(["check", "test"]), &project);
    assert!(out.contains("2 passed, 0 failed"), "{out}");
    // The whole project, too: Cargo.toml and the vendored SDK are no cases.
    let out = ok(pitwall().args(["check", "test", "."]), &project);
    assert!(out.contains("2 passed, 0 failed"), "{out}");

    // A wrong expectation fails with expected against actual.
    let case = project.join("tests/down.toml");
    let text = std::fs::read_to_string(&case).unwrap();
    std::fs::write(
        &case,
        text.replace("outcome = \"fail\"", "outcome = \"pass\""),
    )
    .unwrap();
    let out = run(pitwall().current_dir(&project).args(["check", "test"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("got fail: http://app.internal/health answered 503"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("outcome: expected pass, got fail"),
        "{}",
        out.stdout
    );

    // A typo in the configuration is named by the SDK.
    let wasm = project.join("target/wasm32-wasip2/release/db_health.wasm");
    let out = run(pitwall()
        .args(["check", "run"])
        .arg(&wasm)
        .args(["--config", r#"{"url": "http://x/", "stauts": 200}"#]));
    assert_eq!(out.code, 3);
    assert!(
        out.stdout.contains("unknown configuration key `stauts`"),
        "{}",
        out.stdout
    );

    // describe comes from the project's Cargo metadata.
    let out = run(pitwall().args(["check", "inspect", "--json"]).arg(&wasm));
    let info: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(info["name"], "db-health");
    assert_eq!(info["version"], "0.1.0");
    assert_eq!(info["capabilities"], serde_json::json!(["http"]));
}

/// `cargo` for a project of its own, outside this workspace's settings.
fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.env_remove("CARGO_TARGET_DIR").env_remove("RUSTFLAGS");
    c
}

#[test]
fn the_rust_example_passes_its_unit_tests_and_cases() {
    let example = common::root().join("examples/checks/rust-health");
    ok(cargo().args(["test", "--quiet"]), &example);
    ok(
        cargo().args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"]),
        &example,
    );
    let out = ok(pitwall().args(["check", "test"]), &example);
    assert!(out.contains("6 passed, 0 failed"), "{out}");
}

#[test]
fn a_malformed_case_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("bad.toml");
    std::fs::write(
        &case,
        "plugin = \"builtin:http-probe\"\n[expect]\noutcom = \"pass\"\n",
    )
    .unwrap();
    let out = run(pitwall().arg("check").arg("test").arg(&case));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stdout.contains("bad.toml"), "{}", out.stdout);
    assert!(
        out.stdout.contains("unknown field `outcom`"),
        "{}",
        out.stdout
    );
}

#[test]
fn builtins_tested_with_canned_answers() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("probe.toml");
    std::fs::write(
        &case,
        r#"
plugin = "builtin:http-probe"
config = { url = "http://app.internal/api/health/", json_field = "status", json_equals = "ok" }
allow_http = ["http://app.internal/api/"]

[[http]]
url = "http://app.internal/api/health/"
json = { status = "ok" }

[expect]
outcome = "pass"
evidence = ["status"]
"#,
    )
    .unwrap();
    let logs = dir.path().join("logs.toml");
    std::fs::write(
        &logs,
        r#"
plugin = "builtin:log-5xx"
config = { services = ["api"], max_5xx = 0 }
allow_logs = ["api"]

[[logs]]
service = "api"
lines = ['127.0.0.1 - - [27/Nov/2026:00:00:00 +0000] "GET /a HTTP/1.1" 500 1']

[expect]
outcome = "fail"
"#,
    )
    .unwrap();
    let out = run(pitwall().arg("check").arg("test").arg(dir.path()));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("2 passed, 0 failed"), "{}", out.stdout);
}

#[test]
fn precompile_fills_the_cache_that_later_runs_use() {
    let cache = tempfile::tempdir().unwrap();
    let out = run(pitwall().env("PITWALL_CACHE_DIR", cache.path()).args([
        "check",
        "precompile",
        "builtin:http-probe",
        "builtin:log-5xx",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("builtin:log-5xx: compiled"),
        "{}",
        out.stdout
    );
    let out = run(pitwall().env("PITWALL_CACHE_DIR", cache.path()).args([
        "check",
        "inspect",
        "--json",
        "builtin:log-5xx",
    ]));
    let info: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(info["cached"], true, "{info}");
}
