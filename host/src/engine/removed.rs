//! What pitwall keeps of the units it removes itself (a start-first
//! switch's failed new container, the old one it replaces): their last log
//! lines, taken after the unit stopped and before it is removed, since
//! `docker logs` cannot find a removed container. An incident shows them;
//! a failure message quotes the newest few.

use std::sync::Mutex;

use super::EngineError;
use super::docker::{DockerApi, Unit};

/// Lines kept of one removed unit.
pub const KEPT_LINES: usize = 200;
/// Units kept per command; a switch removes a handful.
const KEPT_UNITS: usize = 32;
/// Lines a failure message quotes.
const QUOTED_LINES: usize = 20;

/// A unit pitwall removed, with its last lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedUnit {
    pub service: String,
    /// Container name.
    pub name: String,
    pub why: Removal,
    /// The last lines it logged (at most `KEPT_LINES`), or why they could
    /// not be read.
    pub lines: Result<Vec<String>, String>,
}

/// Why pitwall removed a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A new unit that never became ready: the release's own failure.
    NeverReady,
    /// An old unit replaced by a ready new one.
    Replaced,
    /// A blue-green unit users were switched away from.
    SwitchedAway,
    /// A blue-green unit kept for a switch back, superseded by a newer
    /// release.
    Superseded,
}

impl Removal {
    pub fn as_str(self) -> &'static str {
        match self {
            Removal::NeverReady => "never became ready",
            Removal::Replaced => "replaced by the new release",
            Removal::SwitchedAway => "users were switched back to the previous release",
            Removal::Superseded => "kept for a switch back, superseded by a newer release",
        }
    }
}

impl RemovedUnit {
    /// The newest lines, indented, for a failure message.
    pub fn quoted(&self) -> String {
        match &self.lines {
            Ok(lines) if lines.is_empty() => format!("{} logged nothing", self.name),
            Ok(lines) => {
                let from = lines.len().saturating_sub(QUOTED_LINES);
                let mut out = format!("last lines of {}:", self.name);
                for line in &lines[from..] {
                    out.push_str("\n  | ");
                    out.push_str(line);
                }
                out
            }
            Err(e) => format!("the logs of {} could not be read: {e}", self.name),
        }
    }
}

/// The units removed so far by this process, oldest first.
#[derive(Debug, Default)]
pub struct Removed(Mutex<Vec<RemovedUnit>>);

impl Removed {
    /// Stops `unit` (SIGTERM, SIGKILL after `grace`), keeps its last lines,
    /// removes it. Returns what was kept.
    pub async fn retire(
        &self,
        docker: &DockerApi,
        unit: &Unit,
        why: Removal,
        grace: std::time::Duration,
    ) -> Result<RemovedUnit, EngineError> {
        docker.stop(&unit.id, grace).await?;
        let lines = docker
            .last_lines(&unit.id, KEPT_LINES)
            .await
            .map_err(|e| e.to_string());
        docker.remove(&unit.id).await?;
        let kept = RemovedUnit {
            service: unit.container.service.clone(),
            name: unit.container.name.clone(),
            why,
            lines,
        };
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() == KEPT_UNITS {
            all.remove(0);
        }
        all.push(kept.clone());
        Ok(kept)
    }

    pub fn list(&self) -> Vec<RemovedUnit> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(lines: Result<Vec<String>, String>) -> RemovedUnit {
        RemovedUnit {
            service: "api".into(),
            name: "p-api-2".into(),
            why: Removal::NeverReady,
            lines,
        }
    }

    #[test]
    fn a_failure_quotes_the_newest_lines() {
        let lines: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
        let quoted = unit(Ok(lines)).quoted();
        assert!(quoted.starts_with("last lines of p-api-2:"), "{quoted}");
        assert!(quoted.contains("\n  | line 11\n"), "{quoted}");
        assert!(quoted.ends_with("  | line 30"), "{quoted}");
        assert!(!quoted.contains("line 10\n"), "{quoted}");
        assert_eq!(unit(Ok(vec![])).quoted(), "p-api-2 logged nothing");
        assert!(
            unit(Err("gone".into()))
                .quoted()
                .contains("could not be read: gone")
        );
    }
}
