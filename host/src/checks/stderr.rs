//! The check's stderr. Guests write there when they panic (Rust) or die of an
//! uncaught exception (Python), and some write chatter. The host keeps the
//! tail — a panic is the last thing written — and the head of the last
//! panic, since a panic message longer than the tail would push its own
//! `panicked at FILE:LINE` out of it. It never refuses a write: a full pipe
//! must not turn a passing check into a trap.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Bytes of the tail kept: enough for a panic message and its location.
const TAIL_BYTES: usize = 16 * 1024;
/// Bytes kept from where the last panic starts.
const HEAD_BYTES: usize = 4 * 1024;
/// How a Rust panic starts (after `thread 'NAME' `).
const PANIC: &[u8] = b"panicked at ";
/// Between a panic's head and the tail, when they are apart.
const GAP: &[u8] = b"\n[...]\n";

#[derive(Clone, Default)]
pub struct StderrTail {
    kept: Arc<Mutex<Kept>>,
}

#[derive(Default)]
struct Kept {
    tail: VecDeque<u8>,
    /// From the last `panicked at` on, at most `HEAD_BYTES`.
    panic: Vec<u8>,
    /// Bytes written since that panic started.
    since_panic: usize,
    /// The last bytes written, for a marker split across two writes.
    recent: Vec<u8>,
}

impl StderrTail {
    /// The last bytes written (at most `TAIL_BYTES`), after the head of the
    /// last panic when that is no longer in them.
    pub fn contents(&self) -> Vec<u8> {
        let kept = self.lock();
        let tail = kept.tail.iter().copied();
        if !kept.panic.is_empty() && kept.since_panic > kept.tail.len() {
            kept.panic
                .iter()
                .copied()
                .chain(GAP.iter().copied())
                .chain(tail)
                .collect()
        } else {
            tail.collect()
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut kept = self.lock();
        kept.note_panic(bytes);
        let tail = &mut kept.tail;
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let overflow = (tail.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        tail.drain(..overflow);
        tail.extend(bytes);
    }

    /// A poisoned lock means a write panicked mid-way; the bytes are still
    /// only diagnostics, so keep using them.
    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Kept {
    /// Starts a new panic head at the last `panicked at` in `bytes` (or
    /// straddling the previous write), or extends the current one.
    fn note_panic(&mut self, bytes: &[u8]) {
        let edge = {
            let mut edge = self.recent.clone();
            edge.extend_from_slice(&bytes[..bytes.len().min(PANIC.len() - 1)]);
            edge
        };
        let started = match memchr::memmem::rfind(bytes, PANIC) {
            Some(at) => Some(bytes[at..].to_vec()),
            None => memchr::memmem::rfind(&edge, PANIC).map(|at| {
                let mut head = edge[at..self.recent.len()].to_vec();
                head.extend_from_slice(bytes);
                head
            }),
        };
        match started {
            Some(mut head) => {
                self.since_panic = head.len();
                head.truncate(HEAD_BYTES);
                self.panic = head;
            }
            None if !self.panic.is_empty() => {
                self.since_panic = self.since_panic.saturating_add(bytes.len());
                let room = HEAD_BYTES - self.panic.len();
                self.panic
                    .extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            None => {}
        }
        let keep = PANIC.len() - 1;
        self.recent
            .extend_from_slice(&bytes[bytes.len().saturating_sub(keep)..]);
        let extra = self.recent.len().saturating_sub(keep);
        self.recent.drain(..extra);
    }
}

#[async_trait::async_trait]
impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(TAIL_BYTES)
    }
}

#[async_trait::async_trait]
impl Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// How `death` begins for a Rust guest whose allocation failed.
pub const OUT_OF_MEMORY: &str = "ran out of memory";

/// How the guest died, from the tail of its stderr, as a predicate for "the
/// check …": a Rust panic (`panicked at FILE:LINE:COL: message`) or a Python
/// traceback's exception line. Anything else is chatter, not a cause. The
/// text is the check's own: the caller makes it visible and caps it.
pub fn death(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    // componentize-py prints the traceback, then panics with a generic
    // message: the traceback holds the cause.
    // Rust's allocation error hook prints this, then aborts (`unreachable`).
    if let Some(at) = text.rfind("memory allocation of ") {
        let line = text[at..].lines().next().unwrap_or_default().trim();
        if line.ends_with(" failed") {
            return Some(format!("{OUT_OF_MEMORY}: {line}"));
        }
    }
    let traceback = text.rfind("Traceback (most recent call last):");
    let panic = text.rfind("panicked at ");
    if let Some(at) = panic.filter(|&p| traceback.is_none_or(|t| t > p)) {
        let lines: Vec<&str> = text[at..]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        return Some(lines.join(" "));
    }
    let at = traceback?;
    // The exception is the traceback's last line (before any panic).
    let end = panic.filter(|&p| p > at).unwrap_or(text.len());
    let block = &text[at..end];
    let block = &block[..block.rfind("thread '").unwrap_or(block.len())];
    block
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| format!("raised {l}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_tail_and_never_refuses() {
        let mut s = StderrTail::default();
        for _ in 0..100 {
            s.write(Bytes::from(vec![b'x'; 1000])).unwrap();
        }
        s.write(Bytes::from_static(b"the end")).unwrap();
        let c = s.contents();
        assert_eq!(c.len(), TAIL_BYTES);
        assert!(c.ends_with(b"xthe end"));
        s.write(Bytes::from(vec![b'y'; 3 * TAIL_BYTES])).unwrap();
        assert_eq!(s.contents(), vec![b'y'; TAIL_BYTES]);
        assert_eq!(s.check_write().unwrap(), TAIL_BYTES);
    }

    #[test]
    fn a_panic_longer_than_the_tail_keeps_its_location() {
        let mut s = StderrTail::default();
        s.write(Bytes::from(vec![b'c'; 50_000])).unwrap();
        // Split across writes as the panic hook writes it.
        s.write(Bytes::from_static(b"thread '<unnamed>' panic"))
            .unwrap();
        s.write(Bytes::from_static(b"ked at src/lib.rs:7:9:\n"))
            .unwrap();
        for _ in 0..10 {
            s.write(Bytes::from(vec![b'm'; 10_000])).unwrap();
        }
        s.write(Bytes::from_static(b"\nnote: run with `RUST_BACKTRACE=1`\n"))
            .unwrap();
        let c = s.contents();
        assert!(c.len() <= HEAD_BYTES + GAP.len() + TAIL_BYTES);
        let d = death(&c).unwrap();
        assert!(
            d.starts_with("panicked at src/lib.rs:7:9: mmmm"),
            "{}",
            &d[..80]
        );
        // A short panic is in the tail: no head is added.
        let mut s = StderrTail::default();
        s.write(Bytes::from_static(
            b"thread 'x' panicked at a.rs:1:1:\nboom\n",
        ))
        .unwrap();
        assert_eq!(death(&s.contents()).unwrap(), "panicked at a.rs:1:1: boom");
    }

    #[test]
    fn a_panic_is_told_from_chatter() {
        assert_eq!(death(b"starting\nstill going\n"), None);
        let rust = b"noise\nthread '<unnamed>' (1) panicked at src/lib.rs:7:9:\nboom\nnote: run with `RUST_BACKTRACE=1` to see a backtrace\n";
        assert_eq!(death(rust).unwrap(), "panicked at src/lib.rs:7:9: boom");
        let python = b"Traceback (most recent call last):\n  File \"app.py\", line 3, in run\n    x = 1 / 0\n        ~~^~~\nZeroDivisionError: division by zero\n";
        assert_eq!(
            death(python).unwrap(),
            "raised ZeroDivisionError: division by zero"
        );
        let componentize_py = [
            &python[..],
            b"thread '<unnamed>' panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\n",
        ]
        .concat();
        assert_eq!(
            death(&componentize_py).unwrap(),
            "raised ZeroDivisionError: division by zero"
        );
    }
}
