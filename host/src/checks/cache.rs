//! On-disk cache of compiled components, so only the first run of a plugin
//! pays for compilation. Entries are keyed by the component's SHA-256 and by
//! the engine's compatibility hash (wasmtime version, settings, CPU
//! features): an entry is only ever loaded by an engine that can run it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

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
        bytes: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<(Component, CacheStatus)> {
        let entry = self.entry(engine, sha256);
        if let Some(path) = entry.as_deref().filter(|p| p.is_file()) {
            // SAFETY: entries are only written by `store` below from
            // `Component::serialize` of this same engine configuration (the
            // file name carries its compatibility hash); the cache directory
            // is the operator's own, trusted like the binary.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(c) => return Ok((c, CacheStatus::Hit)),
                Err(e) => tracing::warn!("ignoring unusable cache entry {}: {e:#}", path.display()),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(path) = entry
            && let Err(e) = store(&component, &path)
        {
            tracing::warn!("cannot write the compile cache {}: {e:#}", path.display());
        }
        Ok((component, CacheStatus::Compiled))
    }
}

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component.serialize()?;
    crate::fsutil::write_atomic(path, &bytes)?;
    Ok(())
}
