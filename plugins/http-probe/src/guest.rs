//! The wasm side: sends requests through the host and reports a verdict.

use std::collections::BTreeMap;

use pitwall_check::{Capability, Check, Context, Verdict, http};

use crate::{Config, Request, Response, probe};

struct HttpProbe;

impl Check for HttpProbe {
    type Config = Config;
    const CAPABILITIES: &'static [Capability] = &[Capability::Http];
    const CONFIG_HELP: &'static str = crate::CONFIG_HELP;

    fn config(text: &str) -> Result<Config, String> {
        Config::parse(text)
    }

    fn run(ctx: &Context, config: Config) -> Verdict {
        let vars = BTreeMap::from([
            ("release_id".to_string(), ctx.release_id.clone()),
            ("project".to_string(), ctx.project.clone()),
        ]);
        probe(&config, &vars, ctx.now_ms, send)
    }
}

fn send(req: Request) -> Result<Response, String> {
    // The probe follows redirects itself, to keep each hop's cookies.
    let mut request = http::request(req.method, req.url).follow_redirects(false);
    for (name, value) in req.headers {
        request = request.header(name, value);
    }
    if let Some(body) = req.body {
        request = request.body(body);
    }
    if let Some(ms) = req.timeout_ms {
        request = request.timeout_ms(ms);
    }
    request.send().map_err(|e| match e {
        // A denial names the grant to add; the prefix adds nothing.
        http::Error::Denied(m) | http::Error::Other(m) => m,
        other => other.to_string(),
    })
}

pitwall_check::export!(HttpProbe);
