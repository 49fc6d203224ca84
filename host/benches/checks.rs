//! Check runtime benchmark: `cargo bench -p pitwall --bench checks`.
//!
//! 1. A whole `pitwall check run` of `builtin:http-probe` against a loopback
//!    server: cold (empty compile cache) vs warm (cached).
//! 2. Instantiate + run of a trivial check inside a running process.
//! 3. `log-5xx` throughput: the wasm check fed through `stack.open-logs`
//!    (replayed) vs the same scan compiled natively, on the same lines.
//! 4. Twenty checks at once against the slowest of them alone.
//!
//! Prints a Markdown table; BENCHMARKS.md keeps a copy of a run.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::build::guest;
use common::http::{Reply, Server};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use pitwall::checks::{
    Cache, Compiler, Grants, Interaction, Io, Limits, LogsQuery, Outcome, Plugin, Run, Runtime,
    Source, TapeMode, types,
};
use pitwall::engine::ProjectView;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn check_run(cache: &std::path::Path, url: &str, allow: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_pitwall"))
        .env("PITWALL_CACHE_DIR", cache)
        .args([
            "check",
            "run",
            "builtin:http-probe",
            "--allow-http",
            allow,
            "--config",
        ])
        .arg(format!(r#"{{"url":"{url}"}}"#))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run pitwall");
    let took = start.elapsed();
    assert!(status.success(), "check run failed");
    took
}

fn context() -> types::Context {
    types::Context {
        release_id: "bench".into(),
        project: "bench".into(),
        images: Vec::new(),
        started_at_ms: 1_000,
        now_ms: 2_000,
        attempt: 1,
        phase: "standalone".into(),
    }
}

fn log_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!(
                r#"172.18.0.{} - - [26/Nov/2026:13:00:00 +0000] "GET /api/items/{i} HTTP/1.1" {} 512 "-" "curl/8" "{:032x}""#,
                i % 250,
                if i % 50 == 0 { 502 } else { 200 },
                i
            ),
            1 => format!(r#"{{"ts":"2026-11-26T13:00:00Z","status":{},"request_id":"req-{i}","path":"/api/x"}}"#, 200 + i % 3),
            2 => format!("method=POST path=/api/auth/login status=204 request_id=r{i} duration_ms=3"),
            _ => format!("worker {i} finished a background job in 12ms"),
        })
        .collect()
}

/// The replayed answer to the log-5xx check's `stack.open-logs` of `api`.
fn logs_answer(text: String) -> Interaction {
    Interaction::StackLogs {
        query: LogsQuery {
            service: "api".into(),
            since_ms: 1_000,
            until_ms: Some(2_000),
            max_lines: None,
        },
        result: Ok(text),
    }
}

const LOG_CONFIG: &str = r#"{"services":["api"],"max_ratio":1}"#;

fn log_grants() -> Grants {
    Grants {
        allow_http: vec![],
        allow_logs: vec!["api".into()],
    }
}

/// Room for a 200000-line window (the caps of a real run are smaller).
fn log_limits() -> Limits {
    Limits {
        memory_bytes: 1 << 30,
        timeout: Duration::from_secs(60),
        max_log_read_lines: 1_000_000,
        ..Limits::default()
    }
}

/// The checks of the concurrency row.
#[derive(Clone, Copy)]
enum Mixed {
    /// `builtin:http-probe` of a loopback endpoint that answers in 50 ms.
    Probe,
    /// `builtin:log-5xx` over replayed lines.
    Logs,
}

struct Mix<'a> {
    runtime: &'a Runtime,
    probe: Plugin,
    probe_config: String,
    probe_grants: Grants,
    /// One live I/O for every probe, as a deploy phase shares one.
    probe_io: Io,
    logs: Plugin,
    logs_text: String,
}

impl Mix<'_> {
    /// Runs one check to a passing verdict; returns how long it took.
    async fn run(&self, check: Mixed) -> Duration {
        let (plugin, config, grants, limits, io) = match check {
            Mixed::Probe => (
                &self.probe,
                self.probe_config.as_str(),
                self.probe_grants.clone(),
                Limits::default(),
                self.probe_io.clone(),
            ),
            Mixed::Logs => (
                &self.logs,
                LOG_CONFIG,
                log_grants(),
                log_limits(),
                Io::replay(vec![logs_answer(self.logs_text.clone())]),
            ),
        };
        let start = Instant::now();
        let v = self
            .runtime
            .run(
                plugin,
                Run {
                    context: context(),
                    config,
                    grants: &grants,
                    limits,
                    io,
                },
            )
            .await;
        let took = start.elapsed();
        assert_eq!(v.outcome, Outcome::Pass, "{v:?}");
        took
    }

    /// All of `checks` at once, polled together in one task as the verify
    /// and watch phases poll theirs; returns the wall-clock time.
    async fn run_all(&self, checks: &[Mixed]) -> Duration {
        let start = Instant::now();
        let mut running: FuturesUnordered<_> = checks.iter().map(|&c| self.run(c)).collect();
        while running.next().await.is_some() {}
        start.elapsed()
    }
}

/// Runs of each side of the scan row; the best of each counts.
const SCAN_RUNS: usize = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = Server::start(|_, _| Reply::new(200, r#"{"status":"ok"}"#));
    let url = server.url("/api/health/");
    let allow = server.url("/api/");

    // 1. Cold vs warm whole-process runs.
    let cold: Vec<Duration> = (0..5)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            check_run(dir.path(), &url, &allow)
        })
        .collect();
    let warm_dir = tempfile::tempdir().unwrap();
    check_run(warm_dir.path(), &url, &allow);
    let warm: Vec<Duration> = (0..20)
        .map(|_| check_run(warm_dir.path(), &url, &allow))
        .collect();

    // 2. In-process instantiate + run of a trivial check.
    let cache_dir = tempfile::tempdir().unwrap();
    // SAFETY of set_var: single-threaded at this point as far as env reads go.
    unsafe { std::env::set_var("PITWALL_CACHE_DIR", cache_dir.path()) };
    let runtime = Runtime::new(Cache::from_env(), Compiler::InProcess).unwrap();
    let trivial = runtime.load(&Source::File(guest("hostile"))).unwrap();
    let grants = Grants::default();
    let io = Io::replay(Vec::new());
    let mut per_run = Vec::new();
    for i in 0..2_000 {
        let start = Instant::now();
        let v = runtime
            .run(
                &trivial,
                Run {
                    context: context(),
                    config: "pass",
                    grants: &grants,
                    limits: Limits::default(),
                    io: io.clone(),
                },
            )
            .await;
        if i >= 100 {
            per_run.push(start.elapsed());
        }
        assert_eq!(v.outcome, Outcome::Pass);
    }

    // 3. log-5xx throughput, wasm vs native, same lines.
    let lines = log_lines(200_000);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let bytes = text.len();
    let log_plugin = runtime
        .load(&Source::parse("builtin:log-5xx").unwrap())
        .unwrap();
    let (grants, limits) = (log_grants(), log_limits());
    // Native and wasm runs take turns, so that a slow spell of the machine
    // (a shared VM's speed drifts by a third) falls on both sides.
    let (mut native, mut wasm) = (Duration::MAX, Duration::MAX);
    for _ in 0..SCAN_RUNS {
        let start = Instant::now();
        let t = log_5xx::scan::tally(log_5xx::scan::lines(&text), 5);
        native = native.min(start.elapsed());
        assert_eq!(t.lines, lines.len() as u64);

        let io = Io::replay(vec![logs_answer(text.clone())]);
        let start = Instant::now();
        let v = runtime
            .run(
                &log_plugin,
                Run {
                    context: context(),
                    config: LOG_CONFIG,
                    grants: &grants,
                    limits,
                    io,
                },
            )
            .await;
        wasm = wasm.min(start.elapsed());
        assert_eq!(v.outcome, Outcome::Pass, "{v:?}");
    }
    let rate = |d: Duration| {
        format!(
            "{:.0} klines/s, {:.0} MB/s",
            lines.len() as f64 / d.as_secs_f64() / 1e3,
            bytes as f64 / d.as_secs_f64() / 1e6
        )
    };

    // 4. Twenty checks at once vs the slowest alone: 15 probes that wait on
    //    the network and 5 log scans that need the CPU.
    let slow = Server::start(|_, _| {
        Reply::new(200, r#"{"status":"ok"}"#).delay(Duration::from_millis(50))
    });
    const MIX_LOG_LINES: usize = 20_000;
    let mix = Mix {
        runtime: &runtime,
        probe: runtime
            .load(&Source::parse("builtin:http-probe").unwrap())
            .unwrap(),
        probe_config: format!(r#"{{"url":"{}"}}"#, slow.url("/api/health/")),
        probe_grants: Grants {
            allow_http: vec![slow.url("/api/")],
            allow_logs: vec![],
        },
        probe_io: Io::live(Arc::new(ProjectView::new("bench")), TapeMode::Off),
        logs: log_plugin.clone(),
        logs_text: lines[..MIX_LOG_LINES]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect(),
    };
    let checks: Vec<Mixed> = (0..20)
        .map(|i| {
            if i % 4 == 3 {
                Mixed::Logs
            } else {
                Mixed::Probe
            }
        })
        .collect();
    // Warm up: the shared HTTP client, the probe's first connection.
    mix.run_all(&checks).await;
    let mut alone = Vec::new();
    for &check in &checks {
        let mut runs = Vec::new();
        for _ in 0..5 {
            runs.push(mix.run(check).await);
        }
        alone.push(median(runs));
    }
    let slowest = alone.iter().max().copied().unwrap();
    let one_by_one: Duration = alone.iter().sum();
    let mut together = Vec::new();
    for _ in 0..5 {
        together.push(mix.run_all(&checks).await);
    }
    let together = median(together);

    println!("| measure | result |");
    println!("|---|---|");
    println!(
        "| `pitwall check run builtin:http-probe`, cold cache (median of 5) | {} |",
        ms(median(cold.clone()))
    );
    println!(
        "| same, warm cache (median of 20) | {} |",
        ms(median(warm.clone()))
    );
    println!(
        "| cold / warm | {:.1}x |",
        median(cold).as_secs_f64() / median(warm).as_secs_f64()
    );
    let p99 = {
        let mut s = per_run.clone();
        s.sort();
        s[s.len() * 99 / 100]
    };
    println!(
        "| in-process instantiate + run, trivial check (median / p99 of {}) | {} / {} |",
        per_run.len(),
        ms(median(per_run)),
        ms(p99)
    );
    println!(
        "| log-5xx scan of {} lines ({:.1} MB), native (best of {SCAN_RUNS}) | {} ({}) |",
        lines.len(),
        bytes as f64 / 1e6,
        ms(native),
        rate(native)
    );
    println!(
        "| same lines through the wasm check, incl. host→guest copy (best of {SCAN_RUNS}) | {} ({}) |",
        ms(wasm),
        rate(wasm)
    );
    println!(
        "| wasm / native throughput | {:.2}x |",
        native.as_secs_f64() / wasm.as_secs_f64()
    );
    println!(
        "| 20 checks at once: 15 `http-probe` (loopback, answers in 50 ms) + 5 `log-5xx` ({MIX_LOG_LINES} replayed lines), one task (median of 5) | {} |",
        ms(together)
    );
    println!(
        "| the slowest of them alone (median of 5 each) | {} |",
        ms(slowest)
    );
    println!(
        "| the 20 one after another (sum of their medians alone) | {} |",
        ms(one_by_one)
    );
    println!(
        "| at once / slowest alone | {:.2}x |",
        together.as_secs_f64() / slowest.as_secs_f64()
    );
}
