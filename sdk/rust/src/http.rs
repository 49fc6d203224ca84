//! HTTP through the host: `http::get(url).header("accept", "application/json").send()`.
//! The host sends the request only to URLs the operator granted
//! (`allow_http`), applies its own timeout and caps the body it returns.

use std::fmt;

use crate::bindings::pitwall::check::http as wit;

/// A request being built. Defaults: no headers, no body, the host's timeout,
/// redirects not followed (a redirect is an answer worth judging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout_ms: Option<u32>,
    follow_redirects: bool,
}

pub fn get(url: impl Into<String>) -> Request {
    request("GET", url)
}

pub fn post(url: impl Into<String>) -> Request {
    request("POST", url)
}

/// Any method the host allows: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS.
pub fn request(method: impl Into<String>, url: impl Into<String>) -> Request {
    Request {
        method: method.into(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
        timeout_ms: None,
        follow_redirects: false,
    }
}

impl Request {
    /// Adds a header. `Host` and the framing headers (`Content-Length`,
    /// `Transfer-Encoding`, `Connection`, …) are the host's: it refuses them.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Some(body.into());
        self
    }

    /// A JSON body, with `content-type: application/json`.
    pub fn json(self, value: &impl serde::Serialize) -> Request {
        let body = serde_json::to_vec(value).expect("a serde value serialises to JSON");
        self.header("content-type", "application/json").body(body)
    }

    /// A shorter timeout than the host's own (which always applies).
    pub fn timeout_ms(mut self, ms: u32) -> Request {
        self.timeout_ms = Some(ms);
        self
    }

    /// Follows redirects (each hop must be granted too).
    pub fn follow_redirects(mut self, follow: bool) -> Request {
        self.follow_redirects = follow;
        self
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends it through the host.
    pub fn send(self) -> Result<Response, Error> {
        let request = wit::Request {
            method: self.method,
            url: self.url,
            headers: self
                .headers
                .into_iter()
                .map(|(name, value)| wit::Header { name, value })
                .collect(),
            body: self.body,
            timeout_ms: self.timeout_ms,
            follow_redirects: self.follow_redirects,
        };
        match wit::send(&request) {
            Ok(r) => Ok(Response {
                status: r.status,
                headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                body: r.body,
                truncated: r.truncated,
                elapsed_ms: r.elapsed_ms,
            }),
            Err(e) => Err(match e {
                wit::Error::Denied(m) => Error::Denied(m),
                wit::Error::Timeout(m) => Error::Timeout(m),
                wit::Error::Connect(m) => Error::Connect(m),
                wit::Error::Invalid(m) => Error::Invalid(m),
                wit::Error::Other(m) => Error::Other(m),
            }),
        }
    }
}

/// An answer. Plain data: build one in a unit test to exercise your logic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The host cut the body at its cap.
    pub truncated: bool,
    pub elapsed_ms: u32,
}

impl Response {
    /// A response with `status` and a text body, for tests.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            body: body.into(),
            ..Response::default()
        }
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; the error says why, with an excerpt.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let cut = if self.truncated {
                " (the body was cut at the host's cap)"
            } else {
                ""
            };
            format!(
                "the body is not the JSON expected: {e}{cut}; it starts {:?}",
                crate::excerpt(&self.text(), 120)
            )
        })
    }
}

/// Why the host did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Outside the check's grants; the message names the grant to add.
    Denied(String),
    Timeout(String),
    Connect(String),
    /// The request itself is wrong (a refused header, a bad URL).
    Invalid(String),
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // pitwall's own denials already say "denied"; not twice.
            Error::Denied(m) if m.contains("denied") => f.write_str(m),
            Error::Denied(m) => write!(f, "denied: {m}"),
            Error::Timeout(m) => write!(f, "timed out: {m}"),
            Error::Connect(m) => write!(f, "cannot connect: {m}"),
            Error::Invalid(m) => write!(f, "invalid request: {m}"),
            Error::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_defaults_and_response_helpers() {
        let r = get("http://app/health").header("accept", "application/json");
        assert_eq!((r.method(), r.url()), ("GET", "http://app/health"));
        assert!(!r.follow_redirects && r.body.is_none() && r.timeout_ms.is_none());
        let r = post("http://app/login").json(&serde_json::json!({"user": "a"}));
        assert_eq!(
            r.headers[0],
            ("content-type".into(), "application/json".into())
        );

        let mut resp = Response::new(200, r#"{"db":"ok"}"#);
        resp.headers
            .push(("Content-Type".into(), "application/json".into()));
        assert!(resp.is_success());
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let v: serde_json::Value = resp.json().unwrap();
        assert_eq!(v["db"], "ok");
        let e = Response::new(502, "<html>bad gateway")
            .json::<serde_json::Value>()
            .unwrap_err();
        assert!(e.contains("it starts \"<html>bad gateway\""), "{e}");
    }

    #[test]
    fn errors_read_as_sentences() {
        let e = Error::Denied("http://x/ is outside allow_http".into());
        assert_eq!(e.to_string(), "denied: http://x/ is outside allow_http");
        let host = "http GET http://x/ denied: not under any allow_http prefix";
        assert_eq!(Error::Denied(host.into()).to_string(), host);
        assert_eq!(
            Error::Timeout("after 2s".into()).to_string(),
            "timed out: after 2s"
        );
    }
}
