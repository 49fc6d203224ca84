//! The probe's configuration: one request or a list of steps, each with its
//! expectations, parsed strictly so a typo is an error in preflight.

use std::collections::BTreeMap;

use serde::Deserialize;

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
