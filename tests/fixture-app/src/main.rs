//! The fixture app: stands in for the runbook's backend (`api`) and frontend.
//! A static binary (std only) for `FROM scratch` images. Its behaviour is
//! baked into the image through `FIXTURE_MODE`:
//!
//! - `healthy`: everything answers as it should;
//! - `health503`: `/api/health/` answers 503;
//! - `crash`: exits with status 3 right after start;
//! - `errors`: `/api/items` answers 500 (what the checklist probes stays
//!   fine: the failure only shows in the logs, under real traffic);
//! - `slow`: every answer takes `FIXTURE_DELAY_MS` (default 1500) ms;
//! - `boot-slow`: listens only `FIXTURE_BOOT_MS` (default 10000) ms after
//!   start, as a real API that loads before it serves;
//! - `never-listens`: runs but never opens its port.
//!
//! Beside any mode, `FIXTURE_BURST=N/MS[/K[/DELAY]]` writes N synthetic
//! access lines (about 85 bytes each, every K-th a 503) evenly over MS ms,
//! from DELAY ms (default 0) after start: a busy service's traffic, for the
//! log spool's tests and benchmark.
//!
//! Usage: `fixture-app api`, `fixture-app frontend` (proxies `/api/` to
//! `API_UPSTREAM`, default `api:8000`), `fixture-app healthcheck URL`.
//! Every request is logged as an access line with its request id: JSON lines
//! for the api, nginx combined format for the frontend.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);
/// The listening socket, once there is one (-1 before).
static LISTENER: AtomicI32 = AtomicI32::new(-1);
/// Set by SIGTERM: no more connections are accepted.
static DRAINING: AtomicBool = AtomicBool::new(false);
/// Requests being answered.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// As PID 1 in a container the process gets no default SIGTERM action. A
/// real app stops gracefully on it, so `compose up` replaces it without
/// waiting out the stop timeout, and a zero-downtime switch drops no
/// request: it stops accepting (new connections are refused, so a proxy
/// tries the next address), answers the requests it has, then exits (see
/// `serve`).
fn exit_on_sigterm() {
    extern "C" fn bye(_: libc::c_int) {
        let fd = LISTENER.load(Ordering::SeqCst);
        if fd < 0 {
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(0) }
        }
        DRAINING.store(true, Ordering::SeqCst);
        // Wakes the blocked accept with an error. SAFETY: shutdown is
        // async-signal-safe and `fd` is the listening socket, never closed.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
    // SAFETY: installs a handler that only calls an async-signal-safe function.
    unsafe {
        libc::signal(libc::SIGTERM, bye as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, bye as *const () as libc::sighandler_t);
    }
}

fn main() {
    exit_on_sigterm();
    let args: Vec<String> = std::env::args().collect();
    let role = args.get(1).map(String::as_str).unwrap_or("api");
    if role == "healthcheck" {
        let default = format!("http://127.0.0.1:{}/api/health/", env("PORT", "8000"));
        let url = args.get(2).cloned().unwrap_or(default);
        std::process::exit(if healthcheck(&url) { 0 } else { 1 });
    }
    let mode = env("FIXTURE_MODE", "healthy");
    if mode == "crash" {
        eprintln!("fixture: FIXTURE_MODE=crash, exiting on start");
        std::process::exit(3);
    }
    match mode.as_str() {
        "boot-slow" => {
            let ms = env("FIXTURE_BOOT_MS", "10000").parse().unwrap_or(10_000);
            eprintln!("fixture: booting for {ms} ms before listening");
            std::thread::sleep(Duration::from_millis(ms));
        }
        "never-listens" => {
            eprintln!("fixture: FIXTURE_MODE=never-listens, running without a port");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        _ => {}
    }
    if let Ok(burst) = std::env::var("FIXTURE_BURST") {
        std::thread::spawn(move || write_burst(&burst));
    }
    let port = env("PORT", if role == "frontend" { "8080" } else { "8000" });
    let listener = TcpListener::bind(format!("0.0.0.0:{port}")).unwrap_or_else(|e| {
        eprintln!("fixture: cannot listen on {port}: {e}");
        std::process::exit(2)
    });
    eprintln!(
        "fixture {role} ({mode}, version {}) listening on :{port}",
        env("FIXTURE_VERSION", "dev")
    );
    LISTENER.store(listener.as_raw_fd(), Ordering::SeqCst);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(_) if DRAINING.load(Ordering::SeqCst) => break,
            Err(_) => continue,
        };
        let role = role.to_string();
        let mode = mode.clone();
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            handle(stream, &role, &mode);
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        });
    }
    // Draining: the requests in hand get their answers (10 s at most).
    for _ in 0..1000 {
        if IN_FLIGHT.load(Ordering::SeqCst) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::process::exit(0);
}

fn handle(mut stream: TcpStream, role: &str, mode: &str) {
    let Some(req) = read_request(&stream) else {
        return;
    };
    let id = request_id(&req);
    if mode == "slow" {
        let ms = env("FIXTURE_DELAY_MS", "1500").parse().unwrap_or(1500);
        std::thread::sleep(Duration::from_millis(ms));
    }
    let resp = if role == "frontend" {
        frontend(&req, &id)
    } else {
        api(&req, mode)
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nx-request-id: {id}\r\nconnection: close\r\n\r\n",
        resp.status,
        resp.content_type,
        resp.body.len()
    );
    let _ = stream.write_all(&resp.body);
    let peer = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    if role == "frontend" {
        println!(
            "{peer} - - [{}] \"{} {} HTTP/1.1\" {} {} \"-\" \"{}\" \"{id}\"",
            unix_secs(),
            req.method,
            req.path,
            resp.status,
            resp.body.len(),
            header(&req, "user-agent").unwrap_or("-")
        );
    } else {
        println!(
            r#"{{"ts":{},"method":"{}","path":"{}","status":{},"request_id":"{id}"}}"#,
            unix_secs(),
            req.method,
            req.path,
            resp.status
        );
    }
}

fn api(req: &Request, mode: &str) -> Response {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let json = |status, body: String| Response {
        status,
        content_type: "application/json",
        body: body.into_bytes(),
    };
    let version = env("FIXTURE_VERSION", "dev");
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/health/") if mode == "health503" => json(503, r#"{"status":"unhealthy"}"#.into()),
        ("GET", "/api/health/") => json(200, format!(r#"{{"status":"ok","version":"{version}"}}"#)),
        ("GET", "/api/items") if mode == "errors" => json(500, r#"{"error":"injected failure"}"#.into()),
        ("GET", "/api/items") => json(200, r#"{"items":[]}"#.into()),
        ("GET", "/api/docs/") => Response {
            status: 200,
            content_type: "text/html",
            body: b"<html><title>API docs</title><div id=\"swagger-ui\" data-spec=\"/api/openapi.json\"></div></html>".to_vec(),
        },
        ("GET", "/api/openapi.json") => json(
            200,
            format!(r#"{{"openapi":"3.0.3","info":{{"title":"fixture","version":"{version}"}},"paths":{{"/api/health/":{{}},"/api/auth/login":{{}},"/api/auth/logout":{{}}}}}}"#),
        ),
        ("POST", "/api/auth/login") => {
            let body = String::from_utf8_lossy(&req.body);
            if body.contains("\"password\"") {
                json(200, format!(r#"{{"token":"tok-{n}"}}"#))
            } else {
                json(400, r#"{"error":"username and password required"}"#.into())
            }
        }
        ("POST", "/api/auth/logout") => match header(req, "authorization") {
            Some(a) if a.starts_with("Bearer tok-") => json(200, r#"{"logged_out":true}"#.into()),
            _ => json(401, r#"{"error":"not logged in"}"#.into()),
        },
        _ => json(404, r#"{"error":"not found"}"#.into()),
    }
}

/// Serves `/` itself and forwards everything under `/api/` to the api,
/// passing the request id along.
fn frontend(req: &Request, id: &str) -> Response {
    if !req.path.starts_with("/api/") {
        return Response {
            status: 200,
            content_type: "text/html",
            body: format!(
                "<html><body>fixture frontend {}</body></html>",
                env("FIXTURE_VERSION", "dev")
            )
            .into_bytes(),
        };
    }
    let upstream = env("API_UPSTREAM", "api:8000");
    let bad_gateway = |why: String| Response {
        status: 502,
        content_type: "text/plain",
        body: why.into_bytes(),
    };
    let mut conn = match connect(&upstream) {
        Ok(c) => c,
        Err(e) => return bad_gateway(format!("upstream {upstream}: {e}")),
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {upstream}\r\nx-request-id: {id}\r\n",
        req.method, req.path
    );
    for (k, v) in &req.headers {
        if !["host", "x-request-id", "content-length", "connection"].contains(&k.as_str()) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        req.body.len()
    ));
    if conn
        .write_all(head.as_bytes())
        .and_then(|_| conn.write_all(&req.body))
        .is_err()
    {
        return bad_gateway(format!("upstream {upstream}: write failed"));
    }
    let mut raw = Vec::new();
    if conn.read_to_end(&mut raw).is_err() {
        return bad_gateway(format!("upstream {upstream}: read failed"));
    }
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return bad_gateway(format!("upstream {upstream}: bad response"));
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    Response {
        status,
        content_type: if head.contains("application/json") {
            "application/json"
        } else {
            "text/html"
        },
        body: body.as_bytes().to_vec(),
    }
}

/// Connects to `upstream` as a proxy should for a zero-downtime switch: the
/// name resolved on every request, and every address tried in turn, each
/// for a second at most. During a start-first switch the name has the old
/// and the new container's addresses, then only the new one's; one that
/// refuses (not listening yet, or draining) or no longer answers (just
/// removed) is skipped.
fn connect(upstream: &str) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other("no address");
    for addr in upstream.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(conn) => return Ok(conn),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The incoming `x-request-id`, or a new one.
/// `N/MS[/K[/DELAY]]`: N access lines over MS ms, every K-th a 503,
/// starting DELAY ms after the app starts (once pitwall judges the release).
fn write_burst(spec: &str) {
    let parts: Vec<u64> = spec.split('/').filter_map(|p| p.parse().ok()).collect();
    let (total, ms, every, delay) = match parts[..] {
        [n, ms] => (n, ms, 0, 0),
        [n, ms, k] => (n, ms, k, 0),
        [n, ms, k, delay] => (n, ms, k, delay),
        _ => {
            eprintln!("fixture: FIXTURE_BURST={spec:?} is not N/MS[/K[/DELAY]]");
            return;
        }
    };
    std::thread::sleep(Duration::from_millis(delay));
    let start = std::time::Instant::now();
    // Not locked for the whole burst: the request handlers print too.
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout());
    let mut written = 0u64;
    while written < total {
        // Where the line count should be by now, on a straight line.
        let due = (start.elapsed().as_millis() as u64 * total / ms.max(1)).min(total);
        for i in written..due {
            let status = if every > 0 && (i + 1) % every == 0 {
                503
            } else {
                200
            };
            let _ = writeln!(
                out,
                r#"{{"ts":{},"method":"GET","path":"/burst/{i}","status":{status},"request_id":"b-{i:08}"}}"#,
                unix_secs()
            );
        }
        written = due;
        let _ = out.flush();
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("fixture: burst of {total} lines written");
}

fn request_id(req: &Request) -> String {
    header(req, "x-request-id")
        .map(str::to_string)
        .unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!(
                "{:016x}{:016x}",
                nanos as u64,
                COUNTER.fetch_add(1, Ordering::SeqCst)
            )
        })
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET url` → exit status for Docker's HEALTHCHECK (no curl in the image).
fn healthcheck(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (addr, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let Ok(mut conn) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(
        conn,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    );
    let mut first = String::new();
    let _ = BufReader::new(conn).read_line(&mut first);
    first
        .split_whitespace()
        .nth(1)
        .is_some_and(|s| s.starts_with('2'))
}
