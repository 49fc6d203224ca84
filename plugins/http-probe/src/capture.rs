//! Values a step keeps for later steps as `${var}`: a JSON path of the body,
//! a response header, the first group of a regular expression over the body,
//! or a cookie the jar holds. Captured values are secrets (see `mask`).

use regex_lite::Regex;

use crate::jar::Jar;
use crate::url::Url;
use crate::{Response, json};

/// Where a captured value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A dotted path into a JSON body (`data.token`, `items.0.id`).
    Json(String),
    /// A response header, by name in any case; the first if repeated.
    Header(String),
    /// The first capture group of the first match in the body.
    Regex(Regex),
    /// The value of the cookie the jar would send back to the step's URL.
    Cookie(String),
}

/// One `capture` entry: `${var}` from `source`.
#[derive(Debug, Clone)]
pub struct Capture {
    pub var: String,
    pub source: Source,
}

impl Source {
    /// Reads a `capture` value: `"a.b"` (a JSON path, as before) or a table
    /// with exactly one of `json`, `header`, `regex`, `cookie`.
    pub fn parse(value: &serde_json::Value) -> Result<Source, String> {
        const SHAPES: &str = r#"a JSON path ("data.token") or one of { json = "data.token" }, { header = "location" }, { regex = 'name="csrf" value="([^"]+)"' }, { cookie = "csrftoken" }"#;
        let (kind, text) = match value {
            serde_json::Value::String(path) => ("json", path),
            serde_json::Value::Object(o) if o.len() == 1 => match o.iter().next() {
                Some((kind, serde_json::Value::String(text))) => (kind.as_str(), text),
                _ => return Err(format!("expected {SHAPES}")),
            },
            _ => return Err(format!("expected {SHAPES}")),
        };
        if text.is_empty() {
            return Err(format!("`{kind}` is empty"));
        }
        match kind {
            "json" => Ok(Source::Json(text.clone())),
            "header" => Ok(Source::Header(text.clone())),
            "cookie" => Ok(Source::Cookie(text.clone())),
            "regex" => {
                let re = Regex::new(text)
                    .map_err(|e| format!("regex `{text}` does not compile: {e}"))?;
                if re.captures_len() < 2 {
                    return Err(format!(
                        "regex `{text}` has no group: put the value to keep in ( ), \
                         e.g. 'value=\"([^\"]+)\"'"
                    ));
                }
                Ok(Source::Regex(re))
            }
            other => Err(format!("unknown capture kind `{other}`: expected {SHAPES}")),
        }
    }

    /// What it reads, for a message.
    pub fn describe(&self) -> String {
        match self {
            Source::Json(path) => format!("JSON path `{path}` in the body"),
            Source::Header(name) => format!("header `{name}`"),
            Source::Regex(re) => format!("regex `{}` in the body", re.as_str()),
            Source::Cookie(name) => format!("cookie `{name}`"),
        }
    }

    /// The value in `response` (to `url`), if there is one.
    pub fn read(&self, response: &Response, body: &str, jar: &Jar, url: &Url) -> Option<String> {
        match self {
            Source::Json(path) => json::at(body, path).map(|v| json::text(&v)),
            Source::Header(name) => response.header(name).map(str::to_string),
            Source::Regex(re) => re
                .captures(body)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_string()),
            Source::Cookie(name) => jar.value_for(url, name).map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(spec: serde_json::Value, response: &Response) -> Option<String> {
        let source = Source::parse(&spec).unwrap();
        let url = Url::parse("http://h/login/").unwrap();
        let mut jar = Jar::new(0);
        jar.store(&url, "csrftoken=c00kie; Path=/");
        let body = String::from_utf8_lossy(&response.body);
        source.read(response, &body, &jar, &url)
    }

    #[test]
    fn each_kind_reads_its_value() {
        let html =
            r#"<form><input type="hidden" name="csrfmiddlewaretoken" value="Tok3n-abc"></form>"#;
        let response = Response {
            headers: vec![("Location".into(), "/next/".into())],
            ..Response::new(200, html)
        };
        let csrf = json!({"regex": r#"name="csrfmiddlewaretoken" value="([^"]+)""#});
        assert_eq!(read(csrf, &response).as_deref(), Some("Tok3n-abc"));
        assert_eq!(
            read(json!({"header": "location"}), &response).as_deref(),
            Some("/next/")
        );
        assert_eq!(
            read(json!({"cookie": "csrftoken"}), &response).as_deref(),
            Some("c00kie")
        );
        assert_eq!(read(json!({"cookie": "sessionid"}), &response), None);
        let json_body = Response::new(200, r#"{"data":{"token":"t0k","n":[1,2]}}"#);
        // A bare string is a JSON path, as before; numbers come as text.
        assert_eq!(
            read(json!("data.token"), &json_body).as_deref(),
            Some("t0k")
        );
        assert_eq!(
            read(json!({"json": "data.n.1"}), &json_body).as_deref(),
            Some("2")
        );
        assert_eq!(read(json!({"regex": "nothing (here)"}), &json_body), None);
    }

    #[test]
    fn bad_specs_say_what_to_write() {
        let err = |v| Source::parse(&v).unwrap_err();
        assert!(
            err(json!({"regex": "(unclosed"})).starts_with("regex `(unclosed` does not compile: ")
        );
        assert_eq!(
            err(json!({"regex": "value=\"[^\"]+\""})),
            "regex `value=\"[^\"]+\"` has no group: put the value to keep in ( ), e.g. 'value=\"([^\"]+)\"'"
        );
        assert!(
            err(json!({"xpath": "//a"}))
                .starts_with("unknown capture kind `xpath`: expected a JSON path")
        );
        assert!(err(json!({"json": "a", "header": "b"})).starts_with("expected a JSON path"));
        assert_eq!(err(json!({"header": ""})), "`header` is empty");
        assert!(err(json!(3)).starts_with("expected a JSON path"));
    }
}
