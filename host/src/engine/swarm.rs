//! The Swarm engine: a release applied as a stack (`docker stack deploy`
//! of the same compose file, every image pinned), its units the stack's
//! tasks on every node, its logs the services' logs, all read through the
//! manager's Engine API. Swarm's own rollback stays off: pitwall rolls the
//! whole stack back, to digests, when a check says so.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::models::{
    Node, NodeSpecAvailabilityEnum, NodeState, Service, ServiceUpdateStatusStateEnum, Task,
    TaskState,
};
use bollard::query_parameters::{ListServicesOptions, ListTasksOptions};
use tokio::process::Command;

use super::docker::{DockerApi, api};
use super::{
    Container, Engine, EngineError, LogLines, LogWindow, PullProgress, RunState, StackView,
};

mod placement;

use placement::{Order, placements};

/// The label `docker stack deploy` puts on everything of a stack.
const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";

/// How often convergence is looked at.
const POLL: Duration = Duration::from_millis(500);

/// A stack on a swarm, driven from a manager node.
pub struct Swarm {
    project: String,
    file: PathBuf,
    /// The env file's entries: `docker stack deploy` reads no env file, so
    /// they are handed to it as its environment.
    env: BTreeMap<String, String>,
    /// Service → key: the compose variable `KEY_IMAGE` carries its image.
    keys: BTreeMap<String, String>,
    /// How long a rolling update may take to converge.
    converge_timeout: Duration,
    docker: DockerApi,
    /// The tasks that existed before this process's last `apply` (`None`
    /// before any): their failures belong to earlier releases and are not
    /// this one's restarts.
    before: Mutex<Option<Arc<BTreeSet<String>>>>,
}

impl Swarm {
    /// Stack `project` of compose file `file`. Docker must be a swarm
    /// manager: anything else is `Unavailable`, before anything is touched.
    pub async fn connect(
        project: &str,
        file: &Path,
        env: BTreeMap<String, String>,
        keys: &BTreeMap<String, String>,
        converge_timeout: Duration,
    ) -> Result<Swarm, EngineError> {
        let docker = DockerApi::connect().await?;
        docker.docker.inspect_swarm().await.map_err(|e| {
            EngineError::Unavailable(format!(
                "engine = \"swarm\", but this Docker is not a swarm manager ({e}); run pitwall on a manager node \
                 (`docker swarm init` makes one), or set engine = \"compose\""
            ))
        })?;
        which::which("docker").map_err(|_| {
            EngineError::Unavailable(
                "the docker CLI (for `docker stack deploy`) is not on PATH".into(),
            )
        })?;
        Ok(Swarm {
            project: project.to_string(),
            file: file.to_path_buf(),
            env,
            keys: keys.clone(),
            converge_timeout,
            docker,
            before: Mutex::default(),
        })
    }

    /// `api` → `shop_api`: Swarm names a stack's services after the stack.
    fn service_name(&self, service: &str) -> String {
        format!("{}_{service}", self.project)
    }

    fn filters(&self, more: &[(&str, String)]) -> HashMap<String, Vec<String>> {
        let mut f = HashMap::from([(
            "label".to_string(),
            vec![format!("{NAMESPACE_LABEL}={}", self.project)],
        )]);
        for (k, v) in more {
            f.entry(k.to_string()).or_default().push(v.clone());
        }
        f
    }

    async fn services(&self) -> Result<Vec<Service>, EngineError> {
        self.docker
            .docker
            .list_services(Some(ListServicesOptions {
                filters: Some(self.filters(&[])),
                status: None,
            }))
            .await
            .map_err(api)
    }

    async fn tasks(&self) -> Result<Vec<Task>, EngineError> {
        self.docker
            .docker
            .list_tasks(Some(ListTasksOptions {
                filters: Some(self.filters(&[])),
            }))
            .await
            .map_err(api)
    }

    /// The override that makes every update of a pitwall service start the
    /// new task before stopping the old one (no gap) wherever the new task
    /// has somewhere to run (see `Placement::order`). The compose file being
    /// applied decides: a release may add a published port or a replica.
    async fn update_order(&self) -> Result<String, EngineError> {
        let placements = std::fs::read_to_string(&self.file)
            .map_err(|e| e.to_string())
            .and_then(|text| placements(&text).map_err(|e| e.to_string()))
            .map_err(|e| {
                EngineError::Apply(format!(
                    "cannot read the placement of the services in {}: {e}; nothing was \
                     changed: fix the file (`docker stack config -c FILE` shows what Swarm \
                     reads) and deploy again",
                    self.file.display()
                ))
            })?;
        let nodes = self.ready_nodes().await?;
        let mut text = String::from("services:\n");
        for service in self.keys.keys() {
            let order = placements
                .get(service)
                .map_or(Order::StartFirst, |p| p.order(&nodes))
                .as_str();
            text.push_str(&format!(
                "  {service}:\n    deploy:\n      update_config:\n        order: {order}\n        failure_action: pause\n      \
                 rollback_config:\n        order: {order}\n"
            ));
        }
        Ok(text)
    }

    /// The nodes a new task can be scheduled on: ready and active.
    async fn ready_nodes(&self) -> Result<Vec<Node>, EngineError> {
        let nodes = self.docker.docker.list_nodes(None).await.map_err(|e| {
            EngineError::Apply(format!(
                "cannot list the swarm's nodes to choose each service's update order \
                 (nothing was changed; is this node still a manager?): {e}"
            ))
        })?;
        Ok(nodes
            .into_iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY))
            .filter(|n| {
                n.spec.as_ref().and_then(|s| s.availability)
                    == Some(NodeSpecAvailabilityEnum::ACTIVE)
            })
            .collect())
    }

    /// Runs `docker stack …` with the env file's entries and the images.
    async fn stack(
        &self,
        images: &BTreeMap<String, String>,
        args: &[&str],
    ) -> Result<(), EngineError> {
        let mut cmd = Command::new("docker");
        cmd.arg("stack").args(args).stdin(Stdio::null());
        // As compose's --env-file: the shell's environment wins.
        cmd.envs(
            self.env
                .iter()
                .filter(|(k, _)| std::env::var_os(k.as_str()).is_none()),
        );
        for (service, key) in &self.keys {
            let image = images.get(service).map_or("none", String::as_str);
            cmd.env(format!("{key}_IMAGE"), image);
        }
        let out = cmd
            .output()
            .await
            .map_err(|e| EngineError::Unavailable(format!("cannot run docker stack: {e}")))?;
        if out.status.success() {
            return Ok(());
        }
        Err(EngineError::Apply(format!(
            "`docker stack {}` failed ({}):\n{}{}",
            args.first().copied().unwrap_or_default(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )))
    }

    /// The ids of the stack's tasks now.
    async fn task_ids(&self) -> Result<BTreeSet<String>, EngineError> {
        Ok(self
            .tasks()
            .await?
            .into_iter()
            .filter_map(|t| t.id)
            .collect())
    }

    /// Which of a service's tasks (`mine`, running `image` now) are this
    /// release's; see [`Fresh`].
    fn fresh(&self, mine: &[&Task], image: &str) -> Fresh {
        let before = self.before.lock().unwrap_or_else(|p| p.into_inner());
        Fresh::of(before.clone(), mine, image)
    }

    /// Waits until every service of the stack runs its current spec: no
    /// update in progress, every task the swarm wants running on the
    /// service's image and running, as many as its replicas. Swarm clears
    /// and re-sets a service's update status around a spec change, so the
    /// status alone could say "done" while the old tasks still serve: the
    /// tasks decide. A paused update, or a new task that failed, is an error
    /// that says why (the release's tasks won't start); so is running out
    /// of time.
    async fn converge(&self) -> Result<(), EngineError> {
        let start = Instant::now();
        loop {
            let tasks = self.tasks().await?;
            let mut waiting = Vec::new();
            for s in self.services().await? {
                let mine: Vec<&Task> = tasks
                    .iter()
                    .filter(|t| t.service_id.is_some() && t.service_id == s.id)
                    .collect();
                let fresh = self.fresh(&mine, spec_image(&s));
                match progress(&s, &mine, &fresh) {
                    Progress::Converged => {}
                    Progress::Waiting(why) => waiting.push(why),
                    Progress::Failed(why) => return Err(EngineError::Apply(why)),
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if start.elapsed() >= self.converge_timeout {
                return Err(EngineError::Apply(format!(
                    "the stack did not converge in {}: {}",
                    humantime::format_duration(self.converge_timeout),
                    waiting.join("; ")
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Where one service's update stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Progress {
    /// Every wanted task runs the service's image, as many as it wants.
    Converged,
    /// Still moving: what it waits for.
    Waiting(String),
    /// It will not get there: why.
    Failed(String),
}

/// The image a service's spec asks for.
fn spec_image(s: &Service) -> &str {
    s.spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

/// Where `service` stands, from its `tasks` (those `fresh` holds are the
/// current release's): the polling loop only asks again.
fn progress(service: &Service, tasks: &[&Task], fresh: &Fresh) -> Progress {
    let spec = service.spec.as_ref();
    let name = spec.and_then(|s| s.name.clone()).unwrap_or_default();
    let image = spec_image(service);
    let replicas = spec
        .and_then(|s| s.mode.as_ref())
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .unwrap_or(1);
    if let Some(status) = &service.update_status {
        let message = status.message.clone().unwrap_or_default();
        match status.state {
            Some(ServiceUpdateStatusStateEnum::PAUSED)
            | Some(ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED) => {
                return Progress::Failed(format!("the update of {name} stopped: {message}"));
            }
            Some(ServiceUpdateStatusStateEnum::UPDATING)
            | Some(ServiceUpdateStatusStateEnum::ROLLBACK_STARTED) => {
                return Progress::Waiting(format!("{name}: {message}"));
            }
            _ => {}
        }
    }
    if let Some(ended) = tasks
        .iter()
        .find(|t| fresh.holds(t) && task_image(t) == Some(image) && ended(t))
    {
        let status = ended.status.as_ref();
        let why = status
            .and_then(|s| s.err.clone().or(s.message.clone()))
            .unwrap_or_default();
        let code = status
            .and_then(|s| s.container_status.as_ref()?.exit_code)
            .map_or(String::new(), |c| format!(" with code {c}"));
        return Progress::Failed(format!("a task of {name} ({image}) ended{code}: {why}"));
    }
    let wanted: Vec<&&Task> = tasks
        .iter()
        .filter(|t| t.desired_state == Some(TaskState::RUNNING))
        .collect();
    let stale = wanted
        .iter()
        .filter(|t| task_image(t) != Some(image))
        .count();
    let running = wanted
        .iter()
        .filter(|t| {
            task_image(t) == Some(image)
                && t.status.as_ref().and_then(|s| s.state.as_ref()) == Some(&TaskState::RUNNING)
        })
        .count();
    if stale > 0 || i64::try_from(running).unwrap_or(i64::MAX) < replicas {
        return Progress::Waiting(format!(
            "{name}: {running} of {replicas} tasks running {image}, {stale} on another image"
        ));
    }
    Progress::Converged
}

/// Swarm's task states as the container watch reads units.
fn run_state(state: Option<&TaskState>) -> RunState {
    match state {
        Some(TaskState::RUNNING) => RunState::Running,
        Some(TaskState::COMPLETE | TaskState::SHUTDOWN | TaskState::REMOVE) => RunState::Exited,
        Some(TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED) => RunState::Dead,
        _ => RunState::Created,
    }
}

/// The tasks of one service that stand for its units: those the swarm
/// wants running (or is about to start), and for each slot (a node, for a
/// global service) with none, its newest task made since the last apply if
/// that task ended on its own (see `ended`). Such a task will not be
/// replaced (restart policy `none`, `on-failure` after a clean exit,
/// attempts used up): Swarm marks it for shutdown, and leaving it out would
/// make an exited unit look like no unit at all. A task Swarm stopped itself
/// (a drained node) is not one: its slot is the scheduler's to fill.
fn shown<'a>(tasks: &[&'a Task], is_new: impl Fn(&Task) -> bool) -> Vec<&'a Task> {
    let slot = |t: &Task| {
        (
            t.slot,
            t.slot.is_none().then(|| t.node_id.clone()).flatten(),
        )
    };
    let wanted = |t: &Task| t.desired_state == Some(TaskState::RUNNING);
    let served: HashSet<_> = tasks
        .iter()
        .filter(|t| matches!(t.desired_state, Some(TaskState::RUNNING | TaskState::READY)))
        .map(|t| slot(t))
        .collect();
    let mut newest: BTreeMap<_, &Task> = BTreeMap::new();
    for &t in tasks.iter().filter(|t| !wanted(t) && is_new(t)) {
        let latest = newest.entry(slot(t)).or_insert(t);
        if created(t) > created(latest) {
            *latest = t;
        }
    }
    let mut out: Vec<&Task> = tasks.iter().copied().filter(|t| wanted(t)).collect();
    out.extend(
        newest
            .into_iter()
            .filter(|(slot, t)| !served.contains(slot) && ended(t))
            .map(|(_, t)| t),
    );
    out
}

/// When a task was made (Swarm's version index moves with every status
/// update, so it does not order tasks).
fn created(t: &Task) -> Option<i128> {
    crate::clock::parse_rfc3339_ns(t.created_at.as_deref()?)
}

/// Which tasks of a service are the current release's, whose failures are
/// its restarts.
enum Fresh {
    /// Those made since this process's apply began (the ids there before).
    Applied(Arc<BTreeSet<String>>),
    /// With no apply in this process (`status`, `check run`): those made
    /// after every retained task of another image. A release made current
    /// again by a rollback has tasks from its first time, whose failures
    /// are not this time's. (Swarm's update status cannot date this: a
    /// `stack deploy` that leaves a service's spec alone clears it.)
    After(Option<i128>),
}

impl Fresh {
    fn of(before: Option<Arc<BTreeSet<String>>>, mine: &[&Task], image: &str) -> Fresh {
        match before {
            Some(before) => Fresh::Applied(before),
            None => Fresh::After(
                mine.iter()
                    .filter(|t| task_image(t) != Some(image))
                    .filter_map(|t| created(t))
                    .max(),
            ),
        }
    }

    /// Unknown times count as the current release's.
    fn holds(&self, task: &Task) -> bool {
        match self {
            Fresh::Applied(before) => task.id.as_ref().is_some_and(|id| !before.contains(id)),
            Fresh::After(since) => {
                since.is_none_or(|since| created(task).is_none_or(|made| made > since))
            }
        }
    }
}

/// Whether a task's container ended on its own: failed, refused, or exited
/// (a service's process is not meant to finish, even with code 0: compose
/// deploys treat it the same way).
fn ended(t: &Task) -> bool {
    matches!(
        t.status.as_ref().and_then(|s| s.state.as_ref()),
        Some(TaskState::FAILED | TaskState::REJECTED | TaskState::COMPLETE)
    )
}

fn task_image(t: &Task) -> Option<&str> {
    t.spec.as_ref()?.container_spec.as_ref()?.image.as_deref()
}

#[async_trait::async_trait]
impl StackView for Swarm {
    /// One unit per task the swarm wants running (a rolling update shows
    /// the old task and the new one), and per slot whose task ended for good
    /// (see `shown`). A task that failed is replaced by a
    /// new one: failures of the service's current image among the tasks
    /// made since the last apply count as restarts, so a crash loop is seen
    /// as one and an earlier release's failures are not.
    async fn containers(&self, services: Option<&[String]>) -> Result<Vec<Container>, EngineError> {
        let specs = self.services().await?;
        let tasks = self.tasks().await?;
        let mut out = Vec::new();
        // Every service of the stack is a unit source, pitwall's and the
        // others (a database it does not deploy) alike.
        let prefix = format!("{}_", self.project);
        for spec in &specs {
            let Some(service) = spec
                .spec
                .as_ref()
                .and_then(|s| s.name.as_deref())
                .and_then(|n| n.strip_prefix(&prefix))
            else {
                continue;
            };
            let service = service.to_string();
            if services.is_some_and(|only| !only.contains(&service)) {
                continue;
            }
            let name = self.service_name(&service);
            let id = spec.id.as_deref().unwrap_or_default();
            let image = spec
                .spec
                .as_ref()
                .and_then(|s| s.task_template.as_ref())
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let mine: Vec<&Task> = tasks
                .iter()
                .filter(|t| t.service_id.as_deref() == Some(id))
                .collect();
            let fresh = self.fresh(&mine, &image);
            let failures = mine
                .iter()
                .filter(|t| ended(t) && task_image(t) == Some(image.as_str()) && fresh.holds(t))
                .count();
            let last_exit = mine
                .iter()
                .rev()
                .find_map(|t| t.status.as_ref()?.container_status.as_ref()?.exit_code);
            for t in shown(&mine, |t| fresh.holds(t)) {
                let state = t.status.as_ref().and_then(|s| s.state.as_ref());
                out.push(Container {
                    service: service.clone(),
                    id: t.id.clone().unwrap_or_default(),
                    name: format!(
                        "{name}.{}.{}",
                        t.slot.unwrap_or_default(),
                        t.id.as_deref().unwrap_or_default()
                    ),
                    image: task_image(t).unwrap_or_default().to_string(),
                    // A task's image is the reference it was given: drift
                    // compares that (node-local image ids differ per node).
                    image_id: String::new(),
                    state: run_state(state),
                    health: None,
                    restart_count: failures.try_into().unwrap_or(u32::MAX),
                    exit_code: t
                        .status
                        .as_ref()
                        .and_then(|s| s.container_status.as_ref()?.exit_code)
                        .or(last_exit),
                });
            }
        }
        out.sort_by(|a, b| (&a.service, &a.name).cmp(&(&b.service, &b.name)));
        Ok(out)
    }

    /// The service's log lines from every node, through the manager (a read
    /// ends after a silence: see `docker::logs::LOG_SILENCE`).
    async fn logs(&self, service: &str, window: LogWindow) -> Result<LogLines, EngineError> {
        Ok(self
            .docker
            .service_logs(&self.service_name(service), window, false))
    }

    /// Swarm's own follow covers every task of the service, on every node,
    /// including those it starts later.
    async fn follow(&self, service: &str, since_ms: u64) -> Result<LogLines, EngineError> {
        let window = LogWindow {
            since_ms,
            until_ms: None,
        };
        Ok(self
            .docker
            .service_logs(&self.service_name(service), window, true))
    }
}

#[async_trait::async_trait]
impl Engine for Swarm {
    fn name(&self) -> String {
        "docker stack (swarm)".into()
    }

    async fn image_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.docker.image_digest(reference).await
    }

    fn pins_deploys(&self) -> bool {
        true
    }

    async fn registry_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.docker.registry_digest(reference).await
    }

    async fn render(
        &self,
        _images: &BTreeMap<String, String>,
    ) -> Result<Option<String>, EngineError> {
        Ok(None)
    }

    /// Swarm decides itself which tasks a spec change replaces.
    async fn replaced(
        &self,
        _images: &BTreeMap<String, String>,
    ) -> Result<Option<Vec<String>>, EngineError> {
        Ok(None)
    }

    async fn pull(&self, reference: &str, progress: PullProgress<'_>) -> Result<(), EngineError> {
        self.docker.pull(reference, progress).await
    }

    /// `docker stack deploy` with the images pinned as given (never
    /// re-resolved, so every node runs the same digest), then waits for
    /// the rolling updates to converge.
    async fn apply(&self, images: &BTreeMap<String, String>) -> Result<(), EngineError> {
        let dir = tempfile::tempdir().map_err(|e| {
            EngineError::Apply(format!("cannot write the update-order override: {e}"))
        })?;
        let overlay = dir.path().join("pitwall-update-order.yml");
        std::fs::write(&overlay, self.update_order().await?).map_err(|e| {
            EngineError::Apply(format!("cannot write the update-order override: {e}"))
        })?;
        let before = self.task_ids().await?;
        *self.before.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(before));
        let file = self.file.display().to_string();
        let overlay = overlay.display().to_string();
        self.stack(
            images,
            &[
                "deploy",
                "--compose-file",
                &file,
                "--compose-file",
                &overlay,
                "--prune",
                "--resolve-image",
                "never",
                "--with-registry-auth",
                &self.project,
            ],
        )
        .await?;
        self.converge().await
    }

    /// `docker stack rm`, then waits until its tasks and network are gone
    /// (a new stack of the same name would otherwise meet them).
    async fn remove(&self) -> Result<(), EngineError> {
        self.stack(&BTreeMap::new(), &["rm", &self.project]).await?;
        let start = Instant::now();
        while start.elapsed() < self.converge_timeout {
            let left = self.docker.docker.list_networks(Some(
                bollard::query_parameters::ListNetworksOptions {
                    filters: Some(self.filters(&[])),
                },
            ));
            let (tasks, networks) = (self.tasks().await?, left.await.map_err(api)?);
            if tasks.is_empty() && networks.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        Err(EngineError::Call(format!(
            "stack {} was removed, but its tasks or network are still there after {}",
            self.project,
            humantime::format_duration(self.converge_timeout)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod progress {
        use super::super::*;
        use bollard::models::{
            ContainerStatus, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
            ServiceUpdateStatus, TaskSpec, TaskSpecContainerSpec, TaskStatus,
        };

        fn service(image: &str, replicas: i64) -> Service {
            Service {
                id: Some("svc".into()),
                spec: Some(ServiceSpec {
                    name: Some("shop_api".into()),
                    task_template: Some(TaskSpec {
                        container_spec: Some(TaskSpecContainerSpec {
                            image: Some(image.into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    mode: Some(ServiceSpecMode {
                        replicated: Some(ServiceSpecModeReplicated {
                            replicas: Some(replicas),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }
        }

        fn task(id: &str, image: &str, state: TaskState, exit: Option<i64>) -> Task {
            Task {
                id: Some(id.into()),
                service_id: Some("svc".into()),
                desired_state: Some(TaskState::RUNNING),
                spec: Some(TaskSpec {
                    container_spec: Some(TaskSpecContainerSpec {
                        image: Some(image.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                status: Some(TaskStatus {
                    state: Some(state),
                    err: exit.map(|_| "task: non-zero exit".into()),
                    container_status: exit.map(|code| ContainerStatus {
                        exit_code: Some(code),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }
        }

        /// Tasks made since the apply: all but those named.
        fn fresh_but(old: &[&str]) -> Fresh {
            Fresh::Applied(Arc::new(old.iter().map(|s| s.to_string()).collect()))
        }

        #[test]
        fn every_wanted_task_on_the_new_image_is_converged() {
            let (a, b) = (
                task("a", "app@2", TaskState::RUNNING, None),
                task("b", "app@2", TaskState::RUNNING, None),
            );
            let p = progress(&service("app@2", 2), &[&a, &b], &fresh_but(&[]));
            assert_eq!(p, Progress::Converged);
        }

        #[test]
        fn a_task_on_the_old_image_or_too_few_running_is_waiting() {
            let (a, b) = (
                task("a", "app@2", TaskState::RUNNING, None),
                task("b", "app@1", TaskState::RUNNING, None),
            );
            let p = progress(&service("app@2", 2), &[&a, &b], &fresh_but(&["b"]));
            assert_eq!(
                p,
                Progress::Waiting(
                    "shop_api: 1 of 2 tasks running app@2, 1 on another image".into()
                )
            );
            let starting = task("c", "app@2", TaskState::STARTING, None);
            let p = progress(&service("app@2", 1), &[&starting], &fresh_but(&[]));
            assert!(matches!(p, Progress::Waiting(_)), "{p:?}");
        }

        #[test]
        fn a_new_task_that_ended_fails_and_an_old_one_does_not() {
            let crashed = task("a", "app@2", TaskState::FAILED, Some(3));
            let p = progress(&service("app@2", 1), &[&crashed], &fresh_but(&[]));
            assert_eq!(
                p,
                Progress::Failed(
                    "a task of shop_api (app@2) ended with code 3: task: non-zero exit".into()
                )
            );
            // The same crash from before this apply is history.
            let running = task("b", "app@2", TaskState::RUNNING, None);
            let p = progress(
                &service("app@2", 1),
                &[&crashed, &running],
                &fresh_but(&["a"]),
            );
            assert_eq!(p, Progress::Converged);
        }

        #[test]
        fn the_update_status_speaks_first() {
            let running = task("a", "app@2", TaskState::RUNNING, None);
            let with = |state| Service {
                update_status: Some(ServiceUpdateStatus {
                    state: Some(state),
                    message: Some("update paused due to failure".into()),
                    ..Default::default()
                }),
                ..service("app@2", 1)
            };
            let p = progress(
                &with(ServiceUpdateStatusStateEnum::PAUSED),
                &[&running],
                &fresh_but(&[]),
            );
            assert_eq!(
                p,
                Progress::Failed(
                    "the update of shop_api stopped: update paused due to failure".into()
                )
            );
            let p = progress(
                &with(ServiceUpdateStatusStateEnum::UPDATING),
                &[&running],
                &fresh_but(&[]),
            );
            assert!(matches!(p, Progress::Waiting(_)), "{p:?}");
        }
    }

    /// A task made at second `at` of a minute.
    fn task(id: &str, slot: u64, desired: TaskState, state: TaskState, at: u32) -> Task {
        Task {
            id: Some(id.into()),
            slot: Some(slot.try_into().unwrap()),
            desired_state: Some(desired),
            status: Some(bollard::models::TaskStatus {
                state: Some(state),
                ..Default::default()
            }),
            // Swarm writes nanoseconds; the digits vary.
            created_at: Some(format!("2026-12-06T06:00:{at:02}.5{at}Z")),
            ..Default::default()
        }
    }

    #[test]
    fn without_an_apply_a_release_made_current_again_keeps_only_its_latest_tasks() {
        use TaskState::{COMPLETE, FAILED, RUNNING, SHUTDOWN};
        let on = |image: &str, t: Task| Task {
            spec: Some(bollard::models::TaskSpec {
                container_spec: Some(bollard::models::TaskSpecContainerSpec {
                    image: Some(image.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..t
        };
        // 1.0 ran from :10 (a crash then), 2.0 from :20, and a rollback made
        // 1.0 current again from :30 (a crash since).
        let tasks = [
            on("app@1.0", task("first", 1, SHUTDOWN, COMPLETE, 10)),
            on("app@1.0", task("crash", 1, SHUTDOWN, FAILED, 12)),
            on("app@2.0", task("two", 1, SHUTDOWN, SHUTDOWN, 20)),
            on("app@1.0", task("again", 1, RUNNING, RUNNING, 31)),
            on("app@1.0", task("since", 1, SHUTDOWN, FAILED, 30)),
        ];
        let mine: Vec<&Task> = tasks.iter().collect();
        let holds = |fresh: &Fresh| -> Vec<&str> {
            tasks
                .iter()
                .filter(|t| fresh.holds(t))
                .map(|t| t.id.as_deref().unwrap())
                .collect()
        };
        assert_eq!(
            holds(&Fresh::of(None, &mine, "app@1.0")),
            ["again", "since"]
        );
        // Only one image retained: every task is the current release's.
        assert_eq!(
            holds(&Fresh::of(None, &mine[..2], "app@1.0")),
            ["first", "crash", "two", "again", "since"]
        );
        // An apply in this process: what was there before it is not new,
        // whatever the times say.
        let before = BTreeSet::from(["first".to_string(), "crash".into(), "two".into()]);
        assert_eq!(
            holds(&Fresh::of(Some(Arc::new(before)), &mine, "app@1.0")),
            ["again", "since"]
        );
        let before = BTreeSet::from(["again".to_string()]);
        assert_eq!(
            holds(&Fresh::of(Some(Arc::new(before)), &mine, "app@1.0")),
            ["first", "crash", "two", "since"]
        );
        // A task whose time cannot be read counts as the current release's.
        let undated = Task {
            created_at: Some("yesterday".into()),
            ..task("undated", 1, SHUTDOWN, FAILED, 0)
        };
        assert!(Fresh::of(None, &mine, "app@1.0").holds(&undated));
    }

    #[test]
    fn a_slot_whose_task_ended_for_good_shows_that_task() {
        use TaskState::{COMPLETE, FAILED, READY, RUNNING, SHUTDOWN};
        let tasks = [
            // Slot 1: an old release's task, replaced by a running one.
            task("old-1", 1, SHUTDOWN, SHUTDOWN, 10),
            task("new-1", 1, RUNNING, RUNNING, 20),
            // Slot 2: exited after the apply, not restarted (policy none),
            // after an earlier failed attempt.
            task("old-2", 2, SHUTDOWN, SHUTDOWN, 11),
            task("try-2", 2, SHUTDOWN, FAILED, 21),
            task("end-2", 2, SHUTDOWN, COMPLETE, 30),
            // Slot 3: its task crashed, the replacement waits to start.
            task("try-3", 3, SHUTDOWN, FAILED, 22),
            task("next-3", 3, READY, READY, 31),
            // Slot 4: Swarm stopped its task (a drained node).
            task("moved-4", 4, SHUTDOWN, SHUTDOWN, 23),
        ];
        let refs: Vec<&Task> = tasks.iter().collect();
        let before = ["old-1", "old-2"];
        let is_new = |t: &Task| !before.contains(&t.id.as_deref().unwrap());
        let ids = |shown: Vec<&Task>| -> Vec<String> {
            shown.iter().map(|t| t.id.clone().unwrap()).collect()
        };
        assert_eq!(ids(shown(&refs, is_new)), ["new-1", "end-2"]);
        assert_eq!(
            run_state(tasks[4].status.as_ref().unwrap().state.as_ref()),
            RunState::Exited
        );
        // Before any task of this apply ended, nothing extra is shown.
        assert_eq!(ids(shown(&refs[..2], is_new)), ["new-1"]);
    }
}
