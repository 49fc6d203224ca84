//! Swarm deploy benchmark: `cargo bench -p pitwall --bench swarm` (needs
//! Docker, scripts/setup.sh, and the daemon out of any swarm: the bench
//! makes a single-node swarm and leaves it).
//!
//! Wall time of `pitwall deploy` of the swarm reference stack (dnsrr,
//! host-mode port; the api start-first, the frontend stop-first) with its
//! three checks, against plain `docker stack deploy` of the same compose
//! file plus a curl loop until the new version answers, interleaved in one
//! run on two stacks; then a broken release's failure-to-restored time.
//!
//! Prints a Markdown table; BENCHMARKS.md keeps a copy of a run.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::docker::Registry;
use common::swarm::{Stack, Swarm, images};

const RUNS: usize = 4;

/// What a team without pitwall runs: the stack deployed, then the health
/// URL polled until the new version answers.
const PLAIN_SCRIPT: &str = r#"
set -euo pipefail
set -a; . ./.env; set +a
export BACKEND_IMAGE="$1" FRONTEND_IMAGE="$1"
docker stack deploy --compose-file compose.yml --prune --with-registry-auth "$2" >/dev/null
until curl -sf "$3" | grep -q "\"version\":\"$4\""; do sleep 0.2; done
"#;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn plain(stack: &Stack, image: &str, version: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new("bash")
        .current_dir(stack.dir.path())
        .args(["-c", PLAIN_SCRIPT, "plain", image, &stack.name])
        .arg(format!("http://127.0.0.1:{}/api/health/", stack.port))
        .arg(version)
        .status()
        .unwrap();
    assert!(status.success());
    start.elapsed()
}

fn pitwall(stack: &Stack, release: &str, image: &str) -> Duration {
    let start = Instant::now();
    let api = format!("api={image}");
    let frontend = format!("frontend={image}");
    let out = stack.pitwall(&[
        "deploy",
        "--release-id",
        release,
        "--image",
        &api,
        "--image",
        &frontend,
        "--pull",
        "always",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    start.elapsed()
}

fn runs(xs: &[Duration]) -> String {
    xs.iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let _swarm = Swarm::join();
    let registry = Registry::start();
    let built = images(
        &registry,
        "bench",
        &[("healthy", "1.0"), ("healthy", "1.1"), ("health503", "2.0")],
    );
    let with_pitwall = Stack::new("bench-pitwall");
    let with_script = Stack::new("bench-script");

    // Warm-up: first deploys create the services and networks.
    pitwall(&with_pitwall, "0", &built[0]);
    plain(&with_script, &built[0], "1.0");

    let (mut p, mut s) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        let (version, image) = if i % 2 == 0 {
            ("1.1", &built[1])
        } else {
            ("1.0", &built[0])
        };
        p.push(pitwall(&with_pitwall, &format!("{version}.{i}"), image));
        s.push(plain(&with_script, image, version));
    }

    // A broken release, rolled back to the last good one.
    let out = with_pitwall.pitwall(&[
        "deploy",
        "--release-id",
        "broken",
        "--image",
        &format!("api={}", built[2]),
        "--image",
        &format!("frontend={}", built[2]),
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let record = with_pitwall.history().pop().unwrap();
    let d = &record["durations_ms"];
    let ms = |key: &str| {
        d[key]
            .as_u64()
            .map_or("?".into(), |v| format!("{:.2} s", v as f64 / 1e3))
    };

    let (mp, ms_plain) = (median(p.clone()), median(s.clone()));
    println!(
        "| measure | Swarm (single node, Docker {}) |",
        server_version()
    );
    println!("|---|---|");
    println!(
        "| `pitwall deploy`, 3 checks, pull from local registry (median of {RUNS}) | {:.2} s |",
        mp.as_secs_f64()
    );
    println!(
        "| plain: `docker stack deploy` + curl loop until the new version answers (median of {RUNS}) | {:.2} s |",
        ms_plain.as_secs_f64()
    );
    println!(
        "| pitwall / plain | {:.2}x |",
        mp.as_secs_f64() / ms_plain.as_secs_f64()
    );
    println!(
        "| broken release ({}): failure detected → previous release verified | {} |",
        record["failure_mode"].as_str().unwrap_or("?"),
        ms("failure_to_restored")
    );
    println!(
        "| its rollback's `docker stack deploy` + convergence | {} |",
        ms("rollback_up")
    );
    println!("| all pitwall runs (s) | {} |", runs(&p));
    println!("| all plain runs (s) | {} |", runs(&s));
}

fn server_version() -> String {
    common::docker::docker(&["version", "--format", "{{.Server.Version}}"])
        .trim()
        .to_string()
}
