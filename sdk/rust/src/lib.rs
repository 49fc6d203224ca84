//! Write pitwall deploy checks in Rust.
//!
//! A check is a type implementing [`Check`], exported with [`export!`], built
//! for `wasm32-wasip2`. The crate carries the contract (`wit/check.wit`), the
//! host calls ([`http`], [`stack`], [`log`]), [`Verdict`] helpers and strict
//! configuration parsing ([`config::parse`]). Keep the decision logic in
//! plain functions over plain values: they run in native unit tests, while
//! the host calls only work inside pitwall.

pub mod config;
pub mod http;
pub mod stack;
mod verdict;

pub use verdict::{Evidence, Outcome, Verdict};

/// The generated bindings of the contract. Most checks never name them.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "check",
        pub_export_macro: true,
        export_macro_name: "__export_check_world",
        default_bindings_module: "pitwall_check::bindings",
    });
}

/// What a run is about: the release, the project, when the phase started.
pub use bindings::pitwall::check::types::{Context, ServiceImage};

/// The contract this crate speaks, as pitwall names it.
pub const CONTRACT: &str = "pitwall:check@0.2.0";

#[cfg(test)]
#[test]
fn contract_names_the_package_the_wit_declares() {
    let wit = include_str!("../wit/check.wit");
    assert!(
        wit.contains(&format!("package {CONTRACT};")),
        "wit/check.wit declares another package"
    );
}

/// What a check asks the operator to grant (`pitwall check inspect` shows it;
/// pitwall warns when the configuration does not grant it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `http.send`, granted with `allow_http` URL prefixes.
    Http,
    /// `stack.logs` and `stack.containers`, granted with `allow_logs` services.
    Logs,
}

impl Capability {
    pub fn name(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Logs => "logs",
        }
    }
}

/// A check. Its name, version and description are the crate's (`Cargo.toml`).
pub trait Check {
    /// The parsed configuration.
    type Config;
    /// The capabilities `run` uses.
    const CAPABILITIES: &'static [Capability] = &[];
    /// How to configure it, shown by `pitwall check inspect`.
    const CONFIG_HELP: &'static str = "";

    /// Parses and validates the configuration text (JSON). Called at deploy
    /// preflight, before anything is touched, and before every run; the
    /// error is shown to the operator. [`config::parse`] does the strict
    /// JSON part.
    fn config(text: &str) -> Result<Self::Config, String>;

    /// Judges the release.
    fn run(ctx: &Context, config: Self::Config) -> Verdict;
}

/// Exports a [`Check`] as the component's `plugin` interface:
/// `pitwall_check::export!(MyCheck);` once, at the crate root. Only wasm
/// builds export: a native build (unit tests) links no component symbols.
#[macro_export]
macro_rules! export {
    ($check:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Exported;
            impl $crate::bindings::exports::pitwall::check::plugin::Guest for Exported {
                fn describe() -> $crate::bindings::pitwall::check::types::Descriptor {
                    $crate::__describe::<$check>(
                        env!("CARGO_PKG_NAME"),
                        env!("CARGO_PKG_VERSION"),
                        env!("CARGO_PKG_DESCRIPTION"),
                    )
                }
                fn validate_config(config: String) -> Result<(), String> {
                    <$check as $crate::Check>::config(&config).map(drop)
                }
                fn run(
                    ctx: $crate::Context,
                    config: String,
                ) -> $crate::bindings::pitwall::check::types::Verdict {
                    $crate::__run::<$check>(&ctx, &config)
                }
            }
    $crate::bindings::__export_check_world!(Exported with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub fn __describe<C: Check>(
    name: &str,
    version: &str,
    description: &str,
) -> bindings::pitwall::check::types::Descriptor {
    bindings::pitwall::check::types::Descriptor {
        name: name.into(),
        version: version.into(),
        description: description.into(),
        config_help: C::CONFIG_HELP.into(),
        capabilities: C::CAPABILITIES
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
    }
}

#[doc(hidden)]
pub fn __run<C: Check>(ctx: &Context, config: &str) -> bindings::pitwall::check::types::Verdict {
    let verdict = match C::config(config) {
        Ok(config) => C::run(ctx, config),
        // pitwall validated it at preflight; a change since is not the
        // release's fault.
        Err(e) => Verdict::inconclusive(e),
    };
    verdict.into_wit()
}

/// Shortens `text` to at most `max` bytes on a char boundary, marking the cut.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// The check's own log lines, kept (capped) with its verdict.
pub mod log {
    use crate::bindings::pitwall::check::log::{Level, write};

    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }
    pub fn info(message: &str) {
        write(Level::Info, message);
    }
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }
    pub fn error(message: &str) {
        write(Level::Error, message);
    }
}
