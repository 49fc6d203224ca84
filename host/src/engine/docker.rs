//! The Docker Engine API through bollard: the containers and logs of a
//! compose project, image pulls and digests.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    CreateImageOptions, InspectContainerOptions, ListContainersOptions, RemoveContainerOptions,
    RemoveImageOptions, StopContainerOptions,
};
use futures_util::StreamExt;

use super::{Container, EngineError, Health, LogLines, LogWindow, PullProgress, RunState};

mod logs;

/// Docker's answer for a container that no longer exists.
fn gone(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The label compose puts on every container of a project.
const PROJECT_LABEL: &str = "com.docker.compose.project";
const SERVICE_LABEL: &str = "com.docker.compose.service";
/// The hash of the service's configuration the container was created from:
/// compose recreates a container whose hash differs from the file's.
const CONFIG_HASH_LABEL: &str = "com.docker.compose.config-hash";
const ONE_OFF_LABEL: &str = "com.docker.compose.oneoff";

pub(super) fn api(e: bollard::errors::Error) -> EngineError {
    EngineError::Call(format!("Docker engine: {e}"))
}

/// The containers of compose project `project` in every state, only those
/// of `service` when given, as the engine lists them.
pub(super) async fn listed(
    docker: &Docker,
    project: &str,
    service: Option<&str>,
) -> Result<Vec<bollard::models::ContainerSummary>, EngineError> {
    let mut labels = vec![format!("{PROJECT_LABEL}={project}")];
    labels.extend(service.map(|s| format!("{SERVICE_LABEL}={s}")));
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_string(), labels)])),
            ..Default::default()
        }))
        .await
        .map_err(api)
}

/// A container of a compose project, with its id and configuration hash.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: String,
    pub config_hash: String,
    /// A `compose run` container, not one of the service's own.
    pub one_off: bool,
    pub container: Container,
    /// Network name → the unit's IP address on it.
    pub networks: BTreeMap<String, String>,
}

/// A connection to the Docker engine.
#[derive(Clone)]
pub struct DockerApi {
    pub(super) docker: Docker,
}

impl DockerApi {
    /// Connects (honouring DOCKER_HOST) and negotiates the API version, so an
    /// older engine is spoken to in its own version.
    pub async fn connect() -> Result<DockerApi, EngineError> {
        let unreachable = |e: bollard::errors::Error| {
            EngineError::Unavailable(format!(
                "cannot reach the Docker engine ({e}); is the daemon running and is DOCKER_HOST right?"
            ))
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(DockerApi { docker })
    }

    /// Containers of compose project `project` (all states), optionally only
    /// those of `services`.
    pub async fn containers(
        &self,
        project: &str,
        services: Option<&[String]>,
    ) -> Result<Vec<Container>, EngineError> {
        Ok(self
            .units(project, services)
            .await?
            .into_iter()
            .map(|u| u.container)
            .collect())
    }

    /// As `containers`, with what compose knows each container by.
    pub async fn units(
        &self,
        project: &str,
        services: Option<&[String]>,
    ) -> Result<Vec<Unit>, EngineError> {
        let list = listed(&self.docker, project, None).await?;
        let mut out = Vec::new();
        for summary in list {
            let labels = summary.labels.unwrap_or_default();
            let Some(service) = labels.get(SERVICE_LABEL).cloned() else {
                continue;
            };
            if services.is_some_and(|s| !s.contains(&service)) {
                continue;
            }
            let Some(id) = summary.id else { continue };
            // The summary lacks health and restart count; inspect has both.
            let inspect = match self
                .docker
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await
            {
                Ok(i) => i,
                // Removed between the listing and the inspection: it is gone.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => continue,
                Err(e) => return Err(api(e)),
            };
            let state = inspect.state.unwrap_or_default();
            let networks = inspect
                .network_settings
                .and_then(|n| n.networks)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(name, n)| Some((name, n.ip_address.filter(|ip| !ip.is_empty())?)))
                .collect();
            let container = Container {
                service,
                id: id.clone(),
                name: inspect
                    .name
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                image: summary.image.unwrap_or_default(),
                image_id: summary.image_id.unwrap_or_default(),
                state: run_state(state.status),
                health: state.health.and_then(|h| h.status).and_then(health),
                restart_count: inspect
                    .restart_count
                    .unwrap_or(0)
                    .try_into()
                    .unwrap_or(u32::MAX),
                exit_code: state.exit_code,
            };
            out.push(Unit {
                config_hash: labels.get(CONFIG_HASH_LABEL).cloned().unwrap_or_default(),
                one_off: labels.get(ONE_OFF_LABEL).is_some_and(|v| v == "True"),
                id,
                container,
                networks,
            });
        }
        out.sort_by(|a, b| {
            let (a, b) = (&a.container, &b.container);
            (&a.service, &a.name).cmp(&(&b.service, &b.name))
        });
        Ok(out)
    }

    /// Stops a container (SIGTERM, then SIGKILL after `grace`); one already
    /// stopped or gone is no error.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), EngineError> {
        let stop = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        match self.docker.stop_container(id, Some(stop)).await {
            Err(e) if !gone(&e) => Err(api(e)),
            _ => Ok(()),
        }
    }

    /// Removes a container with its anonymous volumes; one already gone is
    /// no error.
    pub async fn remove(&self, id: &str) -> Result<(), EngineError> {
        let remove = RemoveContainerOptions {
            v: true,
            force: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(remove)).await {
            Err(e) if !gone(&e) => Err(api(e)),
            _ => Ok(()),
        }
    }

    /// The last `max` lines a container logged (stdout and stderr), each
    /// cut to `LINE_BYTES`: what is kept of a unit before it is removed.
    pub async fn last_lines(&self, id: &str, max: usize) -> Result<Vec<String>, EngineError> {
        /// A traceback's lines are short; a line longer than this is cut.
        const LINE_BYTES: usize = 1024;
        let options = bollard::query_parameters::LogsOptions {
            stdout: true,
            stderr: true,
            tail: max.to_string(),
            ..Default::default()
        };
        let mut chunks = self.docker.logs(id, Some(options));
        let mut lines = std::collections::VecDeque::with_capacity(max);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(api)?;
            for line in String::from_utf8_lossy(chunk.into_bytes().as_ref()).lines() {
                if lines.len() == max {
                    lines.pop_front();
                }
                lines.push_back(line[..line.floor_char_boundary(LINE_BYTES)].to_string());
            }
        }
        Ok(lines.into())
    }

    /// The log lines of a service's containers in `window`, container by
    /// container.
    pub async fn logs(
        &self,
        project: &str,
        service: &str,
        window: LogWindow,
    ) -> Result<LogLines, EngineError> {
        let ids = self
            .containers(project, Some(&[service.to_string()]))
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        Ok(logs::containers_window(self.docker.clone(), ids, window))
    }

    /// Follows the log of every container of a service, present and future,
    /// from `since_ms`.
    pub fn follow(&self, project: &str, service: &str, since_ms: u64) -> LogLines {
        logs::follow_compose(
            self.docker.clone(),
            project.to_string(),
            service.to_string(),
            since_ms,
        )
    }

    /// The log lines of swarm service `name` (every task) in `window`; with
    /// `follow`, on as its tasks write.
    pub fn service_logs(&self, name: &str, window: LogWindow, follow: bool) -> LogLines {
        logs::service(self.docker.clone(), name.to_string(), window, follow)
    }

    /// Whether the image exists locally; its digest reference (or id) if so.
    pub async fn image_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
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
            Err(e) => Err(api(e)),
        }
    }

    /// The id (`sha256:…`) of a local image, if present.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(api(e)),
        }
    }

    /// The registry's digest reference for `reference`, asked through the
    /// daemon without pulling; `None` when the registry has no such image.
    pub async fn registry_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
        match self.docker.inspect_registry_image(reference, None).await {
            Ok(inspect) => Ok(inspect
                .descriptor
                .digest
                .map(|d| format!("{}@{d}", repository(reference)))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("manifest unknown") || message.contains("not found") =>
            {
                Ok(None)
            }
            Err(e) => Err(EngineError::Call(format!(
                "cannot ask the registry for {reference}: {e}"
            ))),
        }
    }

    /// Whether the registry has `reference`, asked through the daemon with
    /// no credentials; `Err` (why) when it cannot tell: unreachable, or the
    /// registry wants a login.
    pub async fn in_registry(&self, reference: &str) -> Result<bool, String> {
        self.registry_digest(reference)
            .await
            .map(|d| d.is_some())
            .map_err(|e| e.to_string())
    }

    /// The ids of the images every container on this host (any project,
    /// any state) was created from.
    pub async fn images_in_use(&self) -> Result<Vec<String>, EngineError> {
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .map_err(api)?;
        Ok(list.into_iter().filter_map(|c| c.image_id).collect())
    }

    /// Removes the name `reference` (a tag or a digest reference); the
    /// image goes when its last name does. Never forced: Docker refuses
    /// while a container uses it.
    pub async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        self.docker
            .remove_image(reference, None::<RemoveImageOptions>, None)
            .await
            .map(drop)
            .map_err(api)
    }

    /// Pulls `reference`, reporting layer progress.
    pub async fn pull(
        &self,
        reference: &str,
        progress: PullProgress<'_>,
    ) -> Result<(), EngineError> {
        let options = CreateImageOptions {
            from_image: Some(reference.to_string()),
            ..Default::default()
        };
        let failed = |why: String| EngineError::Pull(format!("pull failed: {why}"));
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(info) = stream.next().await {
            let info = info.map_err(|e| failed(e.to_string()))?;
            if let Some(err) = info.error_detail.and_then(|e| e.message) {
                return Err(failed(err));
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

fn run_state(status: Option<bollard::models::ContainerStateStatusEnum>) -> RunState {
    use bollard::models::ContainerStateStatusEnum as S;
    match status {
        Some(S::CREATED) | Some(S::EMPTY) | None => RunState::Created,
        Some(S::RUNNING) => RunState::Running,
        Some(S::PAUSED) => RunState::Paused,
        Some(S::RESTARTING) => RunState::Restarting,
        Some(S::REMOVING) => RunState::Removing,
        Some(S::EXITED) => RunState::Exited,
        Some(S::DEAD) => RunState::Dead,
        Some(S::STOPPING) => RunState::Stopping,
    }
}

fn health(status: bollard::models::HealthStatusEnum) -> Option<Health> {
    use bollard::models::HealthStatusEnum as H;
    match status {
        H::STARTING => Some(Health::Starting),
        H::HEALTHY => Some(Health::Healthy),
        H::UNHEALTHY => Some(Health::Unhealthy),
        H::NONE | H::EMPTY => None,
    }
}

/// `registry:5000/team/api:1.4` → `registry:5000/team/api`.
fn repository(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rfind(':') {
        Some(i) if !without_digest[i..].contains('/') => &without_digest[..i],
        _ => without_digest,
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
