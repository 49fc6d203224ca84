//! The wasm side: one query through the host, judged.

use pitwall_check::{Capability, Check, Context, Verdict, http};

use crate::Config;
use crate::api::Plan;

struct PromQuery;

impl Check for PromQuery {
    type Config = Config;
    const CAPABILITIES: &'static [Capability] = &[Capability::Http];
    const CONFIG_HELP: &'static str = crate::CONFIG_HELP;

    fn config(text: &str) -> Result<Config, String> {
        Config::parse(text)
    }

    fn run(ctx: &Context, config: Config) -> Verdict {
        let plan = Plan::new(&config, ctx.started_at_ms, ctx.now_ms);
        let mut request = http::get(plan.url.clone()).header("accept", "application/json");
        for (name, value) in &config.headers {
            request = request.header(name, value);
        }
        if let Some(ms) = config.timeout_ms {
            request = request.timeout_ms(ms);
        }
        let answer = request.send().map_err(|e| e.to_string());
        crate::verdict(&config, &plan, answer)
    }
}

pitwall_check::export!(PromQuery);
