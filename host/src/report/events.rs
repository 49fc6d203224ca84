//! `--events FILE|-`: a rollout as it happens, one JSON object a line
//! (NDJSON), each line flushed when it is written, so a CI job or a
//! dashboard can follow it.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use schemars::JsonSchema;
use serde::Serialize;

use super::{Redactor, SCHEMA_VERSION, warn};
use crate::checks::Verdict;
use crate::config::Phase;
use crate::release::history::{Action, FailureMode, RollbackOutcome};

/// What happened.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A deploy, rollback or recovery began (its configuration is loaded).
    Started {
        action: Action,
        /// The release deployed, or rolled back to with `--to`.
        release_id: Option<String>,
        /// Who asked for it: `--actor`, `$GITHUB_ACTOR` or the OS user.
        actor: String,
        message: Option<String>,
        host: String,
    },
    /// A phase began (pull, apply, verify, soak, roll back, …).
    Step { title: String },
    /// An image is present and its digest resolved.
    Pull {
        service: String,
        reference: String,
        digest: Option<String>,
    },
    /// One attempt of a check.
    Verdict {
        check: String,
        phase: Phase,
        attempt: u32,
        /// Whether a fail or error counts towards the check's
        /// `failure_limit` (an answer-less attempt while the release boots
        /// does not).
        counts: bool,
        verdict: Verdict,
    },
    /// The release failed (or was cancelled); a rollback follows if there
    /// is a release to go back to.
    Failure {
        release_id: String,
        /// `None` when an operator's signal cancelled the release.
        mode: Option<FailureMode>,
        message: String,
    },
    /// A rollback ended.
    Rollback {
        to_release: String,
        outcome: RollbackOutcome,
        failure: Option<String>,
    },
    /// A traffic switch moved users (blue-green, canary): `share` percent
    /// of them (100: all) now reach `unit` of `service`.
    Traffic {
        service: String,
        unit: String,
        share: u8,
        took_ms: u64,
    },
    /// A canary waits at a `pause` step for `pitwall promote` or `pitwall
    /// abort`.
    Gate {
        release_id: String,
        step: usize,
        share: u8,
    },
    /// Bookkeeping that could not be written; the outcome still holds.
    Warning { message: String },
    /// The command ended; nothing follows.
    Finished {
        outcome: Ending,
        /// pitwall's exit code (see `pitwall deploy --help`).
        exit_code: u8,
        message: String,
        /// The incident file of a failed release.
        incident: Option<String>,
    },
}

/// How a deploy, rollback or recovery ended, refusals included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Released (or restored) and verified.
    Released,
    /// The release failed; the previous release is back and verified.
    RolledBack,
    /// The stack is not on a verified release: a human is needed.
    NotRecovered,
    /// Refused before anything changed.
    Refused,
    /// Stopped by an unexpected error: a human should look.
    Error,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Released => "released",
            Ending::RolledBack => "rolled back",
            Ending::NotRecovered => "NOT recovered",
            Ending::Refused => "refused",
            Ending::Error => "stopped by an error",
        }
    }
}

/// One line of the stream.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventLine {
    #[schemars(schema_with = "super::schema_version")]
    pub schema_version: u32,
    /// When it happened, RFC 3339 in UTC.
    pub time: String,
    #[serde(flatten)]
    pub event: Event,
}

/// Where events go. Clones share the stream; once a write fails, the
/// stream is closed with a warning (an event stream never fails a rollout).
#[derive(Clone)]
pub struct Events {
    out: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    to_stdout: bool,
}

impl Events {
    /// Creates (or truncates) `target`; `-` is stdout.
    pub fn open(target: &Path) -> std::io::Result<Events> {
        let to_stdout = target == Path::new("-");
        let out: Box<dyn Write + Send> = if to_stdout {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::fs::File::create(target)?)
        };
        Ok(Events {
            out: Arc::new(Mutex::new(Some(out))),
            to_stdout,
        })
    }

    /// Whether the events take stdout (so the report goes to stderr).
    pub fn to_stdout(&self) -> bool {
        self.to_stdout
    }

    /// Writes `event` as one scrubbed line and flushes it.
    pub fn write(&self, event: Event, redactor: &Redactor) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let Some(w) = out.as_mut() else { return };
        let line = EventLine {
            schema_version: SCHEMA_VERSION,
            time: crate::clock::now_rfc3339(),
            event,
        };
        let written = serde_json::to_value(&line)
            .map_err(anyhow::Error::from)
            .and_then(|v| redactor.scrub(&v))
            .and_then(|v| {
                let mut text = serde_json::to_vec(&v)?;
                text.push(b'\n');
                w.write_all(&text)?;
                Ok(w.flush()?)
            });
        if let Err(e) = written {
            warn(&format!(
                "warning: cannot write the event stream, no more events follow: {e:#}"
            ));
            *out = None;
        }
    }
}
