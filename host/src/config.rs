//! `pitwall.toml`: the stack and its checks, validated before anything is
//! touched. Strings may use `${VAR}` / `${VAR:-default}`, resolved from the
//! environment, then from the env file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde::Deserialize;

use crate::checks::{Grants, Limits};

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration file lives; relative paths start here.
    pub path: PathBuf,
    pub stack: Stack,
    pub checks: Vec<CheckSpec>,
    /// The env file's values, so output can be scrubbed of them.
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Stack {
    pub compose_file: PathBuf,
    pub project: String,
    pub env_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// How long containers may take to be running (and healthy).
    pub wait_timeout: Duration,
    /// Service → key. The key names the compose variable (`KEY_IMAGE`) and
    /// the state.env pointers (`CURRENT_KEY_IMAGE`).
    pub services: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Gates the release right after `up`.
    Verify,
    /// Keeps running through the soak window after verify passed.
    Watch,
}

#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub name: String,
    pub plugin: String,
    pub phase: Phase,
    /// Pause between attempts.
    pub interval: Duration,
    /// Budget of one attempt.
    pub timeout: Duration,
    /// Verify phase: give up after this long.
    pub deadline: Duration,
    /// Consecutive passes needed (verify phase).
    pub successes: u32,
    /// Failed attempts (fail or error) that fail the check.
    pub failure_limit: u32,
    pub memory_mb: usize,
    pub grants: Grants,
    /// The check's own configuration, as JSON text.
    pub config: String,
}

impl CheckSpec {
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.timeout,
            memory_bytes: self.memory_mb << 20,
            ..Limits::default()
        }
    }
}

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    stack: RawStack,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    checks: Vec<RawCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    compose_file: PathBuf,
    project: String,
    #[serde(default = "default_state_dir")]
    state_dir: PathBuf,
    #[serde(default = "default_wait", with = "humantime_serde")]
    wait_timeout: Duration,
    services: BTreeMap<String, RawService>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[serde(default)]
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default = "d_interval", with = "humantime_serde")]
    interval: Duration,
    #[serde(default = "d_timeout", with = "humantime_serde")]
    timeout: Duration,
    #[serde(default = "d_deadline", with = "humantime_serde")]
    deadline: Duration,
    #[serde(default = "one")]
    successes: u32,
    #[serde(default = "d_failure_limit")]
    failure_limit: u32,
    #[serde(default = "d_memory")]
    memory_mb: usize,
}

impl Default for RawDefaults {
    fn default() -> Self {
        RawDefaults {
            interval: d_interval(),
            timeout: d_timeout(),
            deadline: d_deadline(),
            successes: 1,
            failure_limit: d_failure_limit(),
            memory_mb: d_memory(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: String,
    plugin: String,
    #[serde(default = "d_phase")]
    phase: Phase,
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    deadline: Option<Duration>,
    #[serde(default)]
    successes: Option<u32>,
    #[serde(default)]
    failure_limit: Option<u32>,
    #[serde(default)]
    memory_mb: Option<usize>,
    #[serde(default)]
    allow_http: Vec<String>,
    #[serde(default)]
    allow_logs: Vec<String>,
    #[serde(default = "empty_table")]
    config: toml::Value,
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
fn d_deadline() -> Duration {
    Duration::from_secs(60)
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

/// Command-line values that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub env_file: Option<PathBuf>,
    pub project: Option<String>,
    pub state_dir: Option<PathBuf>,
    /// Replaces the URL of the check named `health` (and its grant).
    pub health_url: Option<String>,
}

impl Config {
    pub fn load(path: &Path, overrides: &Overrides) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the configuration {} (pass --config PATH; deploy/pitwall.toml is the reference)",
                path.display()
            )
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        // The env file is needed first: `${VAR}` may refer to it.
        let mut value: toml::Value = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        let env_file = match (
            &overrides.env_file,
            value.get("stack").and_then(|s| s.get("env_file")),
        ) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(v)) => {
                let raw = v.as_str().context("stack.env_file must be a path")?;
                Some(resolve(Path::new(&expand(
                    raw,
                    &std::env::vars().collect(),
                )?)))
            }
            (None, None) => None,
        };
        // A missing env file is reported by `validate`, with what to do.
        let mut vars: BTreeMap<String, String> = match &env_file {
            Some(f) if f.is_file() => read_env_file(f)?,
            _ => BTreeMap::new(),
        };
        let secrets = vars.values().cloned().collect();
        vars.extend(std::env::vars());
        expand_all(&mut value, &vars)?;

        if let Some(stack) = value.get_mut("stack").and_then(|s| s.as_table_mut()) {
            stack.remove("env_file");
        }
        let raw: RawConfig = value.try_into().with_context(|| {
            format!(
                "{} does not describe a pitwall configuration",
                path.display()
            )
        })?;
        let d = raw.defaults;
        let mut checks = Vec::new();
        for c in raw.checks {
            let config = serde_json::to_string(&c.config).context("check config to JSON")?;
            checks.push(CheckSpec {
                interval: c.interval.unwrap_or(d.interval),
                timeout: c.timeout.unwrap_or(d.timeout),
                deadline: c.deadline.unwrap_or(d.deadline),
                successes: c.successes.unwrap_or(d.successes),
                failure_limit: c.failure_limit.unwrap_or(d.failure_limit),
                memory_mb: c.memory_mb.unwrap_or(d.memory_mb),
                grants: Grants {
                    allow_http: c.allow_http,
                    allow_logs: c.allow_logs,
                },
                name: c.name,
                plugin: c.plugin,
                phase: c.phase,
                config,
            });
        }
        let mut config = Config {
            path: path.to_path_buf(),
            stack: Stack {
                compose_file: resolve(&raw.stack.compose_file),
                project: overrides.project.clone().unwrap_or(raw.stack.project),
                env_file,
                state_dir: overrides
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| resolve(&raw.stack.state_dir)),
                wait_timeout: raw.stack.wait_timeout,
                services: raw
                    .stack
                    .services
                    .into_iter()
                    .map(|(name, s)| {
                        let key = s
                            .key
                            .unwrap_or_else(|| name.to_ascii_uppercase().replace('-', "_"));
                        (name, key)
                    })
                    .collect(),
            },
            checks,
            secrets,
        };
        if let Some(url) = &overrides.health_url {
            config.override_health_url(url)?;
        }
        config.validate()?;
        Ok(config)
    }

    fn override_health_url(&mut self, url: &str) -> anyhow::Result<()> {
        let Some(check) = self.checks.iter_mut().find(|c| c.name == "health") else {
            bail!(
                "--health-url given, but {} has no check named `health`",
                self.path.display()
            );
        };
        let mut config: serde_json::Value = serde_json::from_str(&check.config)?;
        config["url"] = serde_json::Value::String(url.to_string());
        check.config = config.to_string();
        check.grants.allow_http.push(url.to_string());
        Ok(())
    }

    /// Everything that can be checked without Docker or plugins.
    fn validate(&self) -> anyhow::Result<()> {
        let s = &self.stack;
        ensure!(
            s.compose_file.is_file(),
            "the compose file {} does not exist (stack.compose_file in {})",
            s.compose_file.display(),
            self.path.display()
        );
        ensure!(
            !s.services.is_empty(),
            "stack.services is empty: name the services pitwall deploys"
        );
        ensure!(
            !s.project.is_empty()
                && s.project
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "project name `{}` must be lowercase letters, digits, `-` or `_`",
            s.project
        );
        if let Some(env) = &s.env_file {
            ensure!(
                env.is_file(),
                "the env file {} does not exist; create it from deploy/.env.production.example",
                env.display()
            );
            ensure_untracked(env)?;
        }
        let mut names = std::collections::BTreeSet::new();
        for c in &self.checks {
            ensure!(
                names.insert(&c.name),
                "two checks are named `{}`: names must be unique",
                c.name
            );
            ensure!(
                c.successes >= 1,
                "check `{}`: successes must be at least 1",
                c.name
            );
            ensure!(
                c.failure_limit >= 1,
                "check `{}`: failure_limit must be at least 1",
                c.name
            );
            ensure!(
                c.timeout > Duration::ZERO,
                "check `{}`: timeout must be above 0",
                c.name
            );
            c.grants
                .validate()
                .map_err(|e| anyhow::anyhow!("check `{}`: {e}", c.name))?;
            for svc in &c.grants.allow_logs {
                ensure!(
                    s.services.contains_key(svc),
                    "check `{}`: allow_logs names `{svc}`, which is not in stack.services",
                    c.name
                );
            }
        }
        Ok(())
    }
}

/// Refuses an env file that git tracks: it holds secrets.
fn ensure_untracked(env: &Path) -> anyhow::Result<()> {
    let Some(dir) = env.parent() else {
        return Ok(());
    };
    let Some(name) = env.file_name() else {
        return Ok(());
    };
    let tracked = std::process::Command::new("git")
        .arg("-C")
        .arg(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .args(["ls-files", "--error-unmatch", "--"])
        .arg(name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ensure!(
        !tracked,
        "the env file {} is tracked by git; it holds secrets: `git rm --cached` it and add it to .gitignore",
        env.display()
    );
    Ok(())
}

pub fn read_env_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let iter = dotenvy::from_path_iter(path)
        .with_context(|| format!("cannot read the env file {}", path.display()))?;
    let mut out = BTreeMap::new();
    for item in iter {
        let (k, v) =
            item.with_context(|| format!("the env file {} has a malformed line", path.display()))?;
        out.insert(k, v);
    }
    Ok(out)
}

fn expand_all(value: &mut toml::Value, vars: &BTreeMap<String, String>) -> anyhow::Result<()> {
    match value {
        toml::Value::String(s) => *s = expand(s, vars)?,
        toml::Value::Array(a) => a.iter_mut().try_for_each(|v| expand_all(v, vars))?,
        toml::Value::Table(t) => t.iter_mut().try_for_each(|(_, v)| expand_all(v, vars))?,
        _ => {}
    }
    Ok(())
}

/// Expands `${NAME}` and `${NAME:-default}`; leaves other `$` text alone
/// (e.g. `${release_id}`, which checks expand themselves, is kept when no
/// such variable exists and it has no default).
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bail!("unclosed `${{` in `{text}`");
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let is_env_name = name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        match (vars.get(name), default) {
            (Some(v), _) if is_env_name => out.push_str(v),
            (_, Some(d)) => out.push_str(d),
            _ => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_uses_vars_then_defaults_and_keeps_check_placeholders() {
        let vars = BTreeMap::from([("FRONTEND_PORT".to_string(), "18080".to_string())]);
        assert_eq!(
            expand("http://h:${FRONTEND_PORT:-8080}/", &vars).unwrap(),
            "http://h:18080/"
        );
        assert_eq!(expand("${MISSING:-x}", &vars).unwrap(), "x");
        assert_eq!(expand("v=${release_id}", &vars).unwrap(), "v=${release_id}");
        assert!(expand("${OPEN", &vars).is_err());
    }
}
