//! Helpers shared by the integration tests: the pitwall binary here; real
//! HTTP on loopback (`http`), load on a published port (`load`), builds of
//! the test guests and the fixture app (`build`), a real registry and
//! compose stacks (`docker`), a stack of one busy service (`busy`), a swarm
//! and its stacks (`swarm`), a second Docker daemon joined to it
//! (`worker`), the in-memory engine of the state-machine tier
//! (`memory`), the PostgreSQL + Django + nginx stack (`realstack`), and a
//! child's peak memory (`rss`).
#![allow(dead_code)] // each test binary uses its own subset

pub mod build;
pub mod busy;
pub mod docker;
pub mod fault;
pub mod http;
pub mod load;
pub mod memory;
pub mod realstack;
pub mod rss;
pub mod swarm;
pub mod worker;

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `state.env` of a state directory (empty before the first release).
pub fn state_env(state_dir: &Path) -> String {
    std::fs::read_to_string(state_dir.join("state.env")).unwrap_or_default()
}

/// Every record of a state directory's history, oldest first.
pub fn history(state_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state_dir.join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The pitwall binary, with a compile cache shared by the tests.
pub fn pitwall() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pitwall"));
    cmd.env("PITWALL_CACHE_DIR", root().join("target/test-cache"));
    cmd.env_remove("PITWALL_PROJECT");
    cmd
}

/// Lets `cmd`'s child inherit nothing but stdio: a daemon the test starts
/// must not hold what the test inherited (the shared Docker lock that
/// `flock … cargo test` passes down), should it outlive the test.
pub fn detach(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: close_range is async-signal-safe and touches no memory; with
    // CLOSE_RANGE_CLOEXEC the descriptors close at exec, so std's own
    // exec-error pipe still works.
    unsafe {
        cmd.pre_exec(|| {
            if libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run pitwall");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run_json(cmd: &mut Command) -> (i32, serde_json::Value) {
    let out = run(cmd.arg("--json"));
    let value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", out.stdout, out.stderr));
    (out.code, value)
}

/// `pitwall schema NAME`, compiled.
pub fn schema(name: &str) -> jsonschema::Validator {
    let out = run(pitwall().args(["schema", name]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema {name}: {e}"))
}

/// What makes `value` invalid by `schema`, each with where; empty if valid.
pub fn violations(schema: &jsonschema::Validator, value: &serde_json::Value) -> Vec<String> {
    schema
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Asserts `value` is valid by schema `name` (`pitwall schema NAME`).
pub fn assert_schema(name: &str, value: &serde_json::Value) {
    let problems = violations(&schema(name), value);
    assert!(
        problems.is_empty(),
        "against schema {name}: {problems:?}\n{value:#}"
    );
}

/// The values of a verdict's evidence items labelled `label`.
pub fn evidence(v: &serde_json::Value, label: &str) -> Vec<String> {
    v["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["label"] == label)
        .map(|e| e["value"].as_str().unwrap().to_string())
        .collect()
}
