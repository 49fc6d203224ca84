//! `pitwall check run | list | inspect` against real HTTP servers on
//! loopback, and `builtin:log-5xx` against recorded container logs.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::http::{Reply, Server, free_port};
use common::{evidence, pitwall, run, run_json};
use serde_json::{Value, json};

fn probe(config: Value, allow: &str) -> Command {
    let mut cmd = pitwall();
    cmd.args(["check", "run", "builtin:http-probe", "--config"])
        .arg(config.to_string())
        .args(["--allow-http", allow, "--release-id", "r7"]);
    cmd
}

fn app() -> Server {
    Server::start(|_, path| match path {
        "/api/health/" => Reply::new(200, r#"{"status":"ok","version":"r7"}"#),
        "/api/down/" => Reply::new(503, "upstream not ready"),
        "/api/slow/" => Reply::new(200, "late").delay(Duration::from_secs(5)),
        "/api/moved" => Reply::new(302, "").header("location", "/api/health/"),
        "/api/escape" => Reply::new(302, "").header("location", "/admin/"),
        "/api/big" => {
            let mut body = vec![b'a'; 5 << 20];
            body.extend_from_slice(b"THE-END");
            Reply::new(200, body)
        }
        _ => Reply::new(404, "not found"),
    })
}

#[test]
fn http_probe_passes_on_health_with_version_equal_to_release_id() {
    let s = app();
    let config = json!({"url": s.url("/api/health/"), "json_field": "version", "json_equals": "${release_id}"});
    let (code, v) = run_json(&mut probe(config, &s.url("/api/")));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["outcome"], "pass");
    assert_eq!(evidence(&v, "status"), ["200"]);
    assert!(
        evidence(&v, "host.http")[0].contains("/api/health/ → 200"),
        "{v}"
    );
}

#[test]
fn http_probe_fails_with_evidence_on_503() {
    let s = app();
    let out = run(&mut probe(
        json!({"url": s.url("/api/down/")}),
        &s.url("/api/"),
    ));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.starts_with("FAIL"), "{}", out.stdout);
    assert!(
        out.stdout.contains("status 503 (expected 2xx)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("upstream not ready"),
        "body excerpt missing: {}",
        out.stdout
    );
}

#[test]
fn http_probe_request_timeout_fails_promptly() {
    let s = app();
    let start = Instant::now();
    let (code, v) = run_json(&mut probe(
        json!({"url": s.url("/api/slow/"), "timeout_ms": 300}),
        &s.url("/api/"),
    ));
    assert_eq!(code, 1, "{v}");
    assert!(v["summary"].as_str().unwrap().contains("timed out"), "{v}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn check_timeout_bounds_time_spent_in_host_calls() {
    let s = app();
    let start = Instant::now();
    let (code, v) = run_json(
        probe(json!({"url": s.url("/api/slow/")}), &s.url("/api/")).args(["--timeout", "1s"]),
    );
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["outcome"], "error");
    assert_eq!(v["summary"], "run timed out after 1s");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn http_probe_refused_connection_fails_and_says_so() {
    let base = format!("http://127.0.0.1:{}", free_port());
    let (code, v) = run_json(&mut probe(
        json!({"url": format!("{base}/api/health/")}),
        &base,
    ));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["summary"].as_str().unwrap().contains("cannot connect"),
        "{v}"
    );
}

#[test]
fn redirects_are_followed_only_when_asked_and_only_inside_the_grant() {
    let s = app();
    let allow = s.url("/api/");
    let (code, v) = run_json(&mut probe(json!({"url": s.url("/api/moved")}), &allow));
    assert_eq!(code, 1, "a 302 is not 2xx unless followed: {v}");
    let (code, v) = run_json(&mut probe(
        json!({"url": s.url("/api/moved"), "follow_redirects": true}),
        &allow,
    ));
    assert_eq!(code, 0, "{v}");
    let (code, v) = run_json(&mut probe(
        json!({"url": s.url("/api/escape"), "follow_redirects": true}),
        &allow,
    ));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["summary"].as_str().unwrap().contains("/admin/ denied"),
        "{v}"
    );
}

#[test]
fn oversized_bodies_are_cut_at_the_host_cap() {
    let s = app();
    let (code, v) = run_json(&mut probe(
        json!({"url": s.url("/api/big"), "body_contains": "THE-END"}),
        &s.url("/api/"),
    ));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("body truncated by the host"),
        "{v}"
    );
    assert!(
        evidence(&v, "body")[0].len() < 1000,
        "the body excerpt must be short"
    );
}

#[test]
fn urls_outside_the_allow_list_are_denied_and_shown() {
    let s = app();
    let (code, v) = run_json(&mut probe(
        json!({"url": s.url("/api/health/")}),
        &s.url("/other/"),
    ));
    assert_eq!(code, 1, "{v}");
    let expected = format!(
        "http GET {} denied: not under any allow_http prefix ({}); \
         grant a prefix of it: `allow_http` in pitwall.toml, `--allow-http` on check run",
        s.url("/api/health/"),
        s.url("/other/")
    );
    assert_eq!(evidence(&v, "host.denied"), [expected]);
}

#[test]
fn record_then_replay_with_the_server_gone_gives_the_same_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("run.json");
    let s = app();
    let config = json!({"steps": [
        {"name": "health", "url": s.url("/api/health/"), "json_field": "version", "json_equals": "${release_id}",
         "headers": {"authorization": "Bearer tape-s3cret-123"}},
        {"name": "down", "url": s.url("/api/down/"), "expect_status": 503, "body_contains": "not ready"}
    ]});
    let (code, live) = run_json(probe(config, &s.url("/api/")).arg("--record").arg(&tape));
    assert_eq!(code, 0, "{live}");
    drop(s);
    let text = std::fs::read_to_string(&tape).unwrap();
    assert!(
        !text.contains("tape-s3cret-123"),
        "credential headers are not kept in tapes"
    );

    let (code, replayed) = replay_probe(&tape);
    assert_eq!(code, 0, "{replayed}");
    assert_eq!(replayed["summary"], live["summary"]);
    assert_eq!(replayed["evidence"], live["evidence"]);
}

/// `check run builtin:http-probe --replay TAPE`: its exit code and verdict.
fn replay_probe(tape: &std::path::Path) -> (i32, Value) {
    run_json(
        pitwall()
            .args(["check", "run", "builtin:http-probe", "--replay"])
            .arg(tape),
    )
}

/// A server-rendered app's session login, as Django answers it: the form
/// page sets a `csrftoken` cookie and hides a token in the form; the POST
/// must carry both (url-encoded) and answers 302 with the session cookie;
/// the page behind the login wants the session.
fn csrf_app() -> Server {
    const COOKIE_TOKEN: &str = "C00kieTok3nFromTheJar";
    const FORM_TOKEN: &str = "FormTok3nFromTheHtml";
    const SESSION: &str = "Sess10nIdAfterLogin";
    Server::answering(|r: &common::http::Request| {
        let cookie = r
            .headers
            .iter()
            .find(|(k, _)| k == "cookie")
            .map_or("", |(_, v)| v.as_str());
        let has = |pair: &str| cookie.split("; ").any(|c| c == pair);
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/app/accounts/login/") => Reply::new(
                200,
                format!(
                    r#"<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{FORM_TOKEN}"><input name="username"></form>"#
                ),
            )
            .header(
                "set-cookie",
                &format!("csrftoken={COOKIE_TOKEN}; expires=Mon, 06 Dec 2100 17:42:26 GMT; Max-Age=31449600; Path=/; SameSite=Lax"),
            ),
            ("POST", "/app/accounts/login/") => {
                let form = String::from_utf8_lossy(&r.body).into_owned();
                let expected = format!(
                    "csrfmiddlewaretoken={FORM_TOKEN}&password=s3cret+pass%26more&username=pitwall"
                );
                let typed = r.headers.iter().any(|(k, v)| {
                    k == "content-type" && v == "application/x-www-form-urlencoded"
                });
                if !has(&format!("csrftoken={COOKIE_TOKEN}")) || !typed || form != expected {
                    return Reply::new(403, format!("CSRF verification failed: {cookie} / {form}"));
                }
                Reply::new(302, "")
                    .header("location", "/app/private/")
                    .header("set-cookie", &format!("sessionid={SESSION}; HttpOnly; Path=/"))
            }
            ("GET", "/app/private/") if has(&format!("sessionid={SESSION}")) => {
                Reply::new(200, format!("Welcome pitwall ({SESSION})"))
            }
            ("GET", "/app/private/") => Reply::new(302, "").header("location", "/app/accounts/login/"),
            _ => Reply::new(404, "not found"),
        }
    })
}

#[test]
fn a_session_login_with_csrf_cookies_and_a_redirect() {
    let s = csrf_app();
    let login = s.url("/app/accounts/login/");
    let config = json!({"steps": [
        {"name": "form", "url": login,
         "capture": {"csrf": {"regex": r#"name="csrfmiddlewaretoken" value="([^"]+)""#}}},
        {"name": "login", "method": "POST", "url": login,
         "form": {"csrfmiddlewaretoken": "${csrf}", "username": "pitwall", "password": "s3cret pass&more"},
         "follow_redirects": true, "body_contains": "Welcome pitwall"},
        {"name": "again", "url": s.url("/app/private/"), "body_contains": "Welcome"}
    ]});
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("login.json");
    let out = run(probe(config, &s.url("/app/"))
        .args(["--json", "--record"])
        .arg(&tape));
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    assert_eq!(out.code, 0, "{v}");
    assert_eq!(
        v["summary"],
        format!(
            "GET {login} → 200 in {} ms; POST {login} → 200 after 1 redirect in {} ms; GET {} → 200 in {} ms",
            evidence(&v, "form.latency_ms")[0],
            evidence(&v, "login.latency_ms")[0],
            s.url("/app/private/"),
            evidence(&v, "again.latency_ms")[0],
        )
    );
    assert_eq!(
        evidence(&v, "login.redirects"),
        [format!("302 → {}", s.url("/app/private/"))]
    );
    assert_eq!(evidence(&v, "login.cookies_sent"), ["csrftoken"]);
    assert_eq!(evidence(&v, "again.cookies_sent"), ["csrftoken, sessionid"]);
    // Each hop went through the host's grant check.
    let hops = evidence(&v, "host.http");
    assert_eq!(hops.len(), 4, "{hops:?}");
    assert!(
        hops[2].starts_with(&format!("http GET {} → 200", s.url("/app/private/"))),
        "{hops:?}"
    );
    // No token, cookie or session in anything the run printed.
    assert_eq!(evidence(&v, "again.body"), ["Welcome pitwall (***)"]);
    for secret in [
        "FormTok3nFromTheHtml",
        "C00kieTok3nFromTheJar",
        "Sess10nIdAfterLogin",
    ] {
        assert!(
            !out.stdout.contains(secret),
            "{secret} shows: {}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(secret),
            "{secret} shows: {}",
            out.stderr
        );
    }

    // The recording replays offline to the same verdict.
    drop(s);
    let (code, replayed) = replay_probe(&tape);
    assert_eq!(code, 0, "{replayed}");
    assert_eq!(replayed["summary"], v["summary"]);

    // What the host must scrub from a tape (the password, the tokens and
    // cookie values, raw and form-encoded, wherever they occur) can go to
    // `***` consistently: the probe builds its requests from what it read,
    // so the scrubbed requests still match on replay.
    let mut text = std::fs::read_to_string(&tape).unwrap();
    for secret in [
        "s3cret+pass%26more",
        "s3cret pass&more",
        "FormTok3nFromTheHtml",
        "C00kieTok3nFromTheJar",
        "Sess10nIdAfterLogin",
    ] {
        text = text.replace(secret, "***");
    }
    std::fs::write(&tape, text).unwrap();
    let (code, scrubbed) = replay_probe(&tape);
    assert_eq!(code, 0, "{scrubbed}");
    assert_eq!(scrubbed["summary"], v["summary"]);
    assert_eq!(evidence(&scrubbed, "again.body"), ["Welcome pitwall (***)"]);
}

#[test]
fn a_login_redirect_outside_the_grant_is_denied_hop_by_hop() {
    let s = csrf_app();
    // Not logged in: /app/private/ redirects to the login form, which is
    // not under the grant.
    let (code, v) = run_json(&mut probe(
        json!({"url": s.url("/app/private/"), "follow_redirects": true}),
        &s.url("/app/private/"),
    ));
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        evidence(&v, "host.denied"),
        [format!(
            "http GET {} denied: not under any allow_http prefix ({}); \
             grant a prefix of it: `allow_http` in pitwall.toml, `--allow-http` on check run",
            s.url("/app/accounts/login/"),
            s.url("/app/private/")
        )]
    );
}

#[test]
fn replay_names_a_call_the_recording_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("run.json");
    let s = app();
    let (code, _) = run_json(
        probe(json!({"url": s.url("/api/health/")}), &s.url("/api/"))
            .arg("--record")
            .arg(&tape),
    );
    assert_eq!(code, 0);
    let other = s.url("/api/down/");
    let mut replay = pitwall();
    replay
        .args(["check", "run", "builtin:http-probe", "--replay"])
        .arg(&tape)
        .arg("--config")
        .arg(json!({"url": other}).to_string());
    let (code, v) = run_json(&mut replay);
    assert_eq!(code, 1, "{v}");
    let summary = v["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("no answer for `http GET {other}`")),
        "{summary}"
    );
}

#[test]
fn junk_empty_and_missing_plugins_are_errors_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"#!/bin/sh\necho hi\n").unwrap();
    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, b"").unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    for (path, expected) in [
        (junk, "is not WebAssembly"),
        (empty, "is empty"),
        (core, "is a core WebAssembly module, not a component"),
        (dir.path().join("missing.wasm"), "cannot read the check"),
    ] {
        let (code, v) = run_json(pitwall().args(["check", "run"]).arg(&path));
        assert_eq!(code, 3, "{v}");
        assert_eq!(v["outcome"], "error");
        assert!(v["summary"].as_str().unwrap().contains(expected), "{v}");
    }
}

#[test]
fn invalid_config_is_rejected_by_the_plugin_with_exit_3() {
    let (code, v) = run_json(pitwall().args([
        "check",
        "run",
        "builtin:http-probe",
        "--config",
        r#"{"url":"ftp://x"}"#,
    ]));
    assert_eq!(code, 3, "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("must start with http:// or https://"),
        "{v}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = run(pitwall().args(["check", "run"]));
    assert_eq!(out.code, 2);
    let out = run(pitwall().args(["check", "run", "builtin:http-probe", "--timeout", "soon"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn list_and_inspect_describe_the_builtins() {
    let out = run(pitwall().args(["check", "list"]));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("builtin:http-probe") && out.stdout.contains("builtin:log-5xx"));
    let (code, v) = run_json(pitwall().args(["check", "inspect", "builtin:log-5xx"]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["name"], "log-5xx");
    assert_eq!(v["contract"], "pitwall:check@0.2.0");
    assert_eq!(v["capabilities"], json!(["logs"]));
}

#[test]
fn second_load_comes_from_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let inspect = || {
        let mut cmd = pitwall();
        cmd.env("PITWALL_CACHE_DIR", dir.path())
            .args(["check", "inspect", "builtin:http-probe"]);
        run_json(&mut cmd).1["cached"].clone()
    };
    assert_eq!(inspect(), false);
    assert_eq!(inspect(), true);
    // A corrupt entry is recompiled, not fatal.
    for entry in std::fs::read_dir(dir.path().join("components")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    assert_eq!(inspect(), false, "a corrupt entry is recompiled");
    assert_eq!(inspect(), true, "and replaced");
}

// ---- log-5xx, fed recorded container logs (the live path is covered by the
// deploy tests against real containers) ----

const STARTED: u64 = 1_800_000_000_000;
const NOW: u64 = STARTED + 60_000;

/// A recording whose `stack.logs` calls answer `lines` for the rollout window
/// and `baseline` for the window before it.
fn logs_recording(
    config: Value,
    lines: &[&str],
    baseline: Option<&[&str]>,
) -> tempfile::NamedTempFile {
    let logs = |since: u64, until: u64, lines: &[&str]| {
        // No `max_lines`: the check streams the window (`stack.open-logs`).
        json!({"call": "stack.logs", "service": "api", "since_ms": since, "until_ms": until,
               "result": {"Ok": lines.iter().map(|l| format!("{l}\n")).collect::<String>()}})
    };
    let mut interactions = vec![logs(STARTED, NOW, lines)];
    if let Some(b) = baseline {
        interactions.push(logs(STARTED - 60_000, STARTED, b));
    }
    let recording = json!({
        "contract": "pitwall:check@0.2.0",
        "plugin": "builtin:log-5xx",
        "plugin_sha256": "",
        "config": config.to_string(),
        "grants": {"allow_http": [], "allow_logs": ["api"]},
        "context": {"release_id": "r1", "project": "p", "images": [], "started_at_ms": STARTED,
                    "now_ms": NOW, "attempt": 1, "phase": "verify"},
        "interactions": interactions,
        "verdict": {"outcome": "pass", "summary": "", "evidence": [], "duration_ms": 0}
    });
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), recording.to_string()).unwrap();
    file
}

fn log_5xx(config: Value, lines: &[&str], baseline: Option<&[&str]>) -> (i32, Value) {
    let tape = logs_recording(config, lines, baseline);
    run_json(
        pitwall()
            .args(["check", "run", "builtin:log-5xx", "--replay"])
            .arg(tape.path()),
    )
}

const NGINX_OK: &str = r#"172.18.0.1 - - [26/Nov/2026:13:00:00 +0000] "GET /api/health/ HTTP/1.1" 200 17 "-" "curl/8""#;
const NGINX_500: &str =
    r#"172.18.0.1 - - [26/Nov/2026:13:00:01 +0000] "GET /api/x HTTP/1.1" 500 3 "-" "curl/8""#;
const APACHE_OK: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326"#;
const JSON_502: &str =
    r#"{"ts":"2026-11-26T13:00:00Z","status":502,"request_id":"r-1","path":"/api/y"}"#;
const JSON_OK: &str = r#"{"http":{"status_code":200,"request_id":"r-2"}}"#;
const LOGFMT_503: &str = "method=GET path=/api/z status=503 request_id=r-3";
const LOGFMT_OK: &str = "method=GET path=/api/z status=200 request_id=r-4";
const NOISE: &[&str] = &[
    "listening on :8080",
    r#"{"level":"info","msg":"ready"}"#,
    "panic: at line 500",
];

#[test]
fn log_5xx_recognises_each_format() {
    for (ok, bad) in [
        (NGINX_OK, NGINX_500),
        (APACHE_OK, NGINX_500),
        (JSON_OK, JSON_502),
        (LOGFMT_OK, LOGFMT_503),
    ] {
        let (code, v) = log_5xx(
            json!({"services": ["api"], "max_5xx": 0}),
            &[ok, ok, bad],
            None,
        );
        assert_eq!(code, 1, "{bad}: {v}");
        assert_eq!(evidence(&v, "requests"), ["3"], "{v}");
        assert_eq!(evidence(&v, "5xx"), ["1"], "{v}");
        assert_eq!(evidence(&v, "sample_5xx"), [bad], "{v}");
        let (code, v) = log_5xx(json!({"services": ["api"], "max_5xx": 0}), &[ok, ok], None);
        assert_eq!(code, 0, "{ok}: {v}");
    }
}

#[test]
fn log_5xx_mixed_formats_and_lines_without_status() {
    let mut lines = vec![NGINX_OK, JSON_OK, LOGFMT_OK, APACHE_OK, JSON_502];
    lines.extend_from_slice(NOISE);
    let (code, v) = log_5xx(json!({"services": ["api"], "max_ratio": 0.1}), &lines, None);
    assert_eq!(code, 1, "{v}");
    assert_eq!(evidence(&v, "lines_scanned"), ["8"]);
    assert_eq!(evidence(&v, "requests"), ["5"]);
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .starts_with("1 of 5 requests were 5xx (20.0%"),
        "{v}"
    );
}

#[test]
fn log_5xx_baseline_tells_a_spike_from_a_level() {
    let config = json!({"services": ["api"], "max_ratio": 0.05, "baseline": true});
    let level = [NGINX_500, NGINX_OK, NGINX_OK, NGINX_OK];
    let (code, v) = log_5xx(config.clone(), &level, Some(&level));
    assert_eq!(code, 0, "same ratio as before the rollout is no spike: {v}");
    let spike = [NGINX_500, NGINX_500, NGINX_500, NGINX_OK];
    let (code, v) = log_5xx(config, &spike, Some(&level));
    assert_eq!(code, 1, "{v}");
    assert_eq!(evidence(&v, "baseline_ratio"), ["0.2500"]);
}

#[test]
fn log_5xx_can_require_request_ids() {
    let config = json!({"services": ["api"], "require_request_id": true});
    let (code, v) = log_5xx(config.clone(), &[JSON_OK, LOGFMT_OK], None);
    assert_eq!(code, 0, "{v}");
    let (code, v) = log_5xx(config, &[JSON_OK, NGINX_OK], None);
    assert_eq!(code, 1, "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("1 of 2 access lines carry no request id"),
        "{v}"
    );
}

#[test]
fn log_5xx_without_a_grant_is_denied() {
    let (code, v) = run_json(pitwall().args([
        "check",
        "run",
        "builtin:log-5xx",
        "--config",
        r#"{"services":["db"]}"#,
    ]));
    assert_eq!(code, 3, "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("logs of service `db` denied"),
        "{v}"
    );
}

#[test]
fn out_of_range_budgets_and_files_that_are_not_files_are_refused() {
    for (flag, value) in [
        ("--timeout", "0s"),
        ("--timeout", "580000000000y"),
        ("--memory", "0"),
        ("--memory", "17592186044416"),
    ] {
        let out = run(pitwall().args(["check", "run", "builtin:http-probe", flag, value]));
        assert_eq!(out.code, 2, "{flag} {value}: {}", out.stderr);
        assert!(out.stderr.contains("out of range") || out.stderr.contains("not in 1..=4096"));
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("check.wasm");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for plugin in [fifo.to_str().unwrap(), "/dev/zero"] {
        let out = run(pitwall().args(["check", "run", plugin]));
        assert_eq!(out.code, 3, "{plugin}: {}", out.stdout);
        assert!(out.stdout.contains("not a regular file"), "{}", out.stdout);
    }
    let out = run(pitwall().args(["check", "run", "builtin:log-5xx", "--replay", "/dev/zero"]));
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
}

#[test]
fn a_check_cannot_choose_the_host_header_framing_or_method() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let s = Server::start(move |_, _| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reply::new(200, "ok")
    });
    for config in [
        json!({"url": s.url("/api/"), "headers": {"Host": "admin.internal"}}),
        json!({"url": s.url("/api/"), "method": "POST", "body": "x",
               "headers": {"Transfer-Encoding": "chunked"}}),
        json!({"url": s.url("/api/"), "method": "CONNECT"}),
        json!({"url": s.url("/api/..%2fadmin")}),
    ] {
        let (code, v) = run_json(&mut probe(config.clone(), &s.url("/api/")));
        assert_ne!(code, 0, "{config}: {v}");
        assert!(
            !evidence(&v, "host.denied").is_empty(),
            "{config}: the host names the denial: {v}"
        );
    }
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the server"
    );
}

/// `check inspect` with its own compile cache; whether it was a cache hit.
fn inspect_cached(cache: &std::path::Path, plugin: &str) -> bool {
    let (code, v) = run_json(
        pitwall()
            .env("PITWALL_CACHE_DIR", cache)
            .args(["check", "inspect", plugin]),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["plugin"], plugin, "the component runs under its own name");
    v["cached"].as_bool().unwrap()
}

fn entries(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(cache.join("components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    files.sort();
    files
}

#[test]
fn damaged_swapped_or_exposed_cache_entries_are_never_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    assert!(!inspect_cached(&cache, "builtin:http-probe"));
    assert!(inspect_cached(&cache, "builtin:http-probe"));
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the cache is private");

    // Damage: one byte of the compiled code.
    let probe = entries(&cache).pop().unwrap();
    let mut bytes = std::fs::read(&probe).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&probe, &bytes).unwrap();
    assert!(!inspect_cached(&cache, "builtin:http-probe"), "recompiled");
    assert!(inspect_cached(&cache, "builtin:http-probe"));

    // Swap: another component's valid entry under this one's name.
    assert!(!inspect_cached(&cache, "builtin:log-5xx"));
    let other = entries(&cache).into_iter().find(|p| *p != probe).unwrap();
    std::fs::copy(&other, &probe).unwrap();
    assert!(!inspect_cached(&cache, "builtin:http-probe"), "not loaded");

    // A cache others can write is not used at all.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(!inspect_cached(&cache, "builtin:http-probe"));
    assert!(!inspect_cached(&cache, "builtin:http-probe"));
}

#[test]
fn a_recording_cannot_grow_without_bound() {
    let s = app();
    let steps: Vec<Value> = (0..40)
        .map(|i| json!({"name": format!("big{i}"), "url": s.url("/api/big")}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let tape = dir.path().join("run.json");
    let out = run(probe(json!({ "steps": steps }), &s.url("/api/"))
        .args(["--timeout", "60s", "--memory", "256", "--record"])
        .arg(&tape));
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("too much to record"), "{}", out.stderr);
    assert!(!tape.exists(), "no partial recording is written");
}

#[test]
fn request_bodies_are_capped_like_responses() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let s = Server::start(move |_, _| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reply::new(200, "ok")
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("check.json");
    let body = "x".repeat(2 << 20);
    std::fs::write(
        &config,
        json!({"url": s.url("/api/"), "method": "POST", "body": body}).to_string(),
    )
    .unwrap();
    let (code, v) = run_json(
        pitwall()
            .args([
                "check",
                "run",
                "builtin:http-probe",
                "--memory",
                "256",
                "--config",
            ])
            .arg(format!("@{}", config.display()))
            .args(["--allow-http", &s.url("/api/")]),
    );
    assert_ne!(code, 0, "{v}");
    let denied = evidence(&v, "host.denied");
    assert!(denied.iter().any(|d| d.contains("byte cap")), "{v}");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn a_capability_nothing_grants_is_named_before_the_run() {
    let out = run(pitwall().args([
        "check",
        "run",
        "builtin:http-probe",
        "--config",
        r#"{"url": "http://127.0.0.1:9/health"}"#,
    ]));
    assert!(
        out.stderr.contains(
            "warning: the check needs `http` and nothing grants it: add --allow-http http://HOST:PORT/PATH/"
        ),
        "{}",
        out.stderr
    );
}
