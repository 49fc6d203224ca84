//! Zero-downtime switches on compose, the docker-rollout technique: a
//! `start-first` service's new container is started beside the old one
//! (`up --no-deps --no-recreate --scale SERVICE=2`), and the old one is
//! removed only once the new one runs (and is healthy, when it has a Docker
//! healthcheck). Compose keeps no record of a scale, and the new container
//! carries the configuration hash of the file, so the `up` that follows for
//! the whole stack finds it up to date and leaves it alone (both compose v2
//! and v1 do).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;

use super::ComposeFile;
use crate::engine::docker::{DockerApi, Unit};
use crate::engine::removed::{Removal, Removed, RemovedUnit};
use crate::engine::{EngineError, Health, RunState};

/// How a service moves to a new release (`switch =` in
/// `[stack.services.NAME]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Switch {
    /// Compose's own `up`: the old container stops, then the new one
    /// starts; the service is unreachable in between.
    #[default]
    Recreate,
    /// The new container starts beside the old one, which is removed once
    /// the new one runs (and is healthy): no gap. For stateless services
    /// reached over the project network, e.g. behind the stack's proxy.
    StartFirst,
    /// The new container starts beside the old one; the stack's proxy
    /// (`[traffic]`) sends the verify checks to it and users to the old one
    /// until the checks pass, then moves users in one step. The old one is
    /// kept for `keep_previous`: a rollback is a switch back.
    BlueGreen,
}

impl Switch {
    pub fn as_str(self) -> &'static str {
        match self {
            Switch::Recreate => "recreate",
            Switch::StartFirst => "start-first",
            Switch::BlueGreen => "blue-green",
        }
    }
}

/// How often the new container is looked at.
const POLL: Duration = Duration::from_millis(250);

/// How long an old container has, after SIGTERM, to finish the requests it
/// is serving (compose's own default stop timeout).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The `start-first` services of `switches` that publish host ports
/// (`published`: service → ports), each with why it cannot switch so: two
/// containers cannot share a host port.
pub fn port_conflicts(
    switches: &BTreeMap<String, Switch>,
    published: &BTreeMap<String, Vec<String>>,
) -> Vec<(String, String)> {
    switches
        .iter()
        .filter(|(_, s)| **s != Switch::Recreate)
        .filter_map(|(service, switch)| {
            let ports = published.get(service).filter(|p| !p.is_empty())?;
            Some((
                service.clone(),
                format!(
                    "`{service}` publishes host port {}, which its old and new containers cannot \
                     share during a {} switch: put a proxy service in front that publishes \
                     the port and reaches `{service}` over the project network \
                     (see README \"Zero-downtime switches\"), or set switch = \"recreate\"",
                    ports.join(", "),
                    switch.as_str()
                ),
            ))
        })
        .collect()
}

/// What a start-first switch works with.
pub(super) struct Switching<'a> {
    pub file: &'a ComposeFile,
    pub docker: &'a DockerApi,
    /// Where the units it removes leave their last lines.
    pub removed: &'a Removed,
    /// How long a new container may take to run (and be healthy).
    pub wait: Duration,
}

impl Switching<'_> {
    /// Switches `service` to what `images` make of it, start-first. Does
    /// nothing when the service has no container yet or its containers are
    /// up to date: the `up` that follows handles both. On failure the new
    /// container is removed, its last lines quoted in the error, and the old
    /// one keeps serving.
    pub async fn start_first(
        &self,
        service: &str,
        images: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        let (file, docker) = (self.file, self.docker);
        let project = &file.project;
        let old = replicas(docker, project, service).await?;
        if old.is_empty() || up_to_date(file, docker, service, images, &old).await? {
            return Ok(());
        }
        let old_ids: BTreeSet<&str> = old.iter().map(|u| u.id.as_str()).collect();
        let old_names = names(&old);
        let failed = |what: String| {
            EngineError::Apply(format!("start-first switch of `{service}` failed: {what}"))
        };

        let started = file.scale_beside(images, service, old.len() * 2).await;
        let ready = match started {
            Ok(_) => wait_ready(docker, project, service, &old_ids, self.wait).await,
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = ready {
            let cleanup = match self.remove_new(service, &old_ids).await {
                Ok(kept) if kept.is_empty() => {
                    "no new container was left to remove or read logs from".to_string()
                }
                Ok(kept) => {
                    let quoted: Vec<String> = kept.iter().map(RemovedUnit::quoted).collect();
                    format!("{}\nthe new container was removed", quoted.join("\n"))
                }
                Err(e) => format!("removing the new container failed too ({e})"),
            };
            return Err(failed(format!(
                "{why}\n{cleanup}; the old container ({old_names}) still serves the previous release"
            )));
        }
        for unit in &old {
            self.removed
                .retire(docker, unit, Removal::Replaced, STOP_GRACE)
                .await
                .map_err(|e| {
                    failed(format!(
                        "the new container serves the release, but the old container {} could not be \
                         removed ({e}); remove it with `docker rm -f {}`",
                        unit.container.name, unit.container.name
                    ))
                })?;
        }
        Ok(())
    }

    /// Removes the containers of `service` that are not in `old`, at once
    /// (they never served), keeping their last lines: why they failed.
    async fn remove_new(
        &self,
        service: &str,
        old: &BTreeSet<&str>,
    ) -> Result<Vec<RemovedUnit>, EngineError> {
        let mut kept = Vec::new();
        for unit in replicas(self.docker, &self.file.project, service).await? {
            if !old.contains(unit.id.as_str()) {
                let unit = self
                    .removed
                    .retire(self.docker, &unit, Removal::NeverReady, Duration::ZERO)
                    .await?;
                kept.push(unit);
            }
        }
        Ok(kept)
    }
}

/// Whether every container of `service` runs what `images` would make of
/// it: compose's configuration hash and the image id both match.
async fn up_to_date(
    file: &ComposeFile,
    docker: &DockerApi,
    service: &str,
    images: &BTreeMap<String, String>,
    old: &[Unit],
) -> Result<bool, EngineError> {
    let hash = file.config_hash(images, service).await?;
    let image_id = match images.get(service) {
        Some(reference) => docker.image_id(reference).await?,
        None => None,
    };
    Ok(old.iter().all(|u| {
        u.config_hash == hash
            && image_id.as_deref() == Some(u.container.image_id.as_str())
            && u.container.state == RunState::Running
    }))
}

/// Waits until every container of `service` that is not in `old` runs (and
/// is healthy, when it has a healthcheck); why not, if it does not within
/// `wait`.
pub(super) async fn wait_ready(
    docker: &DockerApi,
    project: &str,
    service: &str,
    old: &BTreeSet<&str>,
    wait: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let new: Vec<Unit> = replicas(docker, project, service)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|u| !old.contains(u.id.as_str()))
            .collect();
        if new.is_empty() {
            return Err("compose started no new container beside the old one".into());
        }
        let mut pending = None;
        for c in new.iter().map(|u| &u.container) {
            let code = c.exit_code.unwrap_or(-1);
            match (c.state, c.health) {
                (RunState::Exited | RunState::Dead, _) => {
                    return Err(format!(
                        "the new container {} exited with code {code}",
                        c.name
                    ));
                }
                (RunState::Restarting, _) => {
                    return Err(format!(
                        "the new container {} crashed (last exit code {code})",
                        c.name
                    ));
                }
                (_, Some(Health::Unhealthy)) => {
                    return Err(format!(
                        "the new container {} is unhealthy according to its Docker healthcheck",
                        c.name
                    ));
                }
                (RunState::Running, None | Some(Health::Healthy)) => {}
                (state, health) => {
                    let now = health.map_or(state.as_str(), Health::as_str);
                    pending = Some(format!("the new container {} is still {now}", c.name));
                }
            }
        }
        let Some(pending) = pending else {
            return Ok(());
        };
        if start.elapsed() >= wait {
            return Err(format!(
                "{pending} after {} (stack.wait_timeout)",
                humantime::format_duration(wait)
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The service's own containers: not those of `compose run` (a migration
/// running beside the service is not the switch's to remove).
pub(super) async fn replicas(
    docker: &DockerApi,
    project: &str,
    service: &str,
) -> Result<Vec<Unit>, EngineError> {
    let mut units = docker.units(project, Some(&[service.to_string()])).await?;
    units.retain(|u| !u.one_off);
    Ok(units)
}

fn names(units: &[Unit]) -> String {
    units
        .iter()
        .map(|u| u.container.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Switch, port_conflicts};

    #[test]
    fn only_start_first_services_that_publish_ports_conflict() {
        let switches = BTreeMap::from([
            ("api".to_string(), Switch::StartFirst),
            ("frontend".to_string(), Switch::StartFirst),
            ("worker".to_string(), Switch::Recreate),
        ]);
        let published = BTreeMap::from([
            (
                "frontend".to_string(),
                vec!["127.0.0.1:8080:8080/tcp".to_string()],
            ),
            ("worker".to_string(), vec!["9000:9000/tcp".to_string()]),
        ]);
        let conflicts = port_conflicts(&switches, &published);
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].0, "frontend");
        assert!(conflicts[0].1.contains("127.0.0.1:8080:8080/tcp"));
        assert!(conflicts[0].1.contains("proxy"));
    }
}
