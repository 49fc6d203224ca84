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

#[cfg(test)]
mod tests {
    use crate::config::{Config, Overrides};

    /// The error loading a configuration with `extra` appended, or "" if
    /// it loads.
    fn load(extra: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yml"), "services: {}\n").unwrap();
        std::fs::write(dir.path().join(".env"), "API_TOKEN=tok-5ecret-zq9\n").unwrap();
        let file = dir.path().join("pitwall.toml");
        std::fs::write(
            &file,
            format!(
                "[stack]\ncompose_file = \"compose.yml\"\nproject = \"shop\"\nenv_file = \".env\"\n[stack.services.api]\n{extra}"
            ),
        )
        .unwrap();
        match Config::load(&file, &Overrides::default()) {
            Ok(_) => String::new(),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn webhooks_and_hooks_that_are_well_formed_load() {
        let ok = load(
            "[[notify]]\nurl = \"https://hooks.example.com/T0KEN\"\nformat = \"slack\"\non = [\"refused\"]\n\
             [hooks.pre_deploy]\ncommand = [\"sh\", \"-c\", \"echo $API_TOKEN\"]\nenv_file = true\n",
        );
        assert_eq!(ok, "");
    }

    #[test]
    fn a_bad_webhook_url_is_named_by_its_setting_never_shown() {
        for (url, says) in [
            ("ftp://hooks.example.com/T0KEN", "has the scheme `ftp`"),
            ("hooks.example.com/T0KEN", "is not a URL"),
            ("${SLACK_URL_NOT_SET}", "uses a ${VAR} that is not set"),
        ] {
            let e = load(&format!("[[notify]]\nurl = \"{url}\"\n"));
            assert!(e.contains(&format!("notify[0].url: {says}")), "{e}");
            assert!(!e.contains("T0KEN"), "{e}");
        }
    }

    #[test]
    fn unknown_outcomes_an_empty_list_and_unbounded_retries_are_errors() {
        let e = load("[[notify]]\nurl = \"https://h.example\"\non = [\"rolledback\"]\n");
        assert!(
            e.contains("unknown variant `rolledback`") && e.contains("`rolled_back`"),
            "{e}"
        );
        let e = load("[[notify]]\nurl = \"https://h.example\"\non = []\n");
        assert!(e.contains("notify[0].on: is empty"), "{e}");
        let e = load("[[notify]]\nurl = \"https://h.example\"\nretries = 50\n");
        assert!(e.contains("notify[0].retries: is 50; at most 10"), "{e}");
        let e = load("[[notify]]\nurl = \"https://h.example\"\nformat = \"teams\"\n");
        assert!(e.contains("unknown variant `teams`"), "{e}");
    }

    #[test]
    fn a_hook_needs_a_program_and_may_not_put_the_env_file_on_its_command_line() {
        let e = load("[hooks.post_deploy]\ncommand = []\n");
        assert!(e.contains("hooks.post_deploy.command: is empty"), "{e}");
        let e = load("[hooks.on_failure]\ncommand = [\"\"]\n");
        assert!(
            e.contains("hooks.on_failure.command: names no program"),
            "{e}"
        );
        let e = load(
            "[hooks.pre_deploy]\ncommand = [\"curl\", \"-H\", \"token: ${API_TOKEN}\"]\nenv_file = true\n",
        );
        assert!(
            e.contains("hooks.pre_deploy.command uses ${API_TOKEN}, an env file entry"),
            "{e}"
        );
        assert!(!e.contains("tok-5ecret"), "{e}");
    }
}
