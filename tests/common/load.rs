//! A loopback load generator for the zero-downtime tests: one HTTP request
//! at a time to a stack's published port, every failure counted, bounded in
//! count and time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Bounds of one load run: whichever comes first ends it.
const MAX_REQUESTS: u32 = 10_000;
const MAX_TIME: Duration = Duration::from_secs(90);
/// Pause between requests (≈ 200 requests/s), so the bounds are not spent
/// before the switch happens.
const PACE: Duration = Duration::from_millis(5);

/// What the load generator saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: u32,
    pub failures: u32,
    /// The first few failures, to show when the count is not the expected.
    pub examples: Vec<String>,
    /// The versions that answered, each run of equal answers once, in order
    /// (`["1.0", "1.1"]`): proof that the switch happened under load. While
    /// both containers run, the proxy reaches either, so a run may repeat.
    pub versions: Vec<String>,
    /// How many requests each version answered (200s only).
    pub served: std::collections::BTreeMap<String, u32>,
}

impl Tally {
    /// Whether the load started on `from`, saw `via` (if given) and ended on
    /// `to`.
    pub fn went(&self, from: &str, via: Option<&str>, to: &str) -> bool {
        self.versions.first().is_some_and(|v| v == from)
            && via.is_none_or(|via| self.versions.iter().any(|v| v == via))
            && self.versions.last().is_some_and(|v| v == to)
    }
}

/// A thread making one HTTP request at a time to the stack's published
/// port until stopped (or its bounds are reached).
struct Load {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Tally>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut tally = Tally::default();
            let start = Instant::now();
            while !flag.load(Ordering::SeqCst)
                && tally.requests < MAX_REQUESTS
                && start.elapsed() < MAX_TIME
            {
                tally.requests += 1;
                match health(port) {
                    Ok(version) => {
                        *tally.served.entry(version.clone()).or_default() += 1;
                        if tally.versions.last() != Some(&version) {
                            tally.versions.push(version);
                        }
                    }
                    Err(why) => {
                        tally.failures += 1;
                        if tally.examples.len() < 5 {
                            tally.examples.push(why);
                        }
                    }
                }
                thread::sleep(PACE);
            }
            tally
        });
        Load { stop, thread }
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the load thread")
    }
}

/// `GET /api/health/` on a new connection: the version that answered 200,
/// or why the request failed.
fn health(port: u16) -> Result<String, String> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    conn.write_all(b"GET /api/health/ HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1).unwrap_or("none");
    if status != "200" {
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        return Err(format!("status {status}: {body}"));
    }
    text.split_once(r#""version":""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(version, _)| version.to_string())
        .ok_or_else(|| format!("no version in {text}"))
}

/// Runs `work` under load on `port`; what the load saw, also printed as a
/// `load during LABEL: …` line (the numbers BENCHMARKS.md quotes).
pub fn under_load<R>(port: u16, label: &str, work: impl FnOnce() -> R) -> (R, Tally) {
    let load = Load::start(port);
    let out = work();
    let tally = load.finish();
    eprintln!(
        "load during {label}: {} requests, {} failed; answered by {} → {} ({} changes), served {:?}; e.g. {:?}",
        tally.requests,
        tally.failures,
        tally.versions.first().map_or("-", String::as_str),
        tally.versions.last().map_or("-", String::as_str),
        tally.versions.len().saturating_sub(1),
        tally.served,
        tally.examples
    );
    (out, tally)
}
