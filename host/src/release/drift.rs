//! Drift: what runs against what the state says is live. A container
//! swapped by hand, a service stopped, or an image re-tagged under the same
//! name all show here, named by service.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Release;
use crate::engine::{Container, RunState};

/// One way the running stack differs from the current release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Drift {
    /// No container of the service is running.
    NotRunning {
        service: String,
        /// The states its containers are in (none: there are none).
        states: Vec<RunState>,
    },
    /// A running container of the service runs another image.
    OtherImage {
        service: String,
        container: String,
        /// The image id it runs, and the reference it was created from.
        running_id: String,
        running: String,
        /// What the release pins, and its id here (none: not on this host).
        recorded: String,
        recorded_id: Option<String>,
    },
}

impl Drift {
    pub fn service(&self) -> &str {
        match self {
            Drift::NotRunning { service, .. } | Drift::OtherImage { service, .. } => service,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Drift::NotRunning { service, states } if states.is_empty() => {
                format!("{service}: no container (the release expects one running)")
            }
            Drift::NotRunning { service, states } => format!(
                "{service}: not running ({})",
                states
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Drift::OtherImage {
                service,
                container,
                running,
                running_id,
                recorded,
                recorded_id,
            } => format!(
                "{service}: container {container} runs {running} ({}), but the release pins {recorded} ({})",
                short(running_id),
                recorded_id
                    .as_deref()
                    .map_or("not on this host".into(), short)
            ),
        }
    }
}

fn short(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    format!("id {}", &hex[..hex.len().min(12)])
}

/// The differences between `release` and `containers`. `ids` maps each
/// service to the local image id of the image the release pins (`None`:
/// not on this host).
pub fn compare(
    release: &Release,
    containers: &[Container],
    ids: &BTreeMap<String, Option<String>>,
) -> Vec<Drift> {
    let mut out = Vec::new();
    for (service, image) in &release.images {
        let own: Vec<&Container> = containers
            .iter()
            .filter(|c| &c.service == service)
            .collect();
        let running: Vec<&&Container> = own
            .iter()
            .filter(|c| c.state == RunState::Running)
            .collect();
        if running.is_empty() {
            out.push(Drift::NotRunning {
                service: service.clone(),
                states: own.iter().map(|c| c.state).collect(),
            });
            continue;
        }
        let recorded_id = ids.get(service).cloned().flatten();
        for c in running {
            // A unit without a local image id (a Swarm task, which may run
            // on another node) is compared by the reference it was given.
            let same = if c.image_id.is_empty() {
                c.image == image.pinned()
            } else {
                recorded_id.as_deref() == Some(c.image_id.as_str())
            };
            if !same {
                out.push(Drift::OtherImage {
                    service: service.clone(),
                    container: c.name.clone(),
                    running_id: c.image_id.clone(),
                    running: c.image.clone(),
                    recorded: image.pinned().to_string(),
                    recorded_id: recorded_id.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Drift, compare};
    use crate::engine::{Container, RunState};
    use crate::release::{Image, Release};

    fn release() -> Release {
        let image = |r: &str| Image {
            reference: format!("reg/{r}:1"),
            digest: Some(format!("reg/{r}@sha256:{r}")),
        };
        Release {
            id: "1".into(),
            images: [("api".into(), image("api")), ("web".into(), image("web"))].into(),
        }
    }

    fn container(service: &str, id: &str, state: RunState) -> Container {
        Container {
            service: service.into(),
            id: format!("{service}-1"),
            name: format!("{service}-1"),
            image: format!("reg/{service}:1"),
            image_id: id.into(),
            state,
            health: None,
            restart_count: 0,
            exit_code: None,
        }
    }

    fn ids() -> BTreeMap<String, Option<String>> {
        [
            ("api".into(), Some("sha256:a".into())),
            ("web".into(), Some("sha256:w".into())),
        ]
        .into()
    }

    #[test]
    fn the_recorded_images_running_is_no_drift() {
        let running = [
            container("api", "sha256:a", RunState::Running),
            container("web", "sha256:w", RunState::Running),
        ];
        assert_eq!(compare(&release(), &running, &ids()), vec![]);
    }

    #[test]
    fn a_swapped_container_is_named_by_service() {
        let running = [
            container("api", "sha256:other", RunState::Running),
            container("web", "sha256:w", RunState::Running),
        ];
        let drift = compare(&release(), &running, &ids());
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].service(), "api");
        assert!(
            drift[0].describe().contains("reg/api@sha256:api"),
            "{}",
            drift[0].describe()
        );
    }

    #[test]
    fn stopped_missing_and_unknown_images_are_drift() {
        let running = [container("api", "sha256:a", RunState::Exited)];
        let mut ids = ids();
        ids.insert("api".into(), None);
        let drift = compare(&release(), &running, &ids);
        assert_eq!(
            drift,
            vec![
                Drift::NotRunning {
                    service: "api".into(),
                    states: vec![RunState::Exited]
                },
                Drift::NotRunning {
                    service: "web".into(),
                    states: vec![]
                },
            ]
        );
        let running = [
            container("api", "sha256:a", RunState::Running),
            container("web", "sha256:w", RunState::Running),
        ];
        let drift = compare(&release(), &running, &ids);
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(drift[0].describe().contains("not on this host"));
    }
}
