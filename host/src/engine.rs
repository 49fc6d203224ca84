//! The seam between the rollout and the outside world: what a deploy needs
//! from whatever runs the stack (images and their digests, applying a
//! release, the state of the running units, their logs). The compose engine
//! is one implementation; the state machine only sees this trait, so a
//! cluster engine or a scripted in-memory engine fits the same slot.

mod compose;
mod docker;
mod images;
mod removed;
mod spool;
mod swarm;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use compose::{
    BlueGreen, Compose, ComposeFile, ProjectView, Switch, port_conflicts, preview_exposure,
    socket_exposure,
};
pub use images::LocalImages;
pub use removed::{Removal, RemovedUnit};
pub use spool::Spool;

use crate::traffic::Slot;
pub use swarm::Swarm;

/// A failure of the engine, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine cannot be used at all (daemon unreachable, tool missing).
    #[error("{0}")]
    Unavailable(String),
    /// An image cannot be pulled.
    #[error("{0}")]
    Pull(String),
    /// Applying a release was refused or failed part-way.
    #[error("{0}")]
    Apply(String),
    /// Any other call (listing, inspecting, reading logs) failed.
    #[error("{0}")]
    Call(String),
}

/// What a running unit of a service reports; a container on compose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Container {
    pub service: String,
    pub name: String,
    /// The engine's id of the unit: a name may be reused (compose gives a
    /// recreated container its predecessor's), an id never is.
    #[serde(default)]
    pub id: String,
    /// The image as the unit was created from it (a reference or an id).
    pub image: String,
    /// The id (`sha256:…`) of the image the unit runs: what drift compares.
    #[serde(default)]
    pub image_id: String,
    pub state: RunState,
    /// The Docker healthcheck's status, if the unit has a healthcheck.
    pub health: Option<Health>,
    pub restart_count: u32,
    pub exit_code: Option<i64>,
}

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Stopping,
    Exited,
    Dead,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Created => "created",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Restarting => "restarting",
            RunState::Removing => "removing",
            RunState::Stopping => "stopping",
            RunState::Exited => "exited",
            RunState::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// Which log lines of a service to read: those written from `since_ms` to
/// `until_ms` (ms since the Unix epoch; open-ended when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogWindow {
    pub since_ms: u64,
    pub until_ms: Option<u64>,
}

impl LogWindow {
    pub fn contains(&self, ms: u64) -> bool {
        ms >= self.since_ms && self.until_ms.is_none_or(|u| ms < u)
    }
}

/// One line a unit logged (stdout or stderr, without its timestamp), with
/// the engine's time for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub ms: u64,
    pub text: String,
    /// The unit (container) that wrote it, where the stream tells them
    /// apart; shared by the lines of one unit.
    pub unit: Option<std::sync::Arc<str>>,
}

/// What a log stream carries: lines, and notices that lines were lost on
/// the way (a spool at its size cap), which the reader reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogItem {
    Line(LogLine),
    /// Whole lines in order, each ending in `\n`, already in the window: a
    /// spool or a recording hands them on in blocks, one copy for many
    /// lines instead of one allocation each.
    Lines(String),
    Lost(String),
}

/// A service's log lines as they are read, oldest first within each unit.
/// Whoever reads it holds one line at a time, whatever the window's size.
pub type LogLines = futures_util::stream::BoxStream<'static, Result<LogItem, EngineError>>;

/// The newest `max` lines of `lines` (by time, across units), oldest
/// first, with the stream's notices of lost lines; memory stays within
/// `max` lines however long the stream is.
pub async fn newest(mut lines: LogLines, max: usize) -> Result<Newest, EngineError> {
    use futures_util::StreamExt;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // A min-heap on (time, arrival): the oldest kept line is dropped first.
    // Lines of a block take the latest time seen before them.
    let mut kept = BinaryHeap::new();
    let (mut arrival, mut clock) = (0u64, 0u64);
    let mut lost = Vec::new();
    let mut keep = |ms: u64, text: String| {
        arrival += 1;
        kept.push(Reverse((ms, arrival, text)));
        if kept.len() > max {
            kept.pop();
        }
    };
    while let Some(item) = lines.next().await {
        // A spool answers without ever making the reader wait: without this,
        // a long window would hold its thread from the checks beside it.
        tokio::task::consume_budget().await;
        match item? {
            LogItem::Line(line) => {
                clock = clock.max(line.ms);
                keep(line.ms, line.text);
            }
            LogItem::Lines(block) => block.lines().for_each(|l| keep(clock, l.to_string())),
            LogItem::Lost(notice) => lost.push(notice),
        }
    }
    let mut kept: Vec<_> = kept.into_iter().map(|Reverse(k)| k).collect();
    kept.sort_unstable();
    Ok(Newest {
        lines: kept.into_iter().map(|(_, _, text)| text).collect(),
        lost,
    })
}

/// What `newest` keeps.
pub struct Newest {
    pub lines: Vec<String>,
    /// Notices of lines lost on the way (a spool at its cap).
    pub lost: Vec<String>,
}

/// Users moved to a release's unit by a traffic switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub service: String,
    /// The unit users reach now.
    pub unit: String,
    /// The slot users left, if any, and the one they reach now.
    pub from: Option<Slot>,
    pub to: Slot,
    /// How long the proxy took to apply it.
    pub took: std::time::Duration,
    /// How long the unit users left is kept for a switch back.
    pub kept_for: Option<std::time::Duration>,
    /// The share of users (percent) the unit gets: 100 once promoted.
    pub share: u8,
}

impl Promotion {
    /// One line for the operator.
    pub fn line(&self) -> String {
        if self.share < 100 {
            return format!(
                "canary `{}`: {}% of users on {} ({}), the rest on {}, set in {} ms",
                self.service,
                self.share,
                self.to,
                self.unit,
                self.from.map_or("-", Slot::as_str),
                self.took.as_millis()
            );
        }
        let moved = match &self.from {
            Some(from) => format!("from {from} to {}", self.to),
            None => format!("to {}", self.to),
        };
        let kept = self.kept_for.map_or(String::new(), |k| {
            format!(
                "; the {} unit drains and is kept {} for a switch back",
                self.from.map_or("old", Slot::as_str),
                humantime::format_duration(k)
            )
        });
        format!(
            "promoted `{}`: users moved {moved} ({}) in {} ms{kept}",
            self.service,
            self.unit,
            self.took.as_millis()
        )
    }
}

/// Pull progress of one image: bytes done and total over all its layers.
pub type PullProgress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// What checks may read of a running stack: its units and their logs.
#[async_trait::async_trait]
pub trait StackView: Send + Sync {
    /// Units of the stack in every state, sorted by service and name; only
    /// those of `services` when given.
    async fn containers(&self, services: Option<&[String]>) -> Result<Vec<Container>, EngineError>;

    /// A service's log lines in `window`, as the engine still has them.
    async fn logs(&self, service: &str, window: LogWindow) -> Result<LogLines, EngineError>;

    /// Follows a service's log from `since_ms` for as long as the stream is
    /// read: the lines of every unit, those running now and those started
    /// later (replaced, restarted, rescheduled), as they are written.
    async fn follow(&self, service: &str, since_ms: u64) -> Result<LogLines, EngineError>;
}

/// Everything the rollout asks of the world that runs the stack.
#[async_trait::async_trait]
pub trait Engine: StackView {
    /// A short name for progress lines, e.g. `docker compose`.
    fn name(&self) -> String;

    /// Whether the image is present where the stack runs; its digest
    /// reference (`repo@sha256:…`), or its id when it has none, if so.
    async fn image_digest(&self, reference: &str) -> Result<Option<String>, EngineError>;

    /// The digest reference (`repo@sha256:…`) the registry serves for
    /// `reference`, found without pulling; `None` when it has no such image.
    async fn registry_digest(&self, reference: &str) -> Result<Option<String>, EngineError>;

    /// What `apply(images)` would hand the engine, as text to diff (compose:
    /// the resolved compose file); `None` when the engine has no such text.
    async fn render(
        &self,
        images: &BTreeMap<String, String>,
    ) -> Result<Option<String>, EngineError>;

    /// The services whose units `apply(images)` would replace, for any
    /// reason (image, configuration, environment); `None` when the engine
    /// cannot tell.
    async fn replaced(
        &self,
        images: &BTreeMap<String, String>,
    ) -> Result<Option<Vec<String>>, EngineError>;

    /// Whether a deploy hands `apply` the digests it resolved rather than
    /// the references as given. A swarm's nodes each resolve a tag on their
    /// own, so only a digest makes them run the same bytes, and a rollback
    /// then hands back the very reference a service already runs (which
    /// Swarm would otherwise take for a change and update again). Compose
    /// runs the tag it has just pulled, as the runbook does.
    fn pins_deploys(&self) -> bool {
        false
    }

    /// Fetches `reference` from its registry.
    async fn pull(&self, reference: &str, progress: PullProgress<'_>) -> Result<(), EngineError>;

    /// Makes the stack run `images` (service → reference): creates, replaces
    /// and removes units as needed. Returns once the engine accepted it;
    /// whether the units come up is for `containers` to tell.
    async fn apply(&self, images: &BTreeMap<String, String>) -> Result<(), EngineError>;

    /// Stops and removes the whole stack.
    async fn remove(&self) -> Result<(), EngineError>;

    /// The units this engine removed itself (not through the engine's own
    /// tool), with their last log lines: the only trace left of them.
    fn removed_units(&self) -> Vec<RemovedUnit> {
        Vec::new()
    }

    /// Moves users to what the verify checks judged, where a traffic switch
    /// kept them apart (blue-green); nothing to do otherwise.
    async fn promote(&self) -> Result<Vec<Promotion>, EngineError> {
        Ok(Vec::new())
    }

    /// Gives what the verify checks judged `share` percent of users, beside
    /// the release they are on (a canary step); `100` promotes. Nothing to
    /// do without a traffic switch.
    async fn weigh(&self, share: u8) -> Result<Vec<Promotion>, EngineError> {
        let _ = share;
        Ok(Vec::new())
    }

    /// When the last `apply` moved users to units that were already running
    /// (a blue-green switch back); `None` when it did not.
    fn routed_at(&self) -> Option<std::time::Instant> {
        None
    }
}
