//! `pitwall validate`: everything about a stack that can be checked without
//! Docker and without the secrets, every problem listed with the file, line
//! and setting to fix. Run it in CI on every change to `deploy/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use regex::Regex;
use schemars::JsonSchema;
use serde::Serialize;

use super::stack::{compose_file, overrides};
use crate::checks::{Cache, Compiler, Runtime};
use crate::cli::StackArgs;
use crate::config::{Config, EngineKind, Finding, Secrets, Severity, ShapeError, read_env_file};
use crate::engine::Switch;
use crate::exit::Exit;
use crate::report::{self, Redactor};
use crate::rollout::preflight::load_checks;

/// A finding with the file (and line) it is about.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Located {
    severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    setting: Option<String>,
    message: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Validation {
    valid: bool,
    findings: Vec<Located>,
    /// What was checked, in words.
    checked: Vec<String>,
}

pub async fn validate(stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let mut v = Validation {
        valid: true,
        findings: Vec::new(),
        checked: Vec::new(),
    };
    let config_text = std::fs::read_to_string(&stack.config).unwrap_or_default();
    match Config::read(&stack.config, &overrides(stack)) {
        Err(e) => v.findings.push(match e.downcast_ref::<ShapeError>() {
            Some(shape) => Located {
                severity: Severity::Error,
                file: Some(shape.file.clone()),
                line: shape.line,
                setting: shape.finding.setting.clone(),
                message: shape.finding.message.clone(),
            },
            // The message names the file.
            None => Located {
                severity: Severity::Error,
                file: None,
                line: None,
                setting: None,
                message: format!("{e:#}"),
            },
        }),
        Ok(config) => {
            v.findings.extend(
                config
                    .findings(Secrets::Optional)
                    .into_iter()
                    .map(|f| in_config(&config, &config_text, f)),
            );
            v.checked
                .push(format!("configuration {}", config.path.display()));
            compose(&config, &config_text, &mut v).await;
            checks(&config, &config_text, &mut v).await;
        }
    }
    v.valid = v.findings.iter().all(|f| f.severity != Severity::Error);
    // A message may quote an env file value, e.g. one interpolated into a
    // setting that wants a number.
    let redactor = Redactor::process();
    for f in &mut v.findings {
        f.message = redactor.apply(&f.message);
    }
    print(&v, stack.json)?;
    Ok(if v.valid { Exit::Ok } else { Exit::Refused }.into())
}

/// A finding about the configuration file `config` (its text: `text`), at
/// the line of its setting.
fn in_config(config: &Config, text: &str, f: Finding) -> Located {
    Located {
        line: f
            .setting
            .as_deref()
            .and_then(|s| crate::config::line_of(text, s)),
        severity: f.severity,
        file: Some(config.path.clone()),
        setting: f.setting,
        message: f.message,
    }
}

/// The compose file: parsed by the compose tool, its variables against the
/// env file's keys (never its values), its services against `stack.services`,
/// its published ports against the start-first switches.
async fn compose(config: &Config, config_text: &str, v: &mut Validation) {
    let s = &config.stack;
    let Ok(text) = std::fs::read_to_string(&s.compose_file) else {
        return; // A missing compose file is a configuration finding.
    };
    let at = |needle: &str| {
        text.find(needle)
            .map(|i| text[..i].matches('\n').count() + 1)
    };
    let mut finding = |severity, line, message: String| {
        v.findings.push(Located {
            severity,
            file: Some(s.compose_file.clone()),
            line,
            setting: None,
            message,
        })
    };
    let image_vars: BTreeMap<String, &String> = s
        .services
        .iter()
        .map(|(service, key)| (format!("{key}_IMAGE"), service))
        .collect();
    let used = variables(&text);
    for (var, service) in &image_vars {
        if !used.contains_key(var) {
            finding(
                Severity::Error,
                None,
                format!(
                    "service `{service}` is deployed by pitwall, but the compose file never uses ${{{var}}}: \
                     write `image: ${{{var}}}` in its service so a release's image reaches it"
                ),
            );
        }
    }

    // The env file, or where the secrets are not kept, its example.
    let env = s.env_file.as_ref().and_then(|e| {
        if e.is_file() {
            Some((e.clone(), "the env file"))
        } else {
            let example = PathBuf::from(format!("{}.example", e.display()));
            example
                .is_file()
                .then_some((example, "the env file's example"))
        }
    });
    let keys: Option<BTreeSet<String>> = match &env {
        Some((path, what)) => match read_env_file(path, what) {
            Ok(map) => Some(map.into_keys().collect()),
            Err(e) => {
                finding(Severity::Error, None, format!("{e:#}"));
                None
            }
        },
        None => None,
    };
    if let (Some(keys), Some((path, what))) = (&keys, &env) {
        for (var, required) in &used {
            let set = keys.contains(var)
                || image_vars.contains_key(var)
                || std::env::var_os(var).is_some();
            if *required && !set {
                finding(
                    Severity::Error,
                    at(&format!("${{{var}")).or_else(|| at(&format!("${var}"))),
                    format!(
                        "the compose file uses ${var} without a default, and {what} {} does not set it: add `{var}=` there",
                        path.display()
                    ),
                );
            }
        }
        let in_config = variables(config_text);
        for key in keys {
            if !used.contains_key(key) && !in_config.contains_key(key) {
                finding(
                    Severity::Warning,
                    None,
                    format!(
                        "{what} {} sets {key}, which neither the compose file nor pitwall.toml uses (a typo?)",
                        path.display()
                    ),
                );
            }
        }
        v.checked.push(format!(
            "compose variables against the keys of {}",
            path.display()
        ));
    } else {
        finding(
            Severity::Warning,
            None,
            "no env file (nor its .example) here: the compose file's variables were not checked against it"
                .to_string(),
        );
    }

    // The compose tool's own parser, given the same env file.
    let mut with_env = config.clone();
    with_env.stack.env_file = env.map(|(p, _)| p);
    let file = match compose_file(&with_env).await {
        Ok(f) => f,
        Err(e) => {
            finding(
                Severity::Warning,
                None,
                format!("the compose file was not parsed by a compose tool: {e:#}"),
            );
            return;
        }
    };
    let redactor = Redactor::new(config.secrets.clone());
    match file.services().await {
        Ok(services) => {
            for service in s.services.keys() {
                if !services.contains(service) {
                    v.findings.push(Located {
                        severity: Severity::Error,
                        file: Some(config.path.clone()),
                        line: crate::config::line_of(
                            config_text,
                            &format!("stack.services.{service}"),
                        ),
                        setting: Some(format!("stack.services.{service}")),
                        message: format!(
                            "`{service}` is not a service of {} (it has: {})",
                            s.compose_file.display(),
                            services.join(", ")
                        ),
                    });
                }
            }
            // Only the switches that double a unit on compose care which
            // ports are published.
            if s.engine == EngineKind::Compose
                && s.switches.values().any(|w| *w != Switch::Recreate)
            {
                let ports = file.published_ports().await;
                let resolved = file.resolved(&BTreeMap::new()).await;
                match ports.and_then(|p| Ok((p, resolved?))) {
                    Ok((published, resolved)) => v.findings.extend(
                        config
                            .switch_findings(&published, &resolved)
                            .into_iter()
                            .map(|f| in_config(config, config_text, f)),
                    ),
                    Err(e) => v.findings.push(Located {
                        severity: Severity::Warning,
                        file: Some(s.compose_file.clone()),
                        line: None,
                        setting: None,
                        message: redactor.apply(&e.to_string()),
                    }),
                }
            }
            v.checked.push(format!(
                "{} parsed by `{} config`",
                s.compose_file.display(),
                file.tool()
            ));
        }
        Err(e) => v.findings.push(Located {
            severity: Severity::Error,
            file: Some(s.compose_file.clone()),
            line: None,
            setting: None,
            message: redactor.apply(&e.to_string()),
        }),
    }
}

/// Every check loaded (compiled), its configuration accepted by the check
/// itself, and the capabilities it declares granted.
async fn checks(config: &Config, config_text: &str, v: &mut Validation) {
    if config.checks.is_empty() {
        return;
    }
    let runtime = match Compiler::isolated().and_then(|c| Runtime::new(Cache::from_env(), c)) {
        Ok(r) => r,
        Err(e) => {
            v.findings.push(Located {
                severity: Severity::Error,
                file: Some(config.path.clone()),
                line: None,
                setting: None,
                message: format!("cannot start the check runtime: {e:#}"),
            });
            return;
        }
    };
    let redactor = Redactor::new(config.secrets.clone());
    let loaded = load_checks(&runtime, &config.checks, &redactor).await;
    let ok = loaded.iter().filter(|l| l.is_ok()).count();
    for problem in loaded.into_iter().filter_map(Result::err) {
        let setting = problem.setting_path();
        v.findings.push(Located {
            severity: Severity::Error,
            file: Some(config.path.clone()),
            line: crate::config::line_of(config_text, &setting),
            setting: Some(setting),
            message: format!("check `{}`: {}", problem.check, problem.message),
        });
    }
    v.checked.push(format!(
        "{ok} of {} checks loaded, configured and granted",
        config.checks.len()
    ));
}

/// The variables a compose (or pitwall.toml) text uses, and whether each is
/// required (no default). Compose's syntax: `$VAR`, `${VAR}`, `${VAR:-x}`,
/// `${VAR-x}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+x}`; `$$` is a dollar.
fn variables(text: &str) -> BTreeMap<String, bool> {
    static PATTERN: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
            .expect("a valid pattern")
    });
    let mut out = BTreeMap::new();
    for caps in PATTERN.captures_iter(text) {
        let (name, required) = match (caps.get(2), caps.get(4)) {
            (Some(n), _) => {
                let op = caps.get(3).map(|m| m.as_str());
                // `-` and `+` give a value without the variable; `?` insists.
                (n.as_str(), !matches!(op, Some(":-" | "-" | ":+" | "+")))
            }
            (None, Some(n)) => (n.as_str(), true),
            (None, None) => continue, // `$$`
        };
        let entry = out.entry(name.to_string()).or_insert(false);
        *entry |= required;
    }
    out
}

fn print(v: &Validation, json: bool) -> anyhow::Result<()> {
    if json {
        return report::print_json(v);
    }
    let mut text = String::new();
    for f in &v.findings {
        let place = match (&f.file, f.line) {
            (Some(file), Some(l)) => format!("{}:{l}: ", file.display()),
            (Some(file), None) => format!("{}: ", file.display()),
            (None, _) => String::new(),
        };
        let setting = f
            .setting
            .as_deref()
            .map(|s| format!("{s}: "))
            .unwrap_or_default();
        let label = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        text.push_str(&format!("{label}: {place}{setting}{}\n", f.message));
    }
    for c in &v.checked {
        text.push_str(&format!("checked: {c}\n"));
    }
    let count = |s| v.findings.iter().filter(|f| f.severity == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let warnings = plural(count(Severity::Warning), "warning");
    text.push_str(&if v.valid {
        format!("valid ({warnings})\n")
    } else {
        format!(
            "invalid: {}, {warnings}; a deploy would be refused\n",
            plural(count(Severity::Error), "error")
        )
    });
    Ok(report::print(&text)?)
}

#[cfg(test)]
mod tests {
    use super::variables;

    #[test]
    fn compose_variables_and_whether_they_are_required() {
        let vars = variables(
            "image: ${API_IMAGE}\nuser: $DB_USER\nport: ${PORT:-80}\nx: ${A-1} ${B:?set B} ${C?c} ${D:+y}\nprice: $$5 $${NOT_A_VAR}\n",
        );
        let want = [
            ("API_IMAGE", true),
            ("DB_USER", true),
            ("PORT", false),
            ("A", false),
            ("B", true),
            ("C", true),
            ("D", false),
        ];
        assert_eq!(
            vars,
            want.iter().map(|(k, r)| (k.to_string(), *r)).collect()
        );
    }

    #[test]
    fn a_variable_required_anywhere_is_required() {
        let vars = variables("a: ${X:-1}\nb: ${X}\n");
        assert_eq!(vars.get("X"), Some(&true));
    }
}
