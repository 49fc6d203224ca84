//! What a deploy, rollback or recovery adds to GitHub's step summary
//! (Markdown): the outcome, who and why, each service's image and digest,
//! every check, the rollback and the incident.

use std::fmt::Write as _;

use crate::release::history::{Action, CheckResult, Record};
use crate::report::{Ending, markdown_cell as cell};

/// How a command ended, with its record when it got that far.
pub struct Ended<'a> {
    pub action: Action,
    pub release_id: Option<&'a str>,
    pub ending: Ending,
    pub exit_code: u8,
    pub message: &'a str,
    pub record: Option<&'a Record>,
    pub bookkeeping: &'a [String],
}

pub fn markdown(e: &Ended<'_>) -> String {
    let mut md = String::new();
    let release = e.release_id.map(|r| format!(" {r}")).unwrap_or_default();
    let _ = writeln!(
        md,
        "### pitwall {}{}: {} (exit {})\n\n{}\n",
        e.action.as_str(),
        cell(&release),
        e.ending.as_str(),
        e.exit_code,
        cell(e.message)
    );
    if let Some(r) = e.record {
        record(&mut md, r);
    }
    for note in e.bookkeeping {
        let _ = writeln!(
            md,
            "> **Warning:** bookkeeping failed (the outcome holds): {}\n",
            cell(note)
        );
    }
    md
}

fn record(md: &mut String, r: &Record) {
    let by = r.actor.as_deref().unwrap_or(&r.user);
    let _ = write!(md, "**By** {} on {}", cell(by), cell(&r.host));
    if let Some(m) = &r.message {
        let _ = write!(md, ": {}", cell(m));
    }
    md.push_str("\n\n| Service | Image | Digest |\n| --- | --- | --- |\n");
    for (service, image) in &r.images {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            cell(service),
            cell(&image.reference),
            cell(image.digest.as_deref().unwrap_or("-"))
        );
    }
    md.push('\n');
    checks(md, &r.checks);
    if let Some(rb) = &r.rollback {
        let _ = writeln!(
            md,
            "**Rollback** to {}: {}{}\n",
            cell(&rb.to_release),
            rb.outcome.as_str(),
            rb.failure
                .as_deref()
                .map(|f| format!(" ({})", cell(f)))
                .unwrap_or_default()
        );
        checks(md, &rb.checks);
    }
    if let Some(incident) = &r.incident {
        let _ = writeln!(md, "**Incident:** {}\n", cell(incident));
    }
}

fn checks(md: &mut String, checks: &[CheckResult]) {
    if checks.is_empty() {
        return;
    }
    md.push_str(
        "| Check | Phase | Outcome | Attempts | Summary |\n| --- | --- | --- | --- | --- |\n",
    );
    for c in checks {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            cell(&c.name),
            c.phase.as_str(),
            c.verdict.outcome.as_str(),
            c.attempts,
            cell(&c.verdict.summary)
        );
    }
    md.push('\n');
}
