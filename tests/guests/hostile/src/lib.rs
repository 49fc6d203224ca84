//! A check that misbehaves on demand: its configuration (plain text, not
//! JSON) names the misbehaviour. The host must contain every one of them.

wit_bindgen::generate!({ path: "../../../wit", world: "check" });

use exports::pitwall::check::plugin::Guest;
use pitwall::check::types::{Context, Descriptor, Evidence, Outcome, Verdict};
use pitwall::check::{http, log, stack};

struct Hostile;

#[link(wasm_import_module = "wasi:clocks/monotonic-clock@0.2.6")]
unsafe extern "C" {
    #[link_name = "subscribe-duration"]
    fn subscribe_duration(when: i64) -> i32;
}

fn verdict(outcome: Outcome, summary: impl Into<String>) -> Verdict {
    Verdict {
        outcome,
        summary: summary.into(),
        evidence: Vec::new(),
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64, pad: &mut [u8; 256]) -> u64 {
    pad[(n % 256) as usize] = n as u8;
    let mut next = [0u8; 256];
    recurse(std::hint::black_box(n + 1), std::hint::black_box(&mut next)) + u64::from(pad[0])
}

fn get(url: &str) -> Result<http::Response, http::Error> {
    http::send(&http::Request {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
        timeout_ms: Some(60_000),
        follow_redirects: false,
    })
}

impl Guest for Hostile {
    fn describe() -> Descriptor {
        Descriptor {
            name: "hostile".into(),
            version: "0.1.0".into(),
            description: "misbehaves as configured".into(),
            config_help: "one of: pass, loop, memory, recursion, panic, stderr-spam, noise-then-panic, noise-then-trap, exit, files, env, socket, http:URL, logs:SERVICE, streams:SERVICE, huge-read:SERVICE, containers, huge-summary, huge-evidence, log-spam, leak-handles".into(),
            capabilities: vec!["http".into(), "logs".into()],
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        match config.as_str() {
            "reject" => Err("this configuration is rejected on purpose".into()),
            "validate-loop" => loop {
                std::hint::black_box(0);
            },
            _ => Ok(()),
        }
    }

    fn run(ctx: Context, config: String) -> Verdict {
        match config.as_str() {
            "pass" => verdict(Outcome::Pass, format!("fine, release {}", ctx.release_id)),
            "loop" => loop {
                std::hint::black_box(0);
            },
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => {
                let mut pad = [0u8; 256];
                verdict(Outcome::Pass, recurse(0, &mut pad).to_string())
            }
            "panic" => panic!("hostile guest panics on purpose"),
            // A message far longer than the stderr the host keeps.
            "long-panic" => panic!("the long cause {}", "p".repeat(100_000)),
            "memory-doubling" => {
                // One Vec doubling its way up: the failed growth is a
                // realloc of twice the size.
                let mut v: Vec<u64> = Vec::new();
                loop {
                    v.push(1);
                    std::hint::black_box(&v);
                }
            }
            "memory-alloc" => {
                // Rust's allocation error: prints, then aborts with `unreachable`.
                let layout = std::alloc::Layout::from_size_align(200 << 20, 8).unwrap();
                let p = unsafe { std::alloc::alloc(layout) };
                if p.is_null() {
                    std::alloc::handle_alloc_error(layout);
                }
                // Used, so the allocation is not optimised away.
                unsafe { p.write_volatile(1) };
                verdict(Outcome::Pass, format!("allocated 200 MiB at {:p}", std::hint::black_box(p)))
            }
            "stderr-spam" => {
                for i in 0..2000 {
                    eprintln!("chatter {i} {}", "e".repeat(100));
                }
                verdict(Outcome::Pass, "chatty but fine")
            }
            "noise-then-panic" => {
                for i in 0..2000 {
                    eprintln!("chatter {i} {}", "e".repeat(100));
                }
                panic!("the \x1b[32mreal\x1b[0m cause")
            }
            "noise-then-trap" => {
                eprintln!("just chatter, no panic");
                core::arch::wasm32::unreachable()
            }
                        "exit" => std::process::exit(3),
            "files" => match std::fs::read_to_string("/etc/passwd") {
                Ok(text) => verdict(Outcome::Pass, format!("read /etc/passwd: {} bytes", text.len())),
                Err(e) => verdict(Outcome::Fail, format!("no file access: {e}")),
            },
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                let outcome = if vars.is_empty() && args.is_empty() { Outcome::Fail } else { Outcome::Pass };
                verdict(outcome, format!("env vars: {vars:?}, args: {args:?}"))
            }
            "socket" => match std::net::TcpStream::connect("127.0.0.1:9") {
                Ok(_) => verdict(Outcome::Pass, "opened a socket"),
                Err(e) => verdict(Outcome::Fail, format!("no sockets: {e}")),
            },
            "containers" => match stack::containers() {
                Ok(cs) => verdict(Outcome::Pass, format!("{} containers", cs.len())),
                Err(e) => verdict(Outcome::Fail, e),
            },
            "huge-summary" => verdict(Outcome::Pass, "x".repeat(10 << 20)),
            "huge-evidence" => Verdict {
                outcome: Outcome::Pass,
                summary: "lots of evidence".into(),
                evidence: (0..100_000)
                    .map(|i| Evidence {
                        label: format!("item{i}"),
                        value: "y".repeat(64),
                    })
                    .collect(),
            },
            "leak-handles" => {
                // WASI hands out a host-side handle per call (a pollable
                // here); this never drops one.
                for _ in 0..u32::MAX {
                    // SAFETY: the import takes a duration in ns and returns
                    // a handle, as `wasi:clocks/monotonic-clock` declares.
                    std::hint::black_box(unsafe { subscribe_duration(1_000_000_000) });
                }
                verdict(Outcome::Pass, "leaked every handle")
            }
            "log-spam" => {
                for i in 0..10_000 {
                    log::write(log::Level::Info, &format!("line {i} {}", "z".repeat(4096)));
                }
                verdict(Outcome::Pass, "logged a lot")
            }
            other => {
                if let Some(url) = other.strip_prefix("http:") {
                    match get(url) {
                        Ok(r) => verdict(Outcome::Pass, format!("got {}", r.status)),
                        Err(e) => verdict(Outcome::Fail, format!("{e:?}")),
                    }
                } else if let Some(rest) = other.strip_prefix("get-many:") {
                    // get-many:N:URL — N requests, each body dropped before the next.
                    let (n, url) = rest.split_once(':').unwrap();
                    let (mut bytes, mut truncated) = (0, 0);
                    for _ in 0..n.parse::<u32>().unwrap() {
                        match get(url) {
                            Ok(r) => {
                                bytes += r.body.len();
                                truncated += usize::from(r.truncated);
                            }
                            Err(e) => return verdict(Outcome::Fail, format!("{e:?}")),
                        }
                    }
                    verdict(Outcome::Pass, format!("{n} responses, {bytes} bytes, {truncated} truncated"))
                } else if let Some(url) = other.strip_prefix("secrets:") {
                    // Credentials in headers and a login form's body.
                    let header = |name: &str, value: &str| http::Header { name: name.into(), value: value.into() };
                    let sent = http::send(&http::Request {
                        method: "POST".into(),
                        url: url.into(),
                        headers: vec![
                            header("Cookie", "sid=cookie-s3cret"),
                            header("Authorization", "Basic YXV0aC1zM2NyZXQ="),
                            header("Proxy-Authorization", "Basic cHJveHktczNjcmV0"),
                            header("Content-Type", "application/x-www-form-urlencoded"),
                        ],
                        body: Some(b"username=admin&password=form-s3cret".to_vec()),
                        timeout_ms: Some(10_000),
                        follow_redirects: false,
                    });
                    match sent {
                        Ok(r) => {
                            let cookie = r.headers.iter().any(|h| h.name.eq_ignore_ascii_case("set-cookie"));
                            verdict(Outcome::Pass, format!("logged in: {}, set-cookie: {cookie}", r.status))
                        }
                        Err(e) => verdict(Outcome::Fail, format!("{e:?}")),
                    }
                } else if let Some(rest) = other.strip_prefix("big-body:") {
                    // big-body:MiB:URL — a POST whose body the memory cap allows.
                    let (mib, url) = rest.split_once(':').unwrap();
                    let body = vec![b'b'; mib.parse::<usize>().unwrap() << 20];
                    let sent = http::send(&http::Request {
                        method: "POST".into(),
                        url: url.into(),
                        headers: Vec::new(),
                        body: Some(body),
                        timeout_ms: Some(60_000),
                        follow_redirects: false,
                    });
                    match sent {
                        Ok(r) => verdict(Outcome::Pass, format!("sent, got {}", r.status)),
                        Err(e) => verdict(Outcome::Fail, format!("{e:?}")),
                    }
                } else if let Some(what) = other.strip_prefix("long:") {
                    // long:url|method|header|service — 4 MB where a few bytes belong.
                    let long = format!("http://127.0.0.1:9/{}", "a".repeat(4 << 20));
                    let req = |method: &str, url: &str, headers: Vec<http::Header>| http::Request {
                        method: method.into(),
                        url: url.into(),
                        headers,
                        body: None,
                        timeout_ms: Some(1_000),
                        follow_redirects: false,
                    };
                    let result = match what {
                        "url" => http::send(&req("GET", &long, Vec::new())).map(|_| ()),
                        "method" => http::send(&req(&long, "http://127.0.0.1:9/", Vec::new())).map(|_| ()),
                        "header" => http::send(&req(
                            "GET",
                            "http://127.0.0.1:9/",
                            vec![http::Header { name: "x-long".into(), value: long.clone() }],
                        ))
                        .map(|_| ()),
                        "service" => stack::logs(&long, 0, None, 10).map(|_| ()).map_err(http::Error::Other),
                        _ => return verdict(Outcome::Inconclusive, "long: what?"),
                    };
                    match result {
                        Ok(()) => verdict(Outcome::Pass, "accepted"),
                        Err(e) => verdict(Outcome::Fail, format!("{e:?}")),
                    }
                } else if let Some(service) = other.strip_prefix("logs:") {
                    match stack::logs(service, 0, None, 10) {
                        Ok(lines) => verdict(Outcome::Pass, format!("{} lines", lines.lines().count())),
                        Err(e) => verdict(Outcome::Fail, e),
                    }
                } else if let Some(service) = other.strip_prefix("streams:") {
                    // Holds every stream it opens.
                    let mut held = Vec::new();
                    for _ in 0..1000 {
                        match stack::open_logs(service, 0, None) {
                            Ok(s) => held.push(s),
                            Err(e) => return verdict(Outcome::Fail, format!("after {} streams: {e}", held.len())),
                        }
                    }
                    verdict(Outcome::Pass, "held 1000 log streams")
                } else if let Some(service) = other.strip_prefix("huge-read:") {
                    let stream = match stack::open_logs(service, 0, None) {
                        Ok(s) => s,
                        Err(e) => return verdict(Outcome::Fail, e),
                    };
                    let (mut largest, mut total) = (0, 0);
                    loop {
                        match stream.read(u32::MAX) {
                            Ok(Some(chunk)) => {
                                largest = largest.max(chunk.len());
                                total += chunk.len();
                            }
                            Ok(None) => break,
                            Err(e) => return verdict(Outcome::Fail, e),
                        }
                    }
                    verdict(Outcome::Pass, format!("largest chunk {largest} of {total} bytes"))
                } else {
                    verdict(Outcome::Inconclusive, format!("unknown mode {other:?}"))
                }
            }
        }
    }
}

export!(Hostile);
