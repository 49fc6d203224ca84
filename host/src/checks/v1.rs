//! Checks built against `pitwall:check@0.1.0` run unchanged: their host
//! calls are answered by the 0.2.0 host (same grants, caps, tape), and
//! what crosses the boundary is converted field by field. 0.2.0 only added
//! to the contract, so every 0.1.0 value has its 0.2.0 twin.

use super::bindings::v1;
use super::bindings::{http, log, stack, types};
use super::host::HostState;

impl v1::types::Host for HostState {}

/// A 0.2.0 answer to `http.send` as a 0.1.0 check receives it.
pub(super) fn http_result(
    r: Result<http::Response, http::Error>,
) -> Result<v1::http::Response, v1::http::Error> {
    match r {
        Ok(r) => Ok(v1::http::Response {
            status: r.status,
            headers: r.headers.into_iter().map(header_out).collect(),
            body: r.body,
            truncated: r.truncated,
            elapsed_ms: r.elapsed_ms,
        }),
        Err(e) => Err(match e {
            http::Error::Denied(m) => v1::http::Error::Denied(m),
            http::Error::Timeout(m) => v1::http::Error::Timeout(m),
            http::Error::Connect(m) => v1::http::Error::Connect(m),
            http::Error::Invalid(m) => v1::http::Error::Invalid(m),
            http::Error::Other(m) => v1::http::Error::Other(m),
        }),
    }
}

impl v1::http::Host for HostState {
    async fn send(
        &mut self,
        req: v1::http::Request,
    ) -> Result<v1::http::Response, v1::http::Error> {
        let req = http::Request {
            method: req.method,
            url: req.url,
            headers: req.headers.into_iter().map(header_in).collect(),
            body: req.body,
            timeout_ms: req.timeout_ms,
            follow_redirects: req.follow_redirects,
        };
        http_result(http::Host::send(self, req).await)
    }
}

fn header_in(h: v1::http::Header) -> http::Header {
    http::Header {
        name: h.name,
        value: h.value,
    }
}

fn header_out(h: http::Header) -> v1::http::Header {
    v1::http::Header {
        name: h.name,
        value: h.value,
    }
}

impl v1::stack::Host for HostState {
    async fn containers(&mut self) -> Result<Vec<v1::stack::Container>, String> {
        let containers = stack::Host::containers(self).await?;
        Ok(containers
            .into_iter()
            .map(|c| v1::stack::Container {
                service: c.service,
                name: c.name,
                image: c.image,
                state: c.state,
                health: c.health,
                restart_count: c.restart_count,
            })
            .collect())
    }

    /// Served as 0.2.0's `logs`: during a deploy, from the log spool.
    async fn logs(
        &mut self,
        service: String,
        since_ms: u64,
        until_ms: Option<u64>,
        max_lines: u32,
    ) -> Result<String, String> {
        stack::Host::logs(self, service, since_ms, until_ms, max_lines).await
    }
}

impl v1::log::Host for HostState {
    async fn write(&mut self, level: v1::log::Level, message: String) {
        let level = match level {
            v1::log::Level::Debug => log::Level::Debug,
            v1::log::Level::Info => log::Level::Info,
            v1::log::Level::Warn => log::Level::Warn,
            v1::log::Level::Error => log::Level::Error,
        };
        log::Host::write(self, level, message).await;
    }
}

pub fn context(c: &types::Context) -> v1::types::Context {
    v1::types::Context {
        release_id: c.release_id.clone(),
        project: c.project.clone(),
        images: c
            .images
            .iter()
            .map(|i| v1::types::ServiceImage {
                service: i.service.clone(),
                image: i.image.clone(),
            })
            .collect(),
        started_at_ms: c.started_at_ms,
        now_ms: c.now_ms,
        attempt: c.attempt,
        phase: c.phase.clone(),
    }
}

pub fn verdict(v: v1::types::Verdict) -> types::Verdict {
    types::Verdict {
        outcome: match v.outcome {
            v1::types::Outcome::Pass => types::Outcome::Pass,
            v1::types::Outcome::Fail => types::Outcome::Fail,
            v1::types::Outcome::Inconclusive => types::Outcome::Inconclusive,
        },
        summary: v.summary,
        evidence: v
            .evidence
            .into_iter()
            .map(|e| types::Evidence {
                label: e.label,
                value: e.value,
            })
            .collect(),
    }
}

pub fn descriptor(d: v1::types::Descriptor) -> types::Descriptor {
    types::Descriptor {
        name: d.name,
        version: d.version,
        description: d.description,
        config_help: d.config_help,
        capabilities: d.capabilities,
    }
}
