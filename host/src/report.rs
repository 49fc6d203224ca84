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

/// Removes the env file's values from anything pitwall prints or writes.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Values too short or too common to be secrets (short numbers such as
    /// ports) are left alone; they would only garble the output.
    pub fn new(values: Vec<String>) -> Redactor {
        let mut secrets: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= 4 && !(v.len() <= 5 && v.chars().all(|c| c.is_ascii_digit())))
            .collect();
        // Longest first, so a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
            // As it appears inside JSON strings.
            if let Ok(quoted) = serde_json::to_string(s) {
                out = out.replace(&quoted[1..quoted.len() - 1], "***");
            }
        }
        out
    }

    /// A copy of `value` with secrets removed from every string in it.
    pub fn scrub<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        value: &T,
    ) -> anyhow::Result<T> {
        let json = serde_json::to_string(value)?;
        Ok(serde_json::from_str(&self.apply(&json))?)
    }
}

/// Progress on stderr: bars on a terminal, plain lines otherwise (CI, logs).
pub struct Progress {
    tty: bool,
    pub redactor: Redactor,
}

impl Progress {
    pub fn new(redactor: Redactor) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            redactor,
        }
    }

    pub fn step(&self, message: &str) {
        eprintln!("==> {}", self.redactor.apply(message));
    }

    pub fn line(&self, message: &str) {
        eprintln!("    {}", self.redactor.apply(message));
    }

    pub fn verdict(&self, check: &str, attempt: u32, v: &Verdict) {
        let label = if self.tty {
            outcome_label(v.outcome)
        } else {
            v.outcome.as_str().to_ascii_uppercase()
        };
        eprintln!(
            "    [{check} #{attempt}] {label} {} ({} ms)",
            self.redactor.apply(&v.summary),
            v.duration_ms
        );
    }

    pub fn pull_bar(&self, reference: &str) -> PullBar {
        if !self.tty {
            eprintln!("    pulling {reference}");
            return PullBar(None);
        }
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("    {msg} [{bar:30}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(format!("pulling {reference}"));
        PullBar(Some(bar))
    }
}

pub struct PullBar(Option<indicatif::ProgressBar>);

impl PullBar {
    pub fn update(&self, done: u64, total: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
            b.set_position(done);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
