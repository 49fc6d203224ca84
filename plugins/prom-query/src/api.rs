//! The Prometheus HTTP API: the request URL of an instant or range query,
//! and the JSON answer read into series of float samples.
//! <https://prometheus.io/docs/prometheus/latest/querying/api/>

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::config::{Config, Mode, Window};

/// The request for one attempt. Times come from the host's context, so a
/// recorded run replays to the same URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub url: String,
    pub at: At,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Instant {
        time_ms: u64,
    },
    Range {
        start_ms: u64,
        end_ms: u64,
        step: Duration,
    },
}

impl Plan {
    pub fn new(config: &Config, started_at_ms: u64, now_ms: u64) -> Plan {
        let mut params = form_urlencoded::Serializer::new(String::new());
        params.append_pair("query", &config.query);
        let (endpoint, at) = match config.mode {
            Mode::Instant => {
                params.append_pair("time", &seconds(now_ms));
                ("query", At::Instant { time_ms: now_ms })
            }
            Mode::Range { window, step, .. } => {
                let start_ms = match window {
                    Window::Last(w) => {
                        now_ms.saturating_sub(u64::try_from(w.as_millis()).unwrap_or(u64::MAX))
                    }
                    Window::Rollout => started_at_ms.min(now_ms),
                };
                let step = step.unwrap_or_else(|| default_step(now_ms - start_ms));
                let step_ms = u64::try_from(step.as_millis()).unwrap_or(u64::MAX);
                params
                    .append_pair("start", &seconds(start_ms))
                    .append_pair("end", &seconds(now_ms))
                    .append_pair("step", &seconds(step_ms));
                let at = At::Range {
                    start_ms,
                    end_ms: now_ms,
                    step,
                };
                ("query_range", at)
            }
        };
        Plan {
            url: format!("{}/api/v1/{endpoint}?{}", config.url, params.finish()),
            at,
        }
    }
}

/// About a hundred points over the window, in whole seconds (at least one).
fn default_step(window_ms: u64) -> Duration {
    Duration::from_secs(window_ms.div_ceil(100_000).max(1))
}

/// Unix milliseconds as the seconds Prometheus takes: `1764215300.5`.
pub fn seconds(ms: u64) -> String {
    match ms % 1000 {
        0 => (ms / 1000).to_string(),
        frac => format!("{}.{frac:03}", ms / 1000)
            .trim_end_matches('0')
            .to_string(),
    }
}

/// One series: its labels and its samples (unix seconds, value), NaN kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(f64, f64)>,
}

/// What Prometheus answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Data {
        series: Vec<Series>,
        /// Series that carry only native-histogram samples, which have no
        /// single value to compare.
        histograms: usize,
        warnings: Vec<String>,
    },
    /// `"status": "error"`: the query could not run.
    Error { kind: String, message: String },
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Envelope {
    Success {
        data: Data,
        #[serde(default)]
        warnings: Vec<String>,
    },
    Error {
        #[serde(rename = "errorType", default)]
        error_type: String,
        #[serde(default)]
        error: String,
    },
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorItem>),
    Matrix(Vec<MatrixItem>),
    Scalar(RawSample),
    String(IgnoredAny),
}

#[derive(Deserialize)]
struct VectorItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Option<RawSample>,
    histogram: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct MatrixItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<RawSample>,
    histograms: Option<IgnoredAny>,
}

/// `[1764215300.123, "0.031"]`: the value is a string so that `NaN` and
/// `+Inf` survive JSON.
#[derive(Deserialize)]
struct RawSample(f64, String);

impl RawSample {
    fn parse(self, labels: &BTreeMap<String, String>) -> Result<(f64, f64), String> {
        number(&self.1).map(|v| (self.0, v)).ok_or_else(|| {
            format!(
                "the sample value {:?} of {} is not a number",
                pitwall_check::excerpt(&self.1, 40),
                crate::judge::series_name(labels)
            )
        })
    }
}

/// A Prometheus sample value: a float, `NaN`, `+Inf` or `-Inf`.
pub fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        // Rust also reads "inf" and "nan" in any case and "infinity";
        // Prometheus never writes those, and a finite number is digits.
        t if t.bytes().any(|b| b.is_ascii_digit()) => t.parse().ok(),
        _ => None,
    }
}

/// Reads a response body; the error says what is wrong with it.
pub fn parse(body: &[u8]) -> Result<Answer, String> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let (data, warnings) = match envelope {
        Envelope::Error { error_type, error } => {
            return Ok(Answer::Error {
                kind: error_type,
                message: error,
            });
        }
        Envelope::Success { data, warnings } => (data, warnings),
    };
    let mut histograms = 0;
    let series = match data {
        Data::Vector(items) => items
            .into_iter()
            .filter_map(|item| match item.value {
                Some(sample) => Some(sample.parse(&item.metric).map(|s| Series {
                    samples: vec![s],
                    labels: item.metric,
                })),
                None if item.histogram.is_some() => {
                    histograms += 1;
                    None
                }
                None => Some(Err(format!(
                    "the series {} has no `value`",
                    crate::judge::series_name(&item.metric)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Data::Matrix(items) => {
            let mut series = Vec::with_capacity(items.len());
            for item in items {
                if item.values.is_empty() && item.histograms.is_some() {
                    histograms += 1;
                    continue;
                }
                let samples = item
                    .values
                    .into_iter()
                    .map(|s| s.parse(&item.metric))
                    .collect::<Result<Vec<_>, _>>()?;
                series.push(Series {
                    labels: item.metric,
                    samples,
                });
            }
            series
        }
        Data::Scalar(sample) => {
            let labels = BTreeMap::new();
            vec![Series {
                samples: vec![sample.parse(&labels)?],
                labels,
            }]
        }
        Data::String(_) => {
            return Err(
                "the query returns a string, not a number: a threshold needs a numeric query"
                    .into(),
            );
        }
    };
    Ok(Answer::Data {
        series,
        histograms,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn plan(config: &str, started_at_ms: u64, now_ms: u64) -> Plan {
        Plan::new(&Config::parse(config).unwrap(), started_at_ms, now_ms)
    }

    #[test]
    fn instant_query_url_is_encoded_at_the_attempts_time() {
        let p = plan(
            r#"{"url":"http://prom:9090/","query":"sum(rate(x{code=~\"5..\", path=\"/a b&c\"}[1m])) > 0"}"#,
            0,
            1_764_215_300_120,
        );
        assert_eq!(
            p.url,
            "http://prom:9090/api/v1/query?query=sum%28rate%28x%7Bcode%3D%7E%225..%22%2C+path%3D%22%2Fa+b%26c%22%7D%5B1m%5D%29%29+%3E+0&time=1764215300.12"
        );
        let decoded: Vec<(String, String)> =
            form_urlencoded::parse(p.url.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(
            decoded[0].1,
            r#"sum(rate(x{code=~"5..", path="/a b&c"}[1m])) > 0"#
        );
    }

    #[test]
    fn range_query_over_a_duration_or_the_rollout() {
        let p = plan(
            r#"{"url":"http://p","query":"up","range":"5m","step":"15s"}"#,
            0,
            1_000_000_000,
        );
        assert_eq!(
            p.url,
            "http://p/api/v1/query_range?query=up&start=999700&end=1000000&step=15"
        );
        let p = plan(
            r#"{"url":"http://p","query":"up","range":"rollout"}"#,
            1_000_000_000 - 250_000,
            1_000_000_000,
        );
        assert_eq!(
            p.at,
            At::Range {
                start_ms: 999_750_000,
                end_ms: 1_000_000_000,
                step: Duration::from_secs(3)
            }
        );
        assert!(
            p.url.ends_with("start=999750&end=1000000&step=3"),
            "{}",
            p.url
        );
        // A rollout that started "in the future" (clock skew) is a point.
        let p = plan(
            r#"{"url":"http://p","query":"up","range":"rollout"}"#,
            2_000,
            1_000,
        );
        assert!(p.url.ends_with("start=1&end=1&step=1"), "{}", p.url);
    }

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(seconds(1_500), "1.5");
        assert_eq!(seconds(1_005), "1.005");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn prometheus_values_including_nan_and_inf() {
        assert_eq!(number("0.031"), Some(0.031));
        assert_eq!(number("1e-3"), Some(0.001));
        assert_eq!(number("+Inf"), Some(f64::INFINITY));
        assert_eq!(number("-Inf"), Some(f64::NEG_INFINITY));
        assert!(number("NaN").unwrap().is_nan());
        assert_eq!(number("1e400"), Some(f64::INFINITY));
        assert_eq!(number("-1e400"), Some(f64::NEG_INFINITY));
        for junk in ["", "abc", "infinity", "nan", "1,5", "0x10", " 1"] {
            assert_eq!(number(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn vector_matrix_and_scalar() {
        let v = parse(
            br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"api"},"value":[1764215300.1,"1"]},
            {"metric":{},"value":[1764215300.1,"NaN"]}]}}"#,
        )
        .unwrap();
        let Answer::Data { series, .. } = v else {
            panic!("{v:?}")
        };
        assert_eq!(series[0].labels["job"], "api");
        assert_eq!(series[0].samples, [(1764215300.1, 1.0)]);
        assert!(series[1].samples[0].1.is_nan());

        let m = parse(
            br#"{"status":"success","warnings":["partial"],"data":{"resultType":"matrix","result":[
            {"metric":{"job":"api"},"values":[[1,"0.1"],[2,"+Inf"]]}]}}"#,
        )
        .unwrap();
        let Answer::Data {
            series, warnings, ..
        } = m
        else {
            panic!("{m:?}")
        };
        assert_eq!(series[0].samples, [(1.0, 0.1), (2.0, f64::INFINITY)]);
        assert_eq!(warnings, ["partial"]);

        let s = parse(br#"{"status":"success","data":{"resultType":"scalar","result":[5,"42"]}}"#)
            .unwrap();
        assert!(matches!(s, Answer::Data { ref series, .. } if series[0].samples == [(5.0, 42.0)]));
    }

    #[test]
    fn errors_and_hostile_bodies() {
        let e = parse(br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected <EOF>"}"#)
            .unwrap();
        assert_eq!(
            e,
            Answer::Error {
                kind: "bad_data".into(),
                message: "1:5: parse error: unexpected <EOF>".into()
            }
        );
        let bad: &[(&[u8], &str)] = &[
            (b"<html>502 Bad Gateway</html>", "expected value"),
            (b"", "EOF"),
            (br#"{"status":"weird"}"#, "unknown variant `weird`"),
            (br#"{"data":{}}"#, "missing field `status`"),
            (br#"{"status":"success"}"#, "missing field `data`"),
            (
                br#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
                "invalid type: map, expected a sequence",
            ),
            (
                br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}"#,
                "invalid type: integer `2`, expected a string",
            ),
            (
                br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1,"lots"]}]}}"#,
                r#"the sample value "lots" of {job="api"} is not a number"#,
            ),
            (
                br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"}}]}}"#,
                r#"the series {job="api"} has no `value`"#,
            ),
            (
                br#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#,
                "returns a string",
            ),
            (
                br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":7},"value":[1,"1"]}]}}"#,
                "invalid type: integer `7`",
            ),
        ];
        for (body, want) in bad {
            let e = parse(body).unwrap_err();
            assert!(e.contains(want), "{}: {e}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn native_histograms_are_counted_not_compared() {
        let a = parse(
            br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"job":"api"},"histogram":[1,{"count":"3","sum":"1","buckets":[]}]}]}}"#,
        )
        .unwrap();
        assert_eq!(
            a,
            Answer::Data {
                series: vec![],
                histograms: 1,
                warnings: vec![]
            }
        );
    }
}
