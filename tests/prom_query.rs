//! `builtin:prom-query` run by the real binary (`pitwall check run`) against
//! a loopback stand-in for Prometheus that speaks its query API: instant and
//! range queries, parameters validated as Prometheus does, `bad_data` errors.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::http::{Reply, Server, free_port};
use common::{evidence, pitwall, run, run_json};
use serde_json::{Value, json};

/// The PromQL the checks below run; its special characters must survive the
/// URL encoding.
const ERROR_RATE: &str = r#"sum by (job) (rate(http_requests_total{code=~"5..", path!="/health"}[1m])) / sum by (job) (rate(http_requests_total[1m]))"#;

/// What the stand-in holds for a query: series (labels, value; one constant
/// value over time), or the error Prometheus gives.
enum Data {
    Series(Vec<(Value, &'static str)>),
    BadData(&'static str),
}

/// One request the stand-in received: the endpoint and its decoded parameters.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    params: BTreeMap<String, String>,
}

struct Prometheus {
    server: Server,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Prometheus {
    /// `data` answers a query; an unknown one is a parse error, as in
    /// Prometheus.
    fn start(data: impl Fn(&str) -> Option<Data> + Send + Sync + 'static) -> Prometheus {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let server = Server::start(move |method, target| {
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            log.lock().unwrap().push(Received {
                path: path.to_string(),
                params: params.clone(),
            });
            if method != "GET" {
                return Reply::new(405, "method not allowed");
            }
            match path {
                "/api/v1/query" | "/api/v1/query_range" => answer(path, &params, &data),
                _ => Reply::new(404, "404 page not found\n"),
            }
        });
        Prometheus { server, received }
    }

    fn base(&self) -> String {
        self.server.base.clone()
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn answer(
    path: &str,
    params: &BTreeMap<String, String>,
    data: &impl Fn(&str) -> Option<Data>,
) -> Reply {
    let time = |name: &str| -> Result<f64, Reply> {
        let text = params.get(name).map_or("", String::as_str);
        text.parse::<f64>().map_err(|_| {
            bad_data(&format!(
                "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
            ))
        })
    };
    let query = params.get("query").map_or("", String::as_str);
    let series = match data(query) {
        Some(Data::Series(series)) => series,
        Some(Data::BadData(error)) => return bad_data(error),
        None => {
            return bad_data(&format!(
                "invalid parameter \"query\": 1:1: parse error: unknown query {query:?}"
            ));
        }
    };
    let result = if path == "/api/v1/query" {
        let t = match time("time") {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let items: Vec<Value> = series
            .iter()
            .map(|(labels, v)| json!({"metric": labels, "value": [t, v]}))
            .collect();
        json!({"resultType": "vector", "result": items})
    } else {
        let (start, end, step) = match (time("start"), time("end"), time("step")) {
            (Ok(s), Ok(e), Ok(st)) => (s, e, st),
            (Err(reply), ..) | (_, Err(reply), _) | (.., Err(reply)) => return reply,
        };
        if end < start {
            return bad_data("end timestamp must not be before start time");
        }
        if step <= 0.0 {
            return bad_data(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            );
        }
        if (end - start) / step > 11_000.0 {
            return bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            );
        }
        let points = ((end - start) / step).floor() as usize + 1;
        let items: Vec<Value> = series
            .iter()
            .map(|(labels, v)| {
                let values: Vec<Value> = (0..points)
                    .map(|i| json!([start + i as f64 * step, v]))
                    .collect();
                json!({"metric": labels, "values": values})
            })
            .collect();
        json!({"resultType": "matrix", "result": items})
    };
    Reply::new(
        200,
        json!({"status": "success", "data": result}).to_string(),
    )
    .header("content-type", "application/json")
}

fn bad_data(error: &str) -> Reply {
    Reply::new(
        400,
        json!({"status": "error", "errorType": "bad_data", "error": error}).to_string(),
    )
    .header("content-type", "application/json")
}

/// Error rates per job: `api` at `api_rate`, `web` at 0.002.
fn error_rates(api_rate: &'static str) -> Prometheus {
    Prometheus::start(move |query| {
        (query == ERROR_RATE).then(|| {
            Data::Series(vec![
                (json!({"job": "api"}), api_rate),
                (json!({"job": "web"}), "0.002"),
            ])
        })
    })
}

fn prom_query(config: Value, allow: &str) -> Command {
    let mut cmd = pitwall();
    cmd.args(["check", "run", "builtin:prom-query", "--config"])
        .arg(config.to_string())
        .args(["--allow-http", allow]);
    cmd
}

fn seconds(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|_| panic!("not unix seconds: {text}"))
}

#[test]
fn under_the_max_passes_with_the_closest_series() {
    let prom = error_rates("0.004");
    let config =
        json!({"url": prom.base(), "query": ERROR_RATE, "what": "error rate", "max": 0.01});
    let (code, v) = run_json(&mut prom_query(config, &prom.base()));
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["summary"],
        r#"error rate within max 0.01 on 2 series (closest 0.004 on {job="api"})"#
    );
    assert_eq!(evidence(&v, "series"), ["2"]);
    let received = prom.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, "/api/v1/query");
    assert_eq!(received[0].params["query"], ERROR_RATE);
    // The attempt's time, as the host gave it: the time of this run.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let time = seconds(&received[0].params["time"]);
    assert!((now - time).abs() < 600.0, "time={time} now={now}");
}

#[test]
fn over_the_max_fails_naming_the_series_and_its_value() {
    let prom = error_rates("0.031");
    let config =
        json!({"url": prom.base(), "query": ERROR_RATE, "what": "error rate", "max": 0.01});
    let out = run(&mut prom_query(config, &format!("{}/api/v1/", prom.base())));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(r#"error rate 0.031 > max 0.01 on {job="api"}"#),
        "{}",
        out.stdout
    );
    let (code, v) = run_json(&mut prom_query(
        json!({"url": prom.base(), "query": ERROR_RATE, "max": 0.01}),
        &prom.base(),
    ));
    assert_eq!(code, 1, "{v}");
    let breach = evidence(&v, "breach");
    assert_eq!(breach.len(), 1, "{v}");
    assert!(
        breach[0].starts_with(r#"{job="api"} 0.031 > max 0.01 at "#),
        "{v}"
    );
    assert_eq!(evidence(&v, "query"), [ERROR_RATE]);
}

#[test]
fn range_query_sends_start_end_and_step_and_judges_every_sample() {
    let prom = error_rates("0.031");
    let config = json!({"url": prom.base(), "query": ERROR_RATE, "what": "error rate",
                        "max": 0.05, "range": "5m", "step": "30s"});
    let (code, v) = run_json(&mut prom_query(config, &prom.base()));
    assert_eq!(code, 0, "{v}");
    let received = prom.received();
    let r = &received[0];
    assert_eq!(r.path, "/api/v1/query_range");
    assert_eq!(r.params["query"], ERROR_RATE);
    assert_eq!(r.params["step"], "30");
    let (start, end) = (seconds(&r.params["start"]), seconds(&r.params["end"]));
    assert_eq!(end - start, 300.0, "{r:?}");
    // 11 points of 2 series.
    assert_eq!(evidence(&v, "samples"), ["22"], "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .ends_with(r#"over the last 5m (closest 0.031 on {job="api"})"#),
        "{v}"
    );

    // The window since the rollout: `check run --since` sets its start.
    let config = json!({"url": prom.base(), "query": ERROR_RATE, "what": "error rate",
                        "max": 0.01, "range": "rollout", "aggregate": "last"});
    let (code, v) = run_json(prom_query(config, &prom.base()).args(["--since", "10m"]));
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        v["summary"],
        r#"error rate last 0.031 > max 0.01 on {job="api"} since the rollout started"#
    );
    let received = prom.received();
    let r = &received[1];
    let (start, end) = (seconds(&r.params["start"]), seconds(&r.params["end"]));
    assert_eq!(end - start, 600.0, "{r:?}");
    assert_eq!(r.params["step"], "6", "the default: a hundred steps");
}

#[test]
fn no_data_is_inconclusive_unless_configured() {
    let prom = Prometheus::start(|query| {
        (query == r#"ALERTS{alertstate="firing", severity="page"}"#).then(|| Data::Series(vec![]))
    });
    let config = |on_empty: Option<&str>| {
        let mut c = json!({"url": prom.base(), "query": r#"ALERTS{alertstate="firing", severity="page"}"#, "max": 0});
        if let Some(e) = on_empty {
            c["on_empty"] = json!(e);
        }
        c
    };
    let (code, v) = run_json(&mut prom_query(config(None), &prom.base()));
    assert_eq!(
        (code, v["outcome"].as_str()),
        (3, Some("inconclusive")),
        "{v}"
    );
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .ends_with("no data (the query returned no series); on_empty = inconclusive"),
        "{v}"
    );
    let (code, v) = run_json(&mut prom_query(config(Some("pass")), &prom.base()));
    assert_eq!(code, 0, "{v}");
}

#[test]
fn a_prometheus_error_is_quoted_and_decides_nothing() {
    let prom = Prometheus::start(|query| {
        (query == "sum(rate(x[5m])) by (").then_some(Data::BadData(
            "invalid parameter \"query\": 1:22: parse error: unexpected end of input inside braces",
        ))
    });
    let config = json!({"url": prom.base(), "query": "sum(rate(x[5m])) by (", "max": 1});
    let (code, v) = run_json(&mut prom_query(config, &prom.base()));
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["outcome"], "inconclusive");
    assert_eq!(
        v["summary"],
        "`sum(rate(x[5m])) by (`: Prometheus refused the query: bad_data: invalid parameter \"query\": 1:22: parse error: unexpected end of input inside braces"
    );
    assert_eq!(evidence(&v, "status"), ["400"]);

    // A range too fine for Prometheus: its own limit, quoted.
    let prom = error_rates("0");
    let config = json!({"url": prom.base(), "query": ERROR_RATE, "max": 1, "range": "rollout", "step": "1s"});
    let (code, v) = run_json(prom_query(config, &prom.base()).args(["--since", "4h"]));
    assert_eq!(code, 3, "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("bad_data: exceeded maximum resolution of 11,000 points"),
        "{v}"
    );
}

#[test]
fn a_url_outside_the_grant_is_denied_and_never_sent() {
    let prom = error_rates("0.002");
    let config = json!({"url": prom.base(), "query": ERROR_RATE, "max": 0.01});
    let granted = format!("{}/federate", prom.base());
    let (code, v) = run_json(&mut prom_query(config, &granted));
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["outcome"], "inconclusive");
    let denied = evidence(&v, "host.denied");
    assert_eq!(denied.len(), 1, "{v}");
    assert!(
        denied[0].contains("denied: not under any allow_http prefix"),
        "{v}"
    );
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("cannot query Prometheus: http GET"),
        "{v}"
    );
    assert!(prom.received().is_empty(), "{:?}", prom.received());
}

#[test]
fn an_unreachable_prometheus_is_inconclusive_and_says_so() {
    let base = format!("http://127.0.0.1:{}", free_port());
    let config = json!({"url": base, "query": "up", "min": 1});
    let (code, v) = run_json(&mut prom_query(config, &base));
    assert_eq!(code, 3, "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("cannot query Prometheus: cannot connect"),
        "{v}"
    );
}

#[test]
fn not_prometheus_and_bad_config_are_explained() {
    let grafana = Server::start(|_, _| Reply::new(200, "<!doctype html><title>Grafana</title>"));
    let config = json!({"url": grafana.base, "query": "up", "min": 1});
    let (code, v) = run_json(&mut prom_query(config, &grafana.base));
    assert_eq!(code, 3, "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("is not the Prometheus query API (is `url` the Prometheus base URL?)"),
        "{v}"
    );

    let out = run(&mut prom_query(
        json!({"url": "http://prom:9090", "query": "up", "maxx": 1}),
        "http://prom:9090/",
    ));
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(
        out.stdout.contains("unknown configuration key `maxx`"),
        "{}",
        out.stdout
    );
}

#[test]
fn list_and_inspect_teach_it() {
    let out = run(pitwall().args(["check", "list"]));
    assert!(out.stdout.contains("builtin:prom-query"), "{}", out.stdout);
    let out = run(pitwall().args(["check", "inspect", "builtin:prom-query"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for key in [
        "url",
        "query",
        "range",
        "step",
        "aggregate",
        "on_empty",
        "max",
        "min",
    ] {
        assert!(
            out.stdout.contains(&format!("  {key} ")),
            "{key}: {}",
            out.stdout
        );
    }
}

#[test]
fn the_plugins_canned_cases_pass() {
    let cases = common::root().join("plugins/prom-query/tests");
    let out = run(pitwall().args(["check", "test"]).arg(&cases));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("4 passed, 0 failed"), "{}", out.stdout);
}
