//! What a check can call: one file per imported WIT interface (`http`,
//! `stack`, `log`), each gated by the check's grants and answered live (and
//! optionally taped) or from a recording.

mod http;
pub mod lift;
mod log;
mod stack;

pub use stack::LogStream;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::task::AbortOnDropHandle;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::types;
use super::grants::Grants;
use super::limits::{Limits, MAX_HANDLES, MemoryLimiter};
use super::stderr::StderrTail;
use super::tape::{Interaction, LogsQuery, Replay};
use super::verdict::{Evidence, Lines, excerpt, visible};
use crate::engine::{LogItem, LogLines, StackView};
use futures_util::StreamExt;

/// How host calls are answered. Cloned into every run; shared state is behind
/// `Arc`s so the three calls of a check (describe, validate, run) and
/// concurrent checks share one HTTP client and one engine connection.
#[derive(Clone)]
pub enum Io {
    Live(Arc<Live>),
    Replay(Arc<Mutex<Replay>>),
}

pub struct Live {
    http: OnceLock<Result<reqwest::Client, String>>,
    stack: Arc<dyn StackView>,
    /// Set when recording: every answered call is appended.
    tape: Option<Mutex<Tape>>,
}

/// The calls recorded so far, within a size budget: a check that loops on
/// host calls must not grow the recording (and the host's memory) without
/// end.
#[derive(Default)]
struct Tape {
    calls: Vec<Interaction>,
    bytes: usize,
    overflowed: bool,
}

/// Bytes of answers one recording may hold.
const MAX_TAPE_BYTES: usize = 32 << 20;

impl Tape {
    /// Appends `call`; its slot, unless the tape is full.
    fn push(&mut self, call: Interaction) -> Option<usize> {
        let size = call.size();
        if self.overflowed || self.bytes + size > MAX_TAPE_BYTES {
            self.overflowed = true;
            return None;
        }
        self.bytes += size;
        self.calls.push(call);
        Some(self.calls.len() - 1)
    }

    /// Appends `text` to the streamed log answer in `slot`.
    fn more(&mut self, slot: usize, text: &str) {
        if self.overflowed || self.bytes + text.len() > MAX_TAPE_BYTES {
            self.overflowed = true;
            return;
        }
        if let Some(Interaction::StackLogs {
            result: Ok(taped), ..
        }) = self.calls.get_mut(slot)
        {
            self.bytes += text.len();
            taped.push_str(text);
        }
    }
}

/// Whether live answers are kept on a tape (`check run --record`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeMode {
    Record,
    Off,
}

impl Io {
    /// Live answers about `stack`, kept on a tape with `TapeMode::Record`.
    pub fn live(stack: Arc<dyn StackView>, tape: TapeMode) -> Io {
        Io::Live(Arc::new(Live {
            http: OnceLock::new(),
            stack,
            tape: (tape == TapeMode::Record).then(|| Mutex::new(Tape::default())),
        }))
    }

    pub fn replay(interactions: Vec<Interaction>) -> Io {
        Io::Replay(Arc::new(Mutex::new(Replay::new(interactions))))
    }

    /// A recording's answers, then a test case's canned ones.
    pub fn canned(recorded: Vec<Interaction>, canned: Vec<Interaction>) -> Io {
        Io::Replay(Arc::new(Mutex::new(Replay::with_canned(recorded, canned))))
    }

    /// The recorded calls (empty unless recording), taken: the tape is
    /// left empty, so the calls are held once, not copied. An error when
    /// they outgrew the recording's size budget, since a partial tape would
    /// not replay the run.
    pub fn tape(&self) -> Result<Vec<Interaction>, String> {
        let Io::Live(live) = self else {
            return Ok(Vec::new());
        };
        let Some(tape) = &live.tape else {
            return Ok(Vec::new());
        };
        let mut tape = unpoisoned(tape);
        if tape.overflowed {
            return Err(format!(
                "the run's host calls answered more than {} MiB: too much to record",
                MAX_TAPE_BYTES >> 20
            ));
        }
        Ok(std::mem::take(&mut tape.calls))
    }

    /// Answers one host call: `live` asks the world (and the answer is taped
    /// as `taped` makes it, when recording); a replay takes it from the tape.
    async fn answer<T: Clone>(
        &self,
        live: impl AsyncFnOnce(&Live) -> T,
        taped: impl FnOnce(T) -> Interaction,
        replay: impl FnOnce(&mut Replay) -> T,
    ) -> T {
        match self {
            Io::Live(l) => {
                let result = live(l).await;
                if let Some(tape) = &l.tape {
                    unpoisoned(tape).push(taped(result.clone()));
                }
                result
            }
            Io::Replay(r) => replay(&mut unpoisoned(r)),
        }
    }

    /// Opens a log window to stream: live from the stack (taped as one
    /// answer that grows with every chunk read, see `tape_more`), or the
    /// recorded or canned text. The stream's tape slot comes with it.
    async fn open_logs(
        &self,
        query: &LogsQuery,
        net: &Handle,
    ) -> Result<(LogLines, Option<usize>), String> {
        match self {
            Io::Live(live) => {
                let (stack, service, window) =
                    (live.stack.clone(), query.service.clone(), query.window());
                let opened = on_net(net, async move { stack.logs(&service, window).await })
                    .await
                    .and_then(|opened| opened.map_err(|e| e.to_string()));
                let taped = |result| Interaction::StackLogs {
                    query: query.clone(),
                    result,
                };
                let slot = live.tape.as_ref().and_then(|tape| {
                    let answer = opened.as_ref().map(|_| String::new());
                    unpoisoned(tape).push(taped(answer.map_err(Clone::clone)))
                });
                Ok((opened?, slot))
            }
            Io::Replay(r) => {
                let mut text = unpoisoned(r).logs(query)?;
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                let block = futures_util::stream::iter([Ok(LogItem::Lines(text))]);
                Ok((block.boxed(), None))
            }
        }
    }

    /// Records `text`, read from the stream taped in `slot`.
    fn tape_more(&self, slot: usize, text: &str) {
        if let Io::Live(live) = self
            && let Some(tape) = &live.tape
        {
            unpoisoned(tape).more(slot, text);
        }
    }
}

/// Waits for `io`, run on `net`: the host's waits on sockets (HTTP, the
/// engine's API) are served there, by threads that run no wasm, so a
/// check's request goes out and its answer is timed as soon as the socket
/// is ready, not when the checks computing beside it yield their thread.
async fn on_net<T: Send + 'static>(
    net: &Handle,
    io: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    // Dropped with the check (cancelled, timed out), the request goes too.
    match AbortOnDropHandle::new(net.spawn(io)).await {
        Ok(done) => Ok(done),
        // A panic in the host is a pitwall bug: let it surface as one.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err("not answered: pitwall is shutting down".to_string()),
    }
}

/// A poisoned lock only means another check panicked in the host; the tape
/// itself is consistent (every push and pop is one step).
fn unpoisoned<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the host saw during one call, reported beside the plugin's verdict.
#[derive(Default)]
pub struct Journal {
    pub evidence: Vec<Evidence>,
    pub dropped_evidence: usize,
    pub logs: Vec<String>,
    pub dropped_logs: usize,
    /// An HTTP request got no response from the app: none at all, or a
    /// gateway's 502 or 504 (see `Verdict::no_response`).
    pub no_response: bool,
}

/// The store data of one run.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) stderr: StderrTail,
    pub(super) journal: Journal,
    io: Io,
    /// The runtime of the check's caller, where host calls wait on the
    /// network (see `on_net`).
    net: Handle,
    grants: Grants,
    limits: Limits,
    deadline: Instant,
    /// `log-stream` resources the check holds.
    open_streams: usize,
}

/// Host evidence entries kept per run; a chatty check cannot flood the report.
const MAX_HOST_EVIDENCE: usize = 32;
/// Bytes of one host note kept (a denied call quotes the check's URL).
const MAX_NOTE_BYTES: usize = 1024;

impl HostState {
    pub fn new(
        io: Io,
        grants: Grants,
        limits: Limits,
        deadline: Instant,
        net: Handle,
    ) -> HostState {
        let stderr = StderrTail::default();
        // No preopened directories, no environment, no arguments, no network:
        // the check reaches the world only through the imports below.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        HostState {
            wasi,
            table,
            limiter: MemoryLimiter::new(limits.memory_bytes),
            stderr,
            journal: Journal::default(),
            io,
            net,
            grants,
            limits,
            deadline,
            open_streams: 0,
        }
    }

    /// What the host saw; `value` may quote the check (a URL it asked
    /// for), so it is made visible and capped like the check's own text.
    /// Returns where the note is, for `renote`, unless the cap dropped it.
    fn note(&mut self, label: &str, value: String) -> Option<usize> {
        if self.journal.evidence.len() < MAX_HOST_EVIDENCE {
            self.journal
                .evidence
                .push(Evidence::new(label, noted(value)));
            Some(self.journal.evidence.len() - 1)
        } else {
            self.journal.dropped_evidence += 1;
            None
        }
    }

    /// Replaces the value of the note at `index` (a stream's progress).
    fn renote(&mut self, index: usize, value: String) {
        if let Some(e) = self.journal.evidence.get_mut(index) {
            e.value = noted(value);
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

fn noted(value: String) -> String {
    excerpt(&visible(value, Lines::Escaped), MAX_NOTE_BYTES)
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}
