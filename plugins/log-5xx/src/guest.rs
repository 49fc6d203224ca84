//! The wasm side: reads logs through the host and reports a verdict.

wit_bindgen::generate!({ path: "../../wit", world: "check" });

use crate::{Config, Finding, Outcome, evaluate, scan};
use exports::pitwall::check::plugin::Guest;
use pitwall::check::stack;
use pitwall::check::types::{self, Context, Descriptor, Verdict};

struct Log5xx;

impl Guest for Log5xx {
    fn describe() -> Descriptor {
        Descriptor {
            name: "log-5xx".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: crate::DESCRIPTION.into(),
            config_help: crate::CONFIG_HELP.into(),
            capabilities: vec!["logs".into()],
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        Config::parse(&config).map(drop)
    }

    fn run(ctx: Context, config: String) -> Verdict {
        let finding = check(&ctx, &config)
            .unwrap_or_else(|message| Finding::new(Outcome::Inconclusive, message, Vec::new()));
        check_kit::to_verdict!(finding, types)
    }
}

fn check(ctx: &Context, config: &str) -> Result<Finding, String> {
    let config = Config::parse(config)?;
    let window = ctx.now_ms.saturating_sub(ctx.started_at_ms);
    let now = tally_window(&config, ctx.started_at_ms, ctx.now_ms)?;
    let baseline = if config.baseline {
        let before = ctx.started_at_ms.saturating_sub(window);
        Some(tally_window(&config, before, ctx.started_at_ms)?)
    } else {
        None
    };
    Ok(evaluate(&config, &now, baseline.as_ref()))
}

fn tally_window(config: &Config, since_ms: u64, until_ms: u64) -> Result<scan::Tally, String> {
    let texts = config
        .services
        .iter()
        .map(|service| {
            stack::logs(service, since_ms, Some(until_ms), config.max_lines)
                .map_err(|e| format!("cannot read the logs of `{service}`: {e}"))
        })
        .collect::<Result<Vec<String>, String>>()?;
    Ok(scan::tally(
        texts.iter().flat_map(|t| scan::lines(t)),
        config.samples,
    ))
}

export!(Log5xx);
