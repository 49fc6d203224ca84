//! `builtin:log-5xx`: fails a release whose containers log too many HTTP 5xx
//! responses since the rollout started, optionally compared with an equal
//! window before it (a spike, not a level), and optionally requiring a
//! request id on every access line. It streams the whole window (every
//! line, in chunks) unless `max_lines` asks for only the newest lines.

pub mod scan;

pub use pitwall_check::{Outcome, Verdict};
use serde::Deserialize;

pub const CONFIG_HELP: &str = r#"JSON object:
  services            [string]  services whose logs to read (each must be granted with allow_logs); required
  max_5xx             integer   fail when more 5xx than this (optional)
  max_ratio           number    fail when 5xx/requests is above this, 0..1 (default 0.05 if max_5xx is not set)
  min_requests        integer   inconclusive when fewer access lines than this (default 0)
  baseline            bool      compare with the equal window before the rollout; fail only on a spike (default false)
  spike_factor        number    with baseline: the ratio must exceed baseline ratio x this, >= 1 (default 2)
  require_request_id  bool      fail when an access line carries no request id (default false); an id is a
                                request_id/x-request-id/X-Request-Id value or a trailing hex token; `-`,
                                empty, `null` and the like are no id
  max_lines           integer   read only the newest lines per service and window (default: every line, streamed)
  samples             integer   offending lines kept as evidence (default 5)"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub services: Vec<String>,
    #[serde(default)]
    pub max_5xx: Option<u64>,
    #[serde(default)]
    pub max_ratio: Option<f64>,
    #[serde(default)]
    pub min_requests: u64,
    #[serde(default)]
    pub baseline: bool,
    #[serde(default = "default_spike_factor")]
    pub spike_factor: f64,
    #[serde(default)]
    pub require_request_id: bool,
    #[serde(default)]
    pub max_lines: Option<u32>,
    #[serde(default = "default_samples")]
    pub samples: usize,
}

fn default_spike_factor() -> f64 {
    2.0
}
fn default_samples() -> usize {
    5
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = serde_json::from_str(text)
            .map_err(|e| format!("log-5xx: invalid config: {e}\n{CONFIG_HELP}"))?;
        if config.services.is_empty() {
            return Err(
                "log-5xx: `services` is empty: name at least one service whose logs to read".into(),
            );
        }
        if let Some(r) = config.max_ratio
            && !(0.0..=1.0).contains(&r)
        {
            return Err(format!(
                "log-5xx: `max_ratio` is {r}: it must be between 0 and 1 (e.g. 0.05 for 5%)"
            ));
        }
        if config.spike_factor < 1.0 {
            return Err(format!(
                "log-5xx: `spike_factor` is {}: it must be at least 1",
                config.spike_factor
            ));
        }
        Ok(config)
    }

    /// The ratio limit in force: the configured one, or 5% when no limit at
    /// all is configured.
    fn ratio_limit(&self) -> Option<f64> {
        match (self.max_ratio, self.max_5xx) {
            (Some(r), _) => Some(r),
            (None, None) => Some(0.05),
            (None, Some(_)) => None,
        }
    }
}

/// Adds the tally of a further chunk of lines to `total`, keeping the
/// first `samples` examples of each problem.
pub fn absorb(total: &mut scan::Tally, more: scan::Tally, samples: usize) {
    total.lines += more.lines;
    total.requests += more.requests;
    total.errors_5xx += more.errors_5xx;
    total.missing_request_id += more.missing_request_id;
    for (kept, new) in [
        (&mut total.samples, more.samples),
        (&mut total.missing_id_samples, more.missing_id_samples),
    ] {
        let room = samples.saturating_sub(kept.len());
        kept.extend(new.into_iter().take(room));
    }
}

/// The window a tally covers, for the evidence: `93.2 s (ms 1764…..1764…)`.
pub fn window(since_ms: u64, until_ms: u64) -> String {
    format!(
        "{:.1} s (ms {since_ms}..{until_ms})",
        until_ms.saturating_sub(since_ms) as f64 / 1000.0
    )
}

/// Decides on the tallies of the rollout window and, if configured, of the
/// window before it.
pub fn evaluate(config: &Config, now: &scan::Tally, baseline: Option<&scan::Tally>) -> Verdict {
    let mut evidence = vec![
        ("lines_scanned".to_string(), now.lines.to_string()),
        ("requests".to_string(), now.requests.to_string()),
        ("5xx".to_string(), now.errors_5xx.to_string()),
        ("ratio".to_string(), format!("{:.4}", now.ratio())),
    ];
    if let Some(b) = baseline {
        evidence.push(("baseline_requests".into(), b.requests.to_string()));
        evidence.push(("baseline_5xx".into(), b.errors_5xx.to_string()));
        evidence.push(("baseline_ratio".into(), format!("{:.4}", b.ratio())));
    }
    for s in &now.samples {
        evidence.push(("sample_5xx".into(), s.clone()));
    }

    if now.requests < config.min_requests {
        return Verdict::with_evidence(
            Outcome::Inconclusive,
            format!(
                "only {} access lines since the rollout, {} needed to judge",
                now.requests, config.min_requests
            ),
            evidence,
        );
    }

    let mut problems = Vec::new();
    let over_count = config.max_5xx.is_some_and(|m| now.errors_5xx > m);
    let over_ratio = config.ratio_limit().is_some_and(|r| now.ratio() > r);
    if over_count || over_ratio {
        let limits = [
            config.max_5xx.map(|m| format!("max {m}")),
            config.ratio_limit().map(|r| format!("max ratio {r}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        let spike_over = baseline.map(|b| b.ratio() * config.spike_factor);
        match spike_over {
            Some(threshold) if now.ratio() <= threshold => evidence.push((
                "note".into(),
                format!(
                    "5xx above the limits but not a spike: ratio {:.4} <= baseline {:.4} x {}",
                    now.ratio(),
                    baseline.map_or(0.0, scan::Tally::ratio),
                    config.spike_factor
                ),
            )),
            _ => problems.push(format!(
                "{} of {} requests were 5xx ({:.1}%, {limits}){}",
                now.errors_5xx,
                now.requests,
                now.ratio() * 100.0,
                baseline.map_or(String::new(), |b| format!(
                    ", baseline {:.1}%",
                    b.ratio() * 100.0
                ))
            )),
        }
    }
    if config.require_request_id && now.missing_request_id > 0 {
        problems.push(format!(
            "{} of {} access lines carry no request id",
            now.missing_request_id, now.requests
        ));
        evidence.push((
            "missing_request_id".into(),
            now.missing_request_id.to_string(),
        ));
        for s in &now.missing_id_samples {
            evidence.push(("sample_no_request_id".into(), s.clone()));
        }
    }

    if problems.is_empty() {
        Verdict::with_evidence(
            Outcome::Pass,
            format!(
                "{} of {} requests were 5xx ({:.1}%) in {}",
                now.errors_5xx,
                now.requests,
                now.ratio() * 100.0,
                config.services.join(", ")
            ),
            evidence,
        )
    } else {
        Verdict::with_evidence(Outcome::Fail, problems.join("; "), evidence)
    }
}

#[cfg(target_arch = "wasm32")]
mod guest;

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(requests: u64, errors: u64) -> scan::Tally {
        scan::Tally {
            lines: requests,
            requests,
            errors_5xx: errors,
            ..Default::default()
        }
    }

    fn config(json: &str) -> Config {
        Config::parse(json).unwrap()
    }

    #[test]
    fn default_limit_is_five_percent() {
        let c = config(r#"{"services":["api"]}"#);
        assert_eq!(evaluate(&c, &tally(100, 5), None).outcome, Outcome::Pass);
        let f = evaluate(&c, &tally(100, 6), None);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(
            f.summary.contains("6 of 100 requests were 5xx"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn baseline_turns_a_level_into_a_pass_and_a_spike_into_a_fail() {
        let c = config(r#"{"services":["api"],"max_ratio":0.01,"baseline":true}"#);
        let level = evaluate(&c, &tally(100, 10), Some(&tally(100, 8)));
        assert_eq!(level.outcome, Outcome::Pass, "{level:?}");
        let spike = evaluate(&c, &tally(100, 30), Some(&tally(100, 8)));
        assert_eq!(spike.outcome, Outcome::Fail);
        assert!(spike.summary.contains("baseline 8.0%"), "{}", spike.summary);
    }

    #[test]
    fn min_requests_makes_it_inconclusive() {
        let c = config(r#"{"services":["api"],"min_requests":10}"#);
        assert_eq!(
            evaluate(&c, &tally(3, 0), None).outcome,
            Outcome::Inconclusive
        );
    }

    #[test]
    fn absolute_count_alone() {
        let c = config(r#"{"services":["api"],"max_5xx":2}"#);
        assert_eq!(evaluate(&c, &tally(10, 2), None).outcome, Outcome::Pass);
        assert_eq!(evaluate(&c, &tally(10000, 3), None).outcome, Outcome::Fail);
    }

    #[test]
    fn chunk_tallies_add_up_and_keep_the_first_samples() {
        let text = "a 500\nb 200\nc 503\nd 502\n";
        let whole = scan::tally(scan::lines(text), 2);
        let mut total = scan::Tally::default();
        for chunk in ["a 500\nb 200\n", "c 503\n", "d 502\n"] {
            absorb(&mut total, scan::tally(scan::lines(chunk), 2), 2);
        }
        assert_eq!(total, whole);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        assert!(
            Config::parse(r#"{"services":[]}"#)
                .unwrap_err()
                .contains("`services` is empty")
        );
        assert!(
            Config::parse(r#"{"services":["a"],"max_ratio":5}"#)
                .unwrap_err()
                .contains("between 0 and 1")
        );
        assert!(
            Config::parse(r#"{"services":["a"],"maxratio":0.1}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            Config::parse("nope")
                .unwrap_err()
                .contains("invalid config")
        );
    }
}
