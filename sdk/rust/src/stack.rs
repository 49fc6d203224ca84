//! The stack through the host: its containers and its services' logs, for
//! services the operator granted (`allow_logs`).

use crate::bindings::pitwall::check::stack as wit;

pub use wit::Container;

/// The stack's containers.
pub fn containers() -> Result<Vec<Container>, String> {
    wit::containers()
}

/// Log lines of `service` between `since_ms` and `until_ms` (Unix ms; `None`
/// means now), at most `max_lines` (the host caps it too), newest kept.
pub fn logs(
    service: &str,
    since_ms: u64,
    until_ms: Option<u64>,
    max_lines: u32,
) -> Result<String, String> {
    wit::logs(service, since_ms, until_ms, max_lines)
}

/// The whole log window being read; see [`open_logs`].
pub use wit::LogStream;

/// Chunk size that reads fast without holding much: 256 KiB.
pub const CHUNK_BYTES: u32 = 256 << 10;

/// Every log line of `service` between `since_ms` and `until_ms` (Unix ms;
/// `None` means now), however many, read in chunks of whole lines:
///
/// ```ignore
/// for chunk in stack::open_logs("api", ctx.started_at_ms, Some(ctx.now_ms))? {
///     for line in chunk?.lines() { /* … */ }
/// }
/// ```
///
/// Scan each chunk and let it go: memory then stays at one chunk, however
/// busy the service was.
pub fn open_logs(service: &str, since_ms: u64, until_ms: Option<u64>) -> Result<Chunks, String> {
    wit::open_logs(service, since_ms, until_ms).map(|stream| Chunks {
        stream,
        done: false,
    })
}

/// The chunks of a log window, oldest first, each at most [`CHUNK_BYTES`].
pub struct Chunks {
    stream: LogStream,
    done: bool,
}

impl Iterator for Chunks {
    type Item = Result<String, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.stream.read(CHUNK_BYTES) {
            Ok(Some(chunk)) => Some(Ok(chunk)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
