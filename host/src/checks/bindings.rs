//! Host bindings generated from `wit/check.wit`. The serde derives let the
//! record/replay tape store host calls as the very types that crossed the
//! boundary.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "check",
    imports: { default: async },
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});

pub use pitwall::check::{http, log, stack, types};

/// The contract this host speaks, as it appears in component export names.
pub const CONTRACT: &str = "pitwall:check@0.1.0";
/// The contract's text, as `pitwall check wit` prints it.
pub const CONTRACT_WIT: &str = include_str!("../../../wit/check.wit");
/// The interface every check exports.
pub const PLUGIN_EXPORT: &str = "pitwall:check/plugin@0.1.0";
