//! The host's view of a check's result: the plugin's verdict plus what the
//! host itself saw (denied calls, HTTP exchanges, plugin logs, errors).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Inconclusive,
    /// The check itself failed: trap, panic, timeout, cap breach, bad config,
    /// unloadable plugin.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub label: String,
    pub value: String,
}

impl Evidence {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Evidence {
            label: label.into(),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub summary: String,
    /// The plugin's evidence followed by the host's (`host.*` labels).
    pub evidence: Vec<Evidence>,
    /// Lines the plugin logged, as `level: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    pub duration_ms: u64,
    /// A request of this run got no HTTP response at all (refused, reset,
    /// timed out): the target may not be up yet. Not recorded; the
    /// scheduler reads it.
    #[serde(skip)]
    pub no_response: bool,
}

impl Verdict {
    pub fn error(summary: impl Into<String>) -> Self {
        Verdict {
            outcome: Outcome::Error,
            summary: summary.into(),
            evidence: Vec::new(),
            logs: Vec::new(),
            duration_ms: 0,
            no_response: false,
        }
    }
}
