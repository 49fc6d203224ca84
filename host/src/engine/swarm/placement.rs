//! The update order of each service of a stack: start-first (the new task
//! beside the old, no gap) wherever the new tasks have somewhere to run.

use std::collections::{BTreeMap, HashMap};

use bollard::models::Node;
use serde_norway::Value;

/// How a rolling update replaces a service's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    StartFirst,
    StopFirst,
}

impl Order {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Order::StartFirst => "start-first",
            Order::StopFirst => "stop-first",
        }
    }
}

/// What of a service's placement decides whether its new tasks can start
/// beside the old ones.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Placement {
    /// A port published in host mode (the long syntax's `mode: host`; the
    /// short syntax means ingress on a swarm): one task per node and port.
    host_port: bool,
    /// `deploy.replicas` (default 1).
    replicas: Setting,
    /// `deploy.placement.max_replicas_per_node` (0: no limit).
    max_per_node: Setting,
    /// `deploy.update_config.parallelism`: tasks replaced at once (default
    /// 1; 0: all of them).
    parallelism: Setting,
    /// `deploy.placement.constraints`: which nodes may run its tasks.
    constraints: Constraints,
}

/// A number of the compose file, as far as pitwall can read it.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Setting {
    #[default]
    Absent,
    Number(u64),
    /// Not a number before interpolation (`${REPLICAS}`).
    Unknown,
}

impl Setting {
    fn read(value: Option<&Value>) -> Setting {
        match value {
            None | Some(Value::Null) => Setting::Absent,
            Some(v) => v.as_u64().map_or(Setting::Unknown, Setting::Number),
        }
    }
}

impl Placement {
    /// Start-first needs room for the tasks replaced at once beside the
    /// running ones on the nodes the service may use (`nodes`: ready and
    /// active); where there is none, the update would wait forever for a
    /// node ("max replicas per node limit exceed"), so the service goes
    /// stop-first, as it does when pitwall cannot tell (a number or a
    /// constraint set by interpolation).
    pub(super) fn order(&self, nodes: &[Node]) -> Order {
        self.order_among(self.constraints.eligible(nodes))
    }

    /// The order with `eligible` nodes to use (`None`: not known).
    fn order_among(&self, eligible: Option<u64>) -> Order {
        use Setting::{Absent, Number, Unknown};
        if self.host_port {
            return Order::StopFirst;
        }
        let max = match self.max_per_node {
            Absent | Number(0) => return Order::StartFirst,
            Number(max) => max,
            Unknown => return Order::StopFirst,
        };
        let replicas = match self.replicas {
            Absent => 1,
            Number(n) => n,
            Unknown => return Order::StopFirst,
        };
        let extra = match self.parallelism {
            Absent => 1,
            Number(0) => replicas,
            Number(n) => n.min(replicas),
            Unknown => return Order::StopFirst,
        };
        let Some(nodes) = eligible else {
            return Order::StopFirst;
        };
        // In u128, neither side can overflow.
        if u128::from(replicas) + u128::from(extra) <= u128::from(max) * u128::from(nodes) {
            Order::StartFirst
        } else {
            Order::StopFirst
        }
    }
}

/// The placement of each service of a compose file (see `Placement`), YAML
/// merge keys (`<<: *defaults`) applied.
pub(super) fn placements(
    compose: &str,
) -> Result<BTreeMap<String, Placement>, serde_norway::Error> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        services: BTreeMap<String, Option<Service>>,
    }
    #[derive(serde::Deserialize)]
    struct Service {
        #[serde(default)]
        ports: Vec<Value>,
        #[serde(default)]
        deploy: Value,
    }
    let mut yaml: Value = serde_norway::from_str(compose)?;
    yaml.apply_merge()?;
    let file: File = serde_norway::from_value(yaml)?;
    Ok(file
        .services
        .into_iter()
        .map(|(name, service)| {
            let placement = service.map_or_else(Placement::default, |s| {
                let deploy = &s.deploy;
                Placement {
                    host_port: s
                        .ports
                        .iter()
                        .any(|p| p.get("mode").and_then(Value::as_str) == Some("host")),
                    replicas: Setting::read(deploy.get("replicas")),
                    max_per_node: Setting::read(
                        deploy
                            .get("placement")
                            .and_then(|p| p.get("max_replicas_per_node")),
                    ),
                    parallelism: Setting::read(
                        deploy
                            .get("update_config")
                            .and_then(|u| u.get("parallelism")),
                    ),
                    constraints: Constraints::read(
                        deploy.get("placement").and_then(|p| p.get("constraints")),
                    ),
                }
            });
            (name, placement)
        })
        .collect())
}

/// A service's placement constraints, as far as pitwall can read them.
#[derive(Debug, PartialEq)]
enum Constraints {
    /// Every one must hold on a node for the node to be eligible.
    Known(Vec<Constraint>),
    /// Set by interpolation, or not in a form pitwall evaluates
    /// (`node.ip`, a malformed entry).
    Unknown,
}

impl Default for Constraints {
    fn default() -> Constraints {
        Constraints::Known(Vec::new())
    }
}

/// `ATTRIBUTE == value` or `ATTRIBUTE != value`.
#[derive(Debug, PartialEq)]
struct Constraint {
    attribute: Attribute,
    equal: bool,
    value: String,
}

/// What of a node a constraint compares, as Swarm names it.
#[derive(Debug, PartialEq)]
enum Attribute {
    Id,
    Hostname,
    Role,
    Os,
    Arch,
    /// `node.labels.KEY`: the node's own labels (set by a manager).
    NodeLabel(String),
    /// `engine.labels.KEY`: the daemon's labels.
    EngineLabel(String),
}

impl Constraints {
    fn read(value: Option<&Value>) -> Constraints {
        let entries = match value {
            None | Some(Value::Null) => return Constraints::default(),
            Some(Value::Sequence(entries)) => entries,
            Some(_) => return Constraints::Unknown,
        };
        entries
            .iter()
            .map(|e| e.as_str().and_then(Constraint::parse))
            .collect::<Option<Vec<_>>>()
            .map_or(Constraints::Unknown, Constraints::Known)
    }

    /// How many of `nodes` every constraint allows; `None` if unknown.
    fn eligible(&self, nodes: &[Node]) -> Option<u64> {
        let Constraints::Known(all) = self else {
            return None;
        };
        let count = nodes
            .iter()
            .filter(|n| all.iter().all(|c| c.holds(n)))
            .count();
        Some(count as u64)
    }
}

impl Constraint {
    /// Parses one entry as Swarm does: the first `==`, else the first
    /// `!=`; attribute names in any case, label keys as written.
    fn parse(text: &str) -> Option<Constraint> {
        let (attribute, equal, value) = match text.split_once("==") {
            Some((a, v)) => (a, true, v),
            None => text.split_once("!=").map(|(a, v)| (a, false, v))?,
        };
        let (attribute, value) = (attribute.trim(), value.trim());
        if value.is_empty() || value.contains('$') || attribute.contains('$') {
            return None;
        }
        let lower = attribute.to_ascii_lowercase();
        let label = |prefix: &str| {
            lower
                .starts_with(prefix)
                .then(|| attribute[prefix.len()..].to_string())
                .filter(|key| !key.is_empty())
        };
        let attribute = match lower.as_str() {
            "node.id" => Attribute::Id,
            "node.hostname" => Attribute::Hostname,
            "node.role" => Attribute::Role,
            "node.platform.os" => Attribute::Os,
            "node.platform.arch" => Attribute::Arch,
            _ => match (label("node.labels."), label("engine.labels.")) {
                (Some(key), _) => Attribute::NodeLabel(key),
                (_, Some(key)) => Attribute::EngineLabel(key),
                _ => return None,
            },
        };
        Some(Constraint {
            attribute,
            equal,
            value: value.to_string(),
        })
    }

    /// Whether `node` satisfies it: values compare without regard to ASCII
    /// case, and an attribute the node lacks is empty, as in Swarm.
    fn holds(&self, node: &Node) -> bool {
        let description = node.description.as_ref();
        let platform = description.and_then(|d| d.platform.as_ref());
        let label = |labels: Option<&HashMap<String, String>>, key: &str| {
            labels.and_then(|l| l.get(key)).cloned()
        };
        let actual = match &self.attribute {
            Attribute::Id => node.id.clone(),
            Attribute::Hostname => description.and_then(|d| d.hostname.clone()),
            // The role the node has, as Swarm matches it, not the one asked
            // of it: a manager is one with a manager status.
            Attribute::Role => Some(
                if node.manager_status.is_some() {
                    "manager"
                } else {
                    "worker"
                }
                .to_string(),
            ),
            Attribute::Os => platform.and_then(|p| p.os.clone()),
            Attribute::Arch => platform.and_then(|p| p.architecture.clone()),
            Attribute::NodeLabel(key) => {
                label(node.spec.as_ref().and_then(|s| s.labels.as_ref()), key)
            }
            Attribute::EngineLabel(key) => label(
                description
                    .and_then(|d| d.engine.as_ref())
                    .and_then(|e| e.labels.as_ref()),
                key,
            ),
        };
        actual.unwrap_or_default().eq_ignore_ascii_case(&self.value) == self.equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::NodeSpecRoleEnum;

    #[test]
    fn placements_are_read_from_the_compose_file() {
        let compose = r#"
x-spread: &spread
  placement:
    max_replicas_per_node: 1
services:
  frontend:
    image: ${FRONTEND_IMAGE}
    ports:
      - target: 8080
        published: ${FRONTEND_PORT}
        mode: host
  api:
    ports: ["8000:8000"]
    deploy:
      replicas: 3
      placement:
        max_replicas_per_node: 2
        constraints: [node.role == manager, "node.labels.zone!=b"]
      update_config:
        parallelism: 2
  worker:
    ports:
      - target: 9000
        published: 9000
    deploy:
      <<: *spread
      replicas: ${WORKERS}
  edge:
    deploy:
      placement:
        constraints: ["node.labels.zone == ${ZONE}"]
  db:
"#;
        use Setting::{Absent, Number, Unknown};
        let read = placements(compose).unwrap();
        assert!(read["frontend"].host_port);
        assert_eq!(
            read["api"],
            Placement {
                host_port: false,
                replicas: Number(3),
                max_per_node: Number(2),
                parallelism: Number(2),
                constraints: Constraints::Known(vec![
                    Constraint {
                        attribute: Attribute::Role,
                        equal: true,
                        value: "manager".into(),
                    },
                    Constraint {
                        attribute: Attribute::NodeLabel("zone".into()),
                        equal: false,
                        value: "b".into(),
                    },
                ]),
            }
        );
        assert_eq!(
            read["worker"],
            Placement {
                host_port: false,
                replicas: Unknown,
                max_per_node: Number(1),
                parallelism: Absent,
                constraints: Constraints::default(),
            }
        );
        assert_eq!(read["edge"].constraints, Constraints::Unknown);
        assert_eq!(read["db"], Placement::default());
        assert!(placements("services: [").is_err());
    }

    #[test]
    fn start_first_only_where_a_new_task_has_a_node_to_run_on() {
        use Setting::{Number, Unknown};
        let spread = |replicas, max_per_node| Placement {
            replicas: Number(replicas),
            max_per_node: Number(max_per_node),
            ..Placement::default()
        };
        // Nothing limits placement: always room.
        assert_eq!(Placement::default().order_among(Some(1)), Order::StartFirst);
        // A host port: the old task holds it on its node.
        let host = Placement {
            host_port: true,
            ..Placement::default()
        };
        assert_eq!(host.order_among(Some(5)), Order::StopFirst);
        // One per node, as many as there are nodes: no node is free.
        assert_eq!(spread(2, 1).order_among(Some(2)), Order::StopFirst);
        assert_eq!(spread(2, 1).order_among(Some(3)), Order::StartFirst);
        assert_eq!(spread(3, 2).order_among(Some(2)), Order::StartFirst);
        assert_eq!(spread(4, 2).order_among(Some(2)), Order::StopFirst);
        // Replacing two at once needs two free slots; 0 means all at once.
        let wide = |parallelism| Placement {
            parallelism: Number(parallelism),
            ..spread(3, 2)
        };
        assert_eq!(wide(2).order_among(Some(2)), Order::StopFirst);
        assert_eq!(wide(0).order_among(Some(3)), Order::StartFirst);
        assert_eq!(wide(0).order_among(Some(2)), Order::StopFirst);
        // What pitwall cannot read, it does not bet on.
        let unknown = Placement {
            replicas: Unknown,
            ..spread(1, 1)
        };
        assert_eq!(unknown.order_among(Some(10)), Order::StopFirst);
        let unknown_max = Placement {
            max_per_node: Unknown,
            ..spread(1, 1)
        };
        assert_eq!(unknown_max.order_among(Some(10)), Order::StopFirst);
        // A swarm with no ready node, hostile numbers: never start-first
        // into nowhere, never overflow.
        assert_eq!(spread(1, 1).order_among(Some(0)), Order::StopFirst);
        assert_eq!(
            spread(u64::MAX, 1).order_among(Some(u64::MAX)),
            Order::StopFirst
        );
        assert_eq!(
            spread(u64::MAX - 1, 1).order_among(Some(u64::MAX)),
            Order::StartFirst
        );
        // `max_replicas_per_node: 0` means no limit, as in Swarm.
        assert_eq!(spread(5, 0).order_among(Some(1)), Order::StartFirst);
    }

    /// A ready node of the given role, hostname and labels; `w2`'s daemon
    /// has the label `gpu=yes`.
    fn node(role: NodeSpecRoleEnum, hostname: &str, labels: &[(&str, &str)]) -> Node {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Node {
            id: Some(format!("id-{hostname}")),
            manager_status: (role == NodeSpecRoleEnum::MANAGER)
                .then(bollard::models::ManagerStatus::default),
            spec: Some(bollard::models::NodeSpec {
                role: Some(role),
                labels: Some(labels),
                ..Default::default()
            }),
            description: Some(bollard::models::NodeDescription {
                hostname: Some(hostname.into()),
                platform: Some(bollard::models::Platform {
                    os: Some("linux".into()),
                    architecture: Some("x86_64".into()),
                }),
                engine: Some(bollard::models::EngineDescription {
                    labels: (hostname == "w2")
                        .then(|| HashMap::from([("gpu".to_string(), "yes".to_string())])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn constraints_narrow_the_nodes_a_spread_service_has_room_on() {
        use NodeSpecRoleEnum::{MANAGER, WORKER};
        let nodes = [
            node(MANAGER, "m1", &[("zone", "a")]),
            node(WORKER, "w1", &[("zone", "a")]),
            node(WORKER, "w2", &[("zone", "b")]),
        ];
        // One task per node, one replica: start-first needs two nodes.
        let order = |constraints: &[&str]| {
            let placement = Placement {
                replicas: Setting::Number(1),
                max_per_node: Setting::Number(1),
                constraints: Constraints::Known(
                    constraints
                        .iter()
                        .map(|c| Constraint::parse(c).unwrap())
                        .collect(),
                ),
                ..Placement::default()
            };
            placement.order(&nodes)
        };
        assert_eq!(order(&[]), Order::StartFirst);
        assert_eq!(order(&["node.role == manager"]), Order::StopFirst);
        assert_eq!(order(&["NODE.ROLE==Worker"]), Order::StartFirst);
        assert_eq!(order(&["node.labels.zone == A"]), Order::StartFirst);
        assert_eq!(order(&["node.labels.zone != a"]), Order::StopFirst);
        // Label keys are as written: `Zone` is no node's label.
        assert_eq!(order(&["node.labels.Zone == a"]), Order::StopFirst);
        assert_eq!(order(&["node.labels.Zone != a"]), Order::StartFirst);
        assert_eq!(order(&["engine.labels.gpu == yes"]), Order::StopFirst);
        assert_eq!(
            order(&["node.platform.os == linux", "node.platform.arch == x86_64"]),
            Order::StartFirst
        );
        assert_eq!(
            order(&["node.hostname != m1", "node.role == worker"]),
            Order::StartFirst
        );
        assert_eq!(
            order(&["node.hostname != m1", "node.id != id-w1"]),
            Order::StopFirst
        );
        // What pitwall cannot evaluate, it does not bet on.
        for unreadable in [
            "node.ip == 10.0.0.1",
            "node.role",
            "node.labels. == x",
            "zone == a",
            "node.role == ${ROLE}",
            "node.role == ",
        ] {
            assert_eq!(Constraint::parse(unreadable), None, "{unreadable}");
        }
        let unknown = Placement {
            max_per_node: Setting::Number(1),
            constraints: Constraints::Unknown,
            ..Placement::default()
        };
        assert_eq!(unknown.order(&nodes), Order::StopFirst);
        // With no limit per node, constraints leave room anyway.
        let unlimited = Placement {
            constraints: Constraints::Unknown,
            ..Placement::default()
        };
        assert_eq!(unlimited.order(&nodes), Order::StartFirst);
    }
}
