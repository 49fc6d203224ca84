//! `pitwall.toml`: the stack and its checks, validated before anything is
//! touched. Strings may use `${VAR}` / `${VAR:-default}`, resolved from the
//! environment, then from the env file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

pub use announce::{Hook, Hooks, Notify, NotifyFormat, Outcome, Stage};
pub use env_file::read_env_file;

use crate::checks::{Grants, Limits, Source};
use crate::engine::Switch;
use expand::{compose_references, compose_variables, expand, expand_all, references_in};
use file::RawConfig;

mod announce;
mod env_file;
mod expand;
mod file;
mod locate;
mod steps;
mod validate;

pub use locate::line as line_of;
pub use steps::Step;
pub use validate::{Finding, Secrets, Severity};

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration file lives; relative paths start here.
    pub path: PathBuf,
    pub stack: Stack,
    pub checks: Vec<CheckSpec>,
    /// Webhooks told how a deploy, rollback or recovery ended.
    pub notify: Vec<Notify>,
    pub hooks: Hooks,
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
    /// What runs the stack.
    pub engine: EngineKind,
    /// Service → key. The key names the compose variable (`KEY_IMAGE`) and
    /// the state.env pointers (`CURRENT_KEY_IMAGE`).
    pub services: BTreeMap<String, String>,
    /// Service → how it moves to a new release (`switch =`).
    pub switches: BTreeMap<String, Switch>,
    /// Service → the port its container listens on (`port =`).
    pub ports: BTreeMap<String, u16>,
    /// The blue-green services' proxy.
    pub traffic: Option<Traffic>,
}

/// `[traffic]`, its paths resolved.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub proxy: String,
    pub admin_socket: PathBuf,
    pub preview_port: u16,
    pub keep_previous: Duration,
    /// A canary promotion's steps; empty: all users at once.
    pub steps: Vec<Step>,
}

/// What runs a stack: the same compose file either way.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// `docker compose` on this host (`up -d`).
    #[default]
    Compose,
    /// A Docker Swarm stack (`docker stack deploy`), driven from a manager.
    Swarm,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Gates the release right after `up`.
    Verify,
    /// Keeps running through the soak window after verify passed.
    Watch,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Verify => "verify",
            Phase::Watch => "watch",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub name: String,
    pub plugin: String,
    /// The SHA-256 the check's component bytes must have (`sha256 =`); for
    /// `oci://` this pins the component, as `@sha256:` pins the manifest.
    pub sha256: Option<String>,
    pub phase: Phase,
    /// Whether a failure gates the release (`enforce = false`: it is run,
    /// recorded and reported only, e.g. to trial a new check).
    pub enforce: bool,
    /// Pause between attempts.
    pub interval: Duration,
    /// Budget (time, memory, output caps) of one attempt.
    pub limits: Limits,
    /// Verify phase: give up after this long.
    pub deadline: Duration,
    /// Verify phase, before the check's first pass: for this long an attempt
    /// that got no response from its target is "not up yet", not a failure.
    pub startup: Duration,
    /// Consecutive passes needed (verify phase).
    pub successes: u32,
    /// Failed attempts (fail or error) that fail the check.
    pub failure_limit: u32,
    pub grants: Grants,
    /// The check's own configuration, as JSON text.
    pub config: String,
}

/// A file that is not a pitwall configuration: an unknown key, a missing
/// one, a value of the wrong type, at its setting and line.
#[derive(Debug)]
pub struct ShapeError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub finding: Finding,
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.finding),
            None => write!(f, "{}: {}", self.file.display(), self.finding),
        }
    }
}

impl std::error::Error for ShapeError {}

/// The JSON Schema of `pitwall.toml`.
pub fn schema() -> schemars::Schema {
    /// TOML has no null: a key left out is how a value is unset.
    fn without_null(value: &mut serde_json::Value) {
        let serde_json::Value::Object(o) = value else {
            return;
        };
        if o.get("default").is_some_and(serde_json::Value::is_null) {
            o.remove("default");
        }
        if let Some(serde_json::Value::Array(types)) = o.get_mut("type") {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                let only = only.clone();
                o.insert("type".into(), only);
            }
        }
        o.values_mut().for_each(without_null);
    }
    let mut schema = schemars::schema_for!(RawConfig);
    if let Some(o) = schema.as_object_mut() {
        o.values_mut().for_each(without_null);
    }
    schema
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
    /// Reads and validates the configuration for a command that changes the
    /// stack: the first problem is an error.
    pub fn load(path: &Path, overrides: &Overrides) -> anyhow::Result<Config> {
        let config = Config::read(path, overrides)?;
        // Read once for the line numbers of every error.
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let errors: Vec<String> = config
            .findings(Secrets::Required)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.display_in(path, &text))
            .collect();
        if !errors.is_empty() {
            bail!(
                "{}\n(`pitwall validate` lists every problem without Docker or secrets)",
                errors.join("\n")
            );
        }
        Ok(config)
    }

    /// Reads the configuration without requiring what only a deploy host
    /// has (the env file, the compose file): enough for the read-only
    /// commands and for `validate`, which reports the rest as findings.
    pub fn read(path: &Path, overrides: &Overrides) -> anyhow::Result<Config> {
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

        // The env file is needed first: `${VAR}` may refer to it. The process
        // environment is read once and overrides both; a variable that is not
        // UTF-8 cannot be interpolated and is skipped (`env::vars` panics).
        let process: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let mut value: toml::Value = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        let env_file = match (
            &overrides.env_file,
            value.get("stack").and_then(|s| s.get("env_file")),
        ) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(v)) => {
                let raw = v.as_str().context("stack.env_file must be a path")?;
                Some(resolve(Path::new(&expand(raw, &process)?)))
            }
            (None, None) => None,
        };
        // A missing env file is reported by `validate`, with what to do.
        let mut vars: BTreeMap<String, String> = match &env_file {
            Some(f) if f.is_file() => read_env_file(f, "the env file")?,
            _ => BTreeMap::new(),
        };
        // Before anything can fail on them: an error below may quote one.
        // A value the process environment gives an entry (a CI secret) is as
        // secret as the file's; one this file refers to, by its name.
        let overriding = vars.keys().filter_map(|k| process.get(k).cloned());
        let mut secrets: Vec<String> = vars.values().cloned().chain(overriding).collect();
        secrets.extend(from_process(references_in(&value), &process));
        crate::report::remember(&secrets);
        let env_entries = vars.clone();
        announce::refuse_env_file_in_commands(&value, &env_entries)?;
        vars.extend(process.clone());
        expand_all(&mut value, &vars)?;

        if let Some(stack) = value.get_mut("stack").and_then(|s| s.as_table_mut()) {
            stack.remove("env_file");
        }
        let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let setting = e.path().to_string();
            ShapeError {
                file: path.to_path_buf(),
                line: line_of(&text, &setting),
                finding: Finding::error(Some(setting), e.into_inner().message().to_string()),
            }
        })?;
        let d = raw.defaults;
        let mut checks = Vec::new();
        for c in raw.checks {
            let config = serde_json::to_string(&c.config).context("check config to JSON")?;
            let limits = Limits::with(
                c.timeout.unwrap_or(d.timeout),
                c.memory_mb.unwrap_or(d.memory_mb),
            )
            .map_err(|e| anyhow::anyhow!("check `{}`: {e}", c.name))?;
            checks.push(CheckSpec {
                interval: c.interval.unwrap_or(d.interval),
                limits,
                deadline: c.deadline.unwrap_or(d.deadline),
                startup: c.startup.unwrap_or(d.startup),
                successes: c.successes.unwrap_or(d.successes),
                failure_limit: c.failure_limit.unwrap_or(d.failure_limit),
                grants: Grants {
                    allow_http: c.allow_http,
                    allow_logs: c.allow_logs,
                },
                name: c.name,
                // A plugin path, like every path in the file, starts at the
                // file's folder; `builtin:` names and `oci://` references
                // are not paths.
                plugin: if Source::is_path(&c.plugin) {
                    resolve(Path::new(&c.plugin)).display().to_string()
                } else {
                    c.plugin
                },
                sha256: c.sha256,
                phase: c.phase,
                enforce: c.enforce,
                config,
            });
        }
        // Compose takes variables from the process environment too, for
        // the compose file and inside the env file. An unreadable file is
        // `validate`'s to report.
        let compose_file = resolve(&raw.stack.compose_file);
        let read = |file: &Path| std::fs::read_to_string(file).unwrap_or_default();
        let mut used = compose_variables(&read(&compose_file));
        if let Some(file) = &env_file {
            used.extend(
                compose_references(&read(file))
                    .into_iter()
                    .map(str::to_string),
            );
        }
        let given = from_process(used, &process);
        crate::report::remember(&given);
        secrets.extend(given);
        let switches = raw
            .stack
            .services
            .iter()
            .map(|(name, s)| (name.clone(), s.switch))
            .collect();
        let ports = raw
            .stack
            .services
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), s.port?)))
            .collect();
        let traffic = match raw.traffic {
            None => None,
            Some(t) => Some(Traffic {
                steps: steps::parse(&t.steps)
                    .map_err(|why| anyhow::anyhow!("{}: traffic.{why}", path.display()))?,
                proxy: t.proxy,
                admin_socket: resolve(&t.admin_socket),
                preview_port: t.preview_port,
                keep_previous: t.keep_previous,
            }),
        };
        let mut config = Config {
            path: path.to_path_buf(),
            stack: Stack {
                compose_file,
                project: overrides.project.clone().unwrap_or(raw.stack.project),
                env_file,
                state_dir: overrides
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| resolve(&raw.stack.state_dir)),
                wait_timeout: raw.stack.wait_timeout,
                engine: raw.stack.engine,
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
                switches,
                ports,
                traffic,
            },
            checks,
            notify: raw.notify.into_iter().map(Notify::from).collect(),
            hooks: Hooks::from_raw(raw.hooks, base.clone(), env_entries),
            secrets,
        };
        if let Some(url) = &overrides.health_url {
            config.override_health_url(url)?;
        }
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
}

/// What of the process environment's values for `names` is secret (see
/// `report::secret_in`).
fn from_process(
    names: impl IntoIterator<Item = String>,
    process: &BTreeMap<String, String>,
) -> Vec<String> {
    names
        .into_iter()
        .filter_map(|n| crate::report::secret_in(&n, process.get(&n)?))
        .collect()
}
