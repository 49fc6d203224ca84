//! Registry credentials: whatever `docker login` left in the operator's
//! Docker configuration (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): `auths` entries, `credHelpers` and `credsStore`.

use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;

pub struct Credentials {
    pub auth: RegistryAuth,
    /// Why there are none when the configuration has something for the
    /// host that could not be used: told if the registry asks for them.
    pub problem: Option<String>,
}

/// The credentials for `host` (`HOST[:PORT]`, as `docker login` keys them).
pub fn lookup(host: &str) -> Credentials {
    let none = |problem: Option<String>| Credentials {
        auth: RegistryAuth::Anonymous,
        problem,
    };
    match docker_credential::get_credential(host) {
        Ok(DockerCredential::UsernamePassword(user, password)) => Credentials {
            auth: RegistryAuth::Basic(user, password),
            problem: None,
        },
        Ok(DockerCredential::IdentityToken(_)) => none(Some(
            "the Docker config holds an identity token for it, which pitwall cannot use; \
             log in with a username and a password or access token"
                .into(),
        )),
        // No config file, or nothing in it for this host: anonymous, as docker.
        Err(
            CredentialRetrievalError::ConfigNotFound
            | CredentialRetrievalError::ConfigReadError
            | CredentialRetrievalError::NoCredentialConfigured,
        ) => none(None),
        Err(e) => none(Some(format!(
            "the Docker config has credentials for it that could not be read: {}",
            e.to_string().trim()
        ))),
    }
}
