//! Loading a stack's checks before anything is touched: each plugin
//! resolved and compiled, its configuration accepted by the check, and every
//! capability it declares granted. A deploy refuses at the first problem;
//! `validate` reports them all.

use crate::checks::Runtime;
use crate::config::CheckSpec;
use crate::report::Redactor;

use super::verify::Loaded;

/// Why one check cannot run, and which of its settings to fix.
#[derive(Debug, Clone)]
pub struct CheckProblem {
    /// The check's name.
    pub check: String,
    /// Its index in `[[checks]]`.
    pub index: usize,
    /// The setting to fix: `plugin`, `config` or a grant.
    pub setting: &'static str,
    pub message: String,
}

impl CheckProblem {
    /// `checks[2].config`, as `validate` names settings.
    pub fn setting_path(&self) -> String {
        format!("checks[{}].{}", self.index, self.setting)
    }
}

/// Loads every check; one result per check, in order.
pub async fn load_checks(
    runtime: &Runtime,
    checks: &[CheckSpec],
    redactor: &Redactor,
) -> Vec<Result<Loaded, CheckProblem>> {
    let specs: Vec<(&str, Option<&str>)> = checks
        .iter()
        .map(|c| (c.plugin.as_str(), c.sha256.as_deref()))
        .collect();
    let loaded = runtime.load_all(&specs).await;
    let mut out = Vec::with_capacity(checks.len());
    for (index, (spec, plugin)) in checks.iter().zip(loaded).enumerate() {
        let problem = |setting, message: String| CheckProblem {
            check: spec.name.clone(),
            index,
            setting,
            // The check may quote its configuration, which holds expanded
            // `${VAR}`s: the message is scrubbed like output.
            message: redactor.apply(&message),
        };
        let plugin = match plugin {
            Ok(p) => p,
            Err(e) => {
                out.push(Err(problem("plugin", e.to_string())));
                continue;
            }
        };
        if let Err(e) = runtime.validate(&plugin, &spec.config, spec.limits).await {
            out.push(Err(problem("config", e.to_string())));
            continue;
        }
        let ungranted = runtime.ungranted(&plugin, &spec.grants).await;
        if let Some(first) = ungranted.first() {
            let message = ungranted
                .iter()
                .map(|c| {
                    let (key, example) = c.grant();
                    format!(
                        "check `{}` needs `{}` and nothing grants it: add {key} = [\"{example}\"] to its [[checks]] entry in pitwall.toml",
                        spec.name,
                        c.name()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            out.push(Err(problem(first.grant().0, message)));
            continue;
        }
        out.push(Ok(Loaded {
            spec: spec.clone(),
            plugin,
        }));
    }
    out
}
