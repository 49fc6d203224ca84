//! `pitwall plan` and `pitwall deploy --dry-run`: what a deploy would
//! change, printed; nothing is locked, pulled or applied.

use std::process::ExitCode;
use std::time::Duration;

use super::deploy::request;
use super::stack::{deployer, load_config};
use crate::cli::ReleaseArgs;
use crate::exit::Exit;
use crate::report::{self, table};
use crate::rollout::{Change, Plan, Resolved};

pub async fn plan(args: &ReleaseArgs) -> anyhow::Result<ExitCode> {
    let request = request(args, Duration::ZERO)?;
    let d = deployer(load_config(&args.stack)?).await?;
    let plan = d.plan(&request).await?;
    if args.stack.json {
        report::print_json(&plan)?;
    } else {
        report::print(&text(&plan))?;
    }
    Ok(Exit::of_plan(plan.changes).into())
}

fn text(plan: &Plan) -> String {
    let mut out = format!(
        "plan: release {} (running: {})\n\n",
        plan.release_id,
        plan.current.as_deref().unwrap_or("nothing")
    );
    let mut rows = table(&["SERVICE", "CHANGE", "RUNNING", "WOULD RUN"]);
    for s in &plan.services {
        let old = s.old.as_ref().map_or("-".to_string(), |i| {
            format!("{}\n{}", i.reference, i.digest.as_deref().unwrap_or(""))
        });
        let from = match s.resolved_from {
            Resolved::Registry => "from the registry",
            Resolved::Local => "here",
            Resolved::Missing => "MISSING",
        };
        let new = format!(
            "{}\n{} ({from})",
            s.new.reference,
            s.new.digest.as_deref().unwrap_or("")
        );
        rows.add_row(vec![s.service.as_str(), s.change.as_str(), &old, &new]);
    }
    out.push_str(&format!("{}\n", rows.trim_fmt()));
    if plan.checks.is_empty() {
        out.push_str("\nchecks: none (the release is judged by its containers only)\n");
    } else {
        out.push_str("\nchecks:\n");
        let mut rows = table(&["CHECK", "PHASE", "PLUGIN", "GRANTS"]);
        for c in &plan.checks {
            let grants: Vec<String> = c
                .allow_http
                .iter()
                .map(|u| format!("http {u}"))
                .chain(c.allow_logs.iter().map(|s| format!("logs {s}")))
                .collect();
            let phase = match (c.phase, c.enforce) {
                (crate::config::Phase::Verify, true) => "verify",
                (crate::config::Phase::Watch, true) => "watch",
                (crate::config::Phase::Verify, false) => "verify (observed)",
                (crate::config::Phase::Watch, false) => "watch (observed)",
            };
            rows.add_row(vec![
                c.name.as_str(),
                phase,
                &c.plugin,
                &if grants.is_empty() {
                    "none".to_string()
                } else {
                    grants.join("\n")
                },
            ]);
        }
        out.push_str(&format!("{}\n", rows.trim_fmt()));
    }
    if !plan.traffic.is_empty() {
        out.push_str("\ntraffic:\n");
        for line in &plan.traffic {
            out.push_str(&format!("  {line}\n"));
        }
    }
    match &plan.diff {
        Some(d) if d.is_empty() => out.push_str("\ncompose diff: none\n"),
        Some(d) => out.push_str(&format!("\ncompose diff:\n{d}")),
        None => {}
    }
    if plan.replaced.is_none() {
        out.push_str(
            "\nthe engine cannot tell whether the services' configuration changed (Swarm decides): \
             counted as a change\n",
        );
    }
    let changed = plan
        .services
        .iter()
        .filter(|s| s.change != Change::Kept)
        .count();
    out.push_str(&if plan.changes {
        format!(
            "\n{changed} of {} services would change\n",
            plan.services.len()
        )
    } else {
        "\nnothing would change\n".to_string()
    });
    out
}
