//! `[[notify]]` and `[hooks]`: what can be wrong, as (setting, problem).

use std::time::Duration;

use super::super::{Config, Hook, Notify, Stage};

/// The most retries a webhook may ask for, and the longest attempt: a
/// notification must never hold up the end of a deploy for long.
const MAX_RETRIES: u32 = 10;
const MAX_NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// Every problem, each with the setting it is about (`notify[1].url`).
pub(in crate::config) fn problems(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, n) in config.notify.iter().enumerate() {
        let mut at = |key: &str, problem: String| out.push((format!("notify[{i}].{key}"), problem));
        if let Some(problem) = url_problem(n) {
            at("url", problem);
        }
        if n.on.is_empty() {
            at(
                "on",
                "is empty, so nothing is ever sent: name outcomes (released, restored, rolled_back, not_recovered, refused) or leave `on` out for all of them".into(),
            );
        }
        if n.retries > MAX_RETRIES {
            at(
                "retries",
                format!(
                    "is {}; at most {MAX_RETRIES}, so a receiver that is down cannot hold up the end of a deploy",
                    n.retries
                ),
            );
        }
        if n.timeout.is_zero() || n.timeout > MAX_NOTIFY_TIMEOUT {
            at(
                "timeout",
                format!(
                    "is {}; give a time between 1ms and {}",
                    humantime::format_duration(n.timeout),
                    humantime::format_duration(MAX_NOTIFY_TIMEOUT)
                ),
            );
        }
    }
    for stage in [Stage::PreDeploy, Stage::PostDeploy, Stage::OnFailure] {
        if let Some(hook) = config.hooks.get(stage) {
            let at = |key: &str| format!("hooks.{}.{key}", stage.as_str());
            if let Some(problem) = command_problem(hook) {
                out.push((at("command"), problem));
            }
            if hook.timeout.is_zero() {
                out.push((
                    at("timeout"),
                    "is 0: give the hook time to run, e.g. \"5m\"".into(),
                ));
            }
        }
    }
    out
}

/// The URL is often a secret: a problem names its scheme at most.
fn url_problem(n: &Notify) -> Option<String> {
    if n.url.contains("${") {
        return Some(
            "uses a ${VAR} that is not set: define it in the env file or the environment (the URL itself is not shown: it may hold a secret)".into(),
        );
    }
    match reqwest::Url::parse(&n.url) {
        Err(e) => Some(format!(
            "is not a URL ({e}); give http(s)://HOST/PATH (the value is not shown: it may hold a secret)"
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Some(format!(
            "has the scheme `{}`; webhooks are sent over https:// (or http://)",
            u.scheme()
        )),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            Some("names no host; give http(s)://HOST/PATH".into())
        }
        Ok(_) => None,
    }
}

fn command_problem(hook: &Hook) -> Option<String> {
    match hook.command.first() {
        None => Some(
            "is empty: give the program and its arguments, e.g. [\"./scripts/backup.sh\", \"--quick\"] (no shell: use [\"sh\", \"-c\", \"…\"] for one)".into(),
        ),
        Some(program) if program.trim().is_empty() => {
            Some("names no program: its first element is empty".into())
        }
        Some(_) => None,
    }
}
