//! `pitwall status | history`.

use std::process::ExitCode;

use serde::Serialize;

use super::deploy::load_config;
use crate::cli::StackArgs;
use crate::docker;
use crate::release::history::{self, Record};
use crate::release::{Release, lock, state};

#[derive(Serialize)]
struct Status {
    project: String,
    current: Option<Pointer>,
    previous: Option<Pointer>,
    containers: Vec<docker::Container>,
    lock: Option<lock::Holder>,
    last: Option<Record>,
}

#[derive(Serialize)]
struct Pointer {
    release: Release,
    deployed_at: String,
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
    let engine = docker::Engine::connect().await?;
    let status = Status {
        project: s.project.clone(),
        current: pointer(pointers.current),
        previous: pointer(pointers.previous),
        containers: engine.containers(&s.project, None).await?,
        lock: lock::read(&s.state_dir)?,
        last: history::read(&s.state_dir)?.pop(),
    };
    if stack.json {
        crate::report::print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("project {}", status.project);
    for (label, p) in [
        ("current ", &status.current),
        ("previous", &status.previous),
    ] {
        match p {
            Some(p) => println!(
                "{label}  {} (since {}){}",
                p.release.id,
                p.deployed_at,
                images(&p.release)
            ),
            None => println!("{label}  none"),
        }
    }
    if let Some(h) = &status.lock {
        let alive = match h.alive() {
            Some(true) => "running",
            Some(false) => "DEAD: run `pitwall recover`",
            None => "on another host",
        };
        println!("lock      {} [{alive}]", h.describe());
    }
    println!("containers:");
    for c in &status.containers {
        println!(
            "  {:<10} {:<32} {:<10} {}",
            c.service,
            c.name,
            c.state,
            c.health.as_deref().unwrap_or("")
        );
    }
    if let Some(r) = &status.last {
        println!("last: {} {} → {}", r.action, r.release_id, r.outcome);
        for c in &r.checks {
            println!(
                "  {} {}: {}",
                crate::report::outcome_label(c.verdict.outcome),
                c.name,
                c.verdict.summary
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn images(r: &Release) -> String {
    r.images
        .iter()
        .map(|(s, i)| {
            format!(
                "\n            {s}: {} {}",
                i.reference,
                i.digest.as_deref().unwrap_or("")
            )
        })
        .collect()
}

pub async fn history(stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(stack)?;
    let records = history::read(&config.stack.state_dir)?;
    if stack.json {
        crate::report::print_json(&records)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(h) = lock::read(&config.stack.state_dir)?
        && h.alive() == Some(false)
    {
        println!(
            "WARNING: an interrupted {} left the stack half-way; run `pitwall recover`",
            h.describe()
        );
    }
    if records.is_empty() {
        println!("no releases yet in {}", config.stack.state_dir.display());
    }
    for r in &records {
        println!(
            "{}  {:<8} {:<14} {:<12} {}",
            r.started_at,
            r.action,
            r.release_id,
            r.outcome,
            r.failure_mode
                .as_deref()
                .map(|m| format!("({m}) "))
                .unwrap_or_default()
                + r.failure.as_deref().unwrap_or("")
        );
        for (s, i) in &r.images {
            println!(
                "      {s}: {} {}",
                i.reference,
                i.digest.as_deref().unwrap_or("")
            );
        }
        for c in &r.checks {
            println!(
                "      {} {} ({} attempts): {}",
                crate::report::outcome_label(c.verdict.outcome),
                c.name,
                c.attempts,
                c.verdict.summary
            );
        }
        if let Some(rb) = &r.rollback {
            println!("      rollback to {}: {}", rb.to_release, rb.outcome);
        }
    }
    Ok(ExitCode::SUCCESS)
}
