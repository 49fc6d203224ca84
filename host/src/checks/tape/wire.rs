//! How an HTTP call is written in a tape and read back. Bodies are written
//! readable — `{"json": …}` when the bytes are JSON that re-serialises to
//! exactly the same bytes (replay matches request bodies byte for byte),
//! `{"text": "…"}` for other UTF-8, `{"base64": "…"}` only for binary — and
//! credentials scrubbed (see `scrub`). Tapes written before (bodies as
//! arrays of byte numbers) are still read.
//!
//! Reading streams: a body is collected straight from the parser, never as
//! a tree of JSON values (an array of byte numbers costs ~32 bytes of tree
//! per byte of body), and at most `MAX_BODY_BYTES` of it: a longer
//! response body is cut and marked truncated, as the live host would have
//! cut it; a longer request body is refused, since no run can send one.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::super::bindings::{http, stack};
use super::super::limits::MAX_HTTP_BODY_BYTES;
use super::scrub::{self, Scrubber};
use super::{Interaction, LogsQuery};

/// The most of one body a tape read keeps: the host's cap on bodies.
pub const MAX_BODY_BYTES: usize = MAX_HTTP_BODY_BYTES;

/// A body as written: one of three readable forms.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum Readable {
    Json(Value),
    Text(String),
    Base64(String),
}

impl Readable {
    /// At most one JSON tree of one body (itself capped) exists at a time.
    fn of(bytes: &[u8]) -> Readable {
        let json = matches!(bytes.first(), Some(b'{' | b'['))
            .then(|| serde_json::from_slice::<Value>(bytes).ok())
            .flatten()
            .filter(|j| serde_json::to_vec(j).is_ok_and(|again| again == bytes));
        match (json, std::str::from_utf8(bytes)) {
            (Some(json), _) => Readable::Json(json),
            (None, Ok(text)) => Readable::Text(text.to_string()),
            (None, Err(_)) => {
                Readable::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    name: &'a str,
    value: &'a str,
}

fn headers_out(headers: &[http::Header]) -> Vec<HeaderOut<'_>> {
    headers
        .iter()
        .map(|h| HeaderOut {
            name: &h.name,
            value: scrub::header_value(&h.name, &h.value),
        })
        .collect()
}

/// Reads one recorded call as it is parsed: its `call` tag first (as
/// tapes write it), then the fields of that kind of call, without
/// buffering them. A hand-written call whose tag comes later is read
/// through a JSON tree instead.
pub fn interaction<'de, D: Deserializer<'de>>(d: D) -> Result<Interaction, D::Error> {
    d.deserialize_map(InteractionVisitor)
}

struct InteractionVisitor;

#[derive(Deserialize)]
struct HttpSendIn {
    #[serde(with = "request")]
    request: http::Request,
    #[serde(with = "result")]
    result: Result<http::Response, http::Error>,
}

#[derive(Deserialize)]
struct ContainersIn {
    result: Result<Vec<stack::Container>, String>,
}

#[derive(Deserialize)]
struct LogsIn {
    service: String,
    since_ms: u64,
    until_ms: Option<u64>,
    #[serde(default)]
    max_lines: Option<u32>,
    result: Result<String, String>,
}

impl<'de> Visitor<'de> for InteractionVisitor {
    type Value = Interaction;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a recorded call: {\"call\": \"http.send\", …}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Interaction, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field("call"));
        };
        if first != "call" {
            // pitwall writes the tag first; reading a tape in any other
            // order would mean holding a whole call (a body of numbers, at
            // ~32 bytes of tree each) before knowing what it is.
            return Err(de::Error::custom(format!(
                "a recorded call must begin with its \"call\" key (found \"{first}\" first)"
            )));
        }
        let call: String = map.next_value()?;
        let rest = de::value::MapAccessDeserializer::new(map);
        Ok(match call.as_str() {
            "http.send" => {
                let c = HttpSendIn::deserialize(rest)?;
                Interaction::HttpSend {
                    request: c.request,
                    result: c.result,
                }
            }
            "stack.containers" => Interaction::StackContainers {
                result: ContainersIn::deserialize(rest)?.result,
            },
            "stack.logs" => {
                let c = LogsIn::deserialize(rest)?;
                Interaction::StackLogs {
                    query: LogsQuery {
                        service: c.service,
                        since_ms: c.since_ms,
                        until_ms: c.until_ms,
                        max_lines: c.max_lines,
                    },
                    result: c.result,
                }
            }
            other => {
                return Err(de::Error::unknown_variant(
                    other,
                    &["http.send", "stack.containers", "stack.logs"],
                ));
            }
        })
    }
}

/// `#[serde(with)]` for an `http::Request` in a tape.
pub mod request {
    use super::*;

    #[derive(Serialize)]
    struct Out<'a> {
        method: &'a str,
        url: &'a str,
        headers: Vec<HeaderOut<'a>>,
        body: Option<Readable>,
        timeout_ms: Option<u32>,
        follow_redirects: bool,
    }

    #[derive(Deserialize)]
    struct In {
        method: String,
        url: String,
        headers: Vec<http::Header>,
        body: Option<Body>,
        timeout_ms: Option<u32>,
        follow_redirects: bool,
    }

    pub fn serialize<S: Serializer>(r: &http::Request, s: S) -> Result<S::Ok, S::Error> {
        let scrub = Scrubber::new();
        Out {
            method: &r.method,
            url: &scrub.sent(&r.url),
            headers: headers_out(&r.headers),
            body: r
                .body
                .as_deref()
                .map(|b| Readable::of(&scrub.sent_bytes(b))),
            timeout_ms: r.timeout_ms,
            follow_redirects: r.follow_redirects,
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<http::Request, D::Error> {
        let r = In::deserialize(d)?;
        let body = match r.body {
            Some(body) if body.cut => {
                return Err(de::Error::custom(format!(
                    "the request to {} has a body of more than {MAX_BODY_BYTES} bytes: no check \
                     can send that (the cap), so no run can replay it",
                    r.url
                )));
            }
            body => body.map(|b| b.bytes),
        };
        Ok(http::Request {
            method: r.method,
            url: r.url,
            headers: r.headers,
            body,
            timeout_ms: r.timeout_ms,
            follow_redirects: r.follow_redirects,
        })
    }
}

/// `#[serde(with)]` for the answer to an `http.send` in a tape.
pub mod result {
    use super::*;

    #[derive(Serialize)]
    struct Out<'a> {
        status: u16,
        headers: Vec<HeaderOut<'a>>,
        body: Readable,
        truncated: bool,
        elapsed_ms: u32,
    }

    #[derive(Deserialize)]
    struct In {
        status: u16,
        headers: Vec<http::Header>,
        body: Body,
        truncated: bool,
        elapsed_ms: u32,
    }

    pub fn serialize<S: Serializer>(
        r: &Result<http::Response, http::Error>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let scrub = Scrubber::new();
        let out = r.as_ref().map(|r| Out {
            status: r.status,
            headers: headers_out(&r.headers),
            body: Readable::of(&scrub.received_bytes(&r.body)),
            truncated: r.truncated,
            elapsed_ms: r.elapsed_ms,
        });
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Result<http::Response, http::Error>, D::Error> {
        let r = Result::<In, http::Error>::deserialize(d)?;
        Ok(r.map(|r| http::Response {
            status: r.status,
            headers: r.headers,
            truncated: r.truncated || r.body.cut,
            body: r.body.bytes,
            elapsed_ms: r.elapsed_ms,
        }))
    }
}

/// A body read from a tape: at most `MAX_BODY_BYTES`, `cut` when there
/// was more.
struct Body {
    bytes: Vec<u8>,
    cut: bool,
}

impl Body {
    fn new() -> Body {
        Body {
            bytes: Vec::new(),
            cut: false,
        }
    }

    fn push(&mut self, more: &[u8]) {
        let room = MAX_BODY_BYTES - self.bytes.len();
        if more.len() > room {
            self.cut = true;
        }
        self.bytes.extend_from_slice(&more[..more.len().min(room)]);
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Body, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a body: {"json": …}, {"text": "…"}, {"base64": "…"} or an array of bytes"#)
    }

    /// The old form, one number per byte, read one at a time.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body, A::Error> {
        let mut body = Body::new();
        while let Some(byte) = seq.next_element::<u8>()? {
            body.push(&[byte]);
        }
        Ok(body)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let form: String = map
            .next_key()?
            .ok_or_else(|| de::Error::custom("an empty body object"))?;
        let mut body = Body::new();
        match form.as_str() {
            "json" => map.next_value_seed(Compact(&mut body))?,
            "text" => body.push(map.next_value::<String>()?.as_bytes()),
            "base64" => {
                let text: String = map.next_value()?;
                // Only what fits is decoded (4 characters make 3 bytes).
                let keep = text.len().min((MAX_BODY_BYTES / 3 + 1) * 4);
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&text.as_bytes()[..keep])
                    .map_err(|e| {
                        de::Error::custom(format!("a base64 body does not decode: {e}"))
                    })?;
                body.push(&bytes);
                body.cut |= keep < text.len();
            }
            _ => return Err(de::Error::custom(ONE_FORM)),
        }
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(ONE_FORM));
        }
        Ok(body)
    }
}

const ONE_FORM: &str = r#"a body must be one of {"json": …}, {"text": "…"}, {"base64": "…"}"#;

/// Writes a JSON value compactly into a body as it is parsed, without
/// building its tree: what `serde_json::to_vec` of the parsed value gives
/// (object keys in the order written).
struct Compact<'b>(&'b mut Body);

impl<'de> DeserializeSeed<'de> for Compact<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Compact<'_> {
    fn scalar<T: Serialize, E: de::Error>(self, v: T) -> Result<(), E> {
        let text = serde_json::to_vec(&v).map_err(E::custom)?;
        self.0.push(&text);
        Ok(())
    }
}

impl<'de> Visitor<'de> for Compact<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As `Value` does: a non-finite number is `null`.
        self.scalar(serde_json::Number::from_f64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.push(b"null");
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(b"[");
        for n in 0u64.. {
            // A comma goes only before an element that is there.
            let at = self.0.bytes.len();
            if n > 0 {
                self.0.push(b",");
            }
            if seq.next_element_seed(Compact(&mut *self.0))?.is_none() {
                self.0.bytes.truncate(at);
                break;
            }
        }
        self.0.push(b"]");
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push(b"{");
        let mut first = true;
        while let Some(key) = map.next_key::<String>()? {
            if !first {
                self.0.push(b",");
            }
            first = false;
            Compact(&mut *self.0).scalar::<_, A::Error>(key)?;
            self.0.push(b":");
            map.next_value_seed(Compact(&mut *self.0))?;
        }
        self.0.push(b"}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Body {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn bodies_are_written_readably() {
        let form = |b: &[u8]| serde_json::to_value(Readable::of(b)).unwrap();
        assert_eq!(form(br#"{"a":1}"#), json!({"json": {"a": 1}}));
        assert_eq!(form(b"hi"), json!({"text": "hi"}));
        assert_eq!(form(&[255, 0]), json!({"base64": "/wA="}));
        // "{ }" is JSON, but not byte-exact once re-serialised: text.
        assert_eq!(form(b"{ }"), json!({"text": "{ }"}));
    }

    #[test]
    fn every_form_reads_back_to_its_bytes() {
        let cases: &[&[u8]] = &[
            br#"{"a":1,"b":[true,null,-2,1.5,"x\"y\u0001"],"c":{}}"#,
            b"[]",
            b"plain text",
            &[255, 0, 1],
        ];
        for &bytes in cases {
            let written = serde_json::to_string_pretty(&Readable::of(bytes)).unwrap();
            let read: Body = serde_json::from_str(&written).unwrap();
            assert_eq!(read.bytes, bytes, "{written}");
            assert!(!read.cut);
            // The old form: an array of byte numbers.
            assert_eq!(body(json!(bytes)).bytes, bytes);
        }
        assert!(serde_json::from_value::<Body>(json!({"text": "a", "json": 1})).is_err());
        assert!(serde_json::from_value::<Body>(json!({"yaml": "a"})).is_err());
    }

    #[test]
    fn a_body_over_the_cap_is_cut_while_read() {
        let long = vec![7u8; MAX_BODY_BYTES + 10];
        let b = body(json!(long));
        assert_eq!((b.bytes.len(), b.cut), (MAX_BODY_BYTES, true));
        let b = body(json!({"text": "x".repeat(MAX_BODY_BYTES + 1)}));
        assert_eq!((b.bytes.len(), b.cut), (MAX_BODY_BYTES, true));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&long);
        let b = body(json!({ "base64": b64 }));
        assert_eq!((b.bytes.len(), b.cut), (MAX_BODY_BYTES, true));
        let b = body(json!({"base64": "aGk="}));
        assert_eq!((b.bytes, b.cut), (b"hi".to_vec(), false));
    }
}
