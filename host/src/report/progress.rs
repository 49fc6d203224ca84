//! What a running command tells the operator on stderr.

use std::io::IsTerminal;

use super::{Redactor, outcome_label, warn};
use crate::checks::Verdict;

/// Progress on stderr: bars and colours on a terminal, plain lines otherwise
/// (CI, logs), every line scrubbed of secrets.
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
        let style = anstyle::Style::new().bold();
        warn(&format!(
            "{style}==> {}{style:#}",
            self.redactor.apply(message)
        ));
    }

    pub fn line(&self, message: &str) {
        warn(&format!("    {}", self.redactor.apply(message)));
    }

    pub fn verdict(&self, check: &str, attempt: u32, v: &Verdict) {
        warn(&format!(
            "    [{check} #{attempt}] {} {} ({} ms)",
            outcome_label(v.outcome),
            self.redactor.apply(&v.summary),
            v.duration_ms
        ));
    }

    pub fn pull_bar(&self, reference: &str) -> PullBar {
        if !self.tty {
            self.line(&format!("pulling {reference}"));
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
