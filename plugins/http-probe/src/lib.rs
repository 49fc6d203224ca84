//! `builtin:http-probe`: one HTTP request (or a short sequence, e.g. login then
//! logout) with expectations on status, body, a JSON field and latency.

mod config;
mod probe;

pub use config::{CONFIG_HELP, Config, StatusPattern, StatusSpec, Step};
pub use pitwall_check::{Outcome, Verdict};
pub use probe::{Request, Response, probe, substitute};

#[cfg(target_arch = "wasm32")]
mod guest;
