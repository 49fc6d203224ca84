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
    /// Values that cannot be secrets and would only garble the output when
    /// blanked (ports, booleans, tiny words) are left alone.
    pub fn new(values: Vec<String>) -> Redactor {
        const PLAIN: &[&str] = &["true", "false", "yes", "no", "on", "off", "null", "none"];
        let mut secrets: Vec<String> = values
            .into_iter()
            .filter(|v| {
                let short_number = v.len() <= 5 && v.chars().all(|c| c.is_ascii_digit());
                v.len() >= 4 && !short_number && !PLAIN.contains(&v.to_ascii_lowercase().as_str())
            })
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
        }
        out
    }

    /// A copy of `value` with secrets removed from every string in it (keys
    /// and structure untouched, so the result is still the same type).
    pub fn scrub<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        value: &T,
    ) -> anyhow::Result<T> {
        fn walk(v: &mut serde_json::Value, r: &Redactor) {
            match v {
                serde_json::Value::String(s) => *s = r.apply(s),
                serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, r)),
                serde_json::Value::Object(o) => o.values_mut().for_each(|v| walk(v, r)),
                _ => {}
            }
        }
        let mut json = serde_json::to_value(value)?;
        walk(&mut json, self);
        Ok(serde_json::from_value(json)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_blanks_secrets_but_not_structure_or_plain_values() {
        let r = Redactor::new(vec![
            "hunter2hunter2".into(),
            "true".into(),
            "8080".into(),
            "abc".into(),
        ]);
        assert_eq!(
            r.apply("pw=hunter2hunter2 port 8080 ok=true"),
            "pw=*** port 8080 ok=true"
        );
        let v = serde_json::json!({"passed": true, "note": "hunter2hunter2!", "n": 8080});
        let scrubbed: serde_json::Value = r.scrub(&v).unwrap();
        assert_eq!(
            scrubbed,
            serde_json::json!({"passed": true, "note": "***!", "n": 8080})
        );
    }
}
