//! Record/replay of host calls. Every capability a check uses is a host call
//! whose arguments and answer are plain data, so a run recorded against a
//! live stack replays exactly, offline.
//!
//! A tape is written and read as a stream: the host never holds a whole
//! tape as text or as a JSON tree, only the calls themselves (whose bodies
//! are capped), so reading or writing one costs about its bodies' bytes.

mod scrub;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, BufWriter, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use scrub::{Scrubber, is_credential_header};

use super::bindings::{http, stack, types};
use super::grants::Grants;
use super::verdict::Verdict;
use crate::engine::LogWindow;

/// One host call and its answer. Read by `wire::interaction`: serde's
/// derived reading of a tagged enum would first buffer the whole call as a
/// tree (~32 bytes a byte of an old-style body).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "call")]
pub enum Interaction {
    #[serde(rename = "http.send")]
    HttpSend {
        #[serde(with = "wire::request")]
        request: http::Request,
        #[serde(with = "wire::result")]
        result: Result<http::Response, http::Error>,
    },
    #[serde(rename = "stack.containers")]
    StackContainers {
        result: Result<Vec<stack::Container>, String>,
    },
    #[serde(rename = "stack.logs")]
    StackLogs {
        #[serde(flatten)]
        query: LogsQuery,
        /// Newline-terminated lines, as the check receives them.
        result: Result<String, String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsQuery {
    pub service: String,
    pub since_ms: u64,
    pub until_ms: Option<u64>,
    /// `stack.logs`'s cap; none for `stack.open-logs`, which streams the
    /// whole window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lines: Option<u32>,
}

impl<'de> Deserialize<'de> for Interaction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Interaction, D::Error> {
        wire::interaction(d)
    }
}

impl LogsQuery {
    pub fn window(&self) -> LogWindow {
        LogWindow {
            since_ms: self.since_ms,
            until_ms: self.until_ms,
        }
    }
}

/// A call as a key: what identifies it, without its answer. An HTTP call
/// is keyed by its scrubbed URL and body (what a tape keeps, see `scrub`),
/// the body by length and digest: a key holds no copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Call {
    Http {
        method: String,
        url: String,
        body: Option<(usize, [u8; 32])>,
    },
    Containers,
    /// A service's logs; the window is `None` in a canned answer's key.
    Logs {
        service: String,
        window: Option<(u64, Option<u64>, Option<u32>)>,
    },
}

impl Call {
    pub fn http(req: &http::Request) -> Call {
        let scrub = Scrubber::new();
        Call::Http {
            method: req.method.to_ascii_uppercase(),
            url: scrub.sent(&req.url).into_owned(),
            body: req.body.as_deref().map(|b| {
                let b = scrub.sent_bytes(b);
                (b.len(), Sha256::digest(&b).into())
            }),
        }
    }

    /// The call without what canned answers ignore: an HTTP body, a log
    /// window.
    fn loose(self) -> Call {
        match self {
            Call::Http { method, url, .. } => Call::Http {
                method,
                url,
                body: None,
            },
            Call::Logs { service, .. } => Call::Logs {
                service,
                window: None,
            },
            Call::Containers => Call::Containers,
        }
    }

    pub fn logs(q: &LogsQuery) -> Call {
        Call::Logs {
            service: q.service.clone(),
            window: Some((q.since_ms, q.until_ms, q.max_lines)),
        }
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::Http { method, url, body } => {
                write!(f, "http {method} {url}")?;
                if let Some((len, _)) = body {
                    write!(f, " (body {len} bytes)")?;
                }
                Ok(())
            }
            Call::Containers => write!(f, "stack.containers"),
            Call::Logs { service, window } => {
                let verb = match window {
                    Some((_, _, None)) => "stack.open-logs",
                    _ => "stack.logs",
                };
                write!(f, "{verb} {service}")?;
                if let Some((since, until, max)) = window {
                    write!(f, " since {since} until {until:?}")?;
                    if let Some(max) = max {
                        write!(f, " max {max}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl Interaction {
    /// Roughly the bytes it holds (bodies and log text dominate).
    pub fn size(&self) -> usize {
        const OVERHEAD: usize = 256;
        OVERHEAD
            + match self {
                Interaction::HttpSend { request, result } => {
                    let headers = |hs: &[http::Header]| -> usize {
                        hs.iter().map(|h| h.name.len() + h.value.len()).sum()
                    };
                    request.url.len()
                        + headers(&request.headers)
                        + request.body.as_ref().map_or(0, Vec::len)
                        + result
                            .as_ref()
                            .map_or(0, |r| headers(&r.headers) + r.body.len())
                }
                Interaction::StackContainers { result } => {
                    result.as_ref().map_or(0, |cs| cs.len() * OVERHEAD)
                }
                Interaction::StackLogs { result, .. } => {
                    result.as_ref().map_or_else(String::len, String::len)
                }
            }
    }

    fn call(&self) -> Call {
        match self {
            Interaction::HttpSend { request, .. } => Call::http(request),
            Interaction::StackContainers { .. } => Call::Containers,
            Interaction::StackLogs { query, .. } => Call::logs(query),
        }
    }
}

/// The largest recording read.
const MAX_TAPE_BYTES: u64 = 64 << 20;

/// A recorded run: everything needed to replay it and the verdict to expect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recording {
    /// The contract the plugin spoke, e.g. `pitwall:check@0.2.0`.
    pub contract: String,
    /// How the plugin was named (`builtin:http-probe` or a path).
    pub plugin: String,
    pub plugin_sha256: String,
    /// Credential fields blanked and secret values removed when written.
    #[serde(serialize_with = "scrubbed_config")]
    pub config: String,
    pub grants: Grants,
    pub context: types::Context,
    pub interactions: Vec<Interaction>,
    /// The verdict of the live run.
    pub verdict: Verdict,
}

impl Recording {
    /// Reads a tape as it is parsed, never the whole file at once; bodies
    /// are capped as they are read (see `wire`).
    pub fn read(path: &Path) -> anyhow::Result<Recording> {
        let cannot_read = || format!("cannot read the recording {}", path.display());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .with_context(cannot_read)?;
        let meta = file.metadata().with_context(cannot_read)?;
        if !meta.is_file() {
            anyhow::bail!("{}: not a regular file", cannot_read());
        }
        if meta.len() > MAX_TAPE_BYTES {
            anyhow::bail!(
                "{}: {} bytes, more than the {MAX_TAPE_BYTES} bytes a recording may have",
                cannot_read(),
                meta.len()
            );
        }
        let reader = BufReader::with_capacity(64 << 10, file.take(MAX_TAPE_BYTES));
        serde_json::from_reader(reader).with_context(|| {
            format!(
                "{} is not a pitwall recording (write one with `pitwall check run --record FILE`)",
                path.display()
            )
        })
    }

    /// Writes atomically (a reader never sees half a recording) and as a
    /// stream. Credentials are not written: credential headers (requests',
    /// responses' and the configuration's) are blanked, and URLs and
    /// bodies lose secret values (see `scrub`); replay matches on method,
    /// scrubbed URL and scrubbed body only.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let cannot_write = || format!("cannot write the recording {}", path.display());
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // 0600, beside the target, renamed over it once complete.
        let tmp = tempfile::NamedTempFile::new_in(dir).with_context(cannot_write)?;
        let mut out = BufWriter::with_capacity(64 << 10, tmp.as_file());
        serde_json::to_writer_pretty(&mut out, self).context("cannot serialise the recording")?;
        out.flush().with_context(cannot_write)?;
        drop(out);
        tmp.as_file().sync_all().with_context(cannot_write)?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(cannot_write)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn scrubbed_config<S: serde::Serializer>(config: &str, s: S) -> Result<S::Ok, S::Error> {
    let config = match serde_json::from_str::<serde_json::Value>(config) {
        Ok(mut value) => {
            blank_credential_fields(&mut value);
            value.to_string()
        }
        Err(_) => config.to_string(),
    };
    s.serialize_str(&Scrubber::new().received(&config))
}

/// Answers host calls from a recording, then from canned answers. Recorded
/// calls are matched by what they ask (method, URL and body, the last two
/// scrubbed of credentials as the tape keeps them; never header values;
/// service and window), in recorded order per call. Canned answers (a test case's) are
/// matched loosely — HTTP by method and URL, logs by service — in order, the
/// last one repeating.
#[derive(Debug, Default)]
pub struct Replay {
    answers: HashMap<Call, VecDeque<Interaction>>,
    canned: HashMap<Call, VecDeque<Interaction>>,
}

impl Replay {
    pub fn new(interactions: Vec<Interaction>) -> Replay {
        Replay::with_canned(interactions, Vec::new())
    }

    pub fn with_canned(recorded: Vec<Interaction>, canned: Vec<Interaction>) -> Replay {
        let mut replay = Replay::default();
        for i in recorded {
            replay.answers.entry(i.call()).or_default().push_back(i);
        }
        for i in canned {
            replay
                .canned
                .entry(i.call().loose())
                .or_default()
                .push_back(i);
        }
        replay
    }

    fn answer(&mut self, call: &Call) -> Result<Interaction, String> {
        if let Some(recorded) = self.answers.get_mut(call).and_then(VecDeque::pop_front) {
            return Ok(recorded);
        }
        if self.canned.is_empty() {
            return Err(format!("replay: the recording has no answer for `{call}`"));
        }
        let loose = call.clone().loose();
        // The last answer repeats; earlier ones are used once each.
        match self.canned.get_mut(&loose) {
            Some(queue) if queue.len() > 1 => queue.pop_front(),
            Some(queue) => queue.front().cloned(),
            None => None,
        }
        .ok_or_else(|| format!("the test case has no answer for `{loose}`"))
    }

    // Answers are keyed by call, and a call's key fixes its kind, so the
    // "other kind" arms below cannot match; they still answer with an error.

    pub fn http(&mut self, req: &http::Request) -> Result<http::Response, http::Error> {
        match self.answer(&Call::http(req)) {
            Ok(Interaction::HttpSend { result, .. }) => result,
            Ok(other) => Err(http::Error::Other(mismatch(&other))),
            Err(missing) => Err(http::Error::Other(missing)),
        }
    }

    pub fn containers(&mut self) -> Result<Vec<stack::Container>, String> {
        match self.answer(&Call::Containers)? {
            Interaction::StackContainers { result } => result,
            other => Err(mismatch(&other)),
        }
    }

    pub fn logs(&mut self, query: &LogsQuery) -> Result<String, String> {
        match self.answer(&Call::logs(query))? {
            Interaction::StackLogs { result, .. } => result,
            other => Err(mismatch(&other)),
        }
    }
}

fn mismatch(i: &Interaction) -> String {
    format!(
        "replay: the recording answers `{}` with another kind of call",
        i.call()
    )
}

/// Blanks configuration fields named like a credential header (a probe's
/// `headers: {"authorization": …}`).
fn blank_credential_fields(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if is_credential_header(k) {
                    *v = serde_json::Value::String(scrub::BLANK.into());
                } else {
                    blank_credential_fields(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(blank_credential_fields),
        _ => {}
    }
}
