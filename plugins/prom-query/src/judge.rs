//! From Prometheus's answer to a verdict: values per series (every sample,
//! the newest or the mean), compared with the bounds; the evidence names the
//! series and values that decided.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use pitwall_check::http::Response;
use pitwall_check::{Outcome, Verdict, excerpt};

use crate::api::{self, Answer, At, Plan, Series};
use crate::config::{Aggregate, Bounds, Config, Mode, OnEmpty, Window};

/// Offending series listed as evidence; the rest are counted.
const MAX_LISTED: usize = 10;

/// The verdict on one attempt: `answer` is the host's response, or why there
/// was none.
pub fn verdict(config: &Config, plan: &Plan, answer: Result<Response, String>) -> Verdict {
    let base = Verdict::inconclusive("")
        .with("query", excerpt(&config.query, 1000))
        .with("url", excerpt(&plan.url, 2000))
        .with(
            match plan.at {
                At::Instant { .. } => "time",
                At::Range { .. } => "range",
            },
            describe_at(plan.at),
        );
    let what = what(config);
    let response = match answer {
        Ok(r) => r,
        Err(e) => {
            return finish(
                base,
                Outcome::Inconclusive,
                format!("{what}: cannot query Prometheus: {e}"),
            );
        }
    };
    let problem = match api::parse(&response.body) {
        Ok(Answer::Data {
            series,
            histograms,
            warnings,
        }) => {
            let mut v = base.with("status", response.status);
            if !warnings.is_empty() {
                v = v.with("warnings", excerpt(&warnings.join("; "), 1000));
            }
            if histograms > 0 {
                v = v.with(
                    "histograms",
                    format!("{histograms} series of native histograms left out: compare histogram_quantile(…) or histogram_count(…) instead"),
                );
            }
            return judge(config, v, &what, &series);
        }
        Ok(Answer::Error { kind, message }) => {
            let quoted = excerpt(&format!("{kind}: {message}"), 600);
            let v = base
                .with("status", response.status)
                .with("prometheus_error", &quoted);
            return finish(
                v,
                Outcome::Inconclusive,
                format!("{what}: Prometheus refused the query: {quoted}"),
            );
        }
        Err(problem) => problem,
    };
    let cut = if response.truncated {
        " (the body was cut at the host's cap: narrow the query with sum by (…), or raise `step`)"
    } else {
        ""
    };
    let v = base
        .with("status", response.status)
        .with("body", excerpt(&response.text(), 300));
    let summary = if response.is_success() {
        format!(
            "{what}: the answer is not the Prometheus query API (is `url` the Prometheus base URL?): {}{cut}",
            excerpt(&problem, 300)
        )
    } else {
        format!(
            "{what}: Prometheus answered HTTP {} with a body that is not its API: {}{cut}",
            response.status,
            excerpt(&problem, 300)
        )
    };
    finish(v, Outcome::Inconclusive, summary)
}

/// One value that was compared: which series, when, what.
#[derive(Debug, Clone, Copy)]
struct Point<'a> {
    series: &'a Series,
    at: f64,
    value: f64,
}

fn judge(config: &Config, base: Verdict, what: &str, series: &[Series]) -> Verdict {
    let aggregate = match config.mode {
        Mode::Instant => Aggregate::All,
        Mode::Range { aggregate, .. } => aggregate,
    };
    let samples: usize = series.iter().map(|s| s.samples.len()).sum();
    let nan = series
        .iter()
        .flat_map(|s| &s.samples)
        .filter(|(_, v)| v.is_nan())
        .count();
    let mut v = base.with("series", series.len()).with("samples", samples);
    if nan > 0 {
        v = v.with("nan_samples", format!("{nan} (no data, e.g. 0/0)"));
    }
    let values: Vec<Vec<Point<'_>>> = series.iter().map(|s| reduce(s, aggregate)).collect();
    let judged = values.iter().filter(|vs| !vs.is_empty()).count();
    let how = match aggregate {
        Aggregate::Avg => "avg ",
        Aggregate::Last => "last ",
        Aggregate::All => "",
    };
    let during = during(config.mode);
    if judged == 0 {
        let why = if series.is_empty() {
            "the query returned no series".to_string()
        } else {
            format!("all {samples} samples are NaN")
        };
        let outcome = match config.on_empty {
            OnEmpty::Inconclusive => Outcome::Inconclusive,
            OnEmpty::Fail => Outcome::Fail,
            OnEmpty::Pass => Outcome::Pass,
        };
        let summary = format!(
            "{what}: no data{during} ({why}); on_empty = {}",
            config.on_empty.as_str()
        );
        return finish(v, outcome, summary);
    }

    // Per series, its worst breach; the worst series first.
    let mut breaches: Vec<(Point<'_>, Breach)> = values
        .iter()
        .filter_map(|vs| {
            vs.iter()
                .filter_map(|x| breach(x.value, config.bounds).map(|b| (*x, b)))
                .max_by(|a, b| a.1.excess.total_cmp(&b.1.excess))
        })
        .collect();
    breaches.sort_by(|a, b| b.1.excess.total_cmp(&a.1.excess));
    if let Some((worst, b)) = breaches.first() {
        for (x, b) in breaches.iter().take(MAX_LISTED) {
            v = v.with(
                "breach",
                format!(
                    "{} {how}{} {} at {}",
                    excerpt(&series_name(&x.series.labels), 1000),
                    number(x.value),
                    b.rule,
                    when(x.at)
                ),
            );
        }
        if breaches.len() > MAX_LISTED {
            v = v.with(
                "more_breaches",
                format!("{} more series", breaches.len() - MAX_LISTED),
            );
        }
        let more = match breaches.len() {
            1 => String::new(),
            n => format!(" and {} more series", n - 1),
        };
        let summary = format!(
            "{what} {how}{} {} on {}{more}{during}",
            number(worst.value),
            b.rule,
            excerpt(&series_name(&worst.series.labels), 200)
        );
        return finish(v, Outcome::Fail, summary);
    }

    let all: Vec<Point<'_>> = values.into_iter().flatten().collect();
    let summary = match (config.bounds, closest(&all, config.bounds)) {
        (
            Bounds {
                max: None,
                min: None,
            },
            _,
        )
        | (_, None) => format!("{what}: data on {judged} series{during} (no max or min set)"),
        (bounds, Some(x)) => {
            v = v.with(
                "closest",
                format!(
                    "{} {how}{} at {}",
                    excerpt(&series_name(&x.series.labels), 1000),
                    number(x.value),
                    when(x.at)
                ),
            );
            format!(
                "{what} {how}within {} on {judged} series{during} (closest {} on {})",
                describe_bounds(bounds),
                number(x.value),
                excerpt(&series_name(&x.series.labels), 200)
            )
        }
    };
    finish(v, Outcome::Pass, summary)
}

/// The values of one series to compare, NaN left out as no data.
fn reduce(series: &Series, aggregate: Aggregate) -> Vec<Point<'_>> {
    let value = |&(at, value): &(f64, f64)| Point { series, at, value };
    let known = || series.samples.iter().filter(|(_, v)| !v.is_nan());
    match aggregate {
        Aggregate::All => known().map(value).collect(),
        Aggregate::Last => series
            .samples
            .last()
            .filter(|(_, v)| !v.is_nan())
            .map(value)
            .into_iter()
            .collect(),
        Aggregate::Avg => {
            let n = known().count() as f64;
            // Each term divided first: the sum of huge values stays finite.
            let mean: f64 = known().map(|(_, v)| v / n).sum();
            match known().next_back() {
                Some(&(at, _)) if !mean.is_nan() => vec![Point {
                    series,
                    at,
                    value: mean,
                }],
                _ => Vec::new(),
            }
        }
    }
}

struct Breach {
    /// How far outside; +Inf for an infinite value.
    excess: f64,
    /// `> max 0.01`.
    rule: String,
}

fn breach(value: f64, bounds: Bounds) -> Option<Breach> {
    if let Some(max) = bounds.max
        && value > max
    {
        return Some(Breach {
            excess: value - max,
            rule: format!("> max {}", number(max)),
        });
    }
    if let Some(min) = bounds.min
        && value < min
    {
        return Some(Breach {
            excess: min - value,
            rule: format!("< min {}", number(min)),
        });
    }
    None
}

/// The value nearest to a bound: how close the release came to failing.
fn closest<'a>(values: &[Point<'a>], bounds: Bounds) -> Option<Point<'a>> {
    let margin = |v: f64| {
        let above = bounds.min.map_or(f64::INFINITY, |min| v - min);
        let below = bounds.max.map_or(f64::INFINITY, |max| max - v);
        above.min(below)
    };
    values
        .iter()
        .copied()
        .min_by(|a, b| margin(a.value).total_cmp(&margin(b.value)))
}

fn describe_bounds(bounds: Bounds) -> String {
    match (bounds.min, bounds.max) {
        (Some(min), Some(max)) => format!("{}..{}", number(min), number(max)),
        (Some(min), None) => format!("min {}", number(min)),
        (None, Some(max)) => format!("max {}", number(max)),
        (None, None) => "any".into(),
    }
}

fn during(mode: Mode) -> String {
    match mode {
        Mode::Instant => String::new(),
        Mode::Range {
            window: Window::Last(w),
            ..
        } => format!(" over the last {}", humantime::format_duration(w)),
        Mode::Range {
            window: Window::Rollout,
            ..
        } => " since the rollout started".into(),
    }
}

fn describe_at(at: At) -> String {
    let ms = |ms: u64| when(Duration::from_millis(ms).as_secs_f64());
    match at {
        At::Instant { time_ms } => ms(time_ms),
        At::Range {
            start_ms,
            end_ms,
            step,
        } => format!(
            "{} to {}, step {}",
            ms(start_ms),
            ms(end_ms),
            humantime::format_duration(step)
        ),
    }
}

/// A sample's time, unix seconds as Prometheus gives them, in UTC.
fn when(secs: f64) -> String {
    match Duration::try_from_secs_f64(secs) {
        Ok(d) => humantime::format_rfc3339_seconds(UNIX_EPOCH + d).to_string(),
        Err(_) => number(secs),
    }
}

fn what(config: &Config) -> String {
    match &config.what {
        Some(w) => excerpt(w, 120),
        None => format!("`{}`", excerpt(&config.query, 120)),
    }
}

fn finish(mut v: Verdict, outcome: Outcome, summary: String) -> Verdict {
    v.outcome = outcome;
    v.summary = excerpt(&summary, 1000);
    v
}

/// A number as Prometheus writes it, short: `0.031`, `1e300`, `+Inf`.
pub fn number(v: f64) -> String {
    let magnitude = v.abs();
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if magnitude != 0.0 && !(1e-4..1e15).contains(&magnitude) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// A series as PromQL writes it: `http_errors{job="api", code="500"}`.
pub fn series_name(labels: &BTreeMap<String, String>) -> String {
    let name = labels.get("__name__").map_or("", String::as_str);
    let pairs: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    format!("{name}{{{}}}", pairs.join(", "))
}

/// A label value in PromQL's double quotes, escaped.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_215_300_000;

    fn run(config: &str, answer: Result<Response, String>) -> Verdict {
        let config = Config::parse(config).unwrap();
        let plan = Plan::new(&config, NOW - 600_000, NOW);
        verdict(&config, &plan, answer)
    }

    fn vector(items: &[(&str, &str)]) -> Result<Response, String> {
        let result: Vec<String> = items
            .iter()
            .map(|(job, v)| format!(r#"{{"metric":{{"job":"{job}"}},"value":[1764215300,"{v}"]}}"#))
            .collect();
        Ok(Response::new(
            200,
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
                result.join(",")
            ),
        ))
    }

    fn matrix(series: &[(&str, &[&str])]) -> Result<Response, String> {
        let result: Vec<String> = series
            .iter()
            .map(|(job, vs)| {
                let values: Vec<String> = vs
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!(r#"[{},"{v}"]"#, 1_764_215_000 + 15 * i))
                    .collect();
                format!(
                    r#"{{"metric":{{"job":"{job}"}},"values":[{}]}}"#,
                    values.join(",")
                )
            })
            .collect();
        Ok(Response::new(
            200,
            format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{}]}}}}"#,
                result.join(",")
            ),
        ))
    }

    const RATE: &str =
        r#"{"url":"http://prom:9090","query":"job:errors:ratio","what":"error rate","max":0.01}"#;

    #[test]
    fn under_the_max_passes_and_says_how_close() {
        let v = run(RATE, vector(&[("api", "0.002"), ("web", "0.009")]));
        assert_eq!(v.outcome, Outcome::Pass, "{v:?}");
        assert_eq!(
            v.summary,
            r#"error rate within max 0.01 on 2 series (closest 0.009 on {job="web"})"#
        );
        assert_eq!(v.evidence("series"), Some("2"));
        assert_eq!(v.evidence("time"), Some("2025-11-27T03:48:20Z"));
    }

    #[test]
    fn over_the_max_fails_naming_the_worst_series_first() {
        let v = run(
            RATE,
            vector(&[("api", "0.031"), ("web", "0.002"), ("db", "0.5")]),
        );
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            v.summary,
            r#"error rate 0.5 > max 0.01 on {job="db"} and 1 more series"#
        );
        let breaches: Vec<_> = v
            .evidence
            .iter()
            .filter(|e| e.label == "breach")
            .map(|e| e.value.as_str())
            .collect();
        assert_eq!(
            breaches,
            [
                r#"{job="db"} 0.5 > max 0.01 at 2025-11-27T03:48:20Z"#,
                r#"{job="api"} 0.031 > max 0.01 at 2025-11-27T03:48:20Z"#
            ]
        );
    }

    #[test]
    fn min_and_both_bounds() {
        let c = r#"{"url":"http://p","query":"up","min":1}"#;
        let v = run(c, vector(&[("api", "0")]));
        assert_eq!(v.summary, r#"`up` 0 < min 1 on {job="api"}"#);
        let c = r#"{"url":"http://p","query":"x","min":1,"max":2}"#;
        let v = run(c, vector(&[("a", "1.2"), ("b", "1.9")]));
        assert!(
            v.summary.contains("within 1..2 on 2 series (closest 1.9"),
            "{}",
            v.summary
        );
        let v = run(c, vector(&[("a", "3")]));
        assert_eq!(v.outcome, Outcome::Fail);
    }

    #[test]
    fn nan_is_no_data_and_inf_is_a_value() {
        let v = run(RATE, vector(&[("api", "NaN")]));
        assert_eq!(v.outcome, Outcome::Inconclusive);
        assert_eq!(
            v.summary,
            "error rate: no data (all 1 samples are NaN); on_empty = inconclusive"
        );
        assert_eq!(v.evidence("nan_samples"), Some("1 (no data, e.g. 0/0)"));
        let v = run(RATE, vector(&[("api", "NaN"), ("web", "0.001")]));
        assert_eq!(v.outcome, Outcome::Pass, "NaN beside a value: {v:?}");
        let v = run(RATE, vector(&[("api", "+Inf"), ("web", "1e300")]));
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            v.summary,
            r#"error rate +Inf > max 0.01 on {job="api"} and 1 more series"#
        );
        assert!(
            v.evidence
                .iter()
                .any(|e| e.value.starts_with(r#"{job="web"} 1e300 >"#)),
            "{v:?}"
        );
        let v = run(
            r#"{"url":"http://p","query":"x","min":0}"#,
            vector(&[("a", "-Inf")]),
        );
        assert_eq!(v.summary, r#"`x` -Inf < min 0 on {job="a"}"#);
    }

    #[test]
    fn no_series_follows_on_empty() {
        for (on_empty, outcome) in [
            ("inconclusive", Outcome::Inconclusive),
            ("fail", Outcome::Fail),
            ("pass", Outcome::Pass),
        ] {
            let c =
                format!(r#"{{"url":"http://p","query":"ALERTS","max":0,"on_empty":"{on_empty}"}}"#);
            let v = run(&c, vector(&[]));
            assert_eq!(v.outcome, outcome);
            assert_eq!(
                v.summary,
                format!("`ALERTS`: no data (the query returned no series); on_empty = {on_empty}")
            );
        }
    }

    #[test]
    fn range_aggregates() {
        let series: &[(&str, &[&str])] = &[("api", &["0.001", "0.05", "0.002"])];
        let c = |agg: &str| {
            format!(
                r#"{{"url":"http://p","query":"r","what":"error rate","max":0.01,"range":"5m","aggregate":"{agg}"}}"#
            )
        };
        let v = run(&c("all"), matrix(series));
        assert_eq!(
            v.summary,
            r#"error rate 0.05 > max 0.01 on {job="api"} over the last 5m"#
        );
        assert_eq!(
            v.evidence("breach"),
            Some(r#"{job="api"} 0.05 > max 0.01 at 2025-11-27T03:43:35Z"#)
        );
        assert_eq!(v.evidence("samples"), Some("3"));
        assert_eq!(
            v.evidence("range"),
            Some("2025-11-27T03:43:20Z to 2025-11-27T03:48:20Z, step 3s")
        );
        let v = run(&c("last"), matrix(series));
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(
            v.summary.starts_with("error rate last within max 0.01"),
            "{}",
            v.summary
        );
        let v = run(&c("avg"), matrix(series));
        assert_eq!(
            v.summary,
            r#"error rate avg 0.017666666666666667 > max 0.01 on {job="api"} over the last 5m"#
        );
        // The newest sample is NaN: `last` has no data.
        let v = run(&c("last"), matrix(&[("api", &["0.5", "NaN"])]));
        assert_eq!(v.outcome, Outcome::Inconclusive);
        // Huge values average without overflowing.
        let v = run(&c("avg"), matrix(&[("api", &["1e308", "1e308"])]));
        assert!(
            v.summary.starts_with("error rate avg 1e308 >"),
            "{}",
            v.summary
        );
        let rollout = r#"{"url":"http://p","query":"r","max":1,"range":"rollout"}"#;
        let v = run(rollout, matrix(&[("api", &["2"])]));
        assert!(
            v.summary.ends_with("since the rollout started"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn without_thresholds_data_passes() {
        let v = run(
            r#"{"url":"http://p","query":"up"}"#,
            vector(&[("api", "1")]),
        );
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.summary, "`up`: data on 1 series (no max or min set)");
    }

    #[test]
    fn prometheus_errors_are_inconclusive_and_quoted() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"1:14: parse error: unexpected \"}\""}"#;
        let v = run(RATE, Ok(Response::new(400, body)));
        assert_eq!(v.outcome, Outcome::Inconclusive);
        assert_eq!(
            v.summary,
            r#"error rate: Prometheus refused the query: bad_data: 1:14: parse error: unexpected "}""#
        );
        assert_eq!(v.evidence("status"), Some("400"));
    }

    #[test]
    fn hostile_answers_are_inconclusive_with_an_excerpt() {
        let v = run(RATE, Ok(Response::new(200, "<html><title>Grafana</title>")));
        assert_eq!(v.outcome, Outcome::Inconclusive);
        assert!(
            v.summary
                .contains("is not the Prometheus query API (is `url` the Prometheus base URL?)"),
            "{}",
            v.summary
        );
        assert_eq!(v.evidence("body"), Some("<html><title>Grafana</title>"));
        let v = run(RATE, Ok(Response::new(502, "bad gateway")));
        assert!(
            v.summary.contains("Prometheus answered HTTP 502"),
            "{}",
            v.summary
        );
        let mut cut = Response::new(
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"me"#,
        );
        cut.truncated = true;
        let v = run(RATE, Ok(cut));
        assert!(v.summary.contains("cut at the host's cap"), "{}", v.summary);
        let v = run(RATE, Ok(Response::new(200, vec![0xff, 0xfe, 0x00])));
        assert_eq!(v.outcome, Outcome::Inconclusive);
        let v = run(RATE, Err("cannot connect: connection refused".into()));
        assert_eq!(v.outcome, Outcome::Inconclusive);
        assert_eq!(
            v.summary,
            "error rate: cannot query Prometheus: cannot connect: connection refused"
        );
        assert!(
            v.evidence("url")
                .unwrap()
                .starts_with("http://prom:9090/api/v1/query?query=job%3Aerrors%3Aratio&time=")
        );
    }

    #[test]
    fn output_stays_within_the_hosts_caps() {
        let long = "x".repeat(10_000);
        let items: Vec<(&str, &str)> = (0..5000).map(|_| (long.as_str(), "1")).collect();
        let c = format!(r#"{{"url":"http://p","query":"{long}","what":"{long}","max":0}}"#);
        let v = run(&c, vector(&items));
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(v.summary.len() <= 1024, "{}", v.summary.len());
        assert!(v.evidence.len() <= 20, "{}", v.evidence.len());
        assert!(
            v.evidence
                .iter()
                .all(|e| e.label.len() + e.value.len() <= 4096)
        );
        assert_eq!(v.evidence("more_breaches"), Some("4990 more series"));
    }

    #[test]
    fn hostile_timestamps_are_shown_as_given() {
        assert_eq!(when(1e300), "1e300");
        assert_eq!(when(-5.0), "-5");
        assert_eq!(when(f64::NAN), "NaN");
        assert_eq!(when(0.0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn series_are_written_as_promql() {
        let labels = BTreeMap::from([
            ("__name__".to_string(), "http_errors".to_string()),
            ("path".to_string(), "/a\"b\\\n".to_string()),
            ("job".to_string(), "api".to_string()),
        ]);
        assert_eq!(
            series_name(&labels),
            r#"http_errors{job="api", path="/a\"b\\\n"}"#
        );
        assert_eq!(series_name(&BTreeMap::new()), "{}");
        assert_eq!(number(0.031), "0.031");
        assert_eq!(number(1e20), "1e20");
        assert_eq!(number(-3.2e-7), "-3.2e-7");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
