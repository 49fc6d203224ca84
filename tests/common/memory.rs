//! An in-memory engine whose world a test scripts: which images exist here
//! or only in the registry, how each image's containers behave once
//! applied, which applies fail, and what the containers log. The rollout
//! runs against it through the same `Engine` trait as against compose, so
//! the state machine is tested with no Docker at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use pitwall::engine::{
    Container, Engine, EngineError, Health, LogItem, LogLine, LogLines, LogWindow, PullProgress,
    RunState, StackView,
};

/// How the containers of an image behave once applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs, healthy.
    Healthy,
    /// Exits at once with this code.
    Exits(i64),
    /// Crashes and is restarted, over and over.
    CrashLoops,
    /// Runs, but Docker's healthcheck says unhealthy.
    Unhealthy,
    /// Stays `created`: never runs.
    NeverRuns,
    /// Runs healthy, then exits (137) this long after the apply.
    DiesAfter(Duration),
}

/// A scripted image: its containers' behaviour, the status its health
/// endpoint answers, and the lines it logs.
#[derive(Debug, Clone)]
pub struct Image {
    pub behaviour: Behaviour,
    pub health_status: u16,
    /// The lines its service logs while it runs: at the apply, then again
    /// every `LOG_EVERY` until the next apply (steady traffic).
    pub logs: Vec<String>,
    /// Lines logged once, at the apply only: what the switch itself shows
    /// (a proxy's 502s while the unit is replaced).
    pub switch_logs: Vec<String>,
    /// How long after the apply its endpoint first answers (`None`: never).
    pub listens_after: Option<Duration>,
    /// Reached through a proxy: until it listens, the proxy answers 502
    /// rather than nothing answering at all.
    pub proxied: bool,
}

impl Image {
    pub fn healthy() -> Image {
        Image {
            behaviour: Behaviour::Healthy,
            health_status: 200,
            logs: access_lines(20, 200),
            switch_logs: Vec::new(),
            listens_after: Some(Duration::ZERO),
            proxied: false,
        }
    }

    pub fn behaving(behaviour: Behaviour) -> Image {
        Image {
            behaviour,
            ..Image::healthy()
        }
    }

    /// Runs and passes its health probe, but serves 5xx to real traffic:
    /// only its access log shows it.
    pub fn serving_errors() -> Image {
        Image {
            logs: access_lines(20, 500),
            ..Image::healthy()
        }
    }

    /// Healthy once it listens, `after` the apply; `None`: it never does.
    pub fn booting(after: Option<Duration>) -> Image {
        Image {
            listens_after: after,
            ..Image::healthy()
        }
    }

    /// Booting as `booting` says, behind a proxy that answers 502 until
    /// the app listens.
    pub fn booting_behind_a_proxy(after: Option<Duration>) -> Image {
        Image {
            proxied: true,
            ..Image::booting(after)
        }
    }

    /// Healthy, but its switch shows 5xx (a proxy's 502s while the unit
    /// is replaced) before it serves only 200s.
    pub fn switching_with_errors() -> Image {
        Image {
            switch_logs: access_lines(20, 502),
            ..Image::healthy()
        }
    }

    pub fn answering(status: u16) -> Image {
        Image {
            health_status: status,
            ..Image::healthy()
        }
    }
}

/// `n` nginx combined-format access lines with `status`, each with a
/// request id.
pub fn access_lines(n: usize, status: u16) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"127.0.0.1 - - [26/Nov/2026:13:00:00 +0000] "GET /api/items HTTP/1.1" {status} 12 "-" "curl/8" request_id=req-{i}"#
            )
        })
        .collect()
}

struct Applied {
    /// Service → digest.
    images: BTreeMap<String, String>,
    at: Instant,
    at_ms: u64,
}

#[derive(Default)]
struct World {
    /// Reference → digest, for images present where the stack runs.
    local: BTreeMap<String, String>,
    /// Reference → digest, for images only the registry has.
    registry: BTreeMap<String, String>,
    /// Digest → how it behaves.
    images: BTreeMap<String, Image>,
    applied: Vec<Applied>,
    /// 1-based numbers of the applies that fail.
    failing_applies: BTreeSet<usize>,
    /// Every call fails as if the daemon were gone.
    down: bool,
    /// Run before apply number N (1-based) takes effect.
    before_apply: BTreeMap<usize, Box<dyn FnOnce() + Send>>,
}

/// The scripted engine. Cheap to clone: clones share one world.
#[derive(Clone, Default)]
pub struct MemoryEngine {
    world: Arc<Mutex<World>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn digest_of(reference: &str) -> String {
    let repo = reference.split(':').next().unwrap_or(reference);
    let hex: String = reference.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{repo}@sha256:{hex:0<64.64}")
}

impl MemoryEngine {
    pub fn new() -> MemoryEngine {
        MemoryEngine::default()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `reference`, present locally; returns its digest.
    pub fn local(&self, reference: &str, image: Image) -> String {
        let digest = digest_of(reference);
        let mut w = self.world();
        w.local.insert(reference.into(), digest.clone());
        w.images.insert(digest.clone(), image);
        digest
    }

    /// `reference`, only in the registry until pulled; returns its digest.
    pub fn remote(&self, reference: &str, image: Image) -> String {
        let digest = digest_of(reference);
        let mut w = self.world();
        w.registry.insert(reference.into(), digest.clone());
        w.images.insert(digest.clone(), image);
        digest
    }

    /// From now on, containers of `digest` behave as `image` says.
    pub fn rescript(&self, digest: &str, image: Image) {
        self.world().images.insert(digest.into(), image);
    }

    /// Apply number `n` (1-based, counting every apply) fails.
    pub fn fail_apply(&self, n: usize) {
        self.world().failing_applies.insert(n);
    }

    /// Runs `f` just before apply number `n` (1-based).
    pub fn before_apply(&self, n: usize, f: impl FnOnce() + Send + 'static) {
        self.world().before_apply.insert(n, Box::new(f));
    }

    pub fn go_down(&self) {
        self.world().down = true;
    }

    pub fn applies(&self) -> usize {
        self.world().applied.len()
    }

    /// Service → digest of what runs now.
    pub fn running(&self) -> Option<BTreeMap<String, String>> {
        self.world().applied.last().map(|a| a.images.clone())
    }

    /// The status the running `service`'s health endpoint answers: 502
    /// when no container of it runs, as a proxy in front would say; 0 (no
    /// answer) while it has not started listening.
    pub fn health_status(&self, service: &str) -> u16 {
        let Some(c) = self
            .snapshot()
            .into_iter()
            .find(|c| c.service == service && c.state == RunState::Running)
        else {
            return 502;
        };
        let w = self.world();
        let last = w.applied.last().unwrap();
        let image = &w.images[&last.images[&c.service]];
        match image.listens_after {
            Some(after) if last.at.elapsed() >= after => image.health_status,
            _ if image.proxied => 502,
            _ => 0,
        }
    }

    fn check_up(&self) -> Result<(), EngineError> {
        if self.world().down {
            return Err(EngineError::Unavailable(
                "cannot reach the engine (scripted outage)".into(),
            ));
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<Container> {
        let w = self.world();
        let Some(last) = w.applied.last() else {
            return Vec::new();
        };
        let elapsed = last.at.elapsed();
        last.images
            .iter()
            .map(|(service, digest)| {
                let (state, health, restarts, exit) = match w.images[digest].behaviour {
                    Behaviour::Healthy => (RunState::Running, Some(Health::Healthy), 0, None),
                    Behaviour::Exits(code) => (RunState::Exited, None, 0, Some(code)),
                    Behaviour::CrashLoops => (RunState::Restarting, None, 3, Some(1)),
                    Behaviour::Unhealthy => (RunState::Running, Some(Health::Unhealthy), 0, None),
                    Behaviour::NeverRuns => (RunState::Created, None, 0, None),
                    Behaviour::DiesAfter(d) if elapsed >= d => {
                        (RunState::Exited, None, 0, Some(137))
                    }
                    Behaviour::DiesAfter(_) => (RunState::Running, Some(Health::Healthy), 0, None),
                };
                Container {
                    service: service.clone(),
                    id: format!("{service}-1"),
                    name: format!("{service}-1"),
                    image: digest.clone(),
                    image_id: digest.clone(),
                    state,
                    health,
                    restart_count: restarts,
                    exit_code: exit,
                }
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl StackView for MemoryEngine {
    async fn containers(&self, services: Option<&[String]>) -> Result<Vec<Container>, EngineError> {
        self.check_up()?;
        Ok(self
            .snapshot()
            .into_iter()
            .filter(|c| services.is_none_or(|s| s.contains(&c.service)))
            .collect())
    }

    async fn logs(&self, service: &str, window: LogWindow) -> Result<LogLines, EngineError> {
        self.check_up()?;
        Ok(futures_util::stream::iter(self.logged(service, window)).boxed())
    }

    /// The lines as they are logged, polled: a follow sees the lines of
    /// applies made after it started, as the Docker one does.
    async fn follow(&self, service: &str, since_ms: u64) -> Result<LogLines, EngineError> {
        self.check_up()?;
        let (engine, service) = (self.clone(), service.to_string());
        let polls = futures_util::stream::unfold(since_ms, move |from| {
            let (engine, service) = (engine.clone(), service.clone());
            async move {
                loop {
                    let to = now_ms() + 1;
                    let window = LogWindow {
                        since_ms: from,
                        until_ms: Some(to),
                    };
                    let lines = engine.logged(&service, window);
                    if !lines.is_empty() {
                        return Some((futures_util::stream::iter(lines), to));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        Ok(polls.flatten().boxed())
    }
}

/// How often a running image logs its `logs` lines again.
const LOG_EVERY: u64 = 100;

impl MemoryEngine {
    /// The lines `service` logged in `window` up to now: each apply's
    /// switch lines at its time, and its steady lines at its time and every
    /// `LOG_EVERY` after, until the next apply.
    fn logged(&self, service: &str, window: LogWindow) -> Vec<Result<LogItem, EngineError>> {
        let w = self.world();
        let now = now_ms();
        let mut out = Vec::new();
        for (i, a) in w.applied.iter().enumerate() {
            let Some(digest) = a.images.get(service) else {
                continue;
            };
            let image = &w.images[digest];
            let end = w.applied.get(i + 1).map_or(now + 1, |next| next.at_ms);
            let mut line = |ms: u64, text: &String| {
                if window.contains(ms) {
                    out.push(Ok(LogItem::Line(LogLine {
                        ms,
                        text: text.clone(),
                        unit: None,
                    })));
                }
            };
            image.switch_logs.iter().for_each(|t| line(a.at_ms, t));
            let mut ms = a.at_ms;
            while ms < end {
                image.logs.iter().for_each(|t| line(ms, t));
                ms += LOG_EVERY;
            }
        }
        out
    }
}

#[async_trait::async_trait]
impl Engine for MemoryEngine {
    fn name(&self) -> String {
        "memory".into()
    }

    async fn image_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.check_up()?;
        let w = self.world();
        // A digest reference names the image it pins, as Docker resolves it.
        let by_digest = w.local.values().find(|d| *d == reference);
        Ok(w.local.get(reference).or(by_digest).cloned())
    }

    async fn registry_digest(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.check_up()?;
        Ok(self.world().registry.get(reference).cloned())
    }

    /// A service is replaced when what it would run differs from what the
    /// last apply made it run.
    async fn replaced(
        &self,
        images: &BTreeMap<String, String>,
    ) -> Result<Option<Vec<String>>, EngineError> {
        self.check_up()?;
        let w = self.world();
        let running = w
            .applied
            .last()
            .map(|a| a.images.clone())
            .unwrap_or_default();
        Ok(Some(
            images
                .iter()
                .filter(|(service, reference)| {
                    let digest = if w.images.contains_key(*reference) {
                        Some((*reference).clone())
                    } else {
                        w.local.get(*reference).cloned()
                    };
                    running.get(*service) != digest.as_ref()
                })
                .map(|(service, _)| service.clone())
                .collect(),
        ))
    }

    async fn render(
        &self,
        images: &BTreeMap<String, String>,
    ) -> Result<Option<String>, EngineError> {
        self.check_up()?;
        Ok(Some(
            images
                .iter()
                .map(|(service, reference)| format!("{service}: {reference}\n"))
                .collect(),
        ))
    }

    async fn pull(&self, reference: &str, progress: PullProgress<'_>) -> Result<(), EngineError> {
        self.check_up()?;
        let mut w = self.world();
        let Some(digest) = w.registry.get(reference).cloned() else {
            return Err(EngineError::Pull(format!(
                "pull failed: manifest for {reference} not found"
            )));
        };
        w.local.insert(reference.into(), digest);
        progress(1, 1);
        Ok(())
    }

    async fn apply(&self, images: &BTreeMap<String, String>) -> Result<(), EngineError> {
        self.check_up()?;
        let n = self.world().applied.len() + 1;
        let hook = self.world().before_apply.remove(&n);
        if let Some(hook) = hook {
            hook();
        }
        let mut w = self.world();
        if w.failing_applies.contains(&n) {
            // A failed apply still counts, and leaves nothing running.
            w.applied.push(Applied {
                images: BTreeMap::new(),
                at: Instant::now(),
                at_ms: now_ms(),
            });
            return Err(EngineError::Apply(format!("apply {n} failed (scripted)")));
        }
        let mut digests = BTreeMap::new();
        for (service, reference) in images {
            let digest = if w.images.contains_key(reference) {
                reference.clone()
            } else {
                w.local
                    .get(reference)
                    .cloned()
                    .ok_or_else(|| EngineError::Apply(format!("no such image: {reference}")))?
            };
            digests.insert(service.clone(), digest);
        }
        w.applied.push(Applied {
            images: digests,
            at: Instant::now(),
            at_ms: now_ms(),
        });
        Ok(())
    }

    async fn remove(&self) -> Result<(), EngineError> {
        self.check_up()?;
        self.world().applied.clear();
        Ok(())
    }
}
