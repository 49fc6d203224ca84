//! Where a check comes from (`builtin:NAME`, an `oci://` reference or a
//! `.wasm` file) and the checks made on its bytes before wasmtime sees them,
//! so a wrong file gets an explanation rather than a parser error.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::bindings::{CONTRACT, Contract, PLUGIN_EXPORT};
use super::builtin::{self, BUILTINS};
use super::cache::Cache;
use super::compile::CompileError;
use super::oci::{self, OciError};
use crate::fsutil::read_regular;

/// The largest component accepted (a Python check is about 18 MB).
pub(super) const MAX_COMPONENT_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub enum Source {
    Builtin(&'static builtin::Builtin),
    File(PathBuf),
    /// Pulled from a registry (or the cache) and verified.
    Oci(oci::Pulled),
}

impl Source {
    /// What `spec` names, ready to load: an `oci://` reference is pulled
    /// (or taken from the cache) and verified here; anything else is
    /// [`Source::parse`]d.
    pub async fn resolve(spec: &str, cache: &Cache) -> Result<Source, PluginError> {
        match oci::Reference::parse(spec) {
            Some(reference) => Ok(Source::Oci(
                oci::resolve(&reference?, &oci::Store::new(cache)).await?,
            )),
            None => Source::parse(spec),
        }
    }

    /// Whether `spec` names a file (a path, relative to where it was
    /// written), not a built-in or a registry.
    pub fn is_path(spec: &str) -> bool {
        !spec.starts_with("builtin:") && !spec.starts_with(oci::SCHEME)
    }

    /// A built-in or a file; `oci://` references need [`Source::resolve`].
    pub fn parse(spec: &str) -> Result<Source, PluginError> {
        match spec.strip_prefix("builtin:") {
            Some(name) => builtin::find(name).map(Source::Builtin).ok_or_else(|| {
                PluginError::UnknownBuiltin {
                    name: name.to_string(),
                    known: BUILTINS
                        .iter()
                        .map(|b| format!("builtin:{}", b.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            }),
            None => Ok(Source::File(PathBuf::from(spec))),
        }
    }

    pub fn bytes(&self) -> Result<Vec<u8>, PluginError> {
        match self {
            Source::Builtin(b) => Ok(b.wasm.to_vec()),
            Source::File(path) => {
                read_regular(path, MAX_COMPONENT_BYTES).map_err(|e| PluginError::Unreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
            }
            Source::Oci(pulled) => Ok(pulled.bytes.to_vec()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Builtin(b) => write!(f, "builtin:{}", b.name),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Oci(pulled) => write!(f, "{}", pulled.reference),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("unknown built-in check `builtin:{name}`; the built-ins are: {known}")]
    UnknownBuiltin { name: String, known: String },
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error(
        "{source_name} has SHA-256 {actual}, but its `sha256 =` pin is {expected}: refusing it \
         (if the change is intended, pin the new value; `pitwall check inspect` prints it)"
    )]
    Pin {
        source_name: String,
        expected: String,
        actual: String,
    },
    #[error("cannot read the check {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "{0} is empty: a check is a WebAssembly component (build one with `cargo build --target wasm32-wasip2`)"
    )]
    Empty(String),
    #[error("{0} is not WebAssembly (it does not start with the \\0asm header)")]
    NotWasm(String),
    #[error(
        "{0} is a core WebAssembly module, not a component: build it for wasm32-wasip2, \
         or wrap it with `wasm-tools component new`"
    )]
    CoreModule(String),
    #[error(
        "{source_name} was built against {found}, but this pitwall speaks {CONTRACT} (and runs \
         checks built against pitwall:check@0.1.0): rebuild it against this version's wit/check.wit"
    )]
    Contract { source_name: String, found: String },
    #[error(
        "{source_name} is not a pitwall check: it does not export {PLUGIN_EXPORT} (its exports: {exports})"
    )]
    NotACheck {
        source_name: String,
        exports: String,
    },
    #[error(
        "{source_name} claims {contract} but its `{function}` has other types than the \
         contract's ({reason}): rebuild it against this contract (`pitwall check wit` prints it)"
    )]
    Shape {
        source_name: String,
        contract: &'static str,
        function: String,
        reason: String,
    },
    #[error("{source_name} is not a valid WebAssembly component: {reason}")]
    Invalid { source_name: String, reason: String },
    #[error("cannot compile {source_name}: {reason}")]
    Compile {
        source_name: String,
        reason: CompileError,
    },
    #[error("{source_name} cannot be linked: {reason}")]
    Link { source_name: String, reason: String },
}

/// The bytes' SHA-256, hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Rejects what is certainly not a component, with the reason.
pub fn precheck(name: &str, bytes: &[u8]) -> Result<(), PluginError> {
    const MAGIC: &[u8] = b"\0asm";
    // Core modules have version 1 and layer 0; components have layer 1.
    const CORE: &[u8] = &[1, 0, 0, 0];
    if bytes.is_empty() {
        return Err(PluginError::Empty(name.to_string()));
    }
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(PluginError::NotWasm(name.to_string()));
    }
    if &bytes[4..8] == CORE {
        return Err(PluginError::CoreModule(name.to_string()));
    }
    Ok(())
}

/// Finds the contract a component speaks from the names it exports and
/// imports (`pitwall:check/plugin@X.Y.Z`, `pitwall:check/http@X.Y.Z`, ...).
pub fn check_contract<'a>(
    name: &str,
    exports: impl Iterator<Item = &'a str>,
    imports: impl Iterator<Item = &'a str>,
) -> Result<Contract, PluginError> {
    let exports: Vec<&str> = exports.collect();
    if let Some(contract) = Contract::ALL
        .into_iter()
        .find(|c| exports.contains(&c.plugin_export()))
    {
        return Ok(contract);
    }
    let other_version = exports
        .iter()
        .chain(imports.collect::<Vec<_>>().iter())
        .find_map(|n| {
            n.strip_prefix("pitwall:check/")
                .and_then(|rest| rest.split_once('@'))
        })
        .map(|(_, version)| format!("pitwall:check@{version}"));
    match other_version {
        Some(found) if Contract::ALL.iter().all(|c| c.package() != found) => {
            Err(PluginError::Contract {
                source_name: name.to_string(),
                found,
            })
        }
        _ => Err(PluginError::NotACheck {
            source_name: name.to_string(),
            exports: if exports.is_empty() {
                "none".into()
            } else {
                exports.join(", ")
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precheck_names_the_problem() {
        assert!(matches!(precheck("x", b""), Err(PluginError::Empty(_))));
        assert!(matches!(
            precheck("x", b"hello world"),
            Err(PluginError::NotWasm(_))
        ));
        assert!(matches!(
            precheck("x", b"\0asm\x01\0\0\0"),
            Err(PluginError::CoreModule(_))
        ));
        assert!(precheck("x", b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn contract_version_is_read_from_names() {
        let e = check_contract(
            "p",
            ["pitwall:check/plugin@0.3.0"].into_iter(),
            std::iter::empty(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("built against pitwall:check@0.3.0"),
            "{e}"
        );
        let e = check_contract(
            "p",
            ["run"].into_iter(),
            ["pitwall:check/http@1.0.0"].into_iter(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("pitwall:check@1.0.0"), "{e}");
        let e = check_contract("p", ["wasi:cli/run@0.2.0"].into_iter(), std::iter::empty())
            .unwrap_err();
        assert!(matches!(e, PluginError::NotACheck { .. }), "{e}");
        for contract in Contract::ALL {
            let found = check_contract(
                "p",
                [contract.plugin_export()].into_iter(),
                std::iter::empty(),
            );
            assert_eq!(found.unwrap(), contract);
        }
    }
}
