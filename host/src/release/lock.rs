//! The deploy lock: one deploy, rollback or recovery at a time per state
//! directory. The lock file names its holder and the phase it reached, so a
//! holder that died is detected and explained, never silently overridden.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::history::Action;
use crate::fsutil::{create_atomic, write_atomic};

/// What holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Holding {
    Deploy,
    Rollback,
    Recover,
    Prune,
    /// `pitwall lock acquire`: held on purpose until `pitwall lock release`,
    /// whatever becomes of the process that took it.
    Manual,
}

impl Holding {
    pub fn as_str(self) -> &'static str {
        match self {
            Holding::Deploy => "deploy",
            Holding::Rollback => "rollback",
            Holding::Recover => "recover",
            Holding::Prune => "prune",
            Holding::Manual => "lock acquire",
        }
    }
}

impl From<Action> for Holding {
    fn from(a: Action) -> Holding {
        match a {
            Action::Deploy => Holding::Deploy,
            Action::Rollback => Holding::Rollback,
            Action::Recover => Holding::Recover,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub command: Holding,
    /// Who ran it (absent in locks written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Why a manual lock is held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub release_id: String,
    pub since: String,
    /// How far it got.
    pub phase: LockPhase,
    /// The incident of the failed release being rolled back, once written:
    /// a recovery after a killed rollback closes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

/// How far the holder got, for whoever finds the lock after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LockPhase {
    /// Checking input; nothing read or changed yet.
    Preflight,
    /// Pulling images and resolving digests; the stack is untouched.
    Pulling,
    /// Applying the release, then verifying it.
    Applying,
    /// Verified; watch checks run through the soak.
    Soaking,
    /// The release failed: incident, then the previous release re-applied.
    RollingBack,
    /// Writing state.env and the history.
    Recording,
    /// `pitwall recover` took over a dead holder's lock.
    Recovering,
}

impl LockPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            LockPhase::Preflight => "preflight",
            LockPhase::Pulling => "pulling",
            LockPhase::Applying => "applying",
            LockPhase::Soaking => "soaking",
            LockPhase::RollingBack => "rolling-back",
            LockPhase::Recording => "recording",
            LockPhase::Recovering => "recovering",
        }
    }

    /// Whether a holder in this phase may have changed the running stack
    /// (and so must not leave without a recovery).
    pub fn touches_stack(self) -> bool {
        !matches!(self, LockPhase::Preflight | LockPhase::Pulling)
    }
}

impl Holder {
    /// Whether the holding process still runs (only knowable on this host).
    /// A manual lock has no process to outlive: it is held until released.
    pub fn alive(&self) -> Option<bool> {
        if self.command == Holding::Manual {
            return Some(true);
        }
        (self.host == crate::whoami::host())
            .then(|| Path::new(&format!("/proc/{}", self.pid)).exists())
    }

    pub fn describe(&self) -> String {
        if self.command == Holding::Manual {
            return format!(
                "a manual lock by {} on {} since {}: {}",
                self.user.as_deref().unwrap_or("someone"),
                self.host,
                self.since,
                self.message.as_deref().unwrap_or("(no message)")
            );
        }
        format!(
            "`pitwall {}` of release {} (pid {} on {}, since {}, phase {})",
            self.command.as_str(),
            self.release_id,
            self.pid,
            self.host,
            self.since,
            self.phase.as_str()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another deploy holds the lock: {} — wait for it to finish", .0.describe())]
    Held(Box<Holder>),
    #[error("the stack is locked: {} — `pitwall lock release` when the reason is gone", .0.describe())]
    Manual(Box<Holder>),
    #[error(
        "a previous {} died without finishing (the process is gone); the stack may be half-way. \
         Run `pitwall recover` to restore the last good release and clear the lock",
        .0.describe()
    )]
    Stale(Box<Holder>),
    #[error("the lock file {0} is unreadable; if no pitwall runs, inspect and remove it")]
    Corrupt(PathBuf),
    #[error("cannot take the lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("deploy.lock")
}

/// The current holder, if any.
pub fn read(state_dir: &Path) -> Result<Option<Holder>, LockError> {
    let file = path(state_dir);
    match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| LockError::Corrupt(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LockError::Io { path: file, source }),
    }
}

/// A held lock. `release` removes it when the command finished. Dropped
/// without `release` (an unexpected error) it is removed only if the stack was
/// not touched yet; otherwise it stays, like after a kill, so the next command
/// sends the operator to `pitwall recover`.
pub struct Lock {
    file: PathBuf,
    holder: Holder,
    touched: bool,
}

impl Lock {
    pub fn acquire(
        state_dir: &Path,
        command: impl Into<Holding>,
        release_id: &str,
    ) -> Result<Lock, LockError> {
        Lock::acquire_with(state_dir, command.into(), release_id, None)
    }

    /// As `acquire`, with a message saying why (a manual lock's).
    pub fn acquire_with(
        state_dir: &Path,
        command: Holding,
        release_id: &str,
        message: Option<String>,
    ) -> Result<Lock, LockError> {
        let file = path(state_dir);
        let io = |source| LockError::Io {
            path: file.clone(),
            source,
        };
        let holder = Holder {
            pid: std::process::id(),
            host: crate::whoami::host(),
            command,
            user: Some(crate::whoami::user()),
            message,
            release_id: release_id.to_string(),
            since: crate::clock::now_rfc3339(),
            phase: LockPhase::Preflight,
            incident: None,
        };
        let json = serde_json::to_vec(&holder).map_err(|e| io(e.into()))?;
        // Of two racing deploys exactly one creates the file, and it appears
        // with the holder already in it: never empty, not even on a full disk.
        match create_atomic(&file, &json) {
            Ok(()) => Ok(Lock {
                file,
                holder,
                touched: false,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(state_dir)? {
                // Died before touching the stack (a second Ctrl-C while
                // pulling): nothing to recover, so its lock is taken over.
                Some(h) if h.alive() == Some(false) && !h.phase.touches_stack() => {
                    tracing::warn!(
                        "taking over the lock of {}, which died before touching the stack",
                        h.describe()
                    );
                    write_atomic(&file, &json).map_err(io)?;
                    Ok(Lock {
                        file,
                        holder,
                        touched: false,
                    })
                }
                Some(h) if h.command == Holding::Manual => Err(LockError::Manual(Box::new(h))),
                Some(h) if h.alive() == Some(false) => Err(LockError::Stale(Box::new(h))),
                Some(h) => Err(LockError::Held(Box::new(h))),
                None => Err(LockError::Corrupt(file)),
            },
            Err(e) => Err(io(e)),
        }
    }

    /// Records the phase reached, for whoever finds the lock after a crash.
    /// A caller that cannot record a phase that touches the stack must not
    /// touch it (a phase is only entered once it is written), unless it
    /// already has: then the write is bookkeeping and the caller goes on.
    pub fn phase(&mut self, phase: LockPhase) -> anyhow::Result<()> {
        self.holder.phase = phase;
        self.write()?;
        self.touched |= phase.touches_stack();
        Ok(())
    }

    /// Names the incident being handled, for a recovery if this dies.
    pub fn incident(&mut self, path: &Path) -> anyhow::Result<()> {
        self.holder.incident = Some(path.display().to_string());
        self.write()
    }

    /// Rewrites the lock, only while it is still ours: a lock cleared by
    /// hand (`lock release --force`) and taken by another command is never
    /// overwritten, so two commands never both believe they hold it.
    fn write(&self) -> anyhow::Result<()> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        match read(dir)? {
            Some(h)
                if h.pid == self.holder.pid
                    && h.host == self.holder.host
                    && h.since == self.holder.since => {}
            Some(h) => anyhow::bail!(
                "the deploy lock is no longer ours: {} holds it now (it was cleared by hand meanwhile); stopping",
                h.describe()
            ),
            None => anyhow::bail!(
                "the deploy lock {} was removed by hand while this command held it; stopping",
                self.file.display()
            ),
        }
        self.write_unchecked()
    }

    fn write_unchecked(&self) -> anyhow::Result<()> {
        let json = serde_json::to_vec(&self.holder)?;
        write_atomic(&self.file, &json)
            .with_context(|| format!("cannot update {}", self.file.display()))
    }

    /// Takes over a stale lock (for `recover`), keeping it held by us.
    /// The stack may be half-way, so the lock stays if the recovery dies
    /// too; it keeps the dead holder's incident for the next recovery.
    pub fn take_over(state_dir: &Path, dead: &Holder) -> anyhow::Result<Lock> {
        let lock = Lock {
            file: path(state_dir),
            touched: true,
            holder: Holder {
                pid: std::process::id(),
                host: crate::whoami::host(),
                command: Holding::Recover,
                user: Some(crate::whoami::user()),
                message: None,
                release_id: dead.release_id.clone(),
                since: crate::clock::now_rfc3339(),
                phase: LockPhase::Recovering,
                incident: dead.incident.clone(),
            },
        };
        // The dead holder's file is replaced by ours: this is the takeover.
        lock.write_unchecked()?;
        Ok(lock)
    }

    /// The command finished (whatever its outcome was recorded as).
    pub fn release(mut self) {
        self.touched = false;
    }

    /// Leaves the lock held after this process exits (`pitwall lock
    /// acquire`); `release_held` ends it.
    pub fn hold(self) {
        // Dropping would remove the file; the held lock must outlive us.
        std::mem::forget(self);
    }
}

/// Removes the lock file of a holder the caller judged safe to clear, but
/// only if it still names that holder: a lock taken meanwhile stays.
pub fn release_held(state_dir: &Path, holder: &Holder) -> Result<(), LockError> {
    let file = path(state_dir);
    match read(state_dir)? {
        Some(h) if &h == holder => {
            std::fs::remove_file(&file).map_err(|source| LockError::Io { path: file, source })
        }
        Some(h) => Err(LockError::Held(Box::new(h))),
        None => Ok(()),
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.touched {
            tracing::warn!(
                "leaving {} in place: the stack was changed and the command did not finish; run `pitwall recover`",
                self.file.display()
            );
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.file) {
            tracing::warn!("cannot remove the lock {}: {e}", self.file.display());
        }
    }
}
