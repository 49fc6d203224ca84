//! `pitwall status | history`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use comfy_table::Cell;
use schemars::JsonSchema;
use serde::Serialize;

use super::stack::read_config;
use crate::cli::StackArgs;
use crate::config::{Config, EngineKind};
use crate::engine::{Container, EngineError, LocalImages, ProjectView, StackView, Swarm};
use crate::exit::Exit;
use crate::release::drift::{self, Drift};
use crate::release::gate::{self, Gate};
use crate::release::history::{self, Record};
use crate::release::{Image, Release, lock, state};
use crate::report::{self, table};
use crate::traffic::Routes;

/// `pitwall status --json`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Status {
    project: String,
    current: Option<Pointer>,
    previous: Option<Pointer>,
    /// `None` when Docker could not be asked (`docker_error` says why).
    containers: Option<Vec<Container>>,
    /// How the running containers differ from the current release; `None`
    /// when not compared (no Docker, or no current release).
    drift: Option<Vec<Drift>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    docker_error: Option<String>,
    lock: Option<lock::Holder>,
    /// A canary waiting at a `pause` step for `promote` or `abort`.
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<Gate>,
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

/// `service: reference digest`, one per service.
fn image_lines(images: &BTreeMap<String, Image>) -> impl Iterator<Item = String> + '_ {
    images
        .iter()
        .map(|(s, i)| format!("{s}: {} {}", i.reference, i.digest.as_deref().unwrap_or("")))
}

fn check_lines(r: &Record) -> impl Iterator<Item = String> + '_ {
    r.checks.iter().map(|c| {
        format!(
            "{}{} {} ({} attempts): {}",
            c.verdict.outcome.as_str().to_ascii_uppercase(),
            if c.enforced {
                ""
            } else {
                " (observed, not gating)"
            },
            c.name,
            c.attempts,
            c.verdict.summary
        )
    })
}

/// The running units and their drift from `current`, from Docker.
async fn live(
    config: &Config,
    current: Option<&Release>,
) -> Result<(Vec<Container>, Option<Vec<Drift>>), EngineError> {
    let s = &config.stack;
    let containers = match s.engine {
        EngineKind::Compose => ProjectView::new(&s.project).containers(None).await?,
        EngineKind::Swarm => {
            Swarm::connect(
                &s.project,
                &s.compose_file,
                Default::default(),
                &s.services,
                s.wait_timeout,
            )
            .await?
            .containers(None)
            .await?
        }
    };
    let Some(release) = current else {
        return Ok((containers, None));
    };
    let images = LocalImages::connect().await?;
    let mut ids = BTreeMap::new();
    for (service, image) in &release.images {
        ids.insert(service.clone(), images.id(image.pinned()).await?);
    }
    // A blue-green unit users do not reach (kept for a switch back, or a
    // canary's) runs another release on purpose: not drift.
    let routes = Routes::read(&s.state_dir).unwrap_or_default();
    let aside: Vec<&str> = routes
        .services
        .values()
        .flat_map(|r| {
            r.slots
                .iter()
                .filter(|(slot, _)| r.live != Some(**slot))
                .map(|(_, u)| u.id.as_str())
        })
        .collect();
    let judged: Vec<Container> = containers
        .iter()
        .filter(|c| !aside.contains(&c.id.as_str()))
        .cloned()
        .collect();
    let drift = drift::compare(release, &judged, &ids);
    Ok((containers, Some(drift)))
}

/// `pitwall status`: the recorded part needs neither the env file nor
/// Docker; the live part (containers, drift) needs Docker and is reported as
/// unknown without it. Exit 3 when the containers drifted from the release.
pub async fn status(stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = read_config(stack)?;
    let s = &config.stack;
    let pointers = state::read(&s.state_dir, &s.services)?;
    let pointer = |p: Option<(Release, String)>| {
        p.map(|(release, deployed_at)| Pointer {
            release,
            deployed_at,
        })
    };
    let current = pointer(pointers.current);
    let (containers, drift, docker_error) =
        match live(&config, current.as_ref().map(|p| &p.release)).await {
            Ok((c, d)) => (Some(c), d, None),
            Err(e) => (None, None, Some(e.to_string())),
        };
    let status = Status {
        project: s.project.clone(),
        current,
        previous: pointer(pointers.previous),
        containers,
        drift,
        docker_error,
        lock: lock::read(&s.state_dir)?,
        gate: gate::read(&s.state_dir)?,
        last: history::read(&s.state_dir)?.pop(),
    };
    // While a deploy, rollback or recovery runs, the units are changing
    // on purpose: that is not drift.
    let in_progress = status
        .lock
        .as_ref()
        .is_some_and(|h| h.command != lock::Holding::Manual && h.alive() != Some(false));
    let exit = if !in_progress && status.drift.as_ref().is_some_and(|d| !d.is_empty()) {
        Exit::NeedsHuman
    } else {
        Exit::Ok
    };
    if stack.json {
        report::print_json(&status)?;
        return Ok(exit.into());
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
    if let Some(g) = &status.gate {
        text.push_str(&format!(
            "gate: release {} waits at step {} of [{}] with {}% of users since {}; verdicts so far: {}\n  answer with `pitwall promote` or `pitwall abort`\n",
            g.release_id,
            g.step,
            g.steps.join(", "),
            g.share,
            g.since,
            g.verdicts
                .iter()
                .map(|(name, passed)| format!("{name} {}", if *passed { "pass" } else { "FAIL" }))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (service, r) in &Routes::read(&config.stack.state_dir)
        .unwrap_or_default()
        .services
    {
        text.push_str(&format!("traffic: {}\n", route_line(service, r)));
    }
    match (&status.containers, &status.docker_error) {
        (Some(list), _) => {
            let mut containers = table(&["SERVICE", "CONTAINER", "STATE", "HEALTH"]);
            for c in list {
                containers.add_row(vec![
                    c.service.as_str(),
                    &c.name,
                    c.state.as_str(),
                    c.health.map_or("", |h| h.as_str()),
                ]);
            }
            text.push_str(&format!("\ncontainers:\n{}\n", containers.trim_fmt()));
        }
        (None, error) => text.push_str(&format!(
            "\ncontainers: unknown, drift not checked ({})\n",
            error.as_deref().unwrap_or("Docker was not asked")
        )),
    }
    match (&status.drift, &status.current) {
        (Some(drift), Some(current)) if drift.is_empty() => text.push_str(&format!(
            "drift: none; the running containers are release {}\n",
            current.release.id
        )),
        (Some(_), Some(_)) if in_progress => text
            .push_str("drift: not judged while the command holding the lock changes the stack\n"),
        (Some(drift), Some(current)) => {
            text.push_str(&format!(
                "DRIFT: the running stack is not release {} as recorded:\n",
                current.release.id
            ));
            for d in drift {
                text.push_str(&format!("  {}\n", d.describe()));
            }
            text.push_str(&format!(
                "  it was changed outside pitwall; find out who and why, then deploy a release or `pitwall rollback --to {}`\n",
                current.release.id
            ));
        }
        _ => {}
    }
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
    Ok(exit.into())
}

/// Who serves a blue-green service's users and checks, for `status`.
fn route_line(service: &str, r: &crate::traffic::ServiceRoutes) -> String {
    let unit = |slot: Option<crate::traffic::Slot>| match (slot, r.unit(slot)) {
        (Some(s), Some(u)) => format!("{s} ({})", u.name),
        _ => "none".to_string(),
    };
    let mut line = format!("`{service}` users → {}", unit(r.live));
    if let Some(share) = r.share {
        line.push_str(&format!(", {share}% → {}", unit(r.preview)));
    }
    line.push_str(&format!("; preview → {}", unit(r.preview)));
    if let Some(until) = r.keep_until_ms {
        let kept = r.slots.keys().find(|s| Some(**s) != r.live);
        if let Some(kept) = kept {
            line.push_str(&format!(
                "; {kept} kept for a switch back until {}",
                crate::clock::rfc3339_ms(until)
            ));
        }
    }
    line
}

/// `pitwall history`: the state directory only; no env file, no Docker.
pub async fn history(stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = read_config(stack)?;
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
