//! What a check can call: the `http`, `stack` and `log` imports, each gated by
//! the check's grants, answered live (and optionally recorded) or replayed.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{http, log, stack, types};
use super::grants::Grants;
use super::limits::{Limits, MemoryLimiter};
use super::tape::{Call, Interaction, LogsQuery, Replay};
use super::verdict::Evidence;
use crate::docker;

/// How host calls are answered. Cloned into every run; shared state is behind
/// `Arc`s so the three calls of a check (describe, validate, run) and
/// concurrent checks share one HTTP client and one Docker connection.
#[derive(Clone)]
pub enum Io {
    Live(Arc<Live>),
    Replay(Arc<Mutex<Replay>>),
}

pub struct Live {
    http: OnceLock<Result<reqwest::Client, String>>,
    project: String,
    docker: OnceCell<Result<docker::Engine, String>>,
    /// Set when recording: every answered call is appended.
    tape: Option<Mutex<Vec<Interaction>>>,
}

impl Io {
    /// Live answers for the compose project `project`; `record` keeps a tape.
    pub fn live(project: &str, record: bool) -> Io {
        Io::Live(Arc::new(Live {
            http: OnceLock::new(),
            project: project.to_string(),
            docker: OnceCell::new(),
            tape: record.then(|| Mutex::new(Vec::new())),
        }))
    }

    pub fn replay(interactions: Vec<Interaction>) -> Io {
        Io::Replay(Arc::new(Mutex::new(Replay::new(interactions))))
    }

    /// The recorded calls so far (empty unless recording).
    pub fn tape(&self) -> Vec<Interaction> {
        match self {
            Io::Live(live) => live
                .tape
                .as_ref()
                .map(|t| t.lock().unwrap_or_else(|p| p.into_inner()).clone())
                .unwrap_or_default(),
            Io::Replay(_) => Vec::new(),
        }
    }
}

impl Live {
    fn record(&self, interaction: Interaction) {
        if let Some(tape) = &self.tape {
            tape.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(interaction);
        }
    }

    /// The HTTP client, built on first use (log checks never need one).
    fn client(&self) -> Result<&reqwest::Client, http::Error> {
        self.http
            .get_or_init(|| {
                // Redirects are followed by hand so each hop is checked against
                // the grants; proxies from the environment are ignored so a
                // check reaches exactly the URL it was granted.
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .user_agent(concat!("pitwall/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot set up the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(|e| http::Error::Other(e.clone()))
    }

    async fn docker(&self) -> Result<&docker::Engine, String> {
        self.docker
            .get_or_init(|| async { docker::Engine::connect().await.map_err(|e| e.to_string()) })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// What the host saw during one call, reported beside the plugin's verdict.
#[derive(Default)]
pub struct Journal {
    pub evidence: Vec<Evidence>,
    pub dropped_evidence: usize,
    pub logs: Vec<String>,
    pub dropped_logs: usize,
}

/// The store data of one run.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) stderr: MemoryOutputPipe,
    pub(super) journal: Journal,
    io: Io,
    grants: Grants,
    limits: Limits,
    deadline: Instant,
}

/// Host evidence entries kept per run; a chatty check cannot flood the report.
const MAX_HOST_EVIDENCE: usize = 32;
/// Bytes of the plugin's stderr kept (for panic messages).
const STDERR_CAP: usize = 16 * 1024;

impl HostState {
    pub fn new(io: Io, grants: Grants, limits: Limits, deadline: Instant) -> HostState {
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        // No preopened directories, no environment, no arguments, no network:
        // the check reaches the world only through the imports below.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_bytes: limits.memory_bytes,
                refused: None,
            },
            stderr,
            journal: Journal::default(),
            io,
            grants,
            limits,
            deadline,
        }
    }

    fn note(&mut self, label: &str, value: String) {
        if self.journal.evidence.len() < MAX_HOST_EVIDENCE {
            self.journal.evidence.push(Evidence::new(label, value));
        } else {
            self.journal.dropped_evidence += 1;
        }
    }

    pub(super) fn timeout(&self) -> Duration {
        self.limits.timeout
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
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

impl http::Host for HostState {
    async fn send(&mut self, req: http::Request) -> Result<http::Response, http::Error> {
        let call = Call::http(&req);
        if let Err(denied) = self.grants.check_http(&req.method, &req.url) {
            self.note("host.denied", denied.clone());
            return Err(http::Error::Denied(denied));
        }
        let result = match &self.io {
            Io::Live(live) => {
                let timeout = req
                    .timeout_ms
                    .map(|ms| Duration::from_millis(ms.into()))
                    .unwrap_or(Duration::MAX)
                    .min(self.remaining());
                let result = send_live(
                    live,
                    &req,
                    &self.grants,
                    timeout,
                    self.limits.max_http_body_bytes,
                )
                .await;
                live.record(Interaction::HttpSend {
                    request: req,
                    result: result.clone(),
                });
                result
            }
            Io::Replay(replay) => locked(replay).http(&req),
        };
        let seen = match &result {
            Ok(r) => format!("{call} → {} in {} ms", r.status, r.elapsed_ms),
            Err(e) => format!("{call} → {}", describe_http_error(e)),
        };
        self.note("host.http", seen);
        result
    }
}

/// The replay tape; a poisoned lock only means another check panicked in
/// the host, and the tape itself is still consistent.
fn locked(replay: &Mutex<Replay>) -> std::sync::MutexGuard<'_, Replay> {
    replay.lock().unwrap_or_else(|p| p.into_inner())
}

fn describe_http_error(e: &http::Error) -> String {
    match e {
        http::Error::Denied(m) => format!("denied: {m}"),
        http::Error::Timeout(m) => format!("timeout: {m}"),
        http::Error::Connect(m) => format!("connect: {m}"),
        http::Error::Invalid(m) => format!("invalid: {m}"),
        http::Error::Other(m) => m.clone(),
    }
}

/// Performs one request, following redirects by hand when asked (each hop
/// must be granted too) and cutting the body at `max_body` bytes.
async fn send_live(
    live: &Live,
    req: &http::Request,
    grants: &Grants,
    timeout: Duration,
    max_body: usize,
) -> Result<http::Response, http::Error> {
    const MAX_REDIRECTS: usize = 10;
    let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| http::Error::Invalid(format!("`{}` is not an HTTP method", req.method)))?;
    let start = Instant::now();
    let mut url = grants
        .check_http(&req.method, &req.url)
        .map_err(http::Error::Denied)?;
    for _ in 0..=MAX_REDIRECTS {
        let left = timeout.saturating_sub(start.elapsed());
        let mut builder = live
            .client()?
            .request(method.clone(), url.clone())
            .timeout(left);
        for h in &req.headers {
            builder = builder.header(&h.name, &h.value);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| classify(&e, timeout))?;
        let status = response.status();
        if req.follow_redirects
            && status.is_redirection()
            && let Some(location) = response.headers().get(reqwest::header::LOCATION)
        {
            let location = location.to_str().map_err(|_| {
                http::Error::Other(format!("redirect {status} with a non-text Location"))
            })?;
            let next = url
                .join(location)
                .map_err(|e| http::Error::Other(format!("redirect to `{location}`: {e}")))?;
            url = grants
                .check_http(&req.method, next.as_str())
                .map_err(|e| http::Error::Denied(format!("redirect from {url}: {e}")))?;
            continue;
        }
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| http::Header {
                name: k.to_string(),
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e, timeout))? {
            let room = max_body - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(http::Response {
            status: status.as_u16(),
            headers,
            body,
            truncated,
            elapsed_ms: start.elapsed().as_millis().try_into().unwrap_or(u32::MAX),
        });
    }
    Err(http::Error::Other(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

fn classify(e: &reqwest::Error, timeout: Duration) -> http::Error {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        http::Error::Timeout(format!(
            "no response within {}",
            humantime::format_duration(timeout)
        ))
    } else if e.is_connect() {
        http::Error::Connect(text)
    } else if e.is_builder() {
        http::Error::Invalid(text)
    } else {
        http::Error::Other(text)
    }
}

impl stack::Host for HostState {
    async fn containers(&mut self) -> Result<Vec<stack::Container>, String> {
        if self.grants.allow_logs.is_empty() {
            let denied = "stack.containers denied: the check has no allow_logs grant".to_string();
            self.note("host.denied", denied.clone());
            return Err(denied);
        }
        let result = match &self.io {
            Io::Live(live) => {
                let result = match live.docker().await {
                    Ok(engine) => engine
                        .containers(&live.project, Some(&self.grants.allow_logs))
                        .await
                        .map(|cs| cs.into_iter().map(to_wit_container).collect())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                live.record(Interaction::StackContainers {
                    result: result.clone(),
                });
                result
            }
            Io::Replay(replay) => locked(replay).containers(),
        };
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
        if let Err(denied) = self.grants.check_logs(&service) {
            self.note("host.denied", denied.clone());
            return Err(denied);
        }
        let query = LogsQuery {
            service,
            since_ms,
            until_ms,
            max_lines: max_lines.min(
                self.limits
                    .max_log_read_lines
                    .try_into()
                    .unwrap_or(u32::MAX),
            ),
        };
        let call = Call::logs(&query);
        let result = match &self.io {
            Io::Live(live) => {
                let result = match live.docker().await {
                    Ok(engine) => engine
                        .logs(
                            &live.project,
                            &query.service,
                            since_ms,
                            until_ms,
                            query.max_lines as usize,
                        )
                        .await
                        .map(|lines| lines.iter().map(|l| format!("{l}\n")).collect())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                live.record(Interaction::StackLogs {
                    query,
                    result: result.clone(),
                });
                result
            }
            Io::Replay(replay) => locked(replay).logs(&query),
        };
        let seen = match &result {
            Ok(lines) => format!("{call} → {} lines", lines.lines().count()),
            Err(e) => format!("{call} → {e}"),
        };
        self.note("host.stack", seen);
        result
    }
}

fn to_wit_container(c: docker::Container) -> stack::Container {
    stack::Container {
        service: c.service,
        name: c.name,
        image: c.image,
        state: c.state,
        health: c.health,
        restart_count: c.restart_count,
    }
}

impl log::Host for HostState {
    async fn write(&mut self, level: log::Level, message: String) {
        if self.journal.logs.len() >= self.limits.max_log_lines {
            self.journal.dropped_logs += 1;
            return;
        }
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        let message = check_kit::excerpt(&message, self.limits.max_log_line_bytes);
        self.journal.logs.push(format!("{level}: {message}"));
    }
}
