//! Record/replay of host calls. Every capability a check uses is a host call
//! whose arguments and answer are plain data, so a run recorded against a
//! live stack replays exactly, offline.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::bindings::{http, stack, types};
use super::grants::Grants;
use super::verdict::Verdict;
use crate::engine::LogWindow;

/// One host call and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call")]
pub enum Interaction {
    #[serde(rename = "http.send")]
    HttpSend {
        request: http::Request,
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

impl LogsQuery {
    pub fn window(&self) -> LogWindow {
        LogWindow {
            since_ms: self.since_ms,
            until_ms: self.until_ms,
        }
    }
}

/// A call as a key: what identifies it, without its answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Call {
    Http {
        method: String,
        url: String,
        body: Option<Vec<u8>>,
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
        Call::Http {
            method: req.method.to_ascii_uppercase(),
            url: req.url.clone(),
            body: req.body.clone(),
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
                if let Some(b) = body {
                    write!(f, " (body {} bytes)", b.len())?;
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
                    request.url.len()
                        + request.body.as_ref().map_or(0, Vec::len)
                        + result.as_ref().map_or(0, |r| r.body.len())
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
    pub config: String,
    pub grants: Grants,
    pub context: types::Context,
    pub interactions: Vec<Interaction>,
    /// The verdict of the live run.
    pub verdict: Verdict,
}

impl Recording {
    pub fn read(path: &Path) -> anyhow::Result<Recording> {
        let bytes = crate::fsutil::read_regular(path, MAX_TAPE_BYTES)
            .with_context(|| format!("cannot read the recording {}", path.display()))?;
        let not_a_tape = || {
            format!(
                "{} is not a pitwall recording (write one with `pitwall check run --record FILE`)",
                path.display()
            )
        };
        let mut value: serde_json::Value =
            serde_json::from_slice(&bytes).with_context(not_a_tape)?;
        if let Some(interactions) = value.get_mut("interactions") {
            bodies::to_bytes(interactions)
                .map_err(anyhow::Error::msg)
                .with_context(not_a_tape)?;
        }
        serde_json::from_value(value).with_context(not_a_tape)
    }

    /// Writes atomically: a reader never sees half a recording. Credential
    /// headers (requests', responses' and the configuration's) are blanked:
    /// replay matches on method, URL and body only, and tapes get shared.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut tape = self.clone();
        if let Ok(mut config) = serde_json::from_str::<serde_json::Value>(&tape.config) {
            blank_credential_fields(&mut config);
            tape.config = config.to_string();
        }
        for i in &mut tape.interactions {
            if let Interaction::HttpSend { request, result } = i {
                blank_credentials(&mut request.headers);
                if let Ok(response) = result {
                    blank_credentials(&mut response.headers);
                }
            }
        }
        let mut value = serde_json::to_value(&tape).context("cannot serialise the recording")?;
        if let Some(interactions) = value.get_mut("interactions") {
            bodies::to_readable(interactions);
        }
        let json = serde_json::to_vec_pretty(&value).context("cannot serialise the recording")?;
        crate::fsutil::write_atomic(path, &json)
            .with_context(|| format!("cannot write the recording {}", path.display()))
    }
}

/// Answers host calls from a recording, then from canned answers. Recorded
/// calls are matched by what they ask (method, URL and body; service and
/// window), in recorded order per call. Canned answers (a test case's) are
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

/// Headers that carry credentials.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

fn blank_credentials(headers: &mut [http::Header]) {
    for h in headers {
        if CREDENTIAL_HEADERS.contains(&h.name.to_ascii_lowercase().as_str()) {
            h.value = "***".into();
        }
    }
}

/// Blanks configuration fields named like a credential header (a probe's
/// `headers: {"authorization": …}`).
fn blank_credential_fields(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if CREDENTIAL_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    *v = serde_json::Value::String("***".into());
                } else {
                    blank_credential_fields(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(blank_credential_fields),
        _ => {}
    }
}

/// Bodies in a tape, readable and editable by people: `{"json": …}` when the
/// bytes are JSON that re-serialises to exactly the same bytes (replay
/// matches request bodies byte for byte), `{"text": "…"}` for other UTF-8,
/// `{"base64": "…"}` only for binary. Tapes written before this (bodies as
/// arrays of byte numbers) are still read.
mod bodies {
    use base64::Engine as _;
    use serde_json::Value;

    const KEY: &str = "body";

    /// Every `body` array of byte numbers, made readable.
    pub fn to_readable(v: &mut Value) {
        let Ok(()) = walk::<std::convert::Infallible>(v, &mut |body| {
            if let Some(bytes) = as_bytes(body) {
                *body = readable(bytes);
            }
            Ok(())
        });
    }

    /// Every readable body back to its bytes; old-style arrays stay.
    pub fn to_bytes(v: &mut Value) -> Result<(), String> {
        walk(v, &mut |body| {
            let Value::Object(o) = body else {
                return Ok(());
            };
            let bytes = match (o.get("json"), o.get("text"), o.get("base64")) {
                (Some(json), None, None) => serde_json::to_vec(json).map_err(|e| e.to_string())?,
                (None, Some(Value::String(text)), None) => text.clone().into_bytes(),
                (None, None, Some(Value::String(b64))) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("a base64 body does not decode: {e}"))?,
                _ => {
                    return Err("a body must be one of {\"json\"}, {\"text\"}, {\"base64\"}".into());
                }
            };
            *body = Value::Array(bytes.into_iter().map(Value::from).collect());
            Ok(())
        })
    }

    fn walk<E>(v: &mut Value, f: &mut impl FnMut(&mut Value) -> Result<(), E>) -> Result<(), E> {
        match v {
            Value::Object(o) => {
                for (k, child) in o.iter_mut() {
                    if k == KEY {
                        f(child)?;
                    } else {
                        walk(child, f)?;
                    }
                }
            }
            Value::Array(a) => {
                for child in a {
                    walk(child, f)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn as_bytes(v: &Value) -> Option<Vec<u8>> {
        v.as_array()?
            .iter()
            .map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect()
    }

    fn readable(bytes: Vec<u8>) -> Value {
        let json = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(|j| j.is_object() || j.is_array())
            .filter(|j| serde_json::to_vec(j).is_ok_and(|again| again == bytes));
        let mut o = serde_json::Map::new();
        match (json, String::from_utf8(bytes)) {
            (Some(json), _) => o.insert("json".into(), json),
            (None, Ok(text)) => o.insert("text".into(), Value::String(text)),
            (None, Err(e)) => o.insert(
                "base64".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
            ),
        };
        Value::Object(o)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn bodies_round_trip_readably() {
            let original = json!([
                {"request": {"body": null}, "result": {"Ok": {"body": [123,34,97,34,58,49,125]}}},
                {"request": {"body": [104,105]}, "result": {"Ok": {"body": [255,0]}}},
                {"result": {"Ok": {"body": [123, 32, 125]}}}
            ]);
            let mut v = original.clone();
            to_readable(&mut v);
            assert_eq!(v[0]["result"]["Ok"]["body"], json!({"json": {"a": 1}}));
            assert_eq!(v[1]["request"]["body"], json!({"text": "hi"}));
            assert_eq!(v[1]["result"]["Ok"]["body"], json!({"base64": "/wA="}));
            // "{ }" is JSON, but not byte-exact once re-serialised: text.
            assert_eq!(v[2]["result"]["Ok"]["body"], json!({"text": "{ }"}));
            to_bytes(&mut v).unwrap();
            assert_eq!(v, original);
            // Old tapes (byte arrays) are read as they are.
            let mut old = original.clone();
            to_bytes(&mut old).unwrap();
            assert_eq!(old, original);
            let mut bad = json!([{"body": {"text": "a", "json": 1}}]);
            assert!(to_bytes(&mut bad).is_err());
        }
    }
}
