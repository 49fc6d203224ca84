//! The wasm side: sends requests through the host and reports a verdict.

wit_bindgen::generate!({ path: "../../wit", world: "check" });

use std::collections::BTreeMap;

use crate::{Config, Finding, Outcome, Request, Response, probe};
use exports::pitwall::check::plugin::Guest;
use pitwall::check::http;
use pitwall::check::types::{self, Context, Descriptor, Verdict};

struct HttpProbe;

impl Guest for HttpProbe {
    fn describe() -> Descriptor {
        Descriptor {
            name: "http-probe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: crate::DESCRIPTION.into(),
            config_help: crate::CONFIG_HELP.into(),
            capabilities: vec!["http".into()],
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        Config::parse(&config).map(drop)
    }

    fn run(ctx: Context, config: String) -> Verdict {
        let config = match Config::parse(&config) {
            Ok(c) => c,
            Err(e) => {
                return check_kit::to_verdict!(
                    Finding::new(Outcome::Inconclusive, e, Vec::new()),
                    types
                );
            }
        };
        let vars = BTreeMap::from([
            ("release_id".to_string(), ctx.release_id),
            ("project".to_string(), ctx.project),
        ]);
        check_kit::to_verdict!(probe(&config, &vars, send), types)
    }
}

fn send(req: Request) -> Result<Response, String> {
    let request = http::Request {
        method: req.method,
        url: req.url,
        headers: req
            .headers
            .into_iter()
            .map(|(name, value)| http::Header { name, value })
            .collect(),
        body: req.body,
        timeout_ms: req.timeout_ms,
        follow_redirects: req.follow_redirects,
    };
    match http::send(&request) {
        Ok(r) => Ok(Response {
            status: r.status,
            body: r.body,
            truncated: r.truncated,
            elapsed_ms: r.elapsed_ms,
        }),
        Err(e) => Err(match e {
            http::Error::Denied(m) => m,
            http::Error::Timeout(m) => format!("timed out: {m}"),
            http::Error::Connect(m) => format!("cannot connect: {m}"),
            http::Error::Invalid(m) => format!("invalid request: {m}"),
            http::Error::Other(m) => m,
        }),
    }
}

export!(HttpProbe);
