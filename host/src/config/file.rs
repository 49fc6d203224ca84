//! `pitwall.toml` as written: the serde shape of the file, with its
//! defaults. Unknown keys are errors, so a typo is caught at load time.
//! The same shape is the file's JSON Schema (`pitwall schema config`); the
//! doc comments are its descriptions, which editors show.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{EngineKind, NotifyFormat, Outcome, Phase};
use crate::engine::Switch;

/// pitwall's configuration: the Docker Compose stack and the checks that
/// judge each release. Strings may use `${VAR}` and `${VAR:-default}`,
/// from the environment, then the env file.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pitwall.toml")]
pub(super) struct RawConfig {
    pub(super) stack: RawStack,
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) checks: Vec<RawCheck>,
    /// Webhooks told how each deploy, rollback and recovery ended.
    #[serde(default)]
    pub(super) notify: Vec<RawNotify>,
    /// Commands run before a deploy and after any outcome.
    #[serde(default)]
    pub(super) hooks: RawHooks,
    /// The proxy that switches users between a blue-green service's units.
    #[serde(default)]
    pub(super) traffic: Option<RawTraffic>,
}

/// The traffic switch of `switch = "blue-green"` services: HAProxy, run as
/// a service of the stack (any image: the upstream `haproxy`), driven
/// through its Runtime API on a unix socket only pitwall reaches. Its
/// haproxy.cfg gives each blue-green service SERVICE two backends, `SERVICE`
/// (users) and `SERVICE_preview` (the verify checks, on a listener
/// published on 127.0.0.1 only), each with servers `blue` and `green`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Traffic")]
pub(super) struct RawTraffic {
    /// The compose service running HAProxy.
    pub(super) proxy: String,
    /// The Runtime API's socket on this host (`stats socket PATH mode 600
    /// level admin` in haproxy.cfg, its folder bind-mounted from here into
    /// the proxy alone); relative paths start at pitwall.toml's folder.
    pub(super) admin_socket: PathBuf,
    /// The host port of the preview listener: published on 127.0.0.1 only,
    /// so only this host (and the checks) reach a release before users do.
    pub(super) preview_port: u16,
    /// How long the units users left stay running after a promotion, so
    /// that a rollback is a switch back (no compose `up`).
    #[serde(default = "d_keep_previous", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) keep_previous: Duration,
    /// A canary promotion instead of all users at once: shares of users on
    /// the new release (`"10%"`), watch-check windows at the current share
    /// (`"wait 2m"`) and manual gates (`"pause"`: `pitwall promote` or
    /// `pitwall abort`), ending with `"100%"`.
    #[serde(default)]
    pub(super) steps: Vec<String>,
}

/// The stack pitwall deploys.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = env_file_key)]
#[schemars(rename = "Stack")]
pub(super) struct RawStack {
    /// The compose file (relative paths start at pitwall.toml's folder).
    pub(super) compose_file: PathBuf,
    /// The compose project name (lowercase letters, digits, `-`, `_`).
    pub(super) project: String,
    /// Where state.env, history.jsonl, the lock and incidents live.
    #[serde(default = "default_state_dir")]
    pub(super) state_dir: PathBuf,
    /// How long containers may take to be running (and healthy).
    #[serde(default = "default_wait", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) wait_timeout: Duration,
    /// What runs the stack: `compose` (this host) or `swarm` (a Docker
    /// Swarm stack, driven from a manager node).
    #[serde(default)]
    pub(super) engine: EngineKind,
    /// The services pitwall deploys, by compose service name.
    pub(super) services: BTreeMap<String, RawService>,
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Service")]
pub(super) struct RawService {
    /// Names the compose variable (`KEY_IMAGE`) and the state.env pointers
    /// (`CURRENT_KEY_IMAGE`); default: the service name, uppercase, `-` as
    /// `_`.
    #[serde(default)]
    pub(super) key: Option<String>,
    /// How the service moves to a new release on the compose engine:
    /// `recreate` (compose's `up`: stop, then start), `start-first` (the
    /// new container beside the old, then the old removed: zero downtime,
    /// for a stateless service that publishes no host port) or `blue-green`
    /// (the new container beside the old, judged through the proxy's
    /// preview route before users are moved to it; needs `[traffic]` and
    /// `port`).
    #[serde(default)]
    pub(super) switch: Switch,
    /// The port the service's container listens on, for the proxy
    /// (`switch = "blue-green"` only).
    #[serde(default)]
    pub(super) port: Option<u16>,
}

/// Defaults for every check; each check may override them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Defaults")]
pub(super) struct RawDefaults {
    /// Pause between attempts.
    #[serde(default = "d_interval", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) interval: Duration,
    /// Time budget of one attempt, host calls included (1ms to 1h).
    #[serde(default = "d_timeout", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) timeout: Duration,
    /// Verify phase: give up after this long.
    #[serde(default = "d_deadline", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) deadline: Duration,
    /// Verify phase, before a check first passes: for this long an attempt
    /// that got no answer at all is "not up yet", not a failure.
    #[serde(default = "d_startup", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) startup: Duration,
    /// Consecutive passes needed (verify phase).
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub(super) successes: u32,
    /// Failed attempts (fail or error) that fail the check.
    #[serde(default = "d_failure_limit")]
    #[schemars(range(min = 1))]
    pub(super) failure_limit: u32,
    /// Memory cap of one attempt, in MiB (1 to 4096).
    #[serde(default = "d_memory")]
    #[schemars(range(min = 1, max = 4096))]
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

/// A check: a WebAssembly component, its configuration and what it may
/// reach. Unset limits come from `[defaults]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Check")]
pub(super) struct RawCheck {
    /// Unique among the checks; `health` is the one `--health-url` replaces.
    pub(super) name: String,
    /// `builtin:NAME` (see `pitwall check list`), `oci://HOST/REPO:TAG[@sha256:DIGEST]`
    /// or a path to a `.wasm` component.
    pub(super) plugin: String,
    /// The SHA-256 the component's bytes must have (64 lowercase hex
    /// digits, as `pitwall check inspect` prints it).
    #[serde(default)]
    pub(super) sha256: Option<String>,
    /// `verify` gates the release right after it is applied; `watch` runs
    /// through the soak.
    #[serde(default = "d_phase")]
    pub(super) phase: Phase,
    /// `false`: run, record and report the check, never gate on it (to
    /// trial a new check).
    #[serde(default = "yes")]
    pub(super) enforce: bool,
    /// This check's `[defaults]` values, overridden.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) deadline: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) startup: Option<Duration>,
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub(super) successes: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub(super) failure_limit: Option<u32>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 4096))]
    pub(super) memory_mb: Option<usize>,
    /// URL prefixes the check may send HTTP requests to. Nothing is granted
    /// by default.
    #[serde(default)]
    pub(super) allow_http: Vec<String>,
    /// Compose services whose containers and logs the check may read.
    #[serde(default)]
    pub(super) allow_logs: Vec<String>,
    /// The check's own configuration (`pitwall check inspect PLUGIN` says
    /// what it takes).
    #[serde(default = "empty_table")]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub(super) config: toml::Value,
}

/// A `[[notify]]` webhook.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Notify")]
pub(super) struct RawNotify {
    /// Where to POST (http or https); may be a `${VAR}` from the env file.
    pub(super) url: String,
    /// `json` (the history record) or `slack` (`{"text": …}`).
    #[serde(default)]
    pub(super) format: NotifyFormat,
    /// The outcomes to send; default: all of them.
    #[serde(default = "every_outcome")]
    pub(super) on: Vec<Outcome>,
    /// Time budget of one attempt (at most 60s).
    #[serde(default = "d_notify_timeout", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) timeout: Duration,
    /// Attempts after the first, with backoff (at most 10).
    #[serde(default = "d_retries")]
    #[schemars(range(max = 10))]
    pub(super) retries: u32,
}

/// Commands run around a deploy.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Hooks")]
pub(super) struct RawHooks {
    /// Under the lock, before anything is pulled: a failure refuses the deploy.
    #[serde(default)]
    pub(super) pre_deploy: Option<RawHook>,
    /// After released or restored.
    #[serde(default)]
    pub(super) post_deploy: Option<RawHook>,
    /// After rolled back or not recovered.
    #[serde(default)]
    pub(super) on_failure: Option<RawHook>,
}

/// One hook: a program and its arguments (no shell).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Hook")]
pub(super) struct RawHook {
    /// The program and its arguments, e.g. `["./scripts/backup.sh", "--quick"]`.
    pub(super) command: Vec<String>,
    #[serde(default = "d_hook_timeout", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub(super) timeout: Duration,
    /// Pass the env file's entries to the hook's environment.
    #[serde(default)]
    pub(super) env_file: bool,
}

/// A duration as pitwall.toml writes it, humantime text; only its schema
/// is used (serde reads it with humantime_serde).
struct HumanDuration;

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: numbers with units, summed (humantime: ms, s, m, h, d; e.g. 500ms, 10s, 2m, 1h 30m), or a ${VAR} that expands to one.",
            "pattern": DURATION_PATTERN,
            "examples": ["500ms", "10s", "2m", "1h 30m"],
        })
    }
}

/// What humantime parses (or a `${VAR}` expansion, checked at load time).
pub(super) const DURATION_PATTERN: &str = r"^\s*([0-9]+(\.[0-9]+)?\s*(nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y)\s*)+$|\$\{";

/// `stack.env_file` is read (and removed) before the rest of the file is
/// deserialized, since `${VAR}`s may come from it; the schema still lists it.
fn env_file_key(schema: &mut schemars::Schema) {
    if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        properties.insert(
            "env_file".into(),
            serde_json::json!({
                "type": "string",
                "description": "The env file for compose and for ${VAR}s (its values never appear in pitwall's output); --env-file overrides it.",
            }),
        );
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("releases")
}
fn default_wait() -> Duration {
    Duration::from_secs(60)
}
fn d_keep_previous() -> Duration {
    Duration::from_secs(300)
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
fn one() -> u32 {
    1
}
fn d_failure_limit() -> u32 {
    3
}
fn d_memory() -> usize {
    64
}
fn yes() -> bool {
    true
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
fn d_phase() -> Phase {
    Phase::Verify
}
fn empty_table() -> toml::Value {
    toml::Value::Table(Default::default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_duration_pattern_takes_what_humantime_parses() {
        let pattern = regex::Regex::new(super::DURATION_PATTERN).unwrap();
        for text in [
            "500ms",
            "10s",
            "2m",
            "1h 30m",
            "1h30m",
            "1.5s",
            " 2 min ",
            "3 days",
            "1µs",
            "60",
            "5 parsecs",
            "",
            "s",
            "-1s",
            "1s,",
            "1e3ms",
        ] {
            assert_eq!(
                pattern.is_match(text),
                humantime::parse_duration(text).is_ok(),
                "{text:?}"
            );
        }
        assert!(pattern.is_match("${WAIT:-90s}"), "expanded at load time");
    }
}
