//! Soak benchmark: `cargo bench -p pitwall --bench soak` (needs Docker and
//! scripts/setup.sh).
//!
//! A service writes 1,000,000 access lines (about 85 MB, one 503 in 1,000)
//! during a 25 s soak window, under the daemon's own log rotation, while
//! `builtin:log-5xx` watches it with a 16 MiB memory cap. Reports the lines
//! the check counted, what Docker still has, how long the last verdict took
//! after the window closed, and the peak RSS of the `pitwall deploy`
//! process.
//!
//! Prints a Markdown table; BENCHMARKS.md keeps a copy of a run.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::busy::BusyStack;
use common::evidence;

const LINES: u64 = 1_000_000;
/// The burst: LINES over 20 s, every 1,000th a 503, from 2 s after the app
/// starts (once pitwall judges the release).
const BURST: &str = "1000000/20000/1000/2000";
const SOAK: &str = "27s";
const GUEST_MIB: u32 = 16;

/// The peak resident set (VmHWM) of a process, in KiB, while it lives.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() {
    let stack = BusyStack::new("soak-bench", BURST, None, GUEST_MIB);
    let start = Instant::now();
    let mut child = stack
        .deploy_command(SOAK)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pitwall deploy");
    // Sampled until it exits: the high-water mark only grows.
    let mut peak_kib = 0;
    while child.try_wait().expect("wait for pitwall").is_none() {
        peak_kib = peak_kib.max(peak_rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = start.elapsed();
    let out = child.wait_with_output().expect("pitwall's output");
    assert!(
        out.status.success(),
        "the deploy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = stack.log_check();
    let verdict = &check["verdict"];
    let one = |label: &str| {
        evidence(verdict, label)
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no `{label}` in {verdict}"))
    };
    let requests: u64 = one("requests").parse().unwrap();
    let docker_kept = stack.docker_lines();

    println!("| measure | result | goal |");
    println!("|---|---|---|");
    println!(
        "| access lines written during the soak window | {LINES} ({:.0} MB) | |",
        LINES as f64 * 85.0 / 1e6
    );
    println!(
        "| lines `log-5xx` counted (its `requests`) | {requests} | = {LINES} — {} |",
        if requests == LINES {
            "met"
        } else {
            "**not met**"
        }
    );
    println!("| 5xx it counted | {} | = {} |", one("5xx"), LINES / 1000);
    println!("| of those lines, Docker still has (its rotation) | {docker_kept} | |");
    println!(
        "| the last verdict, from the window's end (its attempt's duration) | {} ms | ≤ 2000 ms |",
        verdict["duration_ms"]
    );
    println!(
        "| peak RSS of the `pitwall deploy` process | {:.1} MB | ≤ 60 MB |",
        peak_kib as f64 / 1024.0
    );
    println!("| guest memory cap the check passed under | {GUEST_MIB} MiB | ≤ 16 MiB |");
    println!(
        "| watch attempts (each scans the window so far) | {} | |",
        check["attempts"]
    );
    println!(
        "| whole deploy, soak {SOAK} included | {:.1} s | |",
        took.as_secs_f64()
    );
}
