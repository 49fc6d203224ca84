//! `oci://HOST[:PORT]/REPO:TAG@sha256:DIGEST`: what a configuration names,
//! parsed once into a typed reference with a validated digest.

use std::fmt;

use super::OciError;
use crate::checks::plugin;

pub const SCHEME: &str = "oci://";

/// A content digest, `sha256:` and 64 lowercase hex digits: the only
/// algorithm pitwall pins and caches by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest(String);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", plugin::sha256(bytes)))
    }

    pub fn parse(text: &str) -> Result<Digest, String> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("`{text}` is not a sha256: digest"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "`{text}` is not a digest: sha256: takes 64 lowercase hex digits"
            ));
        }
        Ok(Digest(text.to_string()))
    }

    /// The hex part, for file names.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed `oci://` reference: an explicit registry host, a repository,
/// and a tag, a digest or both (with both, the digest decides what is
/// pulled and the tag is a label).
#[derive(Debug, Clone)]
pub struct Reference {
    inner: oci_client::Reference,
    digest: Option<Digest>,
}

impl Reference {
    /// `None` when `spec` is not an `oci://` reference at all.
    pub fn parse(spec: &str) -> Option<Result<Reference, OciError>> {
        let text = spec.strip_prefix(SCHEME)?;
        let bad = |reason: &str| OciError::BadReference {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        Some((|| {
            let (host, path) = text
                .split_once('/')
                .filter(|(h, p)| !h.is_empty() && !p.is_empty())
                .ok_or_else(|| bad("it names no registry host and repository"))?;
            let name = path.rsplit('/').next().unwrap_or(path);
            if !name.contains([':', '@']) {
                return Err(bad(
                    "it names neither a tag nor a digest (add :TAG, @sha256:DIGEST or both)",
                ));
            }
            // Read first, so a bad digest is told as such, not as a bad format.
            let digest = text
                .rsplit_once('@')
                .map(|(_, digest)| Digest::parse(digest))
                .transpose()
                .map_err(|e| bad(&e))?;
            let inner = oci_client::Reference::try_from(text).map_err(|e| bad(&e.to_string()))?;
            // Without a dot, a port or `localhost`, the first part would be
            // taken for a Docker Hub namespace; pitwall wants the host said.
            if inner.registry() != host {
                return Err(bad(&format!(
                    "`{host}` is not a registry host (a host has a dot or a port, or is localhost)"
                )));
            }
            Ok(Reference { inner, digest })
        })())
    }

    /// The same repository and tag, pinned to `digest`.
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        let (registry, repository) = (self.host().to_string(), self.repository().to_string());
        let inner = match self.tag() {
            Some(tag) => oci_client::Reference::with_tag_and_digest(
                registry,
                repository,
                tag.to_string(),
                digest.to_string(),
            ),
            None => oci_client::Reference::with_digest(registry, repository, digest.to_string()),
        };
        Reference {
            inner,
            digest: Some(digest.clone()),
        }
    }

    /// The reference by its tag alone (`None` without a tag).
    pub fn tag_only(&self) -> Option<Reference> {
        let tag = self.inner.tag()?;
        Some(Reference {
            inner: oci_client::Reference::with_tag(
                self.host().to_string(),
                self.repository().to_string(),
                tag.to_string(),
            ),
            digest: None,
        })
    }

    pub fn host(&self) -> &str {
        self.inner.registry()
    }

    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The last part of the repository (`probe` of `team/probe`).
    pub fn name(&self) -> &str {
        self.repository().rsplit('/').next().unwrap_or_default()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The pinned manifest digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    pub(super) fn client_ref(&self) -> &oci_client::Reference {
        &self.inner
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(spec: &str) -> Result<Reference, OciError> {
        Reference::parse(spec).expect("an oci:// spec")
    }

    #[test]
    fn tags_digests_and_ports_are_read() {
        let r = parse(&format!("oci://127.0.0.1:5000/checks/probe:1.0@{D}")).unwrap();
        assert_eq!(r.host(), "127.0.0.1:5000");
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(
            r.to_string(),
            format!("oci://127.0.0.1:5000/checks/probe:1.0@{D}")
        );
        let r = parse(&format!("oci://registry.example.com/probe@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert!(r.tag_only().is_none());
        let r = parse("oci://localhost/team/probe:v2").unwrap();
        assert!(r.digest().is_none());
        assert_eq!(
            r.with_digest(&Digest::parse(D).unwrap()).to_string(),
            format!("oci://localhost/team/probe:v2@{D}")
        );
    }

    #[test]
    fn what_is_not_a_usable_reference_says_why() {
        assert!(Reference::parse("builtin:http-probe").is_none());
        assert!(Reference::parse("checks/probe.wasm").is_none());
        for (spec, why) in [
            (
                "oci://registry.example.com/probe",
                "neither a tag nor a digest",
            ),
            (
                "oci://registry.example.com:5000/team.v1/probe",
                "neither a tag nor a digest",
            ),
            ("oci://probe:1.0", "no registry host"),
            ("oci://team/probe:1.0", "not a registry host"),
            ("oci://r.example.com/probe@sha256:abc", "digest"),
            (
                &format!(
                    "oci://r.example.com/probe@{}",
                    D.to_uppercase().replace("SHA256", "sha256")
                ),
                "lowercase hex",
            ),
            ("oci://r.example.com/Probe:1", "invalid"),
        ] {
            let e = parse(spec).unwrap_err().to_string();
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(Digest::of(b"").hex().len(), 64);
        assert!(Digest::parse("sha512:00").is_err());
        assert!(Digest::parse(D).is_ok());
    }
}
