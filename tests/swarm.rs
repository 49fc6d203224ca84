//! The Swarm engine end to end on a real single-node swarm: the same
//! compose file deployed as a stack, pinned to registry digests, judged by
//! the same checks, rolled back as a whole, and switched start-first under
//! load. The swarm is made for the test and left afterwards (tests take
//! turns through a file lock), so the compose tests on the same daemon are
//! unaffected. Two nodes: tests/swarm_nodes.rs.

mod common;

use std::process::Command;

use common::docker::{Registry, docker};
use common::load::under_load;
use common::swarm::{Stack, Swarm, images};

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
    // 1.0 is current again for the third time: its tasks from the first two
    // times, stopped since, are not restarts of the running ones.
    let status = stack.pitwall(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let units = status["containers"].as_array().unwrap();
    assert!(!units.is_empty(), "{status}");
    for unit in units {
        assert_eq!(unit["restart_count"], 0, "{unit}");
        assert_eq!(unit["state"], "running", "{unit}");
    }
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

/// Start-first on Swarm: the api (no published port) is updated and rolled
/// back while a loopback load requests `/api/health/` through the frontend,
/// whose image does not change (it publishes a host-mode port, so it would
/// be stopped first), which resolves `api` per request.
#[test]
fn swarm_start_first_deploys_and_rolls_back_without_a_failed_request() {
    let _swarm = Swarm::join();
    let registry = Registry::start();
    let built = images(
        &registry,
        "zdt",
        &[("healthy", "1.0"), ("healthy", "1.1"), ("errors", "1.2")],
    );
    let stack = Stack::new("zdt");
    let out = stack.deploy("1.0", &built[0]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    let (out, tally) = under_load(stack.port, "swarm 1.1", || {
        stack.deploy_each("1.1", &built[1], &built[0])
    });
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(tally.went("1.0", None, "1.1"), "{tally:?}");
    assert_eq!(tally.failures, 0, "{tally:?}");

    // A broken release the checks reject (`/api/items` answers 500), rolled
    // back start-first to 1.1.
    let (out, tally) = under_load(stack.port, "swarm 1.2, rolled back", || {
        stack.deploy_each("1.2", &built[2], &built[0])
    });
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("rolled back to 1.1, which is verified"),
        "{}",
        out.stdout
    );
    assert!(tally.went("1.1", Some("1.2"), "1.1"), "{tally:?}");
    assert_eq!(tally.failures, 0, "{tally:?}");
    assert_eq!(stack.version().as_deref(), Some("1.1"));
    // Deploys and rollbacks pin the same digest references, so the
    // frontend, on one image throughout, was never updated.
    let frontend = format!("{}_frontend", stack.name);
    let tasks = docker(&["service", "ps", "--quiet", &frontend]);
    assert_eq!(tasks.lines().count(), 1, "{tasks}");
}

fn hostname() -> String {
    String::from_utf8(Command::new("hostname").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}
