//! On-disk cache of compiled components, so only the first run of a plugin
//! pays for compilation. Entries are keyed by the component's SHA-256 and by
//! the engine's compatibility hash (wasmtime version, settings, CPU
//! features): an entry is only ever loaded by an engine that can run it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::compile::{CompileError, Compiler};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Loaded from the cache without compiling.
    Hit,
    /// Compiled now (and stored if the cache directory is writable).
    Compiled,
}

pub struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    /// `$PITWALL_CACHE_DIR`, else `$XDG_CACHE_HOME/pitwall`, else
    /// `~/.cache/pitwall`; no cache when none of them is set.
    pub fn from_env() -> Cache {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = var("PITWALL_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("pitwall")))
            .or_else(|| var("HOME").map(|h| h.join(".cache").join("pitwall")));
        Cache { dir }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn entry(&self, engine: &Engine, sha256: &str) -> Option<PathBuf> {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let file = format!("{sha256}-{:016x}.cwasm", h.finish());
        self.dir.as_ref().map(|d| d.join("components").join(file))
    }

    /// The compiled component, from the cache or compiled now. A corrupt or
    /// unreadable entry is recompiled and replaced; a cache that cannot be
    /// written is a warning, never a failure.
    pub fn load(
        &self,
        engine: &Engine,
        compiler: &Compiler,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(Component, CacheStatus), CompileError> {
        let entry = self.entry(engine, sha256).filter(|path| {
            (self.dir.as_deref().zip(path.parent())).is_some_and(|(root, dir)| trusted(root, dir))
        });
        if let Some(path) = entry.as_deref().filter(|p| p.is_file()) {
            match verified(path, sha256) {
                // SAFETY: deserialising runs native code from the file. Trust
                // comes from `trusted`: the folder is the operator's own and
                // no one else can write it, as ssh demands of its keys (the
                // checksum is unkeyed: it does not stop someone who can write
                // there). Integrity comes from the checksum, checked just now:
                // it binds these compiled bytes to this component's SHA-256,
                // so damage or a file swapped from another component is never
                // loaded; the file name carries this engine's compatibility
                // hash.
                Ok(compiled) => match unsafe { Component::deserialize(engine, &compiled) } {
                    Ok(c) => return Ok((c, CacheStatus::Hit)),
                    Err(e) => {
                        tracing::warn!(
                            "recompiling: unusable cache entry {}: {e:#}",
                            path.display()
                        )
                    }
                },
                Err(why) => tracing::warn!("recompiling: cache entry {} {why}", path.display()),
            }
        }
        let compiled = compiler.compile(engine, bytes)?;
        // SAFETY: as above, minus the cache: these bytes were produced just
        // now, by this engine's settings, from this component.
        let component = unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| {
            CompileError::Process(format!("the compiled code does not load: {e:#}"))
        })?;
        if let Some(path) = entry
            && let Err(e) = store(&compiled, &path, sha256)
        {
            tracing::warn!("cannot write the compile cache {}: {e:#}", path.display());
        }
        Ok((component, CacheStatus::Compiled))
    }
}

/// Entries start with this, then the checksum, then the compiled bytes.
const MAGIC: &[u8; 8] = b"pitwall1";
const SUM: usize = 32;
/// The largest entry read (compiled Python checks are tens of MB).
const MAX_ENTRY_BYTES: u64 = 1 << 30;

/// The checksum of an entry: the component's SHA-256 and the compiled bytes,
/// so a file swapped in from another component does not verify either.
fn checksum(sha256: &str, compiled: &[u8]) -> [u8; SUM] {
    let mut h = Sha256::new();
    h.update(sha256.as_bytes());
    h.update(compiled);
    h.finalize().into()
}

fn store(compiled: &[u8], path: &Path, sha256: &str) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(MAGIC.len() + SUM + compiled.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&checksum(sha256, compiled));
    bytes.extend_from_slice(compiled);
    crate::fsutil::write_atomic(path, &bytes)
}

/// The compiled bytes of the entry at `path`, if its checksum holds.
fn verified(path: &Path, sha256: &str) -> Result<Vec<u8>, String> {
    let mut bytes = crate::fsutil::read_regular(path, MAX_ENTRY_BYTES)
        .map_err(|e| format!("is unreadable: {e}"))?;
    let header = MAGIC.len() + SUM;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err("has no pitwall checksum".into());
    }
    let compiled = bytes.split_off(header);
    if bytes[MAGIC.len()..] != checksum(sha256, &compiled) {
        return Err("does not match its checksum (damaged or swapped)".into());
    }
    Ok(compiled)
}

/// Whether a folder of the cache may be used: every existing folder from
/// `dir` up to the cache directory `root` is ours and writable by no one
/// else (the pulled-check store under `oci/` follows the same rule).
pub(super) fn trusted(root: &Path, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let dirs = dir.ancestors().take_while(|d| d.starts_with(root));
    for dir in dirs {
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            continue; // created 0700 by the first store
        };
        if meta.uid() != me || meta.mode() & 0o022 != 0 || !meta.is_dir() {
            tracing::warn!(
                "not using the cache: {} is not a folder of yours that only you can write (fix with `chmod go-w`)",
                dir.display()
            );
            return false;
        }
    }
    true
}
