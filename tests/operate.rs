//! Running a live stack, end to end on the real Docker engine: plan before
//! a deploy, drift after a container is swapped by hand, the rollback
//! targets and a prune that keeps every one of them, status and history
//! where the env file or Docker are missing.

mod common;

use std::process::Command;

use common::build::fixture_image;
use common::docker::{Registry, Stack, docker};
use common::{assert_schema, root, run, run_json};

/// `fixture_image`, built for this test alone (its version names the
/// stack, so the image id is its own) and under a name of its own: prune
/// keeps any image a container uses, and other tests run the shared ones.
fn own_image(stack: &Stack, mode: &str, version: &str) -> String {
    let name = format!("{}/app:{mode}-{version}", stack.project);
    let built = fixture_image(mode, &format!("{version}-{}", stack.project));
    docker(&["tag", &built, &name]);
    docker(&["rmi", &built]);
    name
}

fn image_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn plan_shows_the_change_resolved_in_the_registry_and_touches_nothing() {
    let registry = Registry::start();
    let v1 = registry.push(&fixture_image("healthy", "1.0"), "plan/app:1.0");
    let v2 = registry.push(&fixture_image("healthy", "1.1"), "plan/app:1.1");
    let stack = Stack::new("plan");
    stack.deployed("1.0", &v1, &["--pull", "always"]);
    let state = stack.state();
    let api = format!("api={v2}");

    let out = run(&mut stack.pitwall(&["plan", "--release-id", "1.1", "--image", &api]));
    assert_eq!(
        out.code, 1,
        "something would change\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("plan: release 1.1 (running: 1.0)"),
        "{}",
        out.stdout
    );
    let api_row = out.stdout.lines().find(|l| l.starts_with("api")).unwrap();
    assert!(api_row.contains("changed"), "{}", out.stdout);
    assert!(out.stdout.contains("(from the registry)"), "{}", out.stdout);
    assert!(out.stdout.contains("compose diff:"), "{}", out.stdout);
    assert!(!out.stdout.contains(&stack.secret), "the diff is scrubbed");

    let (code, plan) = run_json(&mut stack.pitwall(&[
        "deploy",
        "--dry-run",
        "--release-id",
        "1.1",
        "--image",
        &api,
    ]));
    assert_eq!(code, 1, "{plan}");
    assert_schema("plan", &plan);
    let services = plan["services"].as_array().unwrap();
    let api_plan = services.iter().find(|s| s["service"] == "api").unwrap();
    let frontend = services
        .iter()
        .find(|s| s["service"] == "frontend")
        .unwrap();
    assert_eq!(api_plan["change"], "changed");
    let new_digest = api_plan["new"]["digest"].as_str().unwrap();
    assert!(
        new_digest.starts_with(&format!("{}/plan/app@sha256:", registry.host)),
        "{plan}"
    );
    // frontend keeps its image, now pinned to the digest it was verified
    // with: the image reference changes from the tag, so compose would
    // recreate it, and the plan says so.
    assert_eq!(frontend["change"], "reconfigured", "{plan}");
    assert_eq!(
        frontend["new"]["digest"], frontend["old"]["digest"],
        "{plan}"
    );
    assert!(
        plan["diff"].as_str().unwrap().contains(new_digest),
        "{plan}"
    );
    assert_eq!(plan["checks"].as_array().unwrap().len(), 4);

    // Nothing happened: no pull, no apply, no lock, no record.
    assert!(!image_exists(&v2), "the plan pulled nothing");
    assert_eq!(stack.live_version().as_deref(), Some("1.0"));
    assert_eq!(stack.state(), state);
    assert_eq!(stack.history().len(), 1);
    assert!(!stack.state_dir().join("deploy.lock").exists());

    // The running release again, as it was deployed: nothing would change.
    let (api, frontend) = (format!("api={v1}"), format!("frontend={v1}"));
    let same = [
        "plan",
        "--release-id",
        "1.0",
        "--image",
        api.as_str(),
        "--image",
        frontend.as_str(),
    ];
    let out = run(&mut stack.pitwall(&same));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("nothing would change"),
        "{}",
        out.stdout
    );

    // The same images with a changed env file: the containers would be
    // recreated, and the plan says so.
    let env = std::fs::read_to_string(stack.env_file()).unwrap();
    std::fs::write(
        stack.env_file(),
        format!("{env}DATABASE_URL=postgres://db/shop\n"),
    )
    .unwrap();
    let (code, replan) = run_json(&mut stack.pitwall(&same));
    assert_eq!(code, 1, "{replan}");
    let api_plan = replan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "api")
        .unwrap();
    assert_eq!(api_plan["change"], "reconfigured", "{replan}");
    assert_eq!(replan["replaced"], serde_json::json!(["api"]), "{replan}");

    // What the deploy would refuse, the plan refuses.
    let missing = format!("api={}/plan/app:9.9", registry.host);
    let out = run(&mut stack.pitwall(&["plan", "--release-id", "9.9", "--image", &missing]));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("plan/app:9.9"), "{}", out.stderr);
}

#[test]
fn status_names_a_service_whose_container_was_swapped_by_hand() {
    let stack = Stack::new("drift");
    let v1 = own_image(&stack, "healthy", "1.0");
    let other = own_image(&stack, "healthy", "1.1");
    stack.deployed("1.0", &v1, &["--pull", "never"]);

    let (code, status) = run_json(&mut stack.pitwall(&["status"]));
    assert_eq!(code, 0, "{status}");
    assert_schema("status", &status);
    assert_eq!(status["drift"], serde_json::json!([]));

    // Someone runs another image for api by hand.
    let swapped = Command::new("docker")
        .args(["compose", "--project-name", &stack.project, "--file"])
        .arg(root().join("deploy/compose.production.yml"))
        .arg("--env-file")
        .arg(stack.env_file())
        .args(["up", "--detach", "--no-deps", "api"])
        .env("BACKEND_IMAGE", &other)
        .env("FRONTEND_IMAGE", &v1)
        .output()
        .unwrap();
    assert!(swapped.status.success(), "{swapped:?}");

    let out = run(&mut stack.pitwall(&["status"]));
    assert_eq!(
        out.code, 3,
        "drift is exit 3\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("DRIFT"), "{}", out.stdout);
    let drift_line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("api:"))
        .unwrap_or_else(|| panic!("api named: {}", out.stdout));
    assert!(drift_line.contains(&other), "{drift_line}");
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("frontend:") && l.contains("but")),
        "frontend did not drift: {}",
        out.stdout
    );
    let (_, status) = run_json(&mut stack.pitwall(&["status"]));
    assert_schema("status", &status);
    let drift = status["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 1, "{status}");
    assert_eq!(drift[0]["service"], "api");
    assert_eq!(drift[0]["kind"], "other_image");

    // Putting the release back ends the drift.
    let out = run(&mut stack.pitwall(&["rollback", "--to", "1.0"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(run(&mut stack.pitwall(&["status"])).code, 0);

    // A stopped service is drift too (compose v1 and v2 name containers
    // differently: take the name status reports).
    let (_, status) = run_json(&mut stack.pitwall(&["status"]));
    let frontend = status["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["service"] == "frontend")
        .unwrap_or_else(|| panic!("a frontend container: {status}"));
    docker(&["stop", frontend["name"].as_str().unwrap()]);
    let (code, status) = run_json(&mut stack.pitwall(&["status"]));
    assert_eq!(code, 3, "{status}");
    assert_eq!(status["drift"][0]["service"], "frontend");
    assert_eq!(status["drift"][0]["kind"], "not_running");
}

#[test]
fn status_and_history_read_the_record_without_the_env_file_or_docker() {
    let stack = Stack::new("offline");
    let v1 = own_image(&stack, "healthy", "1.0");
    stack.deployed("1.0", &v1, &["--pull", "never"]);
    // The reference configuration names deploy/.env.production, which this
    // machine does not have; Docker is unreachable.
    let offline = |verb: &str| {
        let mut cmd = common::pitwall();
        cmd.current_dir(root())
            .args([verb])
            .env("PITWALL_PROJECT", &stack.project)
            .env("PITWALL_STATE_DIR", stack.state_dir())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
        run(&mut cmd)
    };
    let status = offline("status");
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("current"), "{}", status.stdout);
    assert!(status.stdout.contains("1.0"), "{}", status.stdout);
    assert!(
        status
            .stdout
            .contains("containers: unknown, drift not checked"),
        "{}",
        status.stdout
    );
    let history = offline("history");
    assert_eq!(history.code, 0, "{}", history.stderr);
    assert!(history.stdout.contains("released"), "{}", history.stdout);
    let releases = offline("releases");
    assert_eq!(releases.code, 0, "{}", releases.stderr);
    assert!(
        releases.stdout.contains("image availability unknown"),
        "{}",
        releases.stdout
    );
}

#[test]
fn prune_keeps_every_rollback_target_and_releases_says_which_are_gone() {
    let stack = Stack::new("prune");
    let images: Vec<String> = ["1.0", "1.1", "1.2"]
        .iter()
        .map(|v| own_image(&stack, "healthy", v))
        .collect();
    let broken = own_image(&stack, "crash", "1.3");
    for (v, image) in ["1.0", "1.1", "1.2"].iter().zip(&images) {
        stack.deployed(v, image, &["--pull", "never"]);
    }
    let failed = stack.deploy("1.3", &broken, &["--pull", "never"]);
    assert_eq!(failed.code, 1, "rolled back\n{}", failed.stderr);

    let (code, listed) = run_json(&mut stack.pitwall(&["releases"]));
    assert_eq!(code, 0, "{listed}");
    assert_schema("releases", &listed);
    let ids: Vec<&str> = listed["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["release"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["1.2", "1.1", "1.0"],
        "newest first, the failed 1.3 is no target"
    );
    assert_eq!(listed["releases"][0]["pointer"], "current");
    assert_eq!(listed["releases"][1]["pointer"], "previous");
    assert!(
        listed["releases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["rollback_ready"] == true)
    );

    // A dry run removes nothing.
    let out = run(&mut stack.pitwall(&["prune", "--keep", "1", "--dry-run"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("would remove {}", images[0])),
        "{}",
        out.stdout
    );
    assert!(image_exists(&images[0]));

    // Keep 1: the newest verified (1.2, current) and the previous (1.1)
    // stay; 1.0 and the failed 1.3 go.
    let (code, pruned) = run_json(&mut stack.pitwall(&["prune", "--keep", "1"]));
    assert_eq!(code, 0, "{pruned}");
    assert_schema("prune", &pruned);
    assert_eq!(pruned["kept_releases"], serde_json::json!(["1.2", "1.1"]));
    assert!(!image_exists(&images[0]), "1.0 removed");
    assert!(!image_exists(&broken), "the failed release's image removed");
    assert!(
        image_exists(&images[1]) && image_exists(&images[2]),
        "targets kept"
    );

    let (_, listed) = run_json(&mut stack.pitwall(&["releases"]));
    let ready: Vec<(&str, &serde_json::Value)> = listed["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["release"]["id"].as_str().unwrap(), &r["rollback_ready"]))
        .collect();
    assert_eq!(
        ready,
        [
            ("1.2", &serde_json::json!(true)),
            ("1.1", &serde_json::json!(true)),
            ("1.0", &serde_json::json!(false))
        ]
    );
    let out = run(&mut stack.pitwall(&["rollback", "--to", "1.1"]));
    assert_eq!(
        out.code, 0,
        "every kept target still deploys: {}",
        out.stderr
    );
    assert!(
        stack.live_version().is_some_and(|v| v.starts_with("1.1-")),
        "{:?}",
        stack.live_version()
    );

    // A prune while the stack is locked is refused.
    let out = run(&mut stack.pitwall(&["lock", "acquire", "-m", "maintenance window"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, lock) = run_json(&mut stack.pitwall(&["lock", "status"]));
    assert_schema("lock-status", &lock);
    assert_eq!(lock["held"], true);
    assert_eq!(lock["holder"]["command"], "manual");
    assert_eq!(lock["holder"]["message"], "maintenance window");
    let out = run(&mut stack.pitwall(&["prune", "--keep", "1"]));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("maintenance window"), "{}", out.stderr);
    let out = run(&mut stack.pitwall(&["lock", "release"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}
