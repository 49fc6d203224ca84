//! Everything about a loaded configuration that can be checked without
//! Docker or plugins, as findings: `validate` lists them all, a deploy
//! refuses at the first error.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Config, EngineKind, locate};
use crate::engine::{Switch, port_conflicts, preview_exposure, socket_exposure};

mod announce;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A deploy would be refused, or would fail for a reason that is not
    /// the release's.
    Error,
    /// Worth a look; a deploy goes ahead.
    Warning,
}

/// One problem, with the setting it is about (`checks[2].successes`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn error(setting: Option<String>, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            setting,
            message: message.into(),
        }
    }

    pub fn warning(setting: Option<String>, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            setting,
            message: message.into(),
        }
    }

    /// `FILE:LINE: SETTING: MESSAGE`, the line found in `text` (the file's
    /// contents), as compilers print it so editors can jump to it.
    pub fn display_in(&self, file: &Path, text: &str) -> String {
        let line = self.setting.as_deref().and_then(|s| locate::line(text, s));
        let place = match line {
            Some(l) => format!("{}:{l}", file.display()),
            None => file.display().to_string(),
        };
        match &self.setting {
            Some(s) => format!("{place}: {s}: {}", self.message),
            None => format!("{place}: {}", self.message),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.setting {
            Some(s) => write!(f, "{s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Whether the env file must be here: a deploy needs it; `validate` and the
/// read-only commands run where the secrets are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Required,
    Optional,
}

impl Config {
    /// Everything that can be checked without Docker or plugins.
    pub fn findings(&self, secrets: Secrets) -> Vec<Finding> {
        let mut out = Vec::new();
        let s = &self.stack;
        if !s.compose_file.is_file() {
            out.push(Finding::error(
                Some("stack.compose_file".into()),
                format!(
                    "the compose file {} does not exist",
                    s.compose_file.display()
                ),
            ));
        }
        if s.services.is_empty() {
            out.push(Finding::error(
                Some("stack.services".into()),
                "no services: name the services pitwall deploys ([stack.services.NAME])",
            ));
        }
        if !valid_project_name(&s.project) {
            out.push(Finding::error(
                Some("stack.project".into()),
                format!(
                    "project name `{}` must be lowercase letters, digits, `-` or `_`, starting with a letter or digit (compose's rule)",
                    s.project
                ),
            ));
        }
        if let Some(env) = &s.env_file {
            if !env.is_file() {
                let example = PathBuf::from(format!("{}.example", env.display()));
                let message = if example.is_file() {
                    format!(
                        "the env file {} does not exist; create it from {}",
                        env.display(),
                        example.display()
                    )
                } else {
                    format!(
                        "the env file {} does not exist (and there is no {} to start from): \
                         create it with the variables the compose file uses",
                        env.display(),
                        example.display()
                    )
                };
                out.push(match secrets {
                    Secrets::Required => Finding::error(Some("stack.env_file".into()), message),
                    Secrets::Optional => Finding::warning(
                        Some("stack.env_file".into()),
                        format!(
                            "{message} (fine where the secrets are not kept; a deploy needs it)"
                        ),
                    ),
                });
            } else if let Some(problem) = tracked_by_git(env) {
                out.push(Finding::error(Some("stack.env_file".into()), problem));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, c) in self.checks.iter().enumerate() {
            let at = |key: &str| Some(format!("checks[{i}].{key}"));
            if !names.insert(&c.name) {
                out.push(Finding::error(
                    at("name"),
                    format!("two checks are named `{}`: names must be unique", c.name),
                ));
            }
            if c.successes < 1 {
                out.push(Finding::error(at("successes"), "must be at least 1"));
            }
            if c.failure_limit < 1 {
                out.push(Finding::error(at("failure_limit"), "must be at least 1"));
            }
            if let Some(pin) = &c.sha256
                && !(pin.len() == 64 && pin.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            {
                out.push(Finding::error(
                    at("sha256"),
                    format!("\"{pin}\" is not a SHA-256: 64 lowercase hex digits, as `pitwall check inspect` prints them"),
                ));
            }
            if let Err(e) = c.grants.validate() {
                out.push(Finding::error(at("allow_http"), e));
            }
            for svc in &c.grants.allow_logs {
                if !s.services.contains_key(svc) {
                    out.push(Finding::error(
                        at("allow_logs"),
                        format!("names `{svc}`, which is not in stack.services"),
                    ));
                }
            }
            out.extend(ungranted_urls(i, c));
        }
        let blue_green: Vec<&String> = s
            .switches
            .iter()
            .filter(|(_, w)| **w == Switch::BlueGreen)
            .map(|(service, _)| service)
            .collect();
        for service in &blue_green {
            let at = Some(format!("stack.services.{service}.switch"));
            if s.engine == EngineKind::Swarm {
                out.push(Finding::error(
                    at.clone(),
                    "`blue-green` is for the compose engine: on Swarm, a service's tasks share \
                     one name and (without an ingress mesh or VIPs here) the proxy cannot be \
                     pointed at one release's tasks; use the swarm engine's start-first update, \
                     or the compose engine",
                ));
            }
            if s.traffic.is_none() {
                out.push(Finding::error(
                    at.clone(),
                    "`blue-green` needs a [traffic] section naming the proxy service, its admin \
                     socket and its preview port (see README \"Blue-green releases\")",
                ));
            }
            if !s.ports.contains_key(*service) {
                out.push(Finding::error(
                    Some(format!("stack.services.{service}")),
                    format!(
                        "`blue-green` needs `port`: the port `{service}`'s container listens on, \
                         which the proxy connects to"
                    ),
                ));
            }
        }
        if let Some(t) = &s.traffic {
            if blue_green.is_empty() {
                out.push(Finding::warning(
                    Some("traffic".into()),
                    "no service has switch = \"blue-green\": [traffic] is unused",
                ));
            }
            if s.services.contains_key(&t.proxy)
                && s.switches.get(&t.proxy) != Some(&Switch::Recreate)
            {
                out.push(Finding::error(
                    Some(format!("stack.services.{}.switch", t.proxy)),
                    "the proxy steers the switch: it cannot be switched itself; leave it \
                     `recreate`",
                ));
            }
        }
        for (service, _) in s.ports.iter().filter(|(svc, _)| !blue_green.contains(svc)) {
            out.push(Finding::warning(
                Some(format!("stack.services.{service}.port")),
                "`port` is only used by switch = \"blue-green\"",
            ));
        }
        if s.engine == EngineKind::Swarm {
            for (service, _) in s.switches.iter().filter(|(_, w)| **w == Switch::StartFirst) {
                out.push(Finding::warning(
                    Some(format!("stack.services.{service}.switch")),
                    "`switch` is for the compose engine; the swarm engine switches every service \
                     start-first wherever its host ports allow",
                ));
            }
        }
        out.extend(
            announce::problems(self)
                .into_iter()
                .map(|(setting, problem)| Finding::error(Some(setting), problem)),
        );
        out
    }
}

impl Config {
    /// The services set to `switch = "start-first"` that publish host ports
    /// (`published`: service → ports, from the compose tool): two containers
    /// cannot share a host port, so the switch would fail part-way.
    pub fn switch_findings(
        &self,
        published: &BTreeMap<String, Vec<String>>,
        resolved: &str,
    ) -> Vec<Finding> {
        if self.stack.engine != EngineKind::Compose {
            return Vec::new();
        }
        let mut out: Vec<Finding> = port_conflicts(&self.stack.switches, published)
            .into_iter()
            .map(|(service, why)| {
                Finding::error(Some(format!("stack.services.{service}.switch")), why)
            })
            .collect();
        if let Some(t) = &self.stack.traffic {
            out.extend(
                preview_exposure(published, &t.proxy, t.preview_port)
                    .map(|why| Finding::error(Some("traffic.preview_port".into()), why)),
            );
            out.extend(
                socket_exposure(resolved, &t.proxy, &t.admin_socket)
                    .map(|why| Finding::error(Some("traffic.admin_socket".into()), why)),
            );
        }
        out
    }
}

/// A check whose configuration names a target URL (a key ending in `url`)
/// that its `allow_http` does not cover can only be denied: the release
/// would fail and be rolled back for a mistake in this file.
fn ungranted_urls(index: usize, check: &super::CheckSpec) -> Vec<Finding> {
    fn walk(value: &serde_json::Value, at: &str, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let here = format!("{at}.{k}");
                    match v {
                        serde_json::Value::String(url)
                            if k.to_ascii_lowercase().ends_with("url")
                                && (url.starts_with("http://") || url.starts_with("https://")) =>
                        {
                            out.push((here, url.clone()));
                        }
                        _ => walk(v, &here, out),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{at}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let Ok(config) = serde_json::from_str::<serde_json::Value>(&check.config) else {
        return Vec::new();
    };
    let mut urls = Vec::new();
    walk(&config, &format!("checks[{index}].config"), &mut urls);
    urls.into_iter()
        .filter_map(|(at, url)| {
            let denied = check.grants.check_http("GET", &url).err()?;
            Some(Finding::error(
                Some(at),
                format!(
                    "check `{}` would be refused its own target: {denied}",
                    check.name
                ),
            ))
        })
        .collect()
}

/// An env file that git tracks holds secrets in the repository.
fn tracked_by_git(env: &Path) -> Option<String> {
    let dir = env.parent()?;
    let name = env.file_name()?;
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
    tracked.then(|| {
        format!(
            "the env file {} is tracked by git; it holds secrets: `git rm --cached` it and add it to .gitignore",
            env.display()
        )
    })
}

/// Compose's rule for project names.
fn valid_project_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(allowed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn project_names_follow_composes_rule() {
        for ok in ["shop", "pwtest-pull-123", "a_b", "9lives"] {
            assert!(super::valid_project_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Shop",
            "-shop",
            "_shop",
            "shop.prod",
            "shop prod",
            "shöp",
        ] {
            assert!(!super::valid_project_name(bad), "{bad}");
        }
    }
}
