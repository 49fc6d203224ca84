//! `builtin:http-probe`: one HTTP request (or a short sequence, e.g. login then
//! logout) with expectations on status, body, a JSON field and latency.

use std::collections::BTreeMap;

use check_kit::excerpt;
pub use check_kit::{Finding, Outcome};
use serde::Deserialize;

pub const DESCRIPTION: &str = "Sends one HTTP request (or a sequence of steps, e.g. login then logout) and \
checks the status (default 2xx), an optional body substring, an optional JSON field value and an optional \
maximum latency. Serves health endpoints, API docs pages and auth sanity flows.";

pub const CONFIG_HELP: &str = r#"JSON object, one request:
  url              string    required; may use ${release_id}, ${project} and captured ${vars}
  method           string    default "GET"
  headers          {string: string}
  body             string    request body
  expect_status    200 | "2xx" | "200-204" | [..]   default "2xx"
  body_contains    string    the body must contain this text
  json_field       string    dotted path into a JSON body, e.g. "data.version"
  json_equals      any       the value json_field must have (strings may use ${release_id})
  max_latency_ms   integer   fail when slower
  timeout_ms       integer   per request (the host caps it too)
  follow_redirects bool      default false
  capture          {var: "json.path"}   keep a response value for later steps as ${var}
or {"steps": [ {same fields plus "name"}, ... ]} run in order, stopping at the first failure."#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub expect_status: StatusSpec,
    #[serde(default)]
    pub body_contains: Option<String>,
    #[serde(default)]
    pub json_field: Option<String>,
    #[serde(default)]
    pub json_equals: Option<serde_json::Value>,
    #[serde(default)]
    pub max_latency_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    #[serde(default)]
    pub follow_redirects: bool,
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
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

    fn ranges(&self) -> Result<Vec<(u16, u16)>, String> {
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

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        let invalid =
            |e: serde_json::Error| format!("http-probe: invalid config: {e}\n{CONFIG_HELP}");
        let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
        let steps = match value.get("steps") {
            Some(steps) => serde_json::from_value::<Vec<Step>>(steps.clone()).map_err(invalid)?,
            None => vec![serde_json::from_value::<Step>(value).map_err(invalid)?],
        };
        if steps.is_empty() {
            return Err("http-probe: `steps` is empty: give at least one request".into());
        }
        for step in &steps {
            step.expect_status
                .ranges()
                .map_err(|e| format!("http-probe: {e}"))?;
            if !(step.url.starts_with("http://") || step.url.starts_with("https://")) {
                return Err(format!(
                    "http-probe: url `{}` must start with http:// or https://",
                    step.url
                ));
            }
            if step.json_equals.is_some() && step.json_field.is_none() {
                return Err(
                    "http-probe: `json_equals` needs `json_field` (the dotted path to compare)"
                        .into(),
                );
            }
        }
        Ok(Config { steps })
    }
}

/// A request as the host should send it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: Option<u32>,
    pub follow_redirects: bool,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub truncated: bool,
    pub elapsed_ms: u32,
}

/// Runs the steps in order with `send`, substituting `${var}` from `vars` and
/// from earlier captures; stops at the first step that does not pass.
pub fn probe(
    config: &Config,
    vars: &BTreeMap<String, String>,
    mut send: impl FnMut(Request) -> Result<Response, String>,
) -> Finding {
    let mut vars = vars.clone();
    let mut evidence = Vec::new();
    let many = config.steps.len() > 1;
    let mut summaries = Vec::new();
    for (i, step) in config.steps.iter().enumerate() {
        let name = step
            .name
            .clone()
            .unwrap_or_else(|| format!("step{}", i + 1));
        let label = |l: &str| {
            if many {
                format!("{name}.{l}")
            } else {
                l.to_string()
            }
        };
        let url = substitute(&step.url, &vars);
        let request = Request {
            method: step.method.to_ascii_uppercase(),
            url: url.clone(),
            headers: step
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), substitute(v, &vars)))
                .collect(),
            body: step
                .body
                .as_ref()
                .map(|b| substitute(b, &vars).into_bytes()),
            timeout_ms: step.timeout_ms,
            follow_redirects: step.follow_redirects,
        };
        let what = format!("{} {}", request.method, url);
        let response = match send(request) {
            Ok(r) => r,
            Err(e) => {
                evidence.push((label("error"), e.clone()));
                return Finding::new(Outcome::Fail, format!("{what}: {e}"), evidence);
            }
        };
        let body = String::from_utf8_lossy(&response.body);
        evidence.push((label("status"), response.status.to_string()));
        evidence.push((label("latency_ms"), response.elapsed_ms.to_string()));
        evidence.push((label("body"), excerpt(&body, 300)));
        match judge(step, &response, &body, &vars) {
            Ok(()) => {}
            Err(problem) => {
                return Finding::new(Outcome::Fail, format!("{what}: {problem}"), evidence);
            }
        }
        for (var, path) in &step.capture {
            match json_at(&body, path) {
                Some(v) => {
                    vars.insert(var.clone(), json_text(&v));
                }
                None => {
                    return Finding::new(
                        Outcome::Fail,
                        format!(
                            "{what}: no `{path}` in the response body to capture as ${{{var}}}"
                        ),
                        evidence,
                    );
                }
            }
        }
        summaries.push(format!(
            "{what} → {} in {} ms",
            response.status, response.elapsed_ms
        ));
    }
    Finding::new(Outcome::Pass, summaries.join("; "), evidence)
}

fn judge(
    step: &Step,
    response: &Response,
    body: &str,
    vars: &BTreeMap<String, String>,
) -> Result<(), String> {
    let ranges = step.expect_status.ranges()?;
    if !ranges
        .iter()
        .any(|(a, b)| (*a..=*b).contains(&response.status))
    {
        return Err(format!(
            "status {} (expected {})",
            response.status,
            step.expect_status.describe()
        ));
    }
    if let Some(max) = step.max_latency_ms
        && u64::from(response.elapsed_ms) > max
    {
        return Err(format!("took {} ms (max {max} ms)", response.elapsed_ms));
    }
    if let Some(needle) = &step.body_contains {
        let needle = substitute(needle, vars);
        if !body.contains(&needle) {
            let cut = if response.truncated {
                " (body truncated by the host)"
            } else {
                ""
            };
            return Err(format!("body does not contain {needle:?}{cut}"));
        }
    }
    if let Some(path) = &step.json_field {
        let Some(found) = json_at(body, path) else {
            return Err(format!("JSON field `{path}` not found in the body"));
        };
        if let Some(want) = &step.json_equals {
            let want = match want {
                serde_json::Value::String(s) => serde_json::Value::String(substitute(s, vars)),
                other => other.clone(),
            };
            if found != want {
                return Err(format!("JSON field `{path}` is {found}, expected {want}"));
            }
        }
    }
    Ok(())
}

/// The value at a dotted path (`a.b.0.c`) of a JSON body.
fn json_at(body: &str, path: &str) -> Option<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    for key in path.split('.') {
        value = match value {
            serde_json::Value::Object(mut m) => m.remove(key)?,
            serde_json::Value::Array(mut a) => {
                let i: usize = key.parse().ok()?;
                (i < a.len()).then(|| a.swap_remove(i))?
            }
            _ => return None,
        };
    }
    Some(value)
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Replaces `${name}` with `vars[name]`; unknown names stay as they are.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

#[cfg(target_arch = "wasm32")]
mod guest;

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16, body: &str, ms: u32) -> Result<Response, String> {
        Ok(Response {
            status,
            body: body.as_bytes().to_vec(),
            truncated: false,
            elapsed_ms: ms,
        })
    }

    fn run(config: &str, responses: Vec<Result<Response, String>>) -> (Finding, Vec<Request>) {
        let config = Config::parse(config).unwrap();
        let vars = BTreeMap::from([("release_id".to_string(), "r42".to_string())]);
        let mut responses = responses.into_iter();
        let mut sent = Vec::new();
        let f = probe(&config, &vars, |req| {
            sent.push(req);
            responses.next().unwrap()
        });
        (f, sent)
    }

    #[test]
    fn status_classes_ranges_and_lists() {
        let (f, _) = run(r#"{"url":"http://h/"}"#, vec![ok(204, "", 1)]);
        assert_eq!(f.outcome, Outcome::Pass);
        let (f, _) = run(r#"{"url":"http://h/"}"#, vec![ok(503, "down", 1)]);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(
            f.summary.contains("status 503 (expected 2xx)"),
            "{}",
            f.summary
        );
        let (f, _) = run(
            r#"{"url":"http://h/","expect_status":[301,"400-404"]}"#,
            vec![ok(404, "", 1)],
        );
        assert_eq!(f.outcome, Outcome::Pass);
        assert!(Config::parse(r#"{"url":"http://h/","expect_status":"9xx"}"#).is_err());
    }

    #[test]
    fn json_field_equals_release_id() {
        let c =
            r#"{"url":"http://h/v","json_field":"build.version","json_equals":"${release_id}"}"#;
        let (f, _) = run(c, vec![ok(200, r#"{"build":{"version":"r42"}}"#, 1)]);
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        let (f, _) = run(c, vec![ok(200, r#"{"build":{"version":"r41"}}"#, 1)]);
        assert!(
            f.summary.contains(r#"is "r41", expected "r42""#),
            "{}",
            f.summary
        );
    }

    #[test]
    fn latency_and_body() {
        let (f, _) = run(
            r#"{"url":"http://h/","max_latency_ms":10}"#,
            vec![ok(200, "", 11)],
        );
        assert!(f.summary.contains("took 11 ms (max 10 ms)"));
        let (f, _) = run(
            r#"{"url":"http://h/","body_contains":"openapi"}"#,
            vec![ok(200, "<html>", 1)],
        );
        assert!(f.summary.contains("does not contain \"openapi\""));
    }

    #[test]
    fn steps_capture_and_stop_at_first_failure() {
        let c = r#"{"steps":[
            {"name":"login","method":"post","url":"http://h/login","body":"{}","capture":{"token":"token"}},
            {"name":"logout","method":"POST","url":"http://h/logout","headers":{"Authorization":"Bearer ${token}"}}
        ]}"#;
        let (f, sent) = run(c, vec![ok(200, r#"{"token":"t0k"}"#, 2), ok(204, "", 1)]);
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        assert_eq!(sent[0].method, "POST");
        assert_eq!(
            sent[1].headers,
            vec![("Authorization".into(), "Bearer t0k".into())]
        );
        assert!(
            f.evidence
                .iter()
                .any(|(l, v)| l == "logout.status" && v == "204")
        );

        let (f, sent) = run(c, vec![ok(401, "no", 2)]);
        assert_eq!(f.outcome, Outcome::Fail);
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn transport_errors_fail_with_the_error() {
        let (f, _) = run(
            r#"{"url":"http://h/"}"#,
            vec![Err("connection refused".into())],
        );
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(f.summary.contains("GET http://h/: connection refused"));
    }
}
