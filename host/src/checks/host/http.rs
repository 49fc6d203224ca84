//! `http.send`: host-side HTTP to granted URL prefixes only, redirects
//! followed by hand so every hop is checked, bodies capped.

use std::time::{Duration, Instant};

use super::super::bindings::http;
use super::super::grants::{Grants, check_header};
use super::super::tape::{Interaction, Scrubber};
use super::{HostState, Live, on_net};

impl HostState {
    /// Refuses a malformed request (see `lift`), noting why.
    pub(super) fn refuse(&mut self, why: String) -> http::Error {
        self.note("host.denied", why.clone());
        http::Error::Invalid(why)
    }
}

impl http::Host for HostState {
    /// Reached through `lift`, which has refused anything over the caps
    /// on a method, URL, header or body before copying it.
    async fn send(&mut self, req: http::Request) -> Result<http::Response, http::Error> {
        // As a tape would show it: no secret in the host's evidence.
        let call = format!(
            "http {} {}",
            req.method.to_ascii_uppercase(),
            Scrubber::new().sent(&req.url)
        );
        let max_body = self.limits.max_http_body_bytes;
        if let Some(body) = req.body.as_ref().filter(|b| b.len() > max_body) {
            return Err(self.refuse(format!(
                "{call}: a {} byte request body is over the {max_body} byte cap",
                body.len()
            )));
        }
        let checked = req
            .headers
            .iter()
            .try_for_each(|h| check_header(&h.name))
            .and_then(|()| self.grants.check_http(&req.method, &req.url));
        let url = match checked {
            Ok(url) => url,
            Err(denied) => {
                self.note("host.denied", denied.clone());
                return Err(http::Error::Denied(denied));
            }
        };
        let timeout = req
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(Duration::MAX)
            .min(self.remaining());
        let result = self
            .io
            .answer(
                async |live| {
                    let (client, req, grants) = (live.client()?, req.clone(), self.grants.clone());
                    on_net(&self.net, async move {
                        send_live(&client, &req, url, &grants, timeout, max_body).await
                    })
                    .await
                    .unwrap_or_else(|e| Err(http::Error::Other(e)))
                },
                |result| Interaction::HttpSend {
                    request: req.clone(),
                    result,
                },
                // A tape is input too: its bodies get the same cap as live ones.
                |replay| {
                    replay.http(&req).map(|mut r| {
                        if r.body.len() > max_body {
                            r.body.truncate(max_body);
                            r.truncated = true;
                        }
                        r
                    })
                },
            )
            .await;
        // Denied and invalid requests never left: they say nothing about
        // whether the target is up. A gateway's 502 or 504 is a proxy in
        // front saying the app behind it does not answer (yet); a 503 is
        // often the app's own "unhealthy", so it counts as an answer.
        self.journal.no_response |= matches!(
            &result,
            Err(http::Error::Connect(_) | http::Error::Timeout(_) | http::Error::Other(_))
        ) || matches!(&result, Ok(r) if matches!(r.status, 502 | 504));
        let seen = match &result {
            Ok(r) => format!("{call} → {} in {} ms", r.status, r.elapsed_ms),
            Err(e) => format!("{call} → {}", describe_http_error(e)),
        };
        self.note("host.http", seen);
        result
    }
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

impl Live {
    /// The HTTP client, built on first use (log checks never need one).
    fn client(&self) -> Result<reqwest::Client, http::Error> {
        self.http
            .get_or_init(|| {
                // Redirects are followed by hand so each hop is checked against
                // the grants; proxies from the environment are ignored so a
                // check reaches exactly the URL it was granted.
                crate::tls::init();
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .user_agent(concat!("pitwall/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot set up the HTTP client: {e}"))
            })
            .clone()
            .map_err(http::Error::Other)
    }
}

/// Performs one request, following redirects by hand when asked (each hop
/// must be granted too) and cutting the body at `max_body` bytes.
/// `url` is `req.url` as the grants accepted it; later hops are checked
/// here.
async fn send_live(
    client: &reqwest::Client,
    req: &http::Request,
    mut url: reqwest::Url,
    grants: &Grants,
    timeout: Duration,
    max_body: usize,
) -> Result<http::Response, http::Error> {
    const MAX_REDIRECTS: usize = 10;
    let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| http::Error::Invalid(format!("`{}` is not an HTTP method", req.method)))?;
    let start = Instant::now();
    for _ in 0..=MAX_REDIRECTS {
        let left = timeout.saturating_sub(start.elapsed());
        let mut builder = client.request(method.clone(), url.clone()).timeout(left);
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
