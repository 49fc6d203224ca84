//! The Swarm engine on two nodes: this machine's daemon as the manager and a
//! second daemon, in a network namespace of the test's own, as a worker.
//! The frontend runs once on each node (a host-mode port each), the api's
//! tasks spread over both, and the checks probe each node's frontend. Takes
//! the same turn as tests/swarm.rs; everything made is removed by the
//! guards' drops, in reverse order: stack, worker, registry, swarm, veth.

mod common;

use common::docker::Registry;
use common::swarm::{Stack, Swarm, images, probes};
use common::worker::{Netns, Worker};

/// Two frontends, one per node as their host port allows, and one api,
/// held to the manager by its placement constraint (the worker would have
/// room for it without). Neither leaves a node free for a start-first
/// update, so both must be updated stop-first (a start-first update would
/// wait forever for a node).
const COMPOSE: &str = r#"services:
  api:
    image: ${BACKEND_IMAGE}
    command: ["api"]
    environment:
      PORT: "8000"
      SECRET_KEY: ${SECRET_KEY:-}
    deploy:
      endpoint_mode: dnsrr
      replicas: 1
      placement:
        max_replicas_per_node: 1
        constraints: [node.role == manager]
  frontend:
    image: ${FRONTEND_IMAGE}
    command: ["frontend"]
    environment:
      PORT: "8080"
      API_UPSTREAM: api:8000
    ports:
      - target: 8080
        published: ${FRONTEND_PORT}
        mode: host
    deploy:
      endpoint_mode: dnsrr
      replicas: 2
      placement:
        max_replicas_per_node: 1
"#;

/// Two nodes and a stack on them, in the order they are torn down.
struct Cluster {
    stack: Stack,
    worker: Worker,
    _registry: Registry,
    _swarm: Swarm,
    net: Netns,
}

impl Cluster {
    fn new(name: &str) -> (Cluster, Vec<String>) {
        let net = Netns::create();
        let swarm = Swarm::manager_at(&net.host_addr);
        let registry = Registry::start();
        let built = images(&registry, name, &[("healthy", "1.0"), ("errors", "2.0")]);
        let worker = Worker::join(&net, &swarm, &registry);
        let (manager, on_worker) = (net.host_addr.clone(), net.worker_addr.clone());
        let stack = Stack::with(name, COMPOSE, |port| {
            probes("-manager", &format!("{manager}:{port}"))
                + &probes("-worker", &format!("{on_worker}:{port}"))
        });
        let cluster = Cluster {
            stack,
            worker,
            _registry: registry,
            _swarm: swarm,
            net,
        };
        (cluster, built)
    }

    /// The version each node's frontend answers for: (manager, worker).
    fn versions(&self) -> (Option<String>, Option<String>) {
        (
            self.stack.version_at(&self.net.host_addr),
            self.stack.version_at(&self.net.worker_addr),
        )
    }

    /// The stack's containers on the worker: each one's service and the
    /// registry digests of the image it runs (`docker ps` and the
    /// container's config name the image without its digest).
    fn on_worker(&self) -> Vec<(String, String)> {
        let namespace = format!("label=com.docker.stack.namespace={}", self.stack.name);
        let ids = self
            .worker
            .docker(&["ps", "--quiet", "--filter", &namespace]);
        let mut running: Vec<(String, String)> = ids
            .split_whitespace()
            .map(|id| {
                let format =
                    r#"{{index .Config.Labels "com.docker.swarm.service.name"}} {{.Image}}"#;
                let found = self.worker.docker(&["inspect", "--format", format, id]);
                let (service, image) = found.trim().split_once(' ').unwrap();
                let digests = self.worker.docker(&[
                    "image",
                    "inspect",
                    "--format",
                    "{{json .RepoDigests}}",
                    image,
                ]);
                (service.to_string(), digests.trim().to_string())
            })
            .collect();
        running.sort();
        running
    }
}

/// The names of a history record's checks that passed (or did not), sorted.
fn checks(record: &serde_json::Value, passed: bool) -> Vec<String> {
    let mut names: Vec<String> = record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == passed)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn one(version: &str) -> (Option<String>, Option<String>) {
    (Some(version.into()), Some(version.into()))
}

#[test]
fn swarm_two_nodes_deploy_then_a_broken_release_rolled_back_on_both() {
    let (cluster, built) = Cluster::new("nodes");
    let (v1, broken) = (&built[0], &built[1]);
    let stack = &cluster.stack;

    let out = stack.deploy("1.0", v1);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let released = stack.history().pop().unwrap();
    assert_eq!(
        checks(&released, true),
        [
            "health-manager",
            "health-worker",
            "items-manager",
            "items-worker",
            "logs"
        ],
        "{released}"
    );
    assert_eq!(cluster.versions(), one("1.0"));
    // No node the service may use has room for another task of either:
    // both update stop-first.
    for service in ["api", "frontend"] {
        let order = "{{.Spec.UpdateConfig.Order}} {{.Spec.RollbackConfig.Order}}";
        assert_eq!(
            stack.service_spec(service, order),
            "stop-first stop-first",
            "{service}"
        );
    }
    let digest = released["images"]["frontend"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, sha) = digest.split_once('@').unwrap();
    assert!(sha.starts_with("sha256:"), "{digest}");
    // The worker runs its frontend (and what else the spread gave it) on
    // the pinned digest, pulled from its side of the registry.
    let on_worker = cluster.on_worker();
    assert!(
        on_worker
            .iter()
            .any(|(s, _)| *s == format!("{}_frontend", stack.name)),
        "{on_worker:?}"
    );
    assert!(
        on_worker.iter().all(|(_, d)| d.contains(sha)),
        "{on_worker:?}"
    );

    // A release whose checks fail on every node: both nodes back on 1.0's
    // digests.
    let out = stack.deploy("2.0", broken);
    assert_eq!(out.code, 1, "rolled back\n{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("rolled back to 1.0, which is verified"),
        "{}",
        out.stdout
    );
    let failed = stack.history().pop().unwrap();
    assert_eq!(failed["outcome"], "rolled_back", "{failed}");
    assert_eq!(failed["rollback"]["outcome"], "verified", "{failed}");
    let rejected = checks(&failed, false);
    assert!(
        !rejected.is_empty() && rejected.iter().all(|c| c.starts_with("items-")),
        "{failed}"
    );
    assert_eq!(cluster.versions(), one("1.0"));
    assert_eq!(stack.service_image("api"), digest);
    assert_eq!(stack.service_image("frontend"), digest);
    let on_worker = cluster.on_worker();
    assert!(
        on_worker
            .iter()
            .any(|(s, _)| *s == format!("{}_frontend", stack.name)),
        "{on_worker:?}"
    );
    assert!(
        on_worker.iter().all(|(_, d)| d.contains(sha)),
        "{on_worker:?}"
    );

    let status = stack.pitwall(&["status"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("drift: none"), "{}", status.stdout);
}
