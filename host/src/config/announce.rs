//! `[[notify]]` webhooks and `[hooks]` commands: who is told how a deploy,
//! rollback or recovery ended, and what runs before and after one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::file::{RawHook, RawHooks, RawNotify};

/// How a deploy, rollback or recovery ended, as notifications and hooks
/// name it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A deploy's release is live and verified.
    Released,
    /// A rollback or recovery put a release back, verified.
    Restored,
    /// A deploy failed (or was cancelled); the previous release is back
    /// and verified.
    RolledBack,
    /// The stack is not on a verified release: a human is needed.
    NotRecovered,
    /// Refused before anything changed (exit 4).
    Refused,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Released,
        Outcome::Restored,
        Outcome::RolledBack,
        Outcome::NotRecovered,
        Outcome::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Released => "released",
            Outcome::Restored => "restored",
            Outcome::RolledBack => "rolled_back",
            Outcome::NotRecovered => "not_recovered",
            Outcome::Refused => "refused",
        }
    }
}

/// The body a webhook is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    /// The event: outcome, exit code, message and the history record.
    #[default]
    Json,
    /// A Slack-compatible `{"text": …}` summary.
    Slack,
}

/// One `[[notify]]` webhook.
#[derive(Debug, Clone)]
pub struct Notify {
    /// Often a secret (a Slack webhook's path is its key): never printed
    /// whole, see [`Notify::host`].
    pub url: String,
    pub format: NotifyFormat,
    /// The outcomes it is sent on.
    pub on: Vec<Outcome>,
    /// Budget of one attempt.
    pub timeout: Duration,
    /// Attempts after the first, with a pause between them.
    pub retries: u32,
}

impl Notify {
    /// The host the URL names, which is all a message may show of it.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "(a URL that cannot be parsed)".into())
    }
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before a deploy touches anything, under its lock; failing refuses it.
    PreDeploy,
    /// After a deploy, rollback or recovery ends on a verified release.
    PostDeploy,
    /// After one ends rolled back or not recovered.
    OnFailure,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::PreDeploy => "pre_deploy",
            Stage::PostDeploy => "post_deploy",
            Stage::OnFailure => "on_failure",
        }
    }
}

/// A hook: a program and its arguments, run with no shell.
#[derive(Debug, Clone)]
pub struct Hook {
    pub command: Vec<String>,
    pub timeout: Duration,
    /// Whether the env file's entries are in its environment.
    pub env_file: bool,
}

/// The `[hooks]` table, with what running one needs.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub pre_deploy: Option<Hook>,
    pub post_deploy: Option<Hook>,
    pub on_failure: Option<Hook>,
    /// Where hooks run: the configuration's folder, where relative paths
    /// start.
    pub dir: PathBuf,
    /// The env file's entries: given to a hook that is granted them,
    /// removed from the environment of one that is not.
    pub env_file: BTreeMap<String, String>,
}

impl Hooks {
    pub fn get(&self, stage: Stage) -> Option<&Hook> {
        match stage {
            Stage::PreDeploy => self.pre_deploy.as_ref(),
            Stage::PostDeploy => self.post_deploy.as_ref(),
            Stage::OnFailure => self.on_failure.as_ref(),
        }
    }

    pub(super) fn from_raw(
        raw: RawHooks,
        dir: PathBuf,
        env_file: BTreeMap<String, String>,
    ) -> Hooks {
        let hook = |h: RawHook| Hook {
            command: h.command,
            timeout: h.timeout,
            env_file: h.env_file,
        };
        Hooks {
            pre_deploy: raw.pre_deploy.map(hook),
            post_deploy: raw.post_deploy.map(hook),
            on_failure: raw.on_failure.map(hook),
            dir,
            env_file,
        }
    }
}

impl From<RawNotify> for Notify {
    fn from(n: RawNotify) -> Notify {
        Notify {
            url: n.url,
            format: n.format,
            on: n.on,
            timeout: n.timeout,
            retries: n.retries,
        }
    }
}

/// Refuses a hook command that names an env file entry (`${API_TOKEN}`):
/// expanded, it would hand the value to a hook that was not granted the
/// env file, on a command line every process on the host can read. Checked
/// before expansion, on the file as written.
pub(super) fn refuse_env_file_in_commands(
    file: &toml::Value,
    env_file: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let Some(hooks) = file.get("hooks").and_then(toml::Value::as_table) else {
        return Ok(());
    };
    for (stage, hook) in hooks {
        let args = hook.get("command").and_then(toml::Value::as_array);
        for arg in args.into_iter().flatten().filter_map(toml::Value::as_str) {
            let named = env_file.keys().find(|key| {
                arg.contains(&format!("${{{key}}}")) || arg.contains(&format!("${{{key}:-"))
            });
            if let Some(key) = named {
                bail!(
                    "hooks.{stage}.command uses ${{{key}}}, an env file entry: a command line is visible to every process on the host. \
                     Set env_file = true on the hook and read it from its environment (in a shell: [\"sh\", \"-c\", \"… $${key} …\"] — `$NAME` without braces is left to the shell)"
                );
            }
        }
    }
    Ok(())
}
