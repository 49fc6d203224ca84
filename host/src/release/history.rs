//! `history.jsonl`: one JSON record per deploy, rollback or recovery,
//! appended and synced. A torn last line (a crash mid-append) is skipped
//! with a warning, never fatal.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Image;
use crate::checks::Verdict;
use crate::config::Phase;
use crate::fsutil::{create_private_dir, open_append};

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deploy,
    Rollback,
    Recover,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
            Action::Recover => "recover",
        }
    }
}

/// How the action ended, as the history keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordOutcome {
    /// A deploy whose release is live and verified.
    Released,
    /// A deploy that failed; the previous release is back and verified.
    RolledBack,
    /// The stack is not on a verified release.
    Failed,
    /// A rollback or recovery whose target release is live and verified.
    Restored,
    /// A recovery that found nothing to restore.
    Interrupted,
    /// A deploy stopped by the operator (a signal); the previous release is
    /// back and verified.
    Cancelled,
}

impl RecordOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordOutcome::Released => "released",
            RecordOutcome::RolledBack => "rolled_back",
            RecordOutcome::Failed => "failed",
            RecordOutcome::Restored => "restored",
            RecordOutcome::Interrupted => "interrupted",
            RecordOutcome::Cancelled => "cancelled",
        }
    }

    /// Whether the record's release was live and verified at the end, so
    /// `rollback --to` may go back to it.
    pub fn verified_live(self) -> bool {
        matches!(self, RecordOutcome::Released | RecordOutcome::Restored)
    }
}

/// The incident ticket's failure modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Containers did not come up: apply failed, a container exited or
    /// crash-looped, or they were not running in time.
    Startup,
    /// Up, but a verify check failed or Docker's healthcheck said unhealthy.
    Healthcheck,
    /// Verified, then something broke during the soak.
    Runtime,
}

impl FailureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Startup => "startup",
            FailureMode::Healthcheck => "healthcheck",
            FailureMode::Runtime => "runtime",
        }
    }
}

/// Whether the release rolled back to came back verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RollbackOutcome {
    Verified,
    Failed,
}

impl RollbackOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackOutcome::Verified => "verified",
            RollbackOutcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    pub release_id: String,
    pub action: Action,
    pub outcome: RecordOutcome,
    pub started_at: String,
    pub finished_at: String,
    /// The OS user that ran pitwall.
    pub user: String,
    pub host: String,
    /// Who asked for it: `--actor`, `$GITHUB_ACTOR` or the OS user (absent
    /// from records written before pitwall recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Why: `--message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub images: BTreeMap<String, Image>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<FailureMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    pub durations_ms: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    pub name: String,
    pub phase: Phase,
    pub passed: bool,
    /// Whether the result gated the release; an observing check (`enforce =
    /// false`) is run and recorded, never gates.
    #[serde(default = "enforced", skip_serializing_if = "Clone::clone")]
    pub enforced: bool,
    pub attempts: u32,
    /// The last verdict.
    pub verdict: Verdict,
}

/// Records written before `enforce` existed: every check gated.
fn enforced() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Rollback {
    pub to_release: String,
    pub outcome: RollbackOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default)]
    pub checks: Vec<CheckResult>,
}

impl Record {
    /// A record of `action` on `release`, started at `started_at` by this
    /// user and host; `finished_at` is set when it is concluded.
    pub fn new(
        action: Action,
        release: &super::Release,
        outcome: RecordOutcome,
        started_at: String,
    ) -> Record {
        Record {
            release_id: release.id.clone(),
            action,
            outcome,
            started_at,
            finished_at: String::new(),
            user: crate::whoami::user(),
            host: crate::whoami::host(),
            actor: None,
            message: None,
            images: release.images.clone(),
            failure_mode: None,
            failure: None,
            checks: Vec::new(),
            rollback: None,
            incident: None,
            durations_ms: BTreeMap::new(),
        }
    }
}

/// A release that was live and verified here: a rollback target.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Verified {
    pub release: super::Release,
    /// When it last finished live and verified.
    pub verified_at: String,
}

/// The releases `rollback --to` accepts, newest first, each once (its
/// latest verified record).
pub fn verified_releases(records: &[Record]) -> Vec<Verified> {
    let mut seen = std::collections::BTreeSet::new();
    records
        .iter()
        .rev()
        .filter(|r| r.outcome.verified_live() && seen.insert(r.release_id.clone()))
        .map(|r| Verified {
            release: super::Release {
                id: r.release_id.clone(),
                images: r.images.clone(),
            },
            verified_at: r.finished_at.clone(),
        })
        .collect()
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("history.jsonl")
}

/// Appends `record` as one line and syncs it. The line always starts on a
/// fresh line (a torn last line, from a crash, cannot swallow it), and a
/// failed append is cut off again (a full disk leaves no half line for the
/// next record to be glued to).
pub fn append(state_dir: &Path, record: &Record) -> anyhow::Result<()> {
    let file = path(state_dir);
    create_private_dir(state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    let mut f = open_append(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let len = f
        .metadata()
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let mut last = [b'\n'];
    if len > 0 {
        f.read_exact_at(&mut last, len - 1)
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    if last[0] != b'\n' {
        line.insert(0, b'\n');
    }
    if let Err(e) = f.write_all(&line).and_then(|()| f.sync_all()) {
        let _ = f.set_len(len);
        return Err(e).with_context(|| format!("cannot append to {}", file.display()));
    }
    Ok(())
}

pub fn read(state_dir: &Path) -> anyhow::Result<Vec<Record>> {
    let file = path(state_dir);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!(
                "{}:{}: skipping an unreadable record ({e})",
                file.display(),
                n + 1
            ),
        }
    }
    Ok(out)
}
