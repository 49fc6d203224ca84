//! `builtin:prom-query`: a Prometheus instant or range query through the
//! host's HTTP (only `allow_http` URLs are reachable), its values compared
//! with a max and/or min; the evidence names the series that decided.

pub mod api;
mod config;
mod judge;

pub use config::{Aggregate, Bounds, CONFIG_HELP, Config, MAX_POINTS, Mode, OnEmpty, Window};
pub use judge::{number, series_name, verdict};
pub use pitwall_check::{Outcome, Verdict};

#[cfg(target_arch = "wasm32")]
mod guest;
