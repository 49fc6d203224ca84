//! Release state under the state directory: the runbook's `state.env`
//! pointers, the full history, and the deploy lock.

pub mod drift;
pub mod gate;
pub mod history;
pub mod id;
pub mod lock;
pub mod state;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One service's image in a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Image {
    /// The reference as given, e.g. `registry/api:1.4`.
    pub reference: String,
    /// The resolved digest reference (`registry/api@sha256:…`) or, for an
    /// image that never came from a registry, its image id.
    pub digest: Option<String>,
}

impl Image {
    /// What to hand to compose: the digest when it is a pullable reference,
    /// so a rollback gets exactly the bytes that were verified.
    pub fn pinned(&self) -> &str {
        match &self.digest {
            Some(d) if d.contains('@') => d,
            _ => &self.reference,
        }
    }
}

/// A release: an id and an image per service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Release {
    pub id: String,
    pub images: BTreeMap<String, Image>,
}

/// Which reference of each image a release is applied with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refs {
    /// As the release gave them (a tag the engine just pulled).
    AsGiven,
    /// The recorded digests, where there are: the very bytes verified.
    Pinned,
}

impl Release {
    /// Service → reference to deploy.
    pub fn refs(&self, refs: Refs) -> BTreeMap<String, String> {
        self.images
            .iter()
            .map(|(s, i)| {
                let reference = match refs {
                    Refs::AsGiven => &i.reference,
                    Refs::Pinned => i.pinned(),
                };
                (s.clone(), reference.to_string())
            })
            .collect()
    }
}
