//! Pulled checks on disk, under the cache directory: `oci/sha256/HEX.json`
//! for a manifest and `oci/sha256/HEX.wasm` for a component, each file named
//! by the digest of its own bytes and verified against it on every read.

use std::path::{Path, PathBuf};

use super::artifact::Manifest;
use super::{Digest, Pulled, Reference};
use crate::checks::Cache;
use crate::checks::cache::trusted;
use crate::checks::plugin::MAX_COMPONENT_BYTES;
use crate::fsutil::{read_regular, write_atomic};

/// The largest manifest read back (one layer's is well under 1 KiB).
const MAX_MANIFEST_BYTES: u64 = 64 << 10;

pub struct Store {
    /// `None` without a cache directory, or when it is not the operator's
    /// alone (the compile cache's rule).
    dir: Option<PathBuf>,
}

impl Store {
    pub fn new(cache: &Cache) -> Store {
        let dir = cache.dir().and_then(|root| {
            let dir = root.join("oci").join("sha256");
            trusted(root, &dir).then_some(dir)
        });
        Store { dir }
    }

    /// The verified component `digest` pins, if it was pulled before. An
    /// entry that does not verify is ignored (and replaced by the next pull).
    pub(super) fn get(&self, reference: &Reference, digest: &Digest) -> Option<Pulled> {
        let dir = self.dir.as_deref()?;
        let manifest_path = dir.join(format!("{}.json", digest.hex()));
        let raw = read(&manifest_path, digest, MAX_MANIFEST_BYTES)?;
        let manifest = Manifest::read(reference, raw)
            .inspect_err(|e| tracing::warn!("ignoring the cached {}: {e}", manifest_path.display()))
            .ok()?;
        let path = component_path(dir, &manifest.layer);
        let bytes = read(&path, &manifest.layer, MAX_COMPONENT_BYTES)?;
        Some(Pulled {
            reference: reference.clone(),
            bytes: bytes.into(),
            path: Some(path),
            cached: true,
        })
    }

    /// Keeps a verified component and its manifest; returns where the
    /// component is. Not being able to is a warning: the check still runs.
    pub(super) fn put(&self, manifest: &Manifest, component: &[u8]) -> Option<PathBuf> {
        let dir = self.dir.as_deref()?;
        let path = component_path(dir, &manifest.layer);
        // The component first: a manifest in the store means its component is.
        let written = write_atomic(&path, component).and_then(|()| {
            write_atomic(
                &dir.join(format!("{}.json", manifest.digest.hex())),
                &manifest.raw,
            )
        });
        match written {
            Ok(()) => Some(path),
            Err(e) => {
                tracing::warn!("cannot keep the pulled check in {}: {e}", dir.display());
                None
            }
        }
    }
}

fn component_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join(format!("{}.wasm", digest.hex()))
}

/// The bytes of `path` if they have `digest`; a missing file is a miss, a
/// damaged one a warning and a miss.
fn read(path: &Path, digest: &Digest, max: u64) -> Option<Vec<u8>> {
    let bytes = match read_regular(path, max) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("ignoring the cached {}: {e}", path.display());
            return None;
        }
    };
    if Digest::of(&bytes) != *digest {
        tracing::warn!(
            "ignoring the cached {}: it does not match its digest (damaged?)",
            path.display()
        );
        return None;
    }
    Some(bytes)
}
