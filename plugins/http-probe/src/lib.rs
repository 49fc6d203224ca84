//! `builtin:http-probe`: one HTTP request (or a short sequence, e.g. a
//! session login with its CSRF token) with expectations on status, body, a
//! JSON field and latency.

mod capture;
mod config;
mod form;
mod jar;
mod json;
mod mask;
mod probe;
mod url;
mod vars;

pub use capture::{Capture, Source};
pub use config::{Body, CONFIG_HELP, Config, StatusPattern, StatusSpec, Step};
pub use pitwall_check::{Outcome, Verdict};
pub use probe::{MAX_REDIRECTS, Request, Response, probe};
pub use vars::substitute;

#[cfg(target_arch = "wasm32")]
mod guest;
