//! Everything about a loaded configuration that can be checked without
//! Docker or plugins.

use std::path::Path;

use anyhow::ensure;

use super::Config;

mod announce;

impl Config {
    /// Everything that can be checked without Docker or plugins.
    pub(super) fn validate(&self) -> anyhow::Result<()> {
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
            valid_project_name(&s.project),
            "project name `{}` must be lowercase letters, digits, `-` or `_`, starting with a letter or digit (compose's rule)",
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
            if let Some(pin) = &c.sha256 {
                ensure!(
                    pin.len() == 64 && pin.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                    "check `{}`: sha256 = \"{pin}\" is not a SHA-256: 64 lowercase hex digits, as `pitwall check inspect` prints them",
                    c.name
                );
            }
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
        if let Some((setting, problem)) = announce::problems(self).into_iter().next() {
            anyhow::bail!("{setting} {problem}");
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
