//! The Docker Engine API (bollard): container state and logs of a compose
//! project, image pulls and digests.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    CreateImageOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker engine ({0}); is the daemon running and is DOCKER_HOST right?"
    )]
    Connect(String),
    #[error("Docker engine: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("pull failed: {0}")]
    Pull(String),
}

/// One container of a compose service, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub service: String,
    pub name: String,
    pub image: String,
    /// `running`, `exited`, `restarting`, `created`, ...
    pub state: String,
    /// Healthcheck status if the container has a healthcheck.
    pub health: Option<String>,
    pub restart_count: u32,
    pub exit_code: Option<i64>,
}

/// A connection to the engine, scoped to one compose project.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects (honouring DOCKER_HOST) and negotiates the API version, so an
    /// older engine is spoken to in its own version.
    pub async fn connect() -> Result<Engine, DockerError> {
        let docker =
            Docker::connect_with_defaults().map_err(|e| DockerError::Connect(e.to_string()))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| DockerError::Connect(e.to_string()))?;
        Ok(Engine { docker })
    }

    /// Containers of `project` (all states), optionally only those of `services`.
    pub async fn containers(
        &self,
        project: &str,
        services: Option<&[String]>,
    ) -> Result<Vec<Container>, DockerError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("com.docker.compose.project={project}")],
        )]);
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await?;
        let mut out = Vec::new();
        for summary in list {
            let labels = summary.labels.unwrap_or_default();
            let Some(service) = labels.get("com.docker.compose.service").cloned() else {
                continue;
            };
            if services.is_some_and(|s| !s.contains(&service)) {
                continue;
            }
            let Some(id) = summary.id else { continue };
            // The summary lacks health and restart count; inspect has both.
            let inspect = self
                .docker
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await?;
            let state = inspect.state.unwrap_or_default();
            out.push(Container {
                service,
                name: inspect
                    .name
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                image: summary.image.unwrap_or_default(),
                state: state.status.map(|s| s.to_string()).unwrap_or_default(),
                health: state
                    .health
                    .and_then(|h| h.status)
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty() && s != "none"),
                restart_count: inspect
                    .restart_count
                    .unwrap_or(0)
                    .try_into()
                    .unwrap_or(u32::MAX),
                exit_code: state.exit_code,
            });
        }
        out.sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
        Ok(out)
    }

    /// Log lines (stdout and stderr, oldest first, timestamps stripped) of a
    /// service's containers between `since_ms` and `until_ms`, the newest
    /// `max_lines` of them.
    pub async fn logs(
        &self,
        project: &str,
        service: &str,
        since_ms: u64,
        until_ms: Option<u64>,
        max_lines: usize,
    ) -> Result<Vec<String>, DockerError> {
        let mut stamped: Vec<(i128, String)> = Vec::new();
        for c in self
            .containers(project, Some(&[service.to_string()]))
            .await?
        {
            let options = LogsOptions {
                stdout: true,
                stderr: true,
                timestamps: true,
                // The API filters by whole seconds; the exact cut is below.
                since: (since_ms / 1000) as i32,
                until: until_ms.map_or(0, |u| (u / 1000 + 1) as i32),
                ..Default::default()
            };
            let mut stream = self.docker.logs(&c.name, Some(options));
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                for line in String::from_utf8_lossy(chunk.into_bytes().as_ref()).lines() {
                    let (ts, text) = split_timestamp(line);
                    let ms = ts.map_or(0, |t| t.unix_timestamp_nanos() / 1_000_000);
                    let in_window =
                        ms >= since_ms as i128 && until_ms.is_none_or(|u| ms < u as i128);
                    if in_window {
                        stamped.push((ms, text.to_string()));
                    }
                }
            }
        }
        stamped.sort_by_key(|(ms, _)| *ms);
        let skip = stamped.len().saturating_sub(max_lines);
        Ok(stamped.into_iter().skip(skip).map(|(_, l)| l).collect())
    }
}

/// Pull progress of one image: bytes done and total over all its layers.
pub type PullProgress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

impl Engine {
    /// Whether the image exists locally; its digest reference (or id) if so.
    pub async fn local_digest(&self, reference: &str) -> Result<Option<String>, DockerError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => {
                let repo = repository(reference);
                let digest = image
                    .repo_digests
                    .unwrap_or_default()
                    .into_iter()
                    .find(|d| d.split('@').next() == Some(repo))
                    .or(image.id);
                Ok(digest)
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls `reference`, reporting layer progress.
    pub async fn pull(
        &self,
        reference: &str,
        progress: PullProgress<'_>,
    ) -> Result<(), DockerError> {
        let options = CreateImageOptions {
            from_image: Some(reference.to_string()),
            ..Default::default()
        };
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(info) = stream.next().await {
            let info = info?;
            if let Some(err) = info.error_detail.and_then(|e| e.message) {
                return Err(DockerError::Pull(err));
            }
            if let (Some(id), Some(p)) = (info.id, info.progress_detail)
                && let (Some(cur), Some(total)) = (p.current, p.total)
            {
                layers.insert(id, (cur.max(0) as u64, total.max(0) as u64));
                let (done, all) = layers
                    .values()
                    .fold((0, 0), |(d, a), (c, t)| (d + c, a + t));
                progress(done, all);
            }
        }
        Ok(())
    }
}

/// `registry:5000/team/api:1.4` → `registry:5000/team/api`.
pub fn repository(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rfind(':') {
        Some(i) if !without_digest[i..].contains('/') => &without_digest[..i],
        _ => without_digest,
    }
}

/// Splits Docker's `2026-11-26T13:00:00.123456789Z message` prefix.
fn split_timestamp(line: &str) -> (Option<OffsetDateTime>, &str) {
    match line.split_once(' ') {
        Some((ts, rest)) => match OffsetDateTime::parse(ts, &Rfc3339) {
            Ok(t) => (Some(t), rest),
            Err(_) => (None, line),
        },
        None => (OffsetDateTime::parse(line, &Rfc3339).ok(), ""),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repository_strips_tag_and_digest_but_not_the_registry_port() {
        assert_eq!(
            super::repository("127.0.0.1:5000/app/api:1.2"),
            "127.0.0.1:5000/app/api"
        );
        assert_eq!(
            super::repository("127.0.0.1:5000/app/api"),
            "127.0.0.1:5000/app/api"
        );
        assert_eq!(super::repository("api@sha256:abc"), "api");
        assert_eq!(super::repository("api:1@sha256:abc"), "api");
    }
}
