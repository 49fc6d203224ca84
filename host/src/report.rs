//! Human and JSON output.

use std::io::IsTerminal;

use serde::Serialize;

use crate::checks::{Outcome, Verdict};

/// A verdict with the name of the check it belongs to.
#[derive(Debug, Serialize)]
pub struct Named<'a> {
    pub check: &'a str,
    #[serde(flatten)]
    pub verdict: &'a Verdict,
}

pub fn outcome_label(outcome: Outcome) -> String {
    let text = outcome.as_str().to_ascii_uppercase();
    if !std::io::stdout().is_terminal() {
        return text;
    }
    let colour = match outcome {
        Outcome::Pass => "32",
        Outcome::Fail => "31",
        Outcome::Inconclusive => "33",
        Outcome::Error => "35",
    };
    format!("\x1b[1;{colour}m{text}\x1b[0m")
}

/// The verdict and its evidence, indented, for a terminal or a log.
pub fn verdict_text(check: &str, v: &Verdict) -> String {
    let mut out = format!(
        "{} {check}: {} ({} ms)\n",
        outcome_label(v.outcome),
        v.summary,
        v.duration_ms
    );
    let width = v.evidence.iter().map(|e| e.label.len()).max().unwrap_or(0);
    for e in &v.evidence {
        let value = e.value.replace('\n', "\n      ");
        out.push_str(&format!("    {:width$}  {value}\n", e.label));
    }
    for l in &v.logs {
        out.push_str(&format!("    log: {l}\n"));
    }
    out
}

pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
