//! `pitwall.toml` as written: the serde shape of the file, with its
//! defaults. Unknown keys are errors, so a typo is caught at load time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{EngineKind, NotifyFormat, Outcome, Phase};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) stack: RawStack,
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) checks: Vec<RawCheck>,
    #[serde(default)]
    pub(super) notify: Vec<RawNotify>,
    #[serde(default)]
    pub(super) hooks: RawHooks,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStack {
    pub(super) compose_file: PathBuf,
    pub(super) project: String,
    #[serde(default = "default_state_dir")]
    pub(super) state_dir: PathBuf,
    #[serde(default = "default_wait", with = "humantime_serde")]
    pub(super) wait_timeout: Duration,
    #[serde(default)]
    pub(super) engine: EngineKind,
    pub(super) services: BTreeMap<String, RawService>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    #[serde(default)]
    pub(super) key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    #[serde(default = "d_interval", with = "humantime_serde")]
    pub(super) interval: Duration,
    #[serde(default = "d_timeout", with = "humantime_serde")]
    pub(super) timeout: Duration,
    #[serde(default = "d_deadline", with = "humantime_serde")]
    pub(super) deadline: Duration,
    #[serde(default = "d_startup", with = "humantime_serde")]
    pub(super) startup: Duration,
    #[serde(default = "one")]
    pub(super) successes: u32,
    #[serde(default = "d_failure_limit")]
    pub(super) failure_limit: u32,
    #[serde(default = "d_memory")]
    pub(super) memory_mb: usize,
}

impl Default for RawDefaults {
    fn default() -> Self {
        RawDefaults {
            interval: d_interval(),
            timeout: d_timeout(),
            deadline: d_deadline(),
            startup: d_startup(),
            successes: 1,
            failure_limit: d_failure_limit(),
            memory_mb: d_memory(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub(super) name: String,
    pub(super) plugin: String,
    #[serde(default)]
    pub(super) sha256: Option<String>,
    #[serde(default = "d_phase")]
    pub(super) phase: Phase,
    /// `false`: run, record and report the check, never gate on it.
    #[serde(default = "yes")]
    pub(super) enforce: bool,
    #[serde(default, with = "humantime_serde")]
    pub(super) interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub(super) timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub(super) deadline: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub(super) startup: Option<Duration>,
    #[serde(default)]
    pub(super) successes: Option<u32>,
    #[serde(default)]
    pub(super) failure_limit: Option<u32>,
    #[serde(default)]
    pub(super) memory_mb: Option<usize>,
    #[serde(default)]
    pub(super) allow_http: Vec<String>,
    #[serde(default)]
    pub(super) allow_logs: Vec<String>,
    #[serde(default = "empty_table")]
    pub(super) config: toml::Value,
}

/// A `[[notify]]` webhook.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) url: String,
    #[serde(default)]
    pub(super) format: NotifyFormat,
    #[serde(default = "every_outcome")]
    pub(super) on: Vec<Outcome>,
    #[serde(default = "d_notify_timeout", with = "humantime_serde")]
    pub(super) timeout: Duration,
    #[serde(default = "d_retries")]
    pub(super) retries: u32,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHooks {
    #[serde(default)]
    pub(super) pre_deploy: Option<RawHook>,
    #[serde(default)]
    pub(super) post_deploy: Option<RawHook>,
    #[serde(default)]
    pub(super) on_failure: Option<RawHook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHook {
    pub(super) command: Vec<String>,
    #[serde(default = "d_hook_timeout", with = "humantime_serde")]
    pub(super) timeout: Duration,
    #[serde(default)]
    pub(super) env_file: bool,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("releases")
}
fn default_wait() -> Duration {
    Duration::from_secs(60)
}
fn d_interval() -> Duration {
    Duration::from_secs(1)
}
fn d_timeout() -> Duration {
    Duration::from_secs(5)
}
/// Real APIs take 5–60 s to boot.
fn d_startup() -> Duration {
    Duration::from_secs(60)
}
fn d_deadline() -> Duration {
    Duration::from_secs(60)
}
fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn d_failure_limit() -> u32 {
    3
}
fn d_memory() -> usize {
    64
}
fn d_phase() -> Phase {
    Phase::Verify
}
fn empty_table() -> toml::Value {
    toml::Value::Table(Default::default())
}
fn every_outcome() -> Vec<Outcome> {
    Outcome::ALL.to_vec()
}
fn d_notify_timeout() -> Duration {
    Duration::from_secs(5)
}
fn d_retries() -> u32 {
    3
}
fn d_hook_timeout() -> Duration {
    Duration::from_secs(300)
}
