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
