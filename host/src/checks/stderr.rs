//! The check's stderr. Guests write there when they panic (Rust) or die of an
//! uncaught exception (Python), and some write chatter. The host keeps only
//! the tail — a panic is the last thing written — and never refuses a write:
//! a full pipe must not turn a passing check into a trap.

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

#[derive(Clone, Default)]
pub struct StderrTail {
    tail: Arc<Mutex<VecDeque<u8>>>,
}

impl StderrTail {
    /// The last bytes written (at most `TAIL_BYTES`).
    pub fn contents(&self) -> Vec<u8> {
        self.lock().iter().copied().collect()
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.lock();
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let overflow = (tail.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        tail.drain(..overflow);
        tail.extend(bytes);
    }

    /// A poisoned lock means a write panicked mid-way; the bytes are still
    /// only diagnostics, so keep using them.
    fn lock(&self) -> MutexGuard<'_, VecDeque<u8>> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner())
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

/// How the guest died, from the tail of its stderr, as a predicate for "the
/// check …": a Rust panic (`panicked at FILE:LINE:COL: message`) or a Python
/// traceback's exception line. Anything else is chatter, not a cause. The
/// text is the check's own: the caller makes it visible and caps it.
pub fn death(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    // componentize-py prints the traceback, then panics with a generic
    // message: the traceback holds the cause.
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
