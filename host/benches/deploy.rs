//! Deploy benchmark: `cargo bench -p pitwall --bench deploy` (needs Docker and
//! scripts/setup.sh).
//!
//! 1. Wall time of `pitwall deploy` of the reference stack with all four
//!    checks, against a plain script (`compose pull`, `up -d`, a curl loop on
//!    the health URL) on the same stack and images, interleaved in one run.
//! 2. A broken release: time from the failure being detected to the previous
//!    release verified again, beside one compose `up` of the previous images
//!    plus one check interval.
//!
//! Prints a Markdown table; BENCHMARKS.md keeps a copy of a run.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::build::fixture_image;
use common::docker::{Registry, Stack};
use common::root;

const RUNS: usize = 4;
/// The reference configuration's check interval (deploy/pitwall.toml).
const CHECK_INTERVAL_MS: u64 = 500;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// What a team without pitwall runs.
const PLAIN_SCRIPT: &str = r#"
set -euo pipefail
export BACKEND_IMAGE="$1" FRONTEND_IMAGE="$1"
compose=(docker-compose --project-name "$2" --file deploy/compose.production.yml --env-file "$3")
"${compose[@]}" pull --quiet
"${compose[@]}" up -d --remove-orphans
until curl -sf -o /dev/null "$4"; do sleep 0.2; done
"#;

fn plain(stack: &Stack, image: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new("bash")
        .current_dir(root())
        .args(["-c", PLAIN_SCRIPT, "plain", image, &stack.project])
        .arg(stack.env_file())
        .arg(stack.url("/api/health/"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    start.elapsed()
}

fn pitwall(stack: &Stack, release: &str, image: &str) -> Duration {
    let start = Instant::now();
    let out = stack.deploy(release, image, &["--pull", "always"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    start.elapsed()
}

fn main() {
    let registry = Registry::start();
    let v1 = registry.push(&fixture_image("healthy", "1.0"), "bench/app:1.0");
    let v2 = registry.push(&fixture_image("healthy", "1.1"), "bench/app:1.1");
    let broken = registry.push(&fixture_image("health503", "2.0"), "bench/app:2.0");
    let with_pitwall = Stack::new("bench-pitwall");
    let with_script = Stack::new("bench-script");

    // Warm-up: first deploys create networks and fill caches.
    pitwall(&with_pitwall, "0", &v1);
    plain(&with_script, &v1);

    let (mut p, mut s) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        let (release, image) = if i % 2 == 0 {
            ("1.1", &v2)
        } else {
            ("1.0", &v1)
        };
        p.push(pitwall(&with_pitwall, &format!("{release}.{i}"), image));
        s.push(plain(&with_script, image));
    }

    // A broken release, rolled back to the last good one.
    let out = with_pitwall.deploy("broken", &broken, &["--pull", "always"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let record = with_pitwall.history().pop().unwrap();
    let d = &record["durations_ms"];
    let restored = d["failure_to_restored"].as_u64().unwrap();
    let rollback_up = d["rollback_up"].as_u64().unwrap();

    let (pm, sm) = (median(p.clone()), median(s.clone()));
    println!("| measure | result |");
    println!("|---|---|");
    println!(
        "| `pitwall deploy`, reference stack, 4 checks, pull from local registry (median of {RUNS}) | {} |",
        secs(pm)
    );
    println!(
        "| plain script: compose pull + up -d + curl loop on health (median of {RUNS}) | {} |",
        secs(sm)
    );
    println!(
        "| pitwall / plain | {:.2}x |",
        pm.as_secs_f64() / sm.as_secs_f64()
    );
    println!(
        "| broken release ({}): failure detected → previous release verified | {:.2} s |",
        record["failure_mode"],
        restored as f64 / 1e3
    );
    println!(
        "| its compose `up` of the previous images + one check interval ({CHECK_INTERVAL_MS} ms) | {:.2} s |",
        (rollback_up + CHECK_INTERVAL_MS) as f64 / 1e3
    );
    println!(
        "| all pitwall runs | {:?} |",
        p.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
    );
    println!(
        "| all plain runs | {:?} |",
        s.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
    );
}
