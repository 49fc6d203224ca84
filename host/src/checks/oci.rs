//! Checks shared through OCI registries: `oci://HOST/REPO:TAG@sha256:DIGEST`.
//!
//! A check is stored as the WebAssembly OCI artifact other tools (wkg,
//! wasm-pkg-tools, oras) read and write: a `application/vnd.wasm.config.v0+json`
//! config and one `application/wasm` layer. The `@sha256:` of a reference is
//! the manifest's digest; the manifest names the layer's digest, so both are
//! verified before a pulled component is used. Verified components are kept
//! in the cache by digest, so a pinned reference that was pulled once never
//! needs the registry again.

mod artifact;
mod auth;
mod reference;
mod registry;
mod store;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use artifact::Component;
pub use reference::{Digest, Reference, SCHEME};
pub use store::Store;

use artifact::{CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, Manifest};
use registry::Registry;

/// A component fetched (now or earlier) and verified against its reference.
#[derive(Clone)]
pub struct Pulled {
    /// The reference with the manifest digest it resolved to.
    pub reference: Reference,
    pub bytes: Arc<[u8]>,
    /// Where the cache keeps the component (`None` without a usable cache).
    pub path: Option<PathBuf>,
    /// Whether it came from the cache, without the registry.
    pub cached: bool,
}

impl fmt::Debug for Pulled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pulled")
            .field("reference", &self.reference.to_string())
            .field("bytes", &self.bytes.len())
            .field("path", &self.path)
            .finish()
    }
}

/// The component `reference` names, verified: from the cache when the
/// reference pins a digest that was pulled before, else from the registry
/// (and then cached).
pub async fn resolve(reference: &Reference, store: &Store) -> Result<Pulled, OciError> {
    if let Some(pulled) = reference.digest().and_then(|d| store.get(reference, d)) {
        return Ok(pulled);
    }
    let registry = Registry::connect(reference)?;
    let manifest = match registry.manifest(reference).await {
        Err(OciError::NotFound { .. }) if reference.digest().is_some() => {
            return Err(not_at_pinned_digest(&registry, reference).await);
        }
        raw => Manifest::read(reference, raw?)?,
    };
    let bytes = registry.component(reference, &manifest).await?;
    let path = store.put(&manifest, &bytes);
    Ok(Pulled {
        reference: reference.with_digest(&manifest.digest),
        bytes: bytes.into(),
        path,
        cached: false,
    })
}

/// Pushes a check to the tag `target` names; returns the reference pinned
/// to the manifest digest, ready for `pitwall.toml`.
pub async fn push(component: &Component, target: &Reference) -> Result<Reference, OciError> {
    if target.tag().is_none() || target.digest().is_some() {
        return Err(OciError::PushTarget(target.to_string()));
    }
    let package = component.package();
    Registry::connect(target)?.push(target, &package).await?;
    Ok(target.with_digest(&package.manifest_digest))
}

/// Why a pinned digest is not in the registry: when the tag is there, the
/// digest it has now is the evidence of a re-push (or a wrong pin).
async fn not_at_pinned_digest(registry: &Registry, reference: &Reference) -> OciError {
    let not_found = || OciError::NotFound {
        reference: reference.to_string(),
    };
    let (Some(tagged), Some(expected)) = (reference.tag_only(), reference.digest()) else {
        return not_found();
    };
    match registry.manifest(&tagged).await {
        Ok(raw) => OciError::DigestMismatch {
            reference: tagged.to_string(),
            expected: expected.to_string(),
            actual: Digest::of(&raw).to_string(),
        },
        Err(OciError::NotFound { .. }) => not_found(),
        Err(e) => e,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(
        "`{spec}` is not a usable OCI reference: {reason}; the form is oci://HOST[:PORT]/REPO:TAG[@sha256:DIGEST]"
    )]
    BadReference { spec: String, reason: String },
    #[error(
        "{reference} not found in the registry: check the repository and tag (`pitwall check push` puts a check there)"
    )]
    NotFound { reference: String },
    #[error("the registry at {host} needs credentials: run `docker login {host}`{lookup}")]
    NeedsCredentials { host: String, lookup: String },
    #[error(
        "the registry at {host} refused the credentials of your Docker config: run `docker login {host}` again"
    )]
    CredentialsRefused { host: String },
    #[error(
        "the registry at {host} denies access to {reference}: ask its owner for access (`docker login {host}` as another user)"
    )]
    Denied { host: String, reference: String },
    #[error("cannot reach the registry at {host}: {cause}{hint}")]
    Unreachable {
        host: String,
        cause: String,
        hint: &'static str,
    },
    #[error(
        "{reference} is {actual} in the registry, but {expected} was pinned: refusing it (the tag was pushed again, or the pin is wrong; if the new push is intended, pin @{actual})"
    )]
    DigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error(
        "the component of {reference} is damaged or swapped: its manifest names {expected}, the registry sent {actual}"
    )]
    LayerMismatch {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{reference} is not a WebAssembly component artifact ({found}): a check is pushed with `pitwall check push` \
         (or any tool writing a {CONFIG_MEDIA_TYPE} config and one {LAYER_MEDIA_TYPE} layer)"
    )]
    NotWasm { reference: String, found: String },
    #[error(
        "the component of {reference} is {size} bytes, more than the {max} bytes a check may have"
    )]
    TooLarge {
        reference: String,
        size: u64,
        max: u64,
    },
    #[error("the registry at {host} failed on {reference}: {reason}")]
    Registry {
        host: String,
        reference: String,
        reason: String,
    },
    #[error(
        "cannot push to {0}: push to a tag without a digest (oci://HOST/REPO:TAG); push prints the digest"
    )]
    PushTarget(String),
    #[error(
        "{0} was verified, but there is no cache to keep it in: set PITWALL_CACHE_DIR to a folder of yours that only you can write"
    )]
    NoCache(String),
}
