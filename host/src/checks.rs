//! The check runtime: sandboxed WebAssembly components that judge a release.

mod bindings;
pub mod builtin;
mod cache;
mod case;
mod compile;
mod grants;
mod host;
mod limits;
pub mod oci;
mod plugin;
mod runtime;
mod stderr;
mod tape;
mod v1;
mod verdict;

pub use bindings::{CONTRACT, CONTRACT_WIT, Contract, types};
pub use cache::{Cache, CacheStatus};
pub use case::Case;
pub use compile::{
    Bounds as CompileBounds, CHILD_ARG as COMPILER_CHILD_ARG, Compiler,
    serve_child as serve_compiler,
};
pub use grants::{Capability, Grants};
pub use host::{Io, TapeMode};
pub use limits::Limits;
pub use plugin::{PluginError, Source, sha256};
pub use runtime::{Plugin, Run, Runtime};
pub use tape::{Interaction, LogsQuery, Recording};
pub use verdict::{Evidence, Outcome, Verdict};
