//! The probe's configuration: one request or a list of steps, each with its
//! expectations, parsed strictly so a typo is an error in preflight.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::capture::{Capture, Source};
use crate::vars;

pub const CONFIG_HELP: &str = r#"JSON object, one request:
  url              string    required
  method           string    default "GET"
  headers          {string: string}
  body             string    request body
  form             {string: string}   url-encoded form body (fields in name order), instead of
                             `body`; sets Content-Type: application/x-www-form-urlencoded
                             unless `headers` give one
  expect_status    200 | "2xx" | "200-204" | [302, "2xx", ..]   default "2xx"
  body_contains    string    the body must contain this text
  json_field       string    dotted path into a JSON body, e.g. "data.version"
  json_equals      any       the value json_field must have
  max_latency_ms   integer   fail when slower (all redirect hops together)
  timeout_ms       integer   per request (the host caps it too)
  follow_redirects bool      default false; the probe follows 301/302/303/307/308 itself, at
                             most 10 hops, storing each hop's cookies; 301-303 turn a POST
                             into a GET without body; each hop must be under allow_http
  capture          {var: source}   keep a value of the response for later steps as ${var}:
                   "data.token" or { json = "data.token" }   dotted path into a JSON body
                   { header = "location" }                   a response header
                   { regex = 'name="csrf" value="([^"]+)"' } first group of the first match
                   { cookie = "csrftoken" }                  a cookie the jar holds
or {"steps": [ {same fields plus "name"}, ... ]} run in order, stopping at the first failure.
Cookies: one jar per run; every Set-Cookie (redirect hops too) is kept and sent back as RFC 6265
says (host, path, Secure, expiry). Captured values and cookie values are blanked (***) in the
summary and evidence.
${var} in url, headers, body, form values, body_contains and json_equals: ${release_id},
${project} and captured vars are filled in by the probe at run time (lower-case names); upper-case
${NAME}s are pitwall.toml's, filled in from the env file and environment before the probe runs
(e.g. password = "${CHECK_PASSWORD}")."#;

/// One request and what its response must look like.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub url: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub body: Body,
    pub expect_status: StatusSpec,
    pub body_contains: Option<String>,
    pub json_field: Option<String>,
    pub json_equals: Option<serde_json::Value>,
    pub max_latency_ms: Option<u64>,
    pub timeout_ms: Option<u32>,
    pub follow_redirects: bool,
    pub capture: Vec<Capture>,
}

/// What a step sends as its body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    None,
    /// As written (after `${var}`).
    Raw(String),
    /// Fields url-encoded, values after `${var}`.
    Form(BTreeMap<String, String>),
}

/// A step as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    name: Option<String>,
    url: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    form: Option<BTreeMap<String, String>>,
    #[serde(default)]
    expect_status: StatusSpec,
    #[serde(default)]
    body_contains: Option<String>,
    #[serde(default)]
    json_field: Option<String>,
    #[serde(default)]
    json_equals: Option<serde_json::Value>,
    #[serde(default)]
    max_latency_ms: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u32>,
    #[serde(default)]
    follow_redirects: bool,
    #[serde(default)]
    capture: BTreeMap<String, serde_json::Value>,
}

fn default_method() -> String {
    "GET".into()
}

/// Accepted statuses: `200`, `"2xx"`, `"200-299"`, or a list of those.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    One(StatusPattern),
    Many(Vec<StatusPattern>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusPattern {
    Code(u16),
    Text(String),
}

impl Default for StatusSpec {
    fn default() -> Self {
        StatusSpec::One(StatusPattern::Text("2xx".into()))
    }
}

impl StatusSpec {
    fn patterns(&self) -> &[StatusPattern] {
        match self {
            StatusSpec::One(p) => std::slice::from_ref(p),
            StatusSpec::Many(ps) => ps,
        }
    }

    pub(crate) fn ranges(&self) -> Result<Vec<(u16, u16)>, String> {
        self.patterns().iter().map(StatusPattern::range).collect()
    }

    pub fn describe(&self) -> String {
        self.patterns()
            .iter()
            .map(|p| match p {
                StatusPattern::Code(c) => c.to_string(),
                StatusPattern::Text(t) => t.clone(),
            })
            .collect::<Vec<_>>()
            .join("|")
    }
}

impl StatusPattern {
    fn range(&self) -> Result<(u16, u16), String> {
        let bad = |t: &str| {
            format!(
                "expect_status `{t}` is not a status, a class like \"2xx\" or a range like \"200-204\""
            )
        };
        match self {
            StatusPattern::Code(c) if (100..=599).contains(c) => Ok((*c, *c)),
            StatusPattern::Code(c) => Err(bad(&c.to_string())),
            StatusPattern::Text(t) => {
                let lower = t.to_ascii_lowercase();
                if let Some(class) = lower.strip_suffix("xx")
                    && let Ok(d @ 1..=5) = class.parse::<u16>()
                {
                    return Ok((d * 100, d * 100 + 99));
                }
                if let Some((a, b)) = lower.split_once('-')
                    && let (Ok(a), Ok(b)) = (a.trim().parse(), b.trim().parse())
                    && a <= b
                {
                    return Ok((a, b));
                }
                lower.parse().map(|c| (c, c)).map_err(|_| bad(t))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub steps: Vec<Step>,
}

/// Names the probe fills in itself.
pub const BUILT_IN_VARS: &[&str] = &["release_id", "project"];

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        let invalid =
            |e: serde_json::Error| format!("http-probe: invalid config: {e}\n{CONFIG_HELP}");
        let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
        let raw = match value.get("steps") {
            Some(steps) => {
                serde_json::from_value::<Vec<RawStep>>(steps.clone()).map_err(invalid)?
            }
            None => vec![serde_json::from_value::<RawStep>(value).map_err(invalid)?],
        };
        if raw.is_empty() {
            return Err("http-probe: `steps` is empty: give at least one request".into());
        }
        let many = raw.len() > 1;
        let mut known: Vec<String> = BUILT_IN_VARS.iter().map(|v| v.to_string()).collect();
        let mut steps = Vec::new();
        for (i, raw) in raw.into_iter().enumerate() {
            let name = raw.name.clone().unwrap_or_else(|| format!("step{}", i + 1));
            let at = if many {
                format!("http-probe: step `{name}`: ")
            } else {
                "http-probe: ".to_string()
            };
            let step = Step::check(raw, name, &known).map_err(|e| format!("{at}{e}"))?;
            known.extend(step.capture.iter().map(|c| c.var.clone()));
            steps.push(step);
        }
        Ok(Config { steps })
    }
}

impl Step {
    /// A written step made sure of: `known` are the `${var}`s it may use.
    fn check(raw: RawStep, name: String, known: &[String]) -> Result<Step, String> {
        raw.expect_status.ranges()?;
        if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) {
            return Err(format!(
                "url `{}` must start with http:// or https://",
                raw.url
            ));
        }
        if raw.json_equals.is_some() && raw.json_field.is_none() {
            return Err("`json_equals` needs `json_field` (the dotted path to compare)".into());
        }
        let body = match (raw.body, raw.form) {
            (Some(_), Some(_)) => {
                return Err(
                    "give `body` or `form`, not both: `form` is the body, url-encoded".into(),
                );
            }
            (Some(b), None) => Body::Raw(b),
            (None, Some(f)) => Body::Form(f),
            (None, None) => Body::None,
        };
        let mut capture = Vec::new();
        for (var, spec) in &raw.capture {
            if vars::is_host_name(var)
                || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!(
                    "capture name `{var}`: use letters, digits and `_`, not all upper case \
                     (upper-case ${{NAME}}s are pitwall.toml's, from the env file)"
                ));
            }
            if BUILT_IN_VARS.contains(&var.as_str()) {
                return Err(format!(
                    "capture name `{var}` is taken: the probe fills in ${{{var}}}"
                ));
            }
            let source = Source::parse(spec).map_err(|e| format!("capture `{var}`: {e}"))?;
            capture.push(Capture {
                var: var.clone(),
                source,
            });
        }
        let step = Step {
            name,
            url: raw.url,
            method: raw.method.to_ascii_uppercase(),
            headers: raw.headers,
            body,
            expect_status: raw.expect_status,
            body_contains: raw.body_contains,
            json_field: raw.json_field,
            json_equals: raw.json_equals,
            max_latency_ms: raw.max_latency_ms,
            timeout_ms: raw.timeout_ms,
            follow_redirects: raw.follow_redirects,
            capture,
        };
        step.check_references(known)?;
        Ok(step)
    }

    /// Every `${var}` the step uses is filled in by someone: a typo, or a
    /// capture of a later step, is an error now rather than a literal
    /// `${csfr}` sent to the app.
    fn check_references(&self, known: &[String]) -> Result<(), String> {
        let mut texts: Vec<&str> = vec![&self.url];
        texts.extend(self.headers.values().map(String::as_str));
        match &self.body {
            Body::Raw(b) => texts.push(b),
            Body::Form(f) => texts.extend(f.values().map(String::as_str)),
            Body::None => {}
        }
        texts.extend(self.body_contains.as_deref());
        if let Some(serde_json::Value::String(s)) = &self.json_equals {
            texts.push(s);
        }
        for name in texts.into_iter().flat_map(vars::references) {
            if known.iter().any(|k| k == name) {
                continue;
            }
            if vars::is_host_name(name) {
                return Err(format!(
                    "`${{{name}}}` was not filled in: pitwall fills in upper-case ${{NAME}}s from \
                     the env file and the environment when it reads pitwall.toml; set {name} there \
                     (`check run --config` takes the text as written)"
                ));
            }
            let captured = &known[BUILT_IN_VARS.len()..];
            let so_far = if captured.is_empty() {
                "none".to_string()
            } else {
                captured.join(", ")
            };
            return Err(format!(
                "`${{{name}}}` is neither built in (release_id, project) nor captured by an \
                 earlier step (captured so far: {so_far})"
            ));
        }
        Ok(())
    }
}
