//! The host's view of a check's result: the plugin's verdict plus what the
//! host itself saw (denied calls, HTTP exchanges, plugin logs, errors).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    pub outcome: Outcome,
    pub summary: String,
    /// The plugin's evidence followed by the host's (`host.*` labels).
    pub evidence: Vec<Evidence>,
    /// Lines the plugin logged, as `level: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    pub duration_ms: u64,
    /// A request of this run got no answer from the app: no HTTP response
    /// at all (refused, reset, timed out), or a gateway's 502 or 504 (a
    /// proxy in front whose upstream does not answer). The target may not
    /// be up yet. Not recorded; the scheduler reads it.
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

/// Whether a check's text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Line breaks and tabs stay (evidence values, messages).
    Kept,
    /// One line: every control character is escaped (summaries, labels).
    Escaped,
}

/// A check's text reaches terminals, files and JSON: its control characters
/// (ESC, CR, …) are shown escaped, so a check cannot redraw a FAIL as a
/// PASS. Evidence values may keep their line breaks and tabs.
pub fn visible(text: String, lines: Lines) -> String {
    let hidden = |c: char| c.is_control() && !(lines == Lines::Kept && matches!(c, '\n' | '\t'));
    if !text.chars().any(hidden) {
        return text;
    }
    text.chars()
        .map(|c| {
            if hidden(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Shortens `text` to at most `max` bytes on a char boundary, marking the
/// cut: every byte a check makes the host keep or print is capped.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Evidence labels under `host.` are the host's own; a check's are moved
/// out of that namespace so they cannot pass for what the host saw.
pub fn check_label(label: String) -> String {
    let label = visible(label, Lines::Escaped);
    if label.starts_with("host.") {
        format!("check:{label}")
    } else {
        label
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_checks_text_cannot_carry_escapes_or_pose_as_the_host() {
        let fake = "\x1b[2K\rPASS all good".to_string();
        use super::Lines;
        assert_eq!(
            super::visible(fake, Lines::Escaped),
            "\\u{1b}[2K\\rPASS all good"
        );
        assert_eq!(super::visible("a\nb\tc".into(), Lines::Kept), "a\nb\tc");
        assert_eq!(super::visible("a\nb".into(), Lines::Escaped), "a\\nb");
        assert_eq!(super::check_label("host.http".into()), "check:host.http");
        assert_eq!(super::check_label("status".into()), "status");
    }
}
