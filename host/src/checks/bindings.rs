//! Host bindings generated from the contract: `wit/check.wit` (0.2.0, the
//! one this pitwall speaks) and `wit/0.1.0/check.wit` (kept so checks built
//! against it run unchanged; `host/v1.rs` answers them through the 0.2.0
//! host). The serde derives let the record/replay tape store host calls as
//! the very types that crossed the boundary.

wasmtime::component::bindgen!({
    path: "../wit/check.wit",
    world: "check",
    imports: { default: async },
    exports: { default: async },
    with: { "pitwall:check/stack.log-stream": super::host::LogStream },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});

pub use self::pitwall::check::{http, log, stack, types};

/// The bindings of the first contract, for checks built against it.
pub mod v1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0/check.wit",
        world: "check",
        imports: { default: async },
        exports: { default: async },
    });

    pub use self::pitwall::check::{http, log, stack, types};
}

/// The contract versions this host runs, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    V0_2,
    V0_1,
}

impl Contract {
    pub const ALL: [Contract; 2] = [Contract::V0_2, Contract::V0_1];

    /// The package name, e.g. `pitwall:check@0.2.0`.
    pub const fn package(self) -> &'static str {
        match self {
            Contract::V0_2 => "pitwall:check@0.2.0",
            Contract::V0_1 => "pitwall:check@0.1.0",
        }
    }

    /// The version, e.g. `0.2.0`.
    pub const fn version(self) -> &'static str {
        match self {
            Contract::V0_2 => "0.2.0",
            Contract::V0_1 => "0.1.0",
        }
    }

    /// The contract's text, as `pitwall check wit` prints it.
    pub const fn wit(self) -> &'static str {
        match self {
            Contract::V0_2 => include_str!("../../../wit/check.wit"),
            Contract::V0_1 => include_str!("../../../wit/0.1.0/check.wit"),
        }
    }

    /// The contract of `version` (`0.2.0`), if this host runs it.
    pub fn from_version(version: &str) -> Option<Contract> {
        Contract::ALL.into_iter().find(|c| c.version() == version)
    }

    /// The interface every check of this version exports.
    pub const fn plugin_export(self) -> &'static str {
        match self {
            Contract::V0_2 => "pitwall:check/plugin@0.2.0",
            Contract::V0_1 => "pitwall:check/plugin@0.1.0",
        }
    }
}

/// The contract this host speaks, as it appears in component export names.
pub const CONTRACT: &str = Contract::V0_2.package();
/// The contract's text, as `pitwall check wit` prints it.
pub const CONTRACT_WIT: &str = Contract::V0_2.wit();
/// The interface every check exports.
pub const PLUGIN_EXPORT: &str = Contract::V0_2.plugin_export();
