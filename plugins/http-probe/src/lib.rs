//! `builtin:http-probe`: one HTTP request (or a short sequence, e.g. login then
//! logout) with expectations on status, body, a JSON field and latency.

mod config;
mod probe;

pub use check_kit::{Finding, Outcome};
pub use config::{CONFIG_HELP, Config, StatusPattern, StatusSpec, Step};
pub use probe::{Request, Response, probe, substitute};

pub const DESCRIPTION: &str = "Sends one HTTP request (or a sequence of steps, e.g. login then logout) and \
checks the status (default 2xx), an optional body substring, an optional JSON field value and an optional \
maximum latency. Serves health endpoints, API docs pages and auth sanity flows.";

#[cfg(target_arch = "wasm32")]
mod guest;
