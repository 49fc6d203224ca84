//! Hostile checks, run one after another in one process: each is contained
//! with a clear verdict within its deadline plus a margin, and the runtime
//! stays usable for the next check.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::build::guest;
use common::http::{Reply, Server};
use common::pitwall;
use common::rss::{Measured, measured};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use pitwall::checks::{
    Cache, CompileBounds, Compiler, Grants, Interaction, Io, Limits, LogsQuery, Outcome,
    PluginError, Run, Runtime, Source, TapeMode, Verdict, types,
};
use pitwall::engine::ProjectView;

const TIMEOUT: Duration = Duration::from_secs(2);
/// Slack for scheduling on a loaded 2-core machine; a broken deadline would
/// overrun by far more (the loops never end).
const MARGIN: Duration = Duration::from_secs(2);

/// A runtime compiling as the binary does: in a bounded child process.
fn runtime_with(bounds: CompileBounds) -> Runtime {
    let cache = tempfile::tempdir().unwrap().keep();
    // SAFETY of set_var: nextest runs each test in its own process, and
    // this runs before the test starts threads or children.
    unsafe { std::env::set_var("PITWALL_CACHE_DIR", &cache) };
    let compiler = Compiler::Child {
        exe: env!("CARGO_BIN_EXE_pitwall").into(),
        bounds,
    };
    Runtime::new(Cache::from_env(), compiler).unwrap()
}

fn runtime() -> Runtime {
    runtime_with(CompileBounds::from_env().unwrap())
}

fn context() -> types::Context {
    types::Context {
        release_id: "r1".into(),
        project: "hostile-test".into(),
        images: Vec::new(),
        started_at_ms: 0,
        now_ms: 0,
        attempt: 1,
        phase: "standalone".into(),
    }
}

async fn run(runtime: &Runtime, mode: &str, grants: &Grants) -> (Verdict, Duration) {
    let io = Io::live(Arc::new(ProjectView::new("hostile-test")), TapeMode::Off);
    run_with(runtime, mode, grants, io, TIMEOUT).await
}

async fn run_with(
    runtime: &Runtime,
    mode: &str,
    grants: &Grants,
    io: Io,
    timeout: Duration,
) -> (Verdict, Duration) {
    let plugin = runtime.load(&Source::File(guest("hostile"))).unwrap();
    let start = Instant::now();
    let verdict = runtime
        .run(
            &plugin,
            Run {
                context: context(),
                config: mode,
                grants,
                limits: Limits {
                    timeout,
                    ..Limits::default()
                },
                io,
            },
        )
        .await;
    (verdict, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misbehaviour_is_contained_and_the_next_check_runs() {
    let runtime = runtime();
    let hang = Server::start(|_, _| Reply::new(200, "late").delay(Duration::from_secs(30)));
    let no_grants = Grants::default();
    let hang_granted = Grants {
        allow_http: vec![hang.base.clone()],
        allow_logs: vec![],
    };
    let slow_url = format!("http:{}", hang.url("/"));
    let outside = format!("http:{}", "http://127.0.0.1:9/secret");
    let cases: Vec<(&str, &Grants, Outcome, &str)> = vec![
        ("loop", &no_grants, Outcome::Error, "run timed out after 2s"),
        (
            "memory",
            &no_grants,
            Outcome::Error,
            "run hit its 64 MiB memory cap (it asked for",
        ),
        (
            "memory-doubling",
            &no_grants,
            Outcome::Error,
            "run hit its 64 MiB memory cap (it asked for",
        ),
        (
            "memory-alloc",
            &no_grants,
            Outcome::Error,
            "run hit its 64 MiB memory cap (it asked for",
        ),
        (
            // Its `panicked at` is 100 KB before the end of its stderr.
            "long-panic",
            &no_grants,
            Outcome::Error,
            "run panicked at hostile/src/lib.rs:",
        ),
        ("recursion", &no_grants, Outcome::Error, "run trapped"),
        (
            "leak-handles",
            &no_grants,
            Outcome::Error,
            "run held 10000 handles at once (WASI pollables or streams it never dropped)",
        ),
        (
            "panic",
            &no_grants,
            Outcome::Error,
            "run panicked at hostile/src/lib.rs:",
        ),
        ("stderr-spam", &no_grants, Outcome::Pass, "chatty but fine"),
        (
            // The cause survives 200 KB of chatter before it, and its
            // escape codes are shown, not obeyed.
            "noise-then-panic",
            &no_grants,
            Outcome::Error,
            r"the \u{1b}[32mreal\u{1b}[0m cause",
        ),
        (
            "noise-then-trap",
            &no_grants,
            Outcome::Error,
            "run trapped: wasm `unreachable` instruction executed",
        ),
        (
            "exit",
            &no_grants,
            Outcome::Error,
            "run called exit instead of returning a verdict",
        ),
        ("files", &no_grants, Outcome::Fail, "no file access"),
        ("env", &no_grants, Outcome::Fail, "env vars: [], args: []"),
        ("socket", &no_grants, Outcome::Fail, "no sockets"),
        (
            &outside,
            &no_grants,
            Outcome::Fail,
            "denied: the check has no allow_http grant",
        ),
        (
            "logs:db",
            &no_grants,
            Outcome::Fail,
            "logs of service `db` denied",
        ),
        (
            "containers",
            &no_grants,
            Outcome::Fail,
            "stack.containers denied",
        ),
        (
            "huge-summary",
            &no_grants,
            Outcome::Error,
            "byte summary; the cap is 1024 bytes",
        ),
        (
            "huge-evidence",
            &no_grants,
            Outcome::Error,
            "100000 evidence items; the cap is 64",
        ),
        (
            &slow_url,
            &hang_granted,
            Outcome::Error,
            "run timed out after 2s",
        ),
    ];
    for (mode, grants, outcome, text) in cases {
        let (v, took) = run(&runtime, mode, grants).await;
        assert_eq!(v.outcome, outcome, "{mode}: {v:?}");
        assert!(
            v.summary.contains(text),
            "{mode}: expected {text:?} in {:?}",
            v.summary
        );
        assert!(took < TIMEOUT + MARGIN, "{mode} took {took:?}");
        assert!(
            !v.summary.contains('\x1b'),
            "{mode}: raw escape in {:?}",
            v.summary
        );
        assert!(
            !v.summary.contains("wasm backtrace"),
            "{mode}: {:?}",
            v.summary
        );
    }
    let (v, _) = run(&runtime, "log-spam", &no_grants).await;
    assert_eq!(v.outcome, Outcome::Pass);
    assert_eq!(
        v.logs.len(),
        Limits::default().max_log_lines + 1,
        "capped, plus one note"
    );
    assert!(v.logs.last().unwrap().contains("more log lines dropped"));
    assert!(v.logs[0].len() < 1200, "each line is capped");

    let (v, _) = run(&runtime, "pass", &no_grants).await;
    assert_eq!(v.outcome, Outcome::Pass, "the runtime still works: {v:?}");
    assert_eq!(v.summary, "fine, release r1");
}

/// The checks of a phase share one thread per core, in turns: checks that
/// compute without end, more of them than there are cores, do not keep
/// another check from running, and cancelling them stops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_computing_without_end_do_not_starve_the_others() {
    let runtime = runtime();
    let no_grants = Grants::default();
    // Far longer than the test waits: only taking turns lets `pass` run.
    let endless = Duration::from_secs(600);
    let spinners = std::thread::available_parallelism().unwrap().get() + 1;
    let spinning: FuturesUnordered<_> = (0..spinners)
        .map(|_| {
            run_with(
                &runtime,
                "loop",
                &no_grants,
                Io::replay(Vec::new()),
                endless,
            )
        })
        .collect();
    let passing = run_with(
        &runtime,
        "pass",
        &no_grants,
        Io::replay(Vec::new()),
        endless,
    );
    tokio::select! {
        // In this order: the spinners start first and take every thread.
        biased;
        done = spinning.collect::<Vec<_>>() => panic!("the endless checks ended: {done:?}"),
        (v, _) = passing => assert_eq!(v.outcome, Outcome::Pass, "{v:?}"),
        () = tokio::time::sleep(Duration::from_secs(60)) => {
            panic!("a check waited 60 s behind {spinners} computing checks")
        }
    }
    // Dropped, the spinners were cancelled: their wasm stops at its next
    // turn (each would otherwise run for ten minutes).
    let cancelled = Instant::now();
    while runtime.calls_in_flight() > 0 {
        assert!(
            cancelled.elapsed() < Duration::from_secs(10),
            "{} cancelled checks still running",
            runtime.calls_in_flight()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn validate_config_is_bounded_and_its_rejection_explained() {
    let runtime = runtime();
    let plugin = runtime.load(&Source::File(guest("hostile"))).unwrap();
    let limits = Limits {
        timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let start = Instant::now();
    let e = runtime
        .validate(&plugin, "validate-loop", limits)
        .await
        .unwrap_err();
    assert!(e.contains("validate-config timed out"), "{e}");
    assert!(start.elapsed() < Duration::from_millis(500) + MARGIN);
    let e = runtime
        .validate(&plugin, "reject", limits)
        .await
        .unwrap_err();
    assert!(
        e.ends_with("rejected its configuration: this configuration is rejected on purpose"),
        "{e}"
    );
    assert!(runtime.validate(&plugin, "pass", limits).await.is_ok());
}

#[test]
fn components_that_are_not_checks_are_refused_by_name() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, b"").unwrap();
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm\x0d\0\x01\0garbage").unwrap();

    let load = |path| {
        runtime
            .load(&Source::File(path))
            .err()
            .expect("must be refused")
    };
    match load(guest("other-contract")) {
        PluginError::Contract { found, .. } => assert_eq!(found, "pitwall:check@0.9.0"),
        other => panic!("expected a contract error, got {other}"),
    }
    assert!(matches!(load(core), PluginError::CoreModule(_)));
    assert!(matches!(load(empty), PluginError::Empty(_)));
    assert!(matches!(load(broken), PluginError::Invalid { .. }));
}

#[test]
fn compilation_is_bounded_and_the_bound_hit_is_named() {
    // Built before the clock starts: a cold build of the guest takes longer
    // than the bound being tested.
    let wasm = guest("hostile");
    let hostile = || Source::File(wasm.clone());
    let slow = runtime_with(CompileBounds {
        time: Duration::from_millis(20),
        memory_bytes: 2 << 30,
    });
    let start = Instant::now();
    let e = slow.load(&hostile()).err().expect("cannot compile in 20ms");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the child was not stopped"
    );
    assert!(
        e.to_string()
            .contains("longer than the 20ms compile-time bound"),
        "{e}"
    );

    let small = runtime_with(CompileBounds {
        time: Duration::from_secs(60),
        memory_bytes: 24 << 20,
    });
    let e = small
        .load(&hostile())
        .err()
        .expect("cannot compile in 24 MiB");
    assert!(
        e.to_string()
            .contains("more than the 24 MiB compile-memory bound"),
        "{e}"
    );

    // Within the bounds it loads, and a broken file is still called invalid.
    let fine = runtime();
    assert!(fine.load(&hostile()).is_ok());
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm\x0d\0\x01\0garbage").unwrap();
    match fine.load(&Source::File(broken)).err().expect("refused") {
        PluginError::Invalid { reason, .. } => assert!(!reason.is_empty()),
        other => panic!("expected an invalid-component error, got {other}"),
    }
}

/// A check may read a log window of any size, but only in chunks of at
/// most 1 MiB (however much it asks for), with at most 16 streams open; a
/// line longer than a chunk comes cut, and the window still ends.
#[tokio::test]
async fn log_streams_are_bounded_however_the_check_reads() {
    let runtime = runtime();
    let grants = Grants {
        allow_http: vec![],
        allow_logs: vec!["api".into()],
    };
    // 3 MiB of ordinary lines around one 3 MiB line.
    let mut text = "GET / 200\n".repeat(150_000);
    text.push_str(&"x".repeat(3 << 20));
    text.push('\n');
    text.push_str(&"GET / 500\n".repeat(150_000));
    let logs = Interaction::StackLogs {
        query: LogsQuery {
            service: "api".into(),
            since_ms: 0,
            until_ms: None,
            max_lines: None,
        },
        result: Ok(text),
    };
    // Not a deadline test: a debug build on a busy machine moves 4 MB of
    // lines in well under 30 s.
    let run = async |mode: &str, grants: &Grants| {
        let io = Io::canned(vec![], vec![logs.clone()]);
        run_with(&runtime, mode, grants, io, Duration::from_secs(30))
            .await
            .0
    };
    let v = run("huge-read:api", &grants).await;
    assert_eq!(v.outcome, Outcome::Pass, "{v:?}");
    let expected = 3_000_000 + (1 << 20);
    assert_eq!(
        v.summary,
        format!("largest chunk {} of {expected} bytes", 1 << 20),
        "the long line is cut to one chunk, nothing else is lost"
    );
    let v = run("streams:api", &grants).await;
    assert_eq!(v.outcome, Outcome::Fail, "{v:?}");
    assert!(
        v.summary
            .starts_with("after 16 streams: stack.open-logs refused: 16 log streams are open"),
        "{}",
        v.summary
    );
    let v = run("huge-read:api", &Grants::default()).await;
    assert_eq!(v.outcome, Outcome::Fail, "{v:?}");
    assert!(
        v.summary.contains("logs of service `api` denied"),
        "{}",
        v.summary
    );
}

/// A component that claims the contract but whose functions have other
/// types is refused at load, naming the function and the mismatch, not at
/// its first call.
#[test]
fn a_contract_with_other_shapes_is_refused_at_load() {
    let runtime = runtime();
    match runtime.load(&Source::File(guest("wrong-shape"))) {
        Err(e @ PluginError::Shape { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("claims pitwall:check@0.2.0 but its `run` has other types"),
                "{text}"
            );
            assert!(text.contains("expected `record` found `string`"), "{text}");
        }
        Err(other) => panic!("expected a shape error, got {other}"),
        Ok(_) => panic!("a check whose run returns a string was loaded"),
    }
    // Both contracts' real checks still load.
    assert!(runtime.load(&Source::File(guest("hostile"))).is_ok());
    assert!(runtime.load(&Source::File(guest("contract-0-1"))).is_ok());
}

/// A method, URL, header or service name of megabytes is refused by its
/// length, before it is copied into the host, parsed or quoted.
#[tokio::test]
async fn over_long_request_parts_are_refused_before_parsing() {
    let runtime = runtime();
    let grants = Grants {
        allow_http: vec!["http://127.0.0.1:9/".into()],
        allow_logs: vec!["api".into()],
    };
    let cases = [
        (
            "long:url",
            "the request's URL is 4194323 bytes, over the 8192 byte cap",
        ),
        (
            "long:method",
            "the request's method is 4194323 bytes, over the 32 byte cap",
        ),
        (
            "long:header",
            "the request's `x-long` header is 4194323 bytes, over the 8192 byte cap",
        ),
        (
            "long:service",
            "a 4194323 byte service name is over the 255 byte cap",
        ),
    ];
    for (mode, text) in cases {
        let (v, took) = run_with(
            &runtime,
            mode,
            &grants,
            Io::replay(Vec::new()),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(v.outcome, Outcome::Fail, "{mode}: {v:?}");
        assert!(v.summary.contains(text), "{mode}: {}", v.summary);
        assert!(v.summary.len() < 2048, "{mode}: the refusal quotes it");
        assert!(took < Duration::from_secs(5), "{mode} took {took:?}");
    }
}

// ---- Host memory outside the guest's cap. Each case runs `pitwall check
// run` as a child and measures its peak RSS: under 300 MB with the guest's
// memory cap at 320 MiB.

const MAX_PEAK_RSS: u64 = 300_000_000;
const BIG_CAP_MIB: &str = "320";

/// `pitwall check run` of the hostile guest, its compiled form cached so
/// no compiler child runs (and is measured) beside it.
fn check_run(config: &str) -> std::process::Command {
    let wasm = guest("hostile");
    let out = pitwall()
        .args(["check", "precompile"])
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = pitwall();
    cmd.args(["check", "run"]).arg(&wasm).args([
        "--config",
        config,
        "--memory",
        BIG_CAP_MIB,
        "--timeout",
        "60s",
    ]);
    cmd
}

fn assert_bounded(what: &str, m: &Measured) {
    eprintln!("{what}: peak RSS {:.0} MB", m.peak_mb());
    assert!(
        m.peak < MAX_PEAK_RSS,
        "{what}: peak RSS {:.0} MB, over 300 MB\n{}{}",
        m.peak_mb(),
        m.stdout,
        m.stderr
    );
}

/// A 1 MiB JSON array of numbers: the costliest body to write readably.
fn mib_of_json() -> Vec<u8> {
    let mut body = b"[0".to_vec();
    while body.len() < (1 << 20) - 1 {
        body.extend_from_slice(b",0");
    }
    body.push(b']');
    body
}

#[test]
fn recording_many_granted_megabyte_responses_stays_bounded() {
    let body = mib_of_json();
    let server = Server::start(move |_, _| Reply::new(200, body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("run.json");
    let m = measured(
        check_run(&format!("get-many:20:{}", server.url("/big")))
            .args(["--allow-http", &server.url("/")])
            .arg("--record")
            .arg(&tape),
    );
    assert_eq!(m.code, 0, "{}{}", m.stdout, m.stderr);
    assert!(
        m.stdout.contains("20 responses, 20971520 bytes"),
        "{}",
        m.stdout
    );
    assert_bounded("recording 20 x 1 MiB", &m);

    drop(server);
    let m = replayed_measured(&tape);
    assert_eq!(m.code, 0, "{}{}", m.stdout, m.stderr);
    assert!(
        m.stdout.contains("20 responses, 20971520 bytes"),
        "{}",
        m.stdout
    );
    assert_bounded("replaying 20 x 1 MiB", &m);
}

/// The hostile guest's `check run --replay TAPE`, its peak memory measured.
fn replayed_measured(tape: &std::path::Path) -> Measured {
    measured(
        pitwall()
            .args(["check", "run"])
            .arg(guest("hostile"))
            .arg("--replay")
            .arg(tape),
    )
}

#[test]
fn replaying_a_tape_with_a_body_as_a_byte_array_stays_bounded() {
    let server = Server::start(|_, _| Reply::new(200, "small"));
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("run.json");
    let out = check_run(&format!("get-many:1:{}", server.url("/big")))
        .args(["--allow-http", &server.url("/")])
        .arg("--record")
        .arg(&tape)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The body as tapes used to hold it: 5 MB of byte numbers.
    let mut recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tape).unwrap()).unwrap();
    recorded["interactions"][0]["result"]["Ok"]["body"] = "@BODY@".into();
    let numbers = vec!["120"; 5_000_000].join(",");
    let text = recorded
        .to_string()
        .replace("\"@BODY@\"", &format!("[{numbers}]"));
    std::fs::write(&tape, text).unwrap();

    let m = replayed_measured(&tape);
    assert_eq!(m.code, 0, "{}{}", m.stdout, m.stderr);
    // Cut to the body cap as it is read, as the live host cuts it.
    assert!(
        m.stdout.contains("1 responses, 1048576 bytes, 1 truncated"),
        "{}",
        m.stdout
    );
    assert_bounded("replaying a 5 MB byte-array body", &m);
}

#[test]
fn a_huge_request_body_is_refused_without_a_host_copy() {
    let server = Server::start(|_, _| Reply::new(200, "ok"));
    let m = measured(
        check_run(&format!("big-body:120:{}", server.url("/upload")))
            .args(["--allow-http", &server.url("/")]),
    );
    assert_eq!(m.code, 1, "{}{}", m.stdout, m.stderr);
    assert!(
        m.stdout
            .contains("a 125829120 byte request body is over the 1048576 byte cap"),
        "{}",
        m.stdout
    );
    assert_bounded("a 120 MB request body", &m);
}

/// Tapes keep no credential: not the values of credential headers sent or
/// received, not a password in a form body; and the scrubbed tape replays.
#[test]
fn tapes_keep_no_credentials_and_still_replay() {
    let server = Server::start(|_, _| {
        Reply::new(200, "welcome").header("Set-Cookie", "session=server-s3cret; HttpOnly")
    });
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("run.json");
    let out = check_run(&format!("secrets:{}", server.url("/login")))
        .args(["--allow-http", &server.url("/")])
        .arg("--record")
        .arg(&tape)
        .output()
        .unwrap();
    let live = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(live.contains("logged in: 200, set-cookie: true"), "{live}");
    let text = std::fs::read_to_string(&tape).unwrap();
    for secret in [
        "cookie-s3cret",
        "YXV0aC1zM2NyZXQ=",
        "cHJveHktczNjcmV0",
        "server-s3cret",
        "form-s3cret",
    ] {
        assert!(!text.contains(secret), "{secret} is in the tape:\n{text}");
    }
    assert!(text.contains("password=***"), "{text}");
    drop(server);
    let out = pitwall()
        .args(["check", "run"])
        .arg(guest("hostile"))
        .arg("--replay")
        .arg(&tape)
        .output()
        .unwrap();
    let replayed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{replayed}");
    assert!(
        replayed.contains("logged in: 200, set-cookie: true"),
        "{replayed}"
    );
}
