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

/// The two compose tools: `PITWALL_COMPOSE` value, the plain script's
/// command, the column header.
const TOOLS: [(&str, &str, &str); 2] = [
    ("plugin", "docker compose", "Compose v2 (`docker compose`)"),
    (
        "docker-compose",
        "docker-compose",
        "Compose v1 (`docker-compose`)",
    ),
];

/// What a team without pitwall runs.
const PLAIN_SCRIPT: &str = r#"
set -euo pipefail
export BACKEND_IMAGE="$1" FRONTEND_IMAGE="$1"
compose=($5 --project-name "$2" --file deploy/compose.production.yml --env-file "$3")
"${compose[@]}" pull --quiet
"${compose[@]}" up -d --remove-orphans
until curl -sf -o /dev/null "$4"; do sleep 0.2; done
"#;

fn plain(stack: &Stack, image: &str, tool: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new("bash")
        .current_dir(root())
        .args(["-c", PLAIN_SCRIPT, "plain", image, &stack.project])
        .arg(stack.env_file())
        .arg(stack.url("/api/health/"))
        .arg(tool)
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

struct Images {
    v1: String,
    v2: String,
    broken: String,
}

/// One tool's numbers, as table cells.
struct Measured {
    pitwall: Vec<Duration>,
    plain: Vec<Duration>,
    failure_mode: String,
    restored_ms: u64,
    rollback_up_ms: u64,
}

fn measure(images: &Images, (selector, command, _): (&str, &str, &str)) -> Measured {
    // SAFETY of set_var: the benchmark is single-threaded; the deploys it
    // starts read the variable.
    unsafe { std::env::set_var("PITWALL_COMPOSE", selector) };
    let suffix = if selector == "plugin" { "v2" } else { "v1" };
    let with_pitwall = Stack::new(&format!("bench-pitwall-{suffix}"));
    let with_script = Stack::new(&format!("bench-script-{suffix}"));

    // Warm-up: first deploys create networks and fill caches.
    pitwall(&with_pitwall, "0", &images.v1);
    plain(&with_script, &images.v1, command);

    let (mut p, mut s) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        let (release, image) = if i % 2 == 0 {
            ("1.1", &images.v2)
        } else {
            ("1.0", &images.v1)
        };
        p.push(pitwall(&with_pitwall, &format!("{release}.{i}"), image));
        s.push(plain(&with_script, image, command));
    }

    // A broken release, rolled back to the last good one.
    let out = with_pitwall.deploy("broken", &images.broken, &["--pull", "always"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let record = with_pitwall.history().pop().unwrap();
    let d = &record["durations_ms"];
    Measured {
        pitwall: p,
        plain: s,
        failure_mode: record["failure_mode"].as_str().unwrap_or("?").to_string(),
        restored_ms: d["failure_to_restored"].as_u64().unwrap(),
        rollback_up_ms: d["rollback_up"].as_u64().unwrap(),
    }
}

fn runs(xs: &[Duration]) -> String {
    xs.iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let registry = Registry::start();
    let images = Images {
        v1: registry.push(&fixture_image("healthy", "1.0"), "bench/app:1.0"),
        v2: registry.push(&fixture_image("healthy", "1.1"), "bench/app:1.1"),
        broken: registry.push(&fixture_image("health503", "2.0"), "bench/app:2.0"),
    };
    let results: Vec<Measured> = TOOLS.iter().map(|&t| measure(&images, t)).collect();

    let row = |what: String, cell: &dyn Fn(&Measured) -> String| {
        let cells: Vec<String> = results.iter().map(cell).collect();
        println!("| {what} | {} |", cells.join(" | "));
    };
    let headers: Vec<&str> = TOOLS.iter().map(|t| t.2).collect();
    println!("| measure | {} |", headers.join(" | "));
    println!("|---|{}", "---|".repeat(TOOLS.len()));
    row(
        format!("`pitwall deploy`, 4 checks, pull from local registry (median of {RUNS})"),
        &|m| secs(median(m.pitwall.clone())),
    );
    row(
        format!("plain script: compose pull + up -d + curl loop on health (median of {RUNS})"),
        &|m| secs(median(m.plain.clone())),
    );
    row("pitwall / plain".into(), &|m| {
        format!(
            "{:.2}x",
            median(m.pitwall.clone()).as_secs_f64() / median(m.plain.clone()).as_secs_f64()
        )
    });
    row(
        "broken release: failure detected → previous release verified".into(),
        &|m| format!("{:.2} s ({})", m.restored_ms as f64 / 1e3, m.failure_mode),
    );
    row(
        format!(
            "its compose `up` of the previous images + one check interval ({CHECK_INTERVAL_MS} ms)"
        ),
        &|m| {
            format!(
                "{:.2} s",
                (m.rollback_up_ms + CHECK_INTERVAL_MS) as f64 / 1e3
            )
        },
    );
    row("all pitwall runs (s)".into(), &|m| runs(&m.pitwall));
    row("all plain runs (s)".into(), &|m| runs(&m.plain));
}
