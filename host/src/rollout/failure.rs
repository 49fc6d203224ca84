//! How a rollout goes wrong: refused before anything changed, or failed
//! once the stack was touched (with the mode the incident ticket needs).

use crate::release::history::{CheckResult, FailureMode};
use crate::report::Progress;

/// Refused before anything changed (bad input, lock held, image missing, a
/// check rejected its configuration). `reason` says what was refused; the
/// source, when there is one, says why.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct Refused {
    reason: String,
    #[source]
    cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Refused {
    pub fn new(reason: impl Into<String>) -> Refused {
        Refused {
            reason: reason.into(),
            cause: None,
        }
    }

    pub fn because(
        reason: impl Into<String>,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Refused {
        Refused {
            reason: reason.into(),
            cause: Some(cause.into()),
        }
    }
}

/// A release (or the release rolled back to) that did not verify, or that
/// an operator stopped.
#[derive(Debug, Clone)]
pub struct Failure {
    pub cause: Cause,
    pub message: String,
    /// The results of the phase's checks that finished, the failing one last.
    pub checks: Vec<CheckResult>,
}

/// Why a rollout did not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The release failed, this way: an incident is filed.
    Release(FailureMode),
    /// An operator stopped it: not the release's fault, no incident; it is
    /// recorded as cancelled.
    Stopped(Stop),
}

/// Who stopped a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT or SIGTERM.
    Signal,
    /// `pitwall abort` at a canary's gate.
    Abort,
}

impl Failure {
    pub fn new(mode: FailureMode, message: String) -> Failure {
        Failure {
            cause: Cause::Release(mode),
            message,
            checks: Vec::new(),
        }
    }

    pub fn stopped(by: Stop, message: String) -> Failure {
        Failure {
            cause: Cause::Stopped(by),
            message,
            checks: Vec::new(),
        }
    }

    /// How the release failed; `None` when it was stopped.
    pub fn mode(&self) -> Option<FailureMode> {
        match self.cause {
            Cause::Release(mode) => Some(mode),
            Cause::Stopped(_) => None,
        }
    }
}

/// Bookkeeping that could not be written (a lock phase, the incident, the
/// history): reported beside the outcome, never a reason to stop a
/// rollback or to misreport what the stack runs.
#[derive(Debug, Default)]
pub struct Notes(Vec<String>);

impl Notes {
    /// `result`'s value, or `None` with the failure noted and shown.
    pub fn keep<T>(
        &mut self,
        progress: &Progress,
        what: &str,
        result: anyhow::Result<T>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                let note = progress.redactor.apply(&format!("{what}: {e:#}"));
                progress.warning(&note);
                self.0.push(note);
                None
            }
        }
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}
