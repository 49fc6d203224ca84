//! The query's configuration, parsed strictly (an unknown key is an error
//! that names it) and checked so that a mistake surfaces at preflight, not
//! as an inconclusive verify phase.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

pub const CONFIG_HELP: &str = r#"JSON object:
  url        string   required; the Prometheus base URL, e.g. "http://prometheus:9090" (a path
                      prefix such as "http://thanos:10902/prom" is kept); grant it with allow_http
  query      string   required; PromQL, e.g. "sum by (job) (rate(http_requests_total{code=~\"5..\"}[1m]))
                      / sum by (job) (rate(http_requests_total[1m]))"
  what       string   what the query measures, for the summary, e.g. "error rate" (default: the query)
  max        number   every value must be <= max
  min        number   every value must be >= min
  range      string   a range query over the window ending at the attempt's time: a duration
                      ("5m", "1h30m") or "rollout" (since the rollout started; `check run --since`
                      sets it); without it, an instant query at the attempt's time
  step       string   range-query resolution, e.g. "15s" (default: the window / 100 in whole seconds)
  aggregate  string   per series, for range queries: "all" (every sample must be within; default),
                      "last" (the newest sample) or "avg" (the mean of the samples)
  on_empty   string   what no data means: "inconclusive" (default), "fail" or "pass"; NaN samples
                      (e.g. 0/0 when there is no traffic) count as no data
  headers    {string: string}   sent with the query, e.g. {"X-Scope-OrgID": "prod"}; never shown
  timeout_ms integer  per request (the host caps it too)
Without max and min, any data passes. A series outside them fails the check, naming the series and
its value. A Prometheus error, an unreachable Prometheus or an answer that is not the Prometheus
API is inconclusive, quoting what came back.
Example (pitwall.toml):
  [[checks]]
  name = "error-rate"
  plugin = "builtin:prom-query"
  allow_http = ["http://prometheus:9090/api/v1/"]
  [checks.config]
  url = "http://prometheus:9090"
  query = 'sum by (job) (rate(http_requests_total{code=~"5.."}[1m])) / sum by (job) (rate(http_requests_total[1m]))'
  what = "error rate"
  max = 0.01
  range = "5m""#;

/// Prometheus refuses range queries of more points than this per series.
pub const MAX_POINTS: u64 = 11_000;

#[derive(Debug, Deserialize)]
struct Raw {
    url: String,
    query: String,
    #[serde(default)]
    what: Option<String>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    aggregate: Option<Aggregate>,
    #[serde(default)]
    on_empty: OnEmpty,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    timeout_ms: Option<u32>,
}

/// How a range query's samples of one series are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// Every sample must be within the bounds.
    #[default]
    All,
    /// The newest sample.
    Last,
    /// The mean of the samples.
    Avg,
}

/// What a query that returns no (non-NaN) value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnEmpty {
    #[default]
    Inconclusive,
    Fail,
    Pass,
}

impl OnEmpty {
    pub fn as_str(self) -> &'static str {
        match self {
            OnEmpty::Inconclusive => "inconclusive",
            OnEmpty::Fail => "fail",
            OnEmpty::Pass => "pass",
        }
    }
}

/// The window a range query covers, ending at the attempt's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Last(Duration),
    /// Since the rollout started (the context's `started_at_ms`).
    Rollout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Instant,
    Range {
        window: Window,
        /// `None`: the window / 100, rounded up to whole seconds.
        step: Option<Duration>,
        aggregate: Aggregate,
    },
}

/// The allowed interval; either side may be open.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bounds {
    pub max: Option<f64>,
    pub min: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The base URL without a trailing slash.
    pub url: String,
    pub query: String,
    pub what: Option<String>,
    pub bounds: Bounds,
    pub mode: Mode,
    pub on_empty: OnEmpty,
    pub headers: Vec<(String, String)>,
    pub timeout_ms: Option<u32>,
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: Raw = pitwall_check::config::parse(text).map_err(|e| {
            format!("prom-query: {e} (`pitwall check inspect builtin:prom-query` lists the keys)")
        })?;
        Config::check(raw).map_err(|e| format!("prom-query: {e}"))
    }

    fn check(raw: Raw) -> Result<Config, String> {
        let url = base_url(&raw.url)?;
        if raw.query.trim().is_empty() {
            return Err("`query` is empty: give the PromQL to run".into());
        }
        let bounds = Bounds {
            max: raw.max,
            min: raw.min,
        };
        if let (Some(min), Some(max)) = (bounds.min, bounds.max)
            && min > max
        {
            return Err(format!(
                "`min` ({min}) is above `max` ({max}): no value could pass"
            ));
        }
        let mode = match raw.range {
            None => {
                let stray = [
                    raw.step.is_some().then_some("step"),
                    raw.aggregate.is_some().then_some("aggregate"),
                ];
                if let Some(key) = stray.into_iter().flatten().next() {
                    return Err(format!(
                        "`{key}` applies to range queries: set `range` (e.g. \"5m\" or \"rollout\") or remove `{key}`"
                    ));
                }
                Mode::Instant
            }
            Some(range) => {
                let window = if range == "rollout" {
                    Window::Rollout
                } else {
                    Window::Last(duration("range", &range)?)
                };
                let step = raw.step.map(|s| duration("step", &s)).transpose()?;
                if let (Window::Last(w), Some(s)) = (window, step) {
                    let points = points(w, s);
                    if points > MAX_POINTS {
                        return Err(format!(
                            "`range` {} at `step` {} is {points} points per series; Prometheus answers at most {MAX_POINTS}: raise `step`",
                            humantime::format_duration(w),
                            humantime::format_duration(s)
                        ));
                    }
                }
                Mode::Range {
                    window,
                    step,
                    aggregate: raw.aggregate.unwrap_or_default(),
                }
            }
        };
        if raw.timeout_ms == Some(0) {
            return Err(
                "`timeout_ms` is 0: give the per-request timeout in ms, or remove it".into(),
            );
        }
        Ok(Config {
            url,
            query: raw.query,
            what: raw.what.filter(|w| !w.trim().is_empty()),
            bounds,
            mode,
            on_empty: raw.on_empty,
            headers: raw.headers.into_iter().collect(),
            timeout_ms: raw.timeout_ms,
        })
    }
}

/// Points per series of a range query: both ends are included.
pub fn points(window: Duration, step: Duration) -> u64 {
    let step = step.as_millis().max(1);
    u64::try_from(window.as_millis() / step)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// The base URL, checked: the API paths are appended to it, and it is shown
/// in evidence, so it may carry neither a query nor credentials.
fn base_url(url: &str) -> Result<String, String> {
    let Some((_, rest)) = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
    else {
        return Err(format!(
            "`url` `{url}` must start with http:// or https:// (e.g. \"http://prometheus:9090\")"
        ));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("`url` `{url}` names no host"));
    }
    if authority.contains('@') {
        return Err(
            "`url` carries credentials (user:password@): URLs are shown in evidence; send them with `headers` = {\"Authorization\" = \"Basic …\"} instead".into(),
        );
    }
    if url.contains(['?', '#']) {
        return Err(format!(
            "`url` `{url}` has a query or fragment: give the Prometheus base URL only (the check adds /api/v1/query and its parameters)"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn duration(key: &str, text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| {
        format!("`{key}` `{text}` is not a duration ({e}): use e.g. \"30s\", \"5m\" or \"1h30m\"")
    })?;
    if d < Duration::from_millis(1) {
        return Err(format!(
            "`{key}` `{text}` is zero: give a positive duration"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(config: &str) -> String {
        Config::parse(config).unwrap_err()
    }

    #[test]
    fn minimal_instant_query() {
        let c = Config::parse(r#"{"url":"http://prom:9090/","query":"up"}"#).unwrap();
        assert_eq!(c.url, "http://prom:9090");
        assert_eq!(c.mode, Mode::Instant);
        assert_eq!(c.on_empty, OnEmpty::Inconclusive);
        assert_eq!(c.bounds, Bounds::default());
    }

    #[test]
    fn range_keys() {
        let c = Config::parse(
            r#"{"url":"https://prom/p","query":"up","range":"1h30m","step":"15s","aggregate":"avg","on_empty":"fail","max":1}"#,
        )
        .unwrap();
        assert_eq!(
            c.mode,
            Mode::Range {
                window: Window::Last(Duration::from_secs(5400)),
                step: Some(Duration::from_secs(15)),
                aggregate: Aggregate::Avg
            }
        );
        assert_eq!(c.on_empty, OnEmpty::Fail);
        let c = Config::parse(r#"{"url":"http://p","query":"up","range":"rollout"}"#).unwrap();
        assert!(matches!(
            c.mode,
            Mode::Range {
                window: Window::Rollout,
                step: None,
                aggregate: Aggregate::All
            }
        ));
    }

    #[test]
    fn mistakes_are_named_with_the_fix() {
        let e = err(r#"{"url":"http://p","query":"up","mx":1}"#);
        assert!(e.contains("unknown configuration key `mx`"), "{e}");
        let e = err(r#"{"url":"prom:9090","query":"up"}"#);
        assert!(e.contains("must start with http://"), "{e}");
        let e = err(r#"{"url":"http://u:secret@prom","query":"up"}"#);
        assert!(
            e.contains("carries credentials") && !e.contains("secret"),
            "{e}"
        );
        let e = err(r#"{"url":"http://prom/api/v1/query?query=up","query":"up"}"#);
        assert!(e.contains("base URL only"), "{e}");
        let e = err(r#"{"url":"http://p","query":"  "}"#);
        assert!(e.contains("`query` is empty"), "{e}");
        let e = err(r#"{"url":"http://p","query":"up","min":2,"max":1}"#);
        assert!(e.contains("`min` (2) is above `max` (1)"), "{e}");
        let e = err(r#"{"url":"http://p","query":"up","step":"15s"}"#);
        assert!(e.contains("`step` applies to range queries"), "{e}");
        let e = err(r#"{"url":"http://p","query":"up","aggregate":"last"}"#);
        assert!(e.contains("`aggregate` applies to range queries"), "{e}");
        let e = err(r#"{"url":"http://p","query":"up","range":"five minutes"}"#);
        assert!(
            e.contains("`range` `five minutes` is not a duration"),
            "{e}"
        );
        let e = err(r#"{"url":"http://p","query":"up","range":"0s"}"#);
        assert!(e.contains("is zero"), "{e}");
        let e = err(r#"{"url":"http://p","query":"up","range":"7d","step":"1s"}"#);
        assert!(e.contains("604801 points per series"), "{e}");
        let e = err(r#"{"url":"http://p","query":"up","aggregate":"median","range":"5m"}"#);
        assert!(e.contains("unknown variant `median`"), "{e}");
        let e = err(r#"{"url":"http://p","query":"up","max":"0.1"}"#);
        assert!(e.contains("invalid type: string"), "{e}");
        let e = err(r#"{"url":"http://p","query":"up","max":1e400}"#);
        assert!(e.contains("invalid configuration"), "{e}");
        let e = err(r#"{"query":"up"}"#);
        assert!(e.contains("missing field `url`"), "{e}");
    }

    #[test]
    fn points_include_both_ends() {
        assert_eq!(
            points(Duration::from_secs(300), Duration::from_secs(15)),
            21
        );
        assert_eq!(points(Duration::ZERO, Duration::from_secs(1)), 1);
    }
}
