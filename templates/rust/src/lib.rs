//! {{name}}: a pitwall check. The decision is `judge`, a plain function the
//! unit tests below run natively; `run` only fetches what it judges.

use pitwall_check::{Capability, Check, Context, Verdict, http};

/// The configuration (JSON in pitwall.toml's `config`). Unknown keys are
/// refused by name, so a typo fails at deploy preflight.
#[derive(Debug, serde::Deserialize)]
pub struct Config {
    /// The URL to probe; grant it with `allow_http`.
    pub url: String,
    /// The status expected (default: any 2xx).
    #[serde(default)]
    pub status: Option<u16>,
}

pub struct Probe;

impl Check for Probe {
    type Config = Config;
    const CAPABILITIES: &'static [Capability] = &[Capability::Http];
    const CONFIG_HELP: &'static str =
        r#"{"url": "http://app:8080/health", "status": 200}  (status optional: default any 2xx)"#;

    fn config(text: &str) -> Result<Config, String> {
        let config: Config = pitwall_check::config::parse(text)?;
        if !config.url.starts_with("http://") && !config.url.starts_with("https://") {
            return Err(format!("url `{}` must start with http:// or https://", config.url));
        }
        Ok(config)
    }

    fn run(_ctx: &Context, config: Config) -> Verdict {
        match http::get(&config.url).send() {
            Ok(response) => judge(&config, &response),
            // A denied or malformed request is the configuration's fault,
            // not the release's: inconclusive, so no one blames the release.
            Err(e @ (http::Error::Denied(_) | http::Error::Invalid(_))) => {
                Verdict::inconclusive(format!("{}: {e}", config.url))
            }
            Err(e) => Verdict::fail(format!("{}: {e}", config.url)),
        }
    }
}

/// Passes on the expected status (any 2xx by default).
pub fn judge(config: &Config, response: &http::Response) -> Verdict {
    let ok = match config.status {
        Some(expected) => response.status == expected,
        None => response.is_success(),
    };
    let summary = format!("{} answered {}", config.url, response.status);
    let verdict = if ok { Verdict::pass(summary) } else { Verdict::fail(summary) };
    verdict
        .with("status", response.status)
        .with("latency_ms", response.elapsed_ms)
}

pitwall_check::export!(Probe);

#[cfg(test)]
mod tests {
    use super::*;
    use pitwall_check::Outcome;

    fn config(text: &str) -> Config {
        Probe::config(text).unwrap()
    }

    #[test]
    fn passes_on_2xx_and_fails_otherwise() {
        let c = config(r#"{"url": "http://app/health"}"#);
        assert_eq!(judge(&c, &http::Response::new(204, "")).outcome, Outcome::Pass);
        let v = judge(&c, &http::Response::new(503, "down"));
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.evidence("status"), Some("503"));
    }

    #[test]
    fn an_expected_status_is_exact() {
        let c = config(r#"{"url": "http://app/health", "status": 200}"#);
        assert_eq!(judge(&c, &http::Response::new(204, "")).outcome, Outcome::Fail);
    }

    #[test]
    fn a_typo_in_the_config_is_named() {
        let e = Probe::config(r#"{"url": "http://app/", "stauts": 200}"#).unwrap_err();
        assert!(e.contains("`stauts`"), "{e}");
    }
}
