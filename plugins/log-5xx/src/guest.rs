//! The wasm side: reads logs through the host and reports a verdict.

use pitwall_check::{Capability, Check, Context, Evidence, Verdict, stack};

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
    let mut verdict = evaluate(config, &now, baseline.as_ref());
    let covered = crate::window(ctx.started_at_ms, ctx.now_ms);
    verdict.evidence.insert(
        1,
        Evidence {
            label: "window".into(),
            value: covered,
        },
    );
    Ok(verdict)
}

/// Every line of the window (or the newest `max_lines`), service by
/// service, tallied one chunk at a time: memory stays at one chunk.
fn tally_window(config: &Config, since_ms: u64, until_ms: u64) -> Result<scan::Tally, String> {
    let mut total = scan::Tally::default();
    for service in &config.services {
        let unreadable = |e: String| format!("cannot read the logs of `{service}`: {e}");
        let mut add = |text: &str| {
            let tally = scan::tally(scan::lines(text), config.samples);
            crate::absorb(&mut total, tally, config.samples);
        };
        match config.max_lines {
            Some(max) => {
                add(&stack::logs(service, since_ms, Some(until_ms), max).map_err(unreadable)?)
            }
            None => {
                for chunk in
                    stack::open_logs(service, since_ms, Some(until_ms)).map_err(unreadable)?
                {
                    add(&chunk.map_err(unreadable)?);
                }
            }
        }
    }
    Ok(total)
}

pitwall_check::export!(Log5xx);
