//! What a running command tells the operator on stderr, GitHub Actions
//! and the `--events` stream.

use std::io::IsTerminal;

use super::{Ending, Event, Events, Github, Redactor, command, outcome_label, warn};
use crate::checks::{Outcome, Verdict};
use crate::config::Phase;

/// Progress on stderr: bars and colours on a terminal, plain lines otherwise
/// (CI, logs), every line scrubbed of secrets. On GitHub Actions each step
/// is a collapsible group and failures are annotations; with `--events`
/// every step is also an event. Clones share the groups and the stream.
/// (Not `Debug`: the redactor holds the secrets.)
#[derive(Clone)]
pub struct Progress {
    tty: bool,
    pub redactor: Redactor,
    github: Option<Github>,
    events: Option<Events>,
}

impl Progress {
    /// Progress on stderr, as workflow commands on a GitHub Actions runner.
    pub fn new(redactor: Redactor) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            redactor,
            github: Github::detect(),
            events: None,
        }
    }

    /// Also streams every event to `events`.
    pub fn with_events(mut self, events: Events) -> Progress {
        self.events = Some(events);
        self
    }

    /// Whether the event stream takes stdout.
    pub fn events_on_stdout(&self) -> bool {
        self.events.as_ref().is_some_and(Events::to_stdout)
    }

    /// Writes `event` to the stream, if there is one.
    pub fn event(&self, event: Event) {
        if let Some(events) = &self.events {
            events.write(event, &self.redactor);
        }
    }

    /// A phase begins: a group of its own on GitHub Actions.
    pub fn step(&self, message: &str) {
        let message = self.redactor.apply(message);
        match &self.github {
            Some(gh) => warn(&gh.group(&message)),
            None => {
                let style = anstyle::Style::new().bold();
                warn(&format!("{style}==> {message}{style:#}"));
            }
        }
        self.event(Event::Step { title: message });
    }

    pub fn line(&self, message: &str) {
        warn(&format!("    {}", self.redactor.apply(message)));
    }

    /// An image is present, with its digest.
    pub fn pulled(&self, service: &str, reference: &str, digest: Option<&str>) {
        self.line(&format!(
            "{service}: {reference} → {}",
            digest.unwrap_or("(no digest)")
        ));
        self.event(Event::Pull {
            service: service.into(),
            reference: reference.into(),
            digest: digest.map(Into::into),
        });
    }

    /// One attempt of a check. A fail or error that `counts` towards the
    /// check's failure limit is an error annotation on GitHub Actions.
    pub fn verdict(&self, check: &str, phase: Phase, attempt: u32, v: &Verdict, counts: bool) {
        let summary = self.redactor.apply(&v.summary);
        warn(&format!(
            "    [{check} #{attempt}] {} {summary} ({} ms)",
            outcome_label(v.outcome),
            v.duration_ms
        ));
        let failed = matches!(v.outcome, Outcome::Fail | Outcome::Error);
        if self.github.is_some() && failed && counts {
            let title = format!(
                "check {check}: {} (attempt {attempt}, {})",
                v.outcome.as_str(),
                phase.as_str()
            );
            warn(&command("error", &[("title", &title)], &summary));
        }
        self.event(Event::Verdict {
            check: check.into(),
            phase,
            attempt,
            counts,
            verdict: v.clone(),
        });
    }

    /// Bookkeeping that could not be written (the rollout goes on): a
    /// warning annotation on GitHub Actions.
    pub fn warning(&self, note: &str) {
        let note = self.redactor.apply(note);
        match &self.github {
            Some(_) => warn(&command("warning", &[], &note)),
            None => self.line(&format!(
                "WARNING (bookkeeping, the rollout goes on): {note}"
            )),
        }
        self.event(Event::Warning { message: note });
    }

    /// The command ended: the last group closes; on GitHub Actions an
    /// ending other than released is an error annotation and `summary`
    /// (Markdown) is appended to the step summary; the stream gets its last
    /// event.
    pub fn finish(
        &self,
        ending: Ending,
        exit_code: u8,
        message: &str,
        incident: Option<&str>,
        summary: impl FnOnce() -> String,
    ) {
        let message = self.redactor.apply(message);
        if let Some(gh) = &self.github {
            if let Some(end) = gh.end_group() {
                warn(&end);
            }
            if ending != Ending::Released {
                let title = format!("pitwall: {} (exit {exit_code})", ending.as_str());
                warn(&command("error", &[("title", &title)], &message));
            }
            if let Err(e) = gh.append_summary(&self.redactor.apply(&summary())) {
                let file = gh.summary_path().map(|p| p.display().to_string());
                warn(&command(
                    "warning",
                    &[],
                    &format!(
                        "cannot append the step summary to {}: {e}",
                        file.unwrap_or_default()
                    ),
                ));
            }
        }
        self.event(Event::Finished {
            outcome: ending,
            exit_code,
            message,
            incident: incident.map(Into::into),
        });
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
