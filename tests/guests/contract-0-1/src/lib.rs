//! A check built against the first contract, `pitwall:check@0.1.0`, as an
//! outside team would have built it: pitwall must keep running it unchanged.
//! It uses every import of that contract. Config: `{"url": …, "service": …}`
//! (either may be left out).

wit_bindgen::generate!({ path: "../../../wit/0.1.0", world: "check" });

use exports::pitwall::check::plugin::Guest;
use pitwall::check::types::{Context, Descriptor, Evidence, Outcome, Verdict};
use pitwall::check::{http, log, stack};

struct Old;

fn field<'a>(config: &'a str, key: &str) -> Option<&'a str> {
    let start = config.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = config[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

impl Guest for Old {
    fn describe() -> Descriptor {
        Descriptor {
            name: "contract-0-1".into(),
            version: "0.1.0".into(),
            description: "a check built against pitwall:check@0.1.0".into(),
            config_help: r#"{"url": "http://…", "service": "api"}"#.into(),
            capabilities: vec!["http".into(), "logs".into()],
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        if config.trim_start().starts_with('{') {
            Ok(())
        } else {
            Err("contract-0-1: the config must be a JSON object".into())
        }
    }

    fn run(ctx: Context, config: String) -> Verdict {
        log::write(log::Level::Info, &format!("attempt {} of {}", ctx.attempt, ctx.release_id));
        let mut evidence = Vec::new();
        if let Some(url) = field(&config, "url") {
            let req = http::Request {
                method: "GET".into(),
                url: url.into(),
                headers: vec![],
                body: None,
                timeout_ms: Some(2000),
                follow_redirects: false,
            };
            match http::send(&req) {
                Ok(r) => evidence.push(Evidence { label: "status".into(), value: r.status.to_string() }),
                Err(e) => return fail(format!("http: {e:?}")),
            }
        }
        if let Some(service) = field(&config, "service") {
            let containers = match stack::containers() {
                Ok(cs) => cs,
                Err(e) => return fail(format!("containers: {e}")),
            };
            let running = containers.iter().filter(|c| c.state == "running").count();
            evidence.push(Evidence { label: "running".into(), value: running.to_string() });
            match stack::logs(service, ctx.started_at_ms, Some(ctx.now_ms), 100_000) {
                Ok(text) => evidence.push(Evidence {
                    label: "lines".into(),
                    value: text.lines().count().to_string(),
                }),
                Err(e) => return fail(format!("logs: {e}")),
            }
        }
        Verdict { outcome: Outcome::Pass, summary: "the 0.1.0 check ran".into(), evidence }
    }
}

fn fail(summary: String) -> Verdict {
    Verdict { outcome: Outcome::Fail, summary, evidence: vec![] }
}

export!(Old);
