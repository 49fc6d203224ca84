//! The images on this Docker host and in their registries, for the
//! commands that look after them (`status`, `releases`, `prune`).

use super::EngineError;
use super::docker::DockerApi;

/// Images on this host, over a Docker connection.
pub struct LocalImages {
    docker: DockerApi,
}

impl LocalImages {
    pub async fn connect() -> Result<LocalImages, EngineError> {
        Ok(LocalImages {
            docker: DockerApi::connect().await?,
        })
    }

    /// The local id of an image (`None`: not on this host).
    pub async fn id(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.docker.image_id(reference).await
    }

    /// Whether the registry has `reference` (`Err`: cannot tell, and why).
    pub async fn in_registry(&self, reference: &str) -> Result<bool, String> {
        self.docker.in_registry(reference).await
    }

    /// The ids of the images any container on this host uses.
    pub async fn in_use(&self) -> Result<Vec<String>, EngineError> {
        self.docker.images_in_use().await
    }

    /// Removes the name `reference`; never forced.
    pub async fn remove(&self, reference: &str) -> Result<(), EngineError> {
        self.docker.remove_image(reference).await
    }
}
