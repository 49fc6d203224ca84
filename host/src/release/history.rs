//! `history.jsonl`: one JSON record per deploy, rollback or recovery,
//! appended and synced. A torn last line (a crash mid-append) is skipped
//! with a warning, never fatal.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::Image;
use crate::checks::Verdict;
use crate::config::Phase;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub release_id: String,
    /// `deploy`, `rollback` or `recover`.
    pub action: String,
    /// `released`, `rolled_back`, `failed`, `restored`, `interrupted`.
    pub outcome: String,
    pub started_at: String,
    pub finished_at: String,
    pub user: String,
    pub host: String,
    pub images: BTreeMap<String, Image>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode: Option<String>,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub phase: Phase,
    pub passed: bool,
    pub attempts: u32,
    /// The last verdict.
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rollback {
    pub to_release: String,
    /// `verified` or `failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default)]
    pub checks: Vec<CheckResult>,
}

impl Record {
    /// A record of `action` on `release`, started now by this user and host.
    pub fn start(action: &str, release: &super::Release) -> Record {
        Record {
            release_id: release.id.clone(),
            action: action.into(),
            outcome: String::new(),
            started_at: crate::whoami::now_rfc3339(),
            finished_at: String::new(),
            user: crate::whoami::user(),
            host: crate::whoami::host(),
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

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("history.jsonl")
}

pub fn append(state_dir: &Path, record: &Record) -> anyhow::Result<()> {
    let file = path(state_dir);
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    f.write_all(&line)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot append to {}", file.display()))
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
