//! A JSON health endpoint: passes when it says `db == "ok"` and its
//! `queue_depth` is below the configured limit. Written with `pitwall check
//! new` and the pitwall-check SDK; `judge` holds the decision.

use pitwall_check::{Capability, Check, Context, Verdict, http};

#[derive(Debug, serde::Deserialize)]
pub struct Config {
    /// The health endpoint; grant it with `allow_http`.
    pub url: String,
    /// The queue depth must stay below this.
    pub max_queue_depth: u64,
}

/// What the endpoint answers.
#[derive(Debug, serde::Deserialize)]
pub struct Health {
    pub db: String,
    pub queue_depth: u64,
}

pub struct RustHealth;

impl Check for RustHealth {
    type Config = Config;
    const CAPABILITIES: &'static [Capability] = &[Capability::Http];
    const CONFIG_HELP: &'static str =
        r#"{"url": "http://app:8080/health", "max_queue_depth": 100}"#;

    fn config(text: &str) -> Result<Config, String> {
        pitwall_check::config::parse(text)
    }

    fn run(_ctx: &Context, config: Config) -> Verdict {
        let response = match http::get(&config.url)
            .header("accept", "application/json")
            .send()
        {
            Ok(r) => r,
            Err(e) => return Verdict::fail(format!("{}: {e}", config.url)),
        };
        if !response.is_success() {
            return Verdict::fail(format!("{} answered {}", config.url, response.status))
                .with("status", response.status);
        }
        match response.json::<Health>() {
            Ok(health) => judge(&config, &health).with("status", response.status),
            Err(e) => Verdict::fail(format!("{}: {e}", config.url)).with("status", response.status),
        }
    }
}

pub fn judge(config: &Config, health: &Health) -> Verdict {
    let verdict = if health.db != "ok" {
        Verdict::fail(format!("db is {:?}", health.db))
    } else if health.queue_depth >= config.max_queue_depth {
        Verdict::fail(format!(
            "queue depth {} is not below {}",
            health.queue_depth, config.max_queue_depth
        ))
    } else {
        Verdict::pass(format!(
            "db ok, queue depth {} below {}",
            health.queue_depth, config.max_queue_depth
        ))
    };
    verdict
        .with("db", &health.db)
        .with("queue_depth", health.queue_depth)
}

pitwall_check::export!(RustHealth);

#[cfg(test)]
mod tests {
    use super::*;
    use pitwall_check::Outcome;

    fn judged(db: &str, queue_depth: u64) -> Verdict {
        let config = Config {
            url: "http://app/health".into(),
            max_queue_depth: 10,
        };
        judge(
            &config,
            &Health {
                db: db.into(),
                queue_depth,
            },
        )
    }

    #[test]
    fn healthy_below_the_limit_passes() {
        assert_eq!(judged("ok", 9).outcome, Outcome::Pass);
    }

    #[test]
    fn db_down_or_queue_at_the_limit_fails() {
        assert_eq!(judged("down", 0).outcome, Outcome::Fail);
        let v = judged("ok", 10);
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.evidence("queue_depth"), Some("10"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = RustHealth::config(r#"{"url": "http://a/", "max_queue_depht": 1}"#).unwrap_err();
        assert!(e.contains("`max_queue_depht`"), "{e}");
    }
}
