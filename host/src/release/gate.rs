//! A canary's manual gate: while a deploy waits at a `pause` step it writes
//! `gate.json` (the release, the step, the share of users on it, the
//! verdicts so far) in the state directory; `pitwall promote` or `pitwall
//! abort`, from any process or host sharing the directory, answers with
//! `gate.decision`. The decision is created, never overwritten: of two
//! racing answers the first wins and the second is told so, and an answer
//! while no gate is open (a step still running) is refused, not queued.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fsutil;

/// What waits at the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Gate {
    pub release_id: String,
    /// The pause step's position (1-based) and every step, as written.
    pub step: usize,
    pub steps: Vec<String>,
    /// The share of users (percent) on the release while it waits.
    pub share: u8,
    /// When the gate opened (RFC 3339).
    pub since: String,
    /// The checks judged so far: name and whether it passed.
    pub verdicts: Vec<(String, bool)>,
}

/// The answer to a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Go on with the next steps.
    Promote,
    /// Switch users back to the previous release and remove this one.
    Abort,
}

/// The decision as written, with who gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub decision: Decision,
    pub release_id: String,
    pub by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(
        "no release waits at a pause step (see `pitwall status`): promote and abort answer a \
         canary's `pause`; a step that is running finishes on its own verdicts"
    )]
    NoneOpen,
    #[error("release {waiting} waits at the gate, not {asked}")]
    OtherRelease { waiting: String, asked: String },
    #[error("the gate was already answered: {0:?} by {1}")]
    Answered(Decision, String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn gate_path(state_dir: &Path) -> PathBuf {
    state_dir.join("gate.json")
}

fn decision_path(state_dir: &Path) -> PathBuf {
    state_dir.join("gate.decision")
}

/// Opens the gate (a stale decision from an earlier gate is removed first).
pub fn open(state_dir: &Path, gate: &Gate) -> std::io::Result<()> {
    remove(&decision_path(state_dir))?;
    let json = serde_json::to_vec_pretty(gate).map_err(std::io::Error::other)?;
    fsutil::write_atomic(&gate_path(state_dir), &json)
}

/// The open gate, if any.
pub fn read(state_dir: &Path) -> std::io::Result<Option<Gate>> {
    read_json(&gate_path(state_dir))
}

/// The answer given, if any.
pub fn answer(state_dir: &Path) -> std::io::Result<Option<Answer>> {
    read_json(&decision_path(state_dir))
}

/// Answers the open gate. `release_id`, when given, must be the release
/// that waits (so a stale command cannot promote a newer release).
pub fn decide(
    state_dir: &Path,
    decision: Decision,
    release_id: Option<&str>,
    by: &str,
) -> Result<Gate, GateError> {
    let gate = read(state_dir)?.ok_or(GateError::NoneOpen)?;
    if let Some(asked) = release_id.filter(|r| *r != gate.release_id) {
        return Err(GateError::OtherRelease {
            waiting: gate.release_id,
            asked: asked.to_string(),
        });
    }
    let answer = Answer {
        decision,
        release_id: gate.release_id.clone(),
        by: by.to_string(),
    };
    let json = serde_json::to_vec(&answer).map_err(std::io::Error::other)?;
    match fsutil::create_atomic(&decision_path(state_dir), &json) {
        Ok(()) => Ok(gate),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let first = answer_or(state_dir, decision);
            Err(GateError::Answered(first.decision, first.by))
        }
        Err(e) => Err(e.into()),
    }
}

/// Closes the gate: both files removed.
pub fn close(state_dir: &Path) -> std::io::Result<()> {
    remove(&gate_path(state_dir))?;
    remove(&decision_path(state_dir))
}

fn answer_or(state_dir: &Path, decision: Decision) -> Answer {
    answer(state_dir).ok().flatten().unwrap_or(Answer {
        decision,
        release_id: String::new(),
        by: "?".into(),
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match fsutil::read_regular(path, 1 << 20) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate {
            release_id: "1.1".into(),
            step: 3,
            steps: vec![
                "10%".into(),
                "wait 1m".into(),
                "pause".into(),
                "100%".into(),
            ],
            share: 10,
            since: "2026-12-07T00:00:00Z".into(),
            verdicts: vec![("live-items".into(), true)],
        }
    }

    #[test]
    fn the_first_answer_wins_and_none_is_taken_without_an_open_gate() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(matches!(
            decide(d, Decision::Promote, None, "ci"),
            Err(GateError::NoneOpen)
        ));
        open(d, &gate()).unwrap();
        assert!(matches!(
            decide(d, Decision::Promote, Some("1.2"), "ci"),
            Err(GateError::OtherRelease { .. })
        ));
        assert_eq!(
            decide(d, Decision::Abort, Some("1.1"), "alice").unwrap(),
            gate()
        );
        match decide(d, Decision::Promote, None, "ci") {
            Err(GateError::Answered(Decision::Abort, by)) => assert_eq!(by, "alice"),
            other => panic!("{other:?}"),
        }
        assert_eq!(answer(d).unwrap().unwrap().decision, Decision::Abort);
        close(d).unwrap();
        assert_eq!(read(d).unwrap(), None);
        assert_eq!(answer(d).unwrap(), None);
        // A new gate starts unanswered.
        open(d, &gate()).unwrap();
        assert_eq!(answer(d).unwrap(), None);
    }
}
