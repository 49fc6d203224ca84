//! Check runtime benchmark: `cargo bench -p pitwall --bench checks`.
//!
//! 1. A whole `pitwall check run` of `builtin:http-probe` against a loopback
//!    server: cold (empty compile cache) vs warm (cached).
//! 2. Instantiate + run of a trivial check inside a running process.
//! 3. `log-5xx` throughput: the wasm check fed through `stack.logs` (replayed)
//!    vs the same scan compiled natively, on the same lines.
//!
//! Prints a Markdown table; BENCHMARKS.md keeps a copy of a run.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::build::guest;
use common::http::{Reply, Server};
use pitwall::checks::{
    Cache, Compiler, Grants, Interaction, Io, Limits, Outcome, Run, Runtime, Source, types,
};

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
    let native = {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            let t = log_5xx::scan::tally(log_5xx::scan::lines(&text), 5);
            best = best.min(start.elapsed());
            assert_eq!(t.lines, lines.len() as u64);
        }
        best
    };
    let log_plugin = runtime
        .load(&Source::parse("builtin:log-5xx").unwrap())
        .unwrap();
    let config = r#"{"services":["api"],"max_ratio":1}"#;
    let grants = Grants {
        allow_http: vec![],
        allow_logs: vec!["api".into()],
    };
    let limits = Limits {
        memory_bytes: 1 << 30,
        timeout: Duration::from_secs(60),
        max_log_read_lines: 1_000_000,
        ..Limits::default()
    };
    let mut wasm = Duration::MAX;
    for _ in 0..5 {
        let answer = Interaction::StackLogs {
            query: pitwall::checks::LogsQuery {
                service: "api".into(),
                since_ms: 1_000,
                until_ms: Some(2_000),
                max_lines: None,
            },
            result: Ok(text.clone()),
        };
        let start = Instant::now();
        let v = runtime
            .run(
                &log_plugin,
                Run {
                    context: context(),
                    config,
                    grants: &grants,
                    limits,
                    io: Io::replay(vec![answer]),
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
        "| log-5xx scan of {} lines ({:.1} MB), native (best of 5) | {} ({}) |",
        lines.len(),
        bytes as f64 / 1e6,
        ms(native),
        rate(native)
    );
    println!(
        "| same lines through the wasm check, incl. host→guest copy (best of 5) | {} ({}) |",
        ms(wasm),
        rate(wasm)
    );
    println!(
        "| wasm / native throughput | {:.2}x |",
        native.as_secs_f64() / wasm.as_secs_f64()
    );
}
