//! One registry as oci-client reaches it: HTTPS (plain HTTP only on
//! loopback or for hosts in `PITWALL_INSECURE_REGISTRIES`), the operator's
//! Docker credentials, bounded waits, and failures told in the operator's
//! terms.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
};
use oci_client::secrets::RegistryAuth;
use reqwest::header::HeaderValue;

use super::artifact::{LAYER_MEDIA_TYPE, Manifest, Package};
use super::auth::{self, Credentials};
use super::{Digest, OciError, Reference};

/// Hosts (`HOST` or `HOST:PORT`, comma-separated) spoken to over plain HTTP.
const INSECURE_VAR: &str = "PITWALL_INSECURE_REGISTRIES";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence while reading an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Every kind of manifest is accepted, so that a container image or an index
/// is refused for what it is rather than as "not found".
const MANIFEST_TYPES: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

pub struct Registry {
    client: Client,
    credentials: Credentials,
    host: String,
    plain_http: bool,
}

impl Registry {
    pub fn connect(reference: &Reference) -> Result<Registry, OciError> {
        let host = reference.host().to_string();
        let plain_http = plain_http_allowed(&host, std::env::var(INSECURE_VAR).ok().as_deref());
        let config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            // A check is one component; an index is refused, not resolved.
            platform_resolver: None,
            ..ClientConfig::default()
        };
        crate::tls::init();
        let client = Client::try_from(config).map_err(|e| OciError::Registry {
            host: host.clone(),
            reference: reference.to_string(),
            reason: format!("cannot set up the client: {e}"),
        })?;
        Ok(Registry {
            client,
            credentials: auth::lookup(&host),
            host,
            plain_http,
        })
    }

    /// The manifest `reference` names, as the registry sent it.
    pub async fn manifest(&self, reference: &Reference) -> Result<Vec<u8>, OciError> {
        let (raw, _) = self
            .client
            .pull_manifest_raw(
                reference.client_ref(),
                &self.credentials.auth,
                MANIFEST_TYPES,
            )
            .await
            .map_err(|e| self.explain(reference, e))?;
        Ok(raw.to_vec())
    }

    /// The component `manifest` names, checked against its digest.
    pub async fn component(
        &self,
        reference: &Reference,
        manifest: &Manifest,
    ) -> Result<Vec<u8>, OciError> {
        let layer = OciDescriptor {
            media_type: LAYER_MEDIA_TYPE.into(),
            digest: manifest.layer.to_string(),
            size: manifest.size.try_into().unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let mismatch = |actual: String| OciError::LayerMismatch {
            reference: reference.to_string(),
            expected: manifest.layer.to_string(),
            actual,
        };
        let mut stream = self
            .client
            .pull_blob_stream(reference.client_ref(), &layer)
            .await
            .map_err(|e| self.explain(reference, e))?
            .stream;
        let mut bytes = Vec::with_capacity(usize::try_from(manifest.size).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                match e.get_ref().and_then(|e| e.downcast_ref::<DigestError>()) {
                    Some(DigestError::VerificationError { actual, .. }) => mismatch(actual.clone()),
                    _ => self.unreachable(&e),
                }
            })?;
            // More than the manifest says is already not the component.
            if (bytes.len() + chunk.len()) as u64 > manifest.size {
                return Err(mismatch(format!("more than {} bytes", manifest.size)));
            }
            bytes.extend_from_slice(&chunk);
        }
        let actual = Digest::of(&bytes);
        if actual != manifest.layer {
            return Err(mismatch(actual.to_string()));
        }
        Ok(bytes)
    }

    /// Uploads the component, its config and, last, the manifest that
    /// makes the tag point at them.
    pub async fn push(&self, target: &Reference, package: &Package) -> Result<(), OciError> {
        let image = target.client_ref();
        let explain = |e| self.explain(target, e);
        self.client
            .store_auth_if_needed(image.resolve_registry(), &self.credentials.auth)
            .await;
        for (data, digest) in [
            (&package.layer.data, package.layer.sha256_digest()),
            (&package.config.data, package.config.sha256_digest()),
        ] {
            self.client
                .push_blob(image, data.clone(), &digest)
                .await
                .map_err(explain)?;
        }
        self.client
            .push_manifest_raw(
                image,
                package.manifest.clone(),
                HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
            .map_err(explain)?;
        Ok(())
    }

    /// What went wrong with `reference`, for the operator.
    fn explain(&self, reference: &Reference, e: OciDistributionError) -> OciError {
        use OciDistributionError as E;
        let not_found = || OciError::NotFound {
            reference: reference.to_string(),
        };
        let other = |reason: String| OciError::Registry {
            host: self.host.clone(),
            reference: reference.to_string(),
            reason,
        };
        match e {
            // Uploads report a refusal as a bare status.
            E::UnauthorizedError { .. }
            | E::AuthenticationFailure(_)
            | E::ServerError { code: 401, .. } => self.unauthorized(),
            E::ServerError { code: 403, .. } => OciError::Denied {
                host: self.host.clone(),
                reference: reference.to_string(),
            },
            E::RegistryError { envelope, .. } => {
                let has = |code: OciErrorCode| envelope.errors.iter().any(|e| e.code == code);
                if has(OciErrorCode::Unauthorized) {
                    self.unauthorized()
                } else if has(OciErrorCode::Denied) {
                    OciError::Denied {
                        host: self.host.clone(),
                        reference: reference.to_string(),
                    }
                } else if [
                    OciErrorCode::ManifestUnknown,
                    OciErrorCode::NameUnknown,
                    OciErrorCode::NotFound,
                    OciErrorCode::BlobUnknown,
                ]
                .into_iter()
                .any(has)
                {
                    not_found()
                } else {
                    other(
                        envelope
                            .errors
                            .iter()
                            .map(|e| format!("{:?}: {}", e.code, e.message))
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                }
            }
            E::ServerError { code: 404, .. } | E::ImageManifestNotFoundError(_) => not_found(),
            E::ServerError { code, message, .. } => other(format!(
                "HTTP {code}: {}",
                super::super::verdict::excerpt(message.trim(), 200)
            )),
            E::DigestError(DigestError::VerificationError { expected, actual }) => {
                OciError::DigestMismatch {
                    reference: reference.to_string(),
                    expected,
                    actual,
                }
            }
            E::RequestError(e) => self.unreachable(&e),
            e => other(e.to_string()),
        }
    }

    fn unauthorized(&self) -> OciError {
        let host = self.host.clone();
        match (&self.credentials.auth, &self.credentials.problem) {
            (RegistryAuth::Anonymous, problem) => OciError::NeedsCredentials {
                host,
                lookup: problem
                    .as_ref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default(),
            },
            _ => OciError::CredentialsRefused { host },
        }
    }

    /// A transport failure, by its root cause ("Connection refused").
    fn unreachable(&self, e: &(dyn std::error::Error + 'static)) -> OciError {
        let mut cause = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let cause = cause.to_string();
        OciError::Unreachable {
            host: self.host.clone(),
            cause,
            hint: if self.plain_http {
                ""
            } else {
                " (pitwall speaks HTTPS to it: plain HTTP is only for loopback registries and those in PITWALL_INSECURE_REGISTRIES)"
            },
        }
    }
}

/// Plain HTTP only where nothing between pitwall and the registry can read
/// or change the traffic (loopback), or where the operator says so.
fn plain_http_allowed(host: &str, insecure: Option<&str>) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let loopback = name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    loopback
        || insecure
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .any(|listed| listed == host || listed == name)
}

#[cfg(test)]
mod tests {
    use super::plain_http_allowed;

    #[test]
    fn plain_http_only_on_loopback_or_when_listed() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:5000",
            "[::1]:5000",
            "127.0.0.2",
        ] {
            assert!(plain_http_allowed(host, None), "{host}");
        }
        for host in [
            "registry.example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
        ] {
            assert!(!plain_http_allowed(host, None), "{host}");
        }
        let listed = Some("registry.lan:5000, build.lan");
        assert!(plain_http_allowed("registry.lan:5000", listed));
        assert!(!plain_http_allowed("registry.lan:5001", listed));
        assert!(plain_http_allowed("build.lan:443", listed));
        assert!(!plain_http_allowed("registry.example.com", Some("")));
    }
}
