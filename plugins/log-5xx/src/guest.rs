//! The wasm side: reads logs through the host and reports a verdict.

use pitwall_check::{Capability, Check, Context, Verdict, stack};

use crate::{Config, evaluate, scan};

struct Log5xx;

impl Check for Log5xx {
    type Config = Config;
    const CAPABILITIES: &'static [Capability] = &[Capability::Logs];
    const CONFIG_HELP: &'static str = crate::CONFIG_HELP;

    fn config(text: &str) -> Result<Config, String> {
        Config::parse(text)
    }

    fn run(ctx: &Context, config: Config) -> Verdict {
        check(ctx, &config).unwrap_or_else(Verdict::inconclusive)
    }
}

fn check(ctx: &Context, config: &Config) -> Result<Verdict, String> {
    let window = ctx.now_ms.saturating_sub(ctx.started_at_ms);
    let now = tally_window(config, ctx.started_at_ms, ctx.now_ms)?;
    let baseline = if config.baseline {
        let before = ctx.started_at_ms.saturating_sub(window);
        Some(tally_window(config, before, ctx.started_at_ms)?)
    } else {
        None
    };
    Ok(evaluate(config, &now, baseline.as_ref()))
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

pitwall_check::export!(Log5xx);
