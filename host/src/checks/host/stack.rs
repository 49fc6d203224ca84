//! `stack.containers`, `stack.logs` and `stack.open-logs`: the units and log
//! lines of the services the check's `allow_logs` grants, nothing else.

use futures_util::StreamExt;
use wasmtime::component::Resource;

use super::super::bindings::stack;
use super::super::tape::{Call, Interaction, LogsQuery};
use super::{HostState, on_net};
use crate::engine::{Container, LogItem, LogLines, newest};

/// The largest chunk one `log-stream.read` returns.
const MAX_CHUNK_BYTES: usize = 1 << 20;
/// Log streams one run may hold open at once: each may hold a file open.
const MAX_OPEN_STREAMS: usize = 16;

/// Bytes of a service name: compose's are short; a longer one is refused
/// before it is compared, quoted or noted.
const MAX_SERVICE_BYTES: usize = 255;

impl HostState {
    fn check_service(&self, service: &str) -> Result<(), String> {
        if service.len() > MAX_SERVICE_BYTES {
            return Err(format!(
                "a {} byte service name is over the {MAX_SERVICE_BYTES} byte cap",
                service.len()
            ));
        }
        self.grants.check_logs(service)
    }
}

/// A log window being read by a check (the `log-stream` resource).
pub struct LogStream {
    lines: LogLines,
    /// Whole lines read but not yet handed over, from the offset on.
    carry: Option<(String, usize)>,
    lines_read: u64,
    done: bool,
    /// Where the call is recorded, when recording.
    tape_slot: Option<usize>,
    /// The host's evidence line for this stream, kept current.
    note: Option<usize>,
    call: String,
}

impl LogStream {
    /// Whole lines up to `max` bytes; `None` at the end of the window. The
    /// notices of lost lines met on the way are returned beside it.
    async fn chunk(&mut self, max: usize) -> (Result<Option<String>, String>, Vec<String>) {
        let mut out = String::new();
        let mut lost = Vec::new();
        while !self.done {
            let (block, at) = match self.carry.take() {
                Some(carried) => carried,
                None => match self.lines.next().await {
                    Some(Ok(LogItem::Line(line))) => (line.text + "\n", 0),
                    Some(Ok(LogItem::Lines(block))) => (block, 0),
                    Some(Ok(LogItem::Lost(notice))) => {
                        lost.push(notice);
                        continue;
                    }
                    Some(Err(e)) => return (Err(e.to_string()), lost),
                    None => {
                        self.done = true;
                        break;
                    }
                },
            };
            let rest = &block[at..];
            let room = max - out.len();
            if rest.len() <= room {
                self.take(&mut out, rest);
                continue;
            }
            // The whole lines that fit; the rest waits for the next read.
            let fits = memchr::memrchr(b'\n', &rest.as_bytes()[..room]);
            match fits {
                Some(end) => {
                    self.take(&mut out, &rest[..=end]);
                    self.carry = Some((block, at + end + 1));
                }
                None if out.is_empty() => {
                    // A line longer than a whole chunk comes cut.
                    let line_end = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
                    let mut cut = max - 1;
                    while !rest.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    out.push_str(&rest[..cut]);
                    out.push('\n');
                    self.lines_read += 1;
                    let next = (at + line_end + 1).min(block.len());
                    self.carry = Some((block, next));
                }
                None => self.carry = Some((block, at)),
            }
            break;
        }
        (Ok((!out.is_empty()).then_some(out)), lost)
    }

    /// Appends whole lines (or a cut line's start) to the chunk.
    fn take(&mut self, out: &mut String, lines: &str) {
        out.push_str(lines);
        self.lines_read += memchr::memchr_iter(b'\n', lines.as_bytes()).count() as u64;
    }
}

impl stack::Host for HostState {
    async fn containers(&mut self) -> Result<Vec<stack::Container>, String> {
        if self.grants.allow_logs.is_empty() {
            let denied = "stack.containers denied: the check has no allow_logs grant".to_string();
            self.note("host.denied", denied.clone());
            return Err(denied);
        }
        let services = &self.grants.allow_logs;
        let result = self
            .io
            .answer(
                async |live| {
                    let (stack, services) = (live.stack.clone(), services.clone());
                    on_net(
                        &self.net,
                        async move { stack.containers(Some(&services)).await },
                    )
                    .await?
                    .map(|cs| cs.into_iter().map(to_wit_container).collect())
                    .map_err(|e| e.to_string())
                },
                |result| Interaction::StackContainers { result },
                // A recording or a test case answers as the engine would:
                // only the granted services.
                |replay| {
                    replay.containers().map(|cs| {
                        cs.into_iter()
                            .filter(|c| services.contains(&c.service))
                            .collect()
                    })
                },
            )
            .await;
        if let Err(e) = &result {
            self.note("host.stack", format!("stack.containers → {e}"));
        }
        result
    }

    async fn logs(
        &mut self,
        service: String,
        since_ms: u64,
        until_ms: Option<u64>,
        max_lines: u32,
    ) -> Result<String, String> {
        if let Err(denied) = self.check_service(&service) {
            self.note("host.denied", denied.clone());
            return Err(denied);
        }
        let cap = u32::try_from(self.limits.max_log_read_lines).unwrap_or(u32::MAX);
        let query = LogsQuery {
            service,
            since_ms,
            until_ms,
            max_lines: Some(max_lines.min(cap)),
        };
        let max = max_lines.min(cap) as usize;
        let call = Call::logs(&query);
        let window = query.window();
        // A spool at its cap says so; the evidence carries it.
        let mut lost = Vec::new();
        let result = self
            .io
            .answer(
                async |live| {
                    let (stack, service) = (live.stack.clone(), query.service.clone());
                    // Only the opening waits on the engine; the window is
                    // read here, in the check's turns.
                    let opened =
                        on_net(&self.net, async move { stack.logs(&service, window).await });
                    match opened.await? {
                        Ok(lines) => newest(lines, max).await,
                        Err(e) => Err(e),
                    }
                    .map(|kept| {
                        lost = kept.lost;
                        kept.lines.iter().map(|l| format!("{l}\n")).collect()
                    })
                    .map_err(|e| e.to_string())
                },
                |result| Interaction::StackLogs {
                    query: query.clone(),
                    result,
                },
                // Capped like a live answer: the newest `max_lines` lines.
                |replay| replay.logs(&query).map(|text| newest_lines(&text, max)),
            )
            .await;
        let seen = match &result {
            Ok(lines) => format!("{call} → {} lines", lines.lines().count()),
            Err(e) => format!("{call} → {e}"),
        };
        self.note("host.stack", seen);
        for notice in lost {
            self.note("host.logs", notice);
        }
        result
    }

    async fn open_logs(
        &mut self,
        service: String,
        since_ms: u64,
        until_ms: Option<u64>,
    ) -> Result<Resource<LogStream>, String> {
        if let Err(denied) = self.check_service(&service) {
            self.note("host.denied", denied.clone());
            return Err(denied);
        }
        if self.open_streams >= MAX_OPEN_STREAMS {
            return Err(format!(
                "stack.open-logs refused: {MAX_OPEN_STREAMS} log streams are open; drop one first"
            ));
        }
        let query = LogsQuery {
            service,
            since_ms,
            until_ms,
            max_lines: None,
        };
        let call = Call::logs(&query).to_string();
        let (lines, tape_slot) = match self.io.open_logs(&query, &self.net).await {
            Ok(opened) => opened,
            Err(e) => {
                self.note("host.stack", format!("{call} → {e}"));
                return Err(e);
            }
        };
        let note = self.note("host.stack", format!("{call} → opened"));
        let stream = LogStream {
            lines,
            carry: None,
            lines_read: 0,
            done: false,
            tape_slot,
            note,
            call,
        };
        let handle = self
            .table
            .push(stream)
            .map_err(|e| format!("stack.open-logs: {e}"))?;
        self.open_streams += 1;
        Ok(handle)
    }
}

impl stack::HostLogStream for HostState {
    async fn read(
        &mut self,
        stream: Resource<LogStream>,
        max_bytes: u32,
    ) -> Result<Option<String>, String> {
        let max = usize::try_from(max_bytes)
            .unwrap_or(MAX_CHUNK_BYTES)
            .clamp(2, MAX_CHUNK_BYTES);
        let s = self
            .table
            .get_mut(&stream)
            .map_err(|e| format!("log-stream.read: {e}"))?;
        let (chunk, lost) = s.chunk(max).await;
        let progress = format!(
            "{} → {} lines{}",
            s.call,
            s.lines_read,
            if s.done { "" } else { " so far" }
        );
        let (note, tape_slot) = (s.note, s.tape_slot);
        if let Some(i) = note {
            self.renote(i, progress);
        }
        for notice in lost {
            self.note("host.logs", notice);
        }
        if let (Some(slot), Ok(Some(text))) = (tape_slot, &chunk) {
            self.io.tape_more(slot, text);
        }
        chunk
    }

    async fn drop(&mut self, stream: Resource<LogStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        self.open_streams -= 1;
        Ok(())
    }
}

fn to_wit_container(c: Container) -> stack::Container {
    stack::Container {
        service: c.service,
        name: c.name,
        image: c.image,
        state: c.state.as_str().to_string(),
        health: c.health.map(|h| h.as_str().to_string()),
        restart_count: c.restart_count,
    }
}

/// The last `max` lines of `text`.
fn newest_lines(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(max)..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect()
}
