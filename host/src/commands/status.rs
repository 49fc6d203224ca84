//! `pitwall status | history`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use comfy_table::{Cell, Table, presets};
use schemars::JsonSchema;
use serde::Serialize;

use super::deploy::load_config;
use crate::cli::StackArgs;
use crate::engine::{Container, ProjectView, StackView};
use crate::release::history::{self, Record};
use crate::release::{Image, Release, lock, state};
use crate::report;

/// `pitwall status --json`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Status {
    project: String,
    current: Option<Pointer>,
    previous: Option<Pointer>,
    containers: Vec<Container>,
    lock: Option<lock::Holder>,
    last: Option<Record>,
}

/// `pitwall history --json`: every record, oldest first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct History {
    records: Vec<Record>,
}

#[derive(Serialize, JsonSchema)]
struct Pointer {
    release: Release,
    deployed_at: String,
}

/// Columns aligned by content, no borders: readable in a terminal, and
/// each row one line for grep (a cell with several lines continues below).
fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING).set_header(header.to_vec());
    t.column_iter_mut().for_each(|c| {
        c.set_padding((0, 2));
    });
    t
}

/// `service: reference digest`, one per service.
fn image_lines(images: &BTreeMap<String, Image>) -> impl Iterator<Item = String> + '_ {
    images
        .iter()
        .map(|(s, i)| format!("{s}: {} {}", i.reference, i.digest.as_deref().unwrap_or("")))
}

fn check_lines(r: &Record) -> impl Iterator<Item = String> + '_ {
    r.checks.iter().map(|c| {
        format!(
            "{} {} ({} attempts): {}",
            c.verdict.outcome.as_str().to_ascii_uppercase(),
            c.name,
            c.attempts,
            c.verdict.summary
        )
    })
}

pub async fn status(stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(stack)?;
    let s = &config.stack;
    let pointers = state::read(&s.state_dir, &s.services)?;
    let pointer = |p: Option<(Release, String)>| {
        p.map(|(release, deployed_at)| Pointer {
            release,
            deployed_at,
        })
    };
    let status = Status {
        project: s.project.clone(),
        current: pointer(pointers.current),
        previous: pointer(pointers.previous),
        containers: ProjectView::new(&s.project).containers(None).await?,
        lock: lock::read(&s.state_dir)?,
        last: history::read(&s.state_dir)?.pop(),
    };
    if stack.json {
        report::print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut releases = table(&["", "RELEASE", "SINCE", "IMAGES"]);
    for (label, p) in [("current", &status.current), ("previous", &status.previous)] {
        match p {
            Some(p) => releases.add_row(vec![
                Cell::new(label),
                Cell::new(&p.release.id),
                Cell::new(&p.deployed_at),
                Cell::new(
                    image_lines(&p.release.images)
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            ]),
            None => releases.add_row(vec![label, "none"]),
        };
    }
    let mut text = format!("project {}\n{}\n", status.project, releases.trim_fmt());
    if let Some(h) = &status.lock {
        let alive = match h.alive() {
            Some(true) => "running",
            Some(false) => "DEAD: run `pitwall recover`",
            None => "on another host",
        };
        text.push_str(&format!("lock: {} [{alive}]\n", h.describe()));
    }
    let mut containers = table(&["SERVICE", "CONTAINER", "STATE", "HEALTH"]);
    for c in &status.containers {
        containers.add_row(vec![
            c.service.as_str(),
            &c.name,
            c.state.as_str(),
            c.health.map_or("", |h| h.as_str()),
        ]);
    }
    text.push_str(&format!("\ncontainers:\n{}\n", containers.trim_fmt()));
    if let Some(r) = &status.last {
        text.push_str(&format!(
            "\nlast: {} {} → {}\n",
            r.action.as_str(),
            r.release_id,
            r.outcome.as_str()
        ));
        for line in check_lines(r) {
            text.push_str(&format!("  {line}\n"));
        }
    }
    report::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn history(stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(stack)?;
    let records = history::read(&config.stack.state_dir)?;
    if stack.json {
        report::print_json(&History { records })?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    if let Some(h) = lock::read(&config.stack.state_dir)?
        && h.alive() == Some(false)
    {
        text.push_str(&format!(
            "WARNING: an interrupted {} left the stack half-way; run `pitwall recover`\n",
            h.describe()
        ));
    }
    if records.is_empty() {
        text.push_str(&format!(
            "no releases yet in {}\n",
            config.stack.state_dir.display()
        ));
        report::print(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = table(&["STARTED", "ACTION", "RELEASE", "OUTCOME", "DETAIL"]);
    for r in &records {
        let failure = r.failure.as_ref().map(|f| match r.failure_mode {
            Some(m) => format!("({}) {f}", m.as_str()),
            None => f.clone(),
        });
        let rollback = r
            .rollback
            .as_ref()
            .map(|rb| format!("rollback to {}: {}", rb.to_release, rb.outcome.as_str()));
        let by = r.actor.as_ref().map(|a| match &r.message {
            Some(m) => format!("by {a}: {m}"),
            None => format!("by {a}"),
        });
        let detail: Vec<String> = by
            .into_iter()
            .chain(failure)
            .chain(image_lines(&r.images))
            .chain(check_lines(r))
            .chain(rollback)
            .collect();
        rows.add_row(vec![
            r.started_at.as_str(),
            r.action.as_str(),
            &r.release_id,
            r.outcome.as_str(),
            &detail.join("\n"),
        ]);
    }
    text.push_str(&format!("{}\n", rows.trim_fmt()));
    report::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
