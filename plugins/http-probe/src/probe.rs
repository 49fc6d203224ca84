//! Running the steps: requests through the host, expectations judged, values
//! captured for later steps.

use std::collections::BTreeMap;

use pitwall_check::excerpt;

use crate::{Config, Outcome, Step, Verdict};

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

pub use pitwall_check::http::Response;

/// Runs the steps in order with `send`, substituting `${var}` from `vars` and
/// from earlier captures; stops at the first step that does not pass.
pub fn probe(
    config: &Config,
    vars: &BTreeMap<String, String>,
    mut send: impl FnMut(Request) -> Result<Response, String>,
) -> Verdict {
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
                return Verdict::with_evidence(Outcome::Fail, format!("{what}: {e}"), evidence);
            }
        };
        let body = String::from_utf8_lossy(&response.body);
        evidence.push((label("status"), response.status.to_string()));
        evidence.push((label("latency_ms"), response.elapsed_ms.to_string()));
        evidence.push((label("body"), excerpt(&body, 300)));
        match judge(step, &response, &body, &vars) {
            Ok(()) => {}
            Err(problem) => {
                return Verdict::with_evidence(
                    Outcome::Fail,
                    format!("{what}: {problem}"),
                    evidence,
                );
            }
        }
        for (var, path) in &step.capture {
            match json_at(&body, path) {
                Some(v) => {
                    vars.insert(var.clone(), json_text(&v));
                }
                None => {
                    return Verdict::with_evidence(
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
    Verdict::with_evidence(Outcome::Pass, summaries.join("; "), evidence)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16, body: &str, ms: u32) -> Result<Response, String> {
        Ok(Response {
            elapsed_ms: ms,
            ..Response::new(status, body)
        })
    }

    fn run(config: &str, responses: Vec<Result<Response, String>>) -> (Verdict, Vec<Request>) {
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
        assert_eq!(f.evidence("logout.status"), Some("204"));

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
