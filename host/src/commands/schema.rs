//! `pitwall schema [NAME]`: the JSON Schemas of pitwall.toml, of every
//! `--json` output and of an `--events` line, generated from the types that
//! read or write them, so they cannot drift apart.

use std::process::ExitCode;

use super::check::{Builtins, Fetched, Inspection, Pushed};
use super::deploy::Printed;
use super::lock::LockStatus;
use super::prune::Pruned;
use super::releases::Releases;
use super::status::{History, Status};
use super::validate::Validation;
use crate::report::{self, EventLine, Named};
use crate::rollout::Plan;

/// A schema pitwall prints.
pub struct Schema {
    pub name: &'static str,
    /// What it describes.
    pub describes: &'static str,
    pub generate: fn() -> schemars::Schema,
}

/// Every schema, by name. A new `--json` output gets an entry here.
pub const SCHEMAS: &[Schema] = &[
    Schema {
        name: "config",
        describes: "pitwall.toml",
        generate: crate::config::schema,
    },
    Schema {
        name: "deploy",
        describes: "deploy, rollback and recover --json",
        generate: || {
            report::output_schema::<Printed<'static>>("pitwall deploy|rollback|recover --json")
        },
    },
    Schema {
        name: "status",
        describes: "status --json",
        generate: || report::output_schema::<Status>("pitwall status --json"),
    },
    Schema {
        name: "history",
        describes: "history --json",
        generate: || report::output_schema::<History>("pitwall history --json"),
    },
    Schema {
        name: "validate",
        describes: "validate --json",
        generate: || report::output_schema::<Validation>("pitwall validate --json"),
    },
    Schema {
        name: "plan",
        describes: "plan --json and deploy --dry-run --json",
        generate: || report::output_schema::<Plan>("pitwall plan --json"),
    },
    Schema {
        name: "releases",
        describes: "releases --json",
        generate: || report::output_schema::<Releases>("pitwall releases --json"),
    },
    Schema {
        name: "prune",
        describes: "prune --json",
        generate: || report::output_schema::<Pruned>("pitwall prune --json"),
    },
    Schema {
        name: "lock-status",
        describes: "lock status --json",
        generate: || report::output_schema::<LockStatus>("pitwall lock status --json"),
    },
    Schema {
        name: "events",
        describes: "one line of deploy, rollback and recover --events",
        generate: || report::written_schema::<EventLine>("pitwall --events line"),
    },
    Schema {
        name: "check-run",
        describes: "check run --json",
        generate: || report::output_schema::<Named<'static>>("pitwall check run --json"),
    },
    Schema {
        name: "check-list",
        describes: "check list --json",
        generate: || report::output_schema::<Builtins>("pitwall check list --json"),
    },
    Schema {
        name: "check-inspect",
        describes: "check inspect --json",
        generate: || report::output_schema::<Inspection>("pitwall check inspect --json"),
    },
    Schema {
        name: "check-push",
        describes: "check push --json",
        generate: || report::output_schema::<Pushed>("pitwall check push --json"),
    },
    Schema {
        name: "check-pull",
        describes: "check pull --json",
        generate: || report::output_schema::<Fetched>("pitwall check pull --json"),
    },
];

/// The names, for `--help` and completions.
pub fn names() -> impl Iterator<Item = &'static str> {
    SCHEMAS.iter().map(|s| s.name)
}

/// The schema named `name` (pretty JSON), or the list of names.
pub fn print(name: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(schema) = name.and_then(|n| SCHEMAS.iter().find(|s| s.name == n)) else {
        let list: String = SCHEMAS
            .iter()
            .map(|s| format!("{:<14} {}\n", s.name, s.describes))
            .collect();
        report::print(&list)?;
        return Ok(ExitCode::SUCCESS);
    };
    let mut text = serde_json::to_string_pretty(&(schema.generate)())?;
    text.push('\n');
    report::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
