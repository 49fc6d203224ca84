//! The state files are a contract with the runbook's scripts and with every
//! pitwall version that reads them: files written by an earlier version
//! (tests/fixtures/state, produced by real deploys, rollbacks and
//! recoveries) are read, and written back byte for byte.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pitwall::release::history::{self, Action, RecordOutcome};
use pitwall::release::lock::{self, Holding, LockPhase};
use pitwall::release::state;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/state")
}

fn services() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("api".to_string(), "BACKEND".to_string()),
        ("frontend".to_string(), "FRONTEND".to_string()),
    ])
}

#[test]
fn history_records_of_every_kind_are_read_and_appended_back_byte_identical() {
    let records = history::read(&fixtures()).unwrap();
    let original = std::fs::read(fixtures().join("history.jsonl")).unwrap();
    assert_eq!(
        records.len(),
        original.iter().filter(|b| **b == b'\n').count(),
        "every line is read"
    );
    for (action, outcome) in [
        (Action::Deploy, RecordOutcome::Released),
        (Action::Deploy, RecordOutcome::RolledBack),
        (Action::Deploy, RecordOutcome::Failed),
        (Action::Rollback, RecordOutcome::Restored),
        (Action::Recover, RecordOutcome::Restored),
        (Action::Recover, RecordOutcome::Interrupted),
    ] {
        assert!(
            records
                .iter()
                .any(|r| r.action == action && r.outcome == outcome),
            "the fixture has a {action:?} that ended {outcome:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for r in &records {
        history::append(dir.path(), r).unwrap();
    }
    let written = std::fs::read(dir.path().join("history.jsonl")).unwrap();
    assert!(written == original, "history.jsonl changed on a round trip");
}

#[test]
fn state_env_is_read_and_written_back_byte_identical() {
    let pointers = state::read(&fixtures(), &services()).unwrap();
    let (current, _) = pointers.current.as_ref().expect("a current release");
    assert!(pointers.previous.is_some());
    assert!(current.images["api"].digest.is_some());
    let dir = tempfile::tempdir().unwrap();
    state::write(dir.path(), &services(), &pointers).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("state.env")).unwrap(),
        std::fs::read_to_string(fixtures().join("state.env")).unwrap()
    );
}

#[test]
fn the_lock_holder_is_read_and_serialised_back_byte_identical() {
    let holder = lock::read(&fixtures()).unwrap().expect("a holder");
    assert_eq!(holder.command, Holding::Deploy);
    assert_eq!(holder.phase, LockPhase::Soaking);
    assert!(holder.phase.touches_stack());
    assert_eq!(
        serde_json::to_string(&holder).unwrap(),
        std::fs::read_to_string(fixtures().join("deploy.lock")).unwrap()
    );
}

#[test]
fn lock_phases_say_whether_the_stack_was_touched() {
    for (phase, touched) in [
        (LockPhase::Preflight, false),
        (LockPhase::Pulling, false),
        (LockPhase::Applying, true),
        (LockPhase::Soaking, true),
        (LockPhase::RollingBack, true),
        (LockPhase::Recording, true),
        (LockPhase::Recovering, true),
    ] {
        assert_eq!(phase.touches_stack(), touched, "{phase:?}");
    }
}

fn one_record() -> history::Record {
    history::read(&fixtures()).unwrap().remove(0)
}

#[test]
fn a_torn_last_line_does_not_swallow_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.jsonl");
    let mut torn = std::fs::read(fixtures().join("history.jsonl")).unwrap();
    let lines = torn.iter().filter(|b| **b == b'\n').count();
    torn.truncate(torn.len() - 40); // a crash mid-append
    std::fs::write(&file, &torn).unwrap();
    history::append(dir.path(), &one_record()).unwrap();
    let records = history::read(dir.path()).unwrap();
    assert_eq!(
        records.len(),
        lines,
        "the torn line is skipped, the new one kept"
    );
    assert_eq!(records.last().unwrap().release_id, one_record().release_id);
}

#[test]
fn an_append_that_hits_a_full_disk_leaves_no_half_record() {
    let disk = common::fault::SmallDisk::mount(64);
    let state = disk.path();
    history::append(state, &one_record()).unwrap();
    let before = std::fs::read(state.join("history.jsonl")).unwrap();
    disk.fill();
    let mut big = one_record();
    big.failure = Some("x".repeat(64 * 1024));
    let e = history::append(state, &big).unwrap_err();
    assert!(format!("{e:#}").contains("No space left"), "{e:#}");
    assert_eq!(std::fs::read(state.join("history.jsonl")).unwrap(), before);
    disk.free();
    history::append(state, &one_record()).unwrap();
    assert_eq!(history::read(state).unwrap().len(), 2);
}

#[test]
fn the_history_is_never_written_through_a_symbolic_link() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "").unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::symlink(&elsewhere, state.join("history.jsonl")).unwrap();
    let e = history::append(&state, &one_record()).unwrap_err();
    assert!(format!("{e:#}").contains("symbolic link"), "{e:#}");
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"");
}
