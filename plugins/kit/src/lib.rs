//! Plain types shared by pitwall's built-in checks, so their decision logic is
//! ordinary Rust that unit tests and benchmarks run natively; each check's
//! `guest` module maps them onto the WIT types.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Inconclusive,
}

/// A verdict before it crosses the component boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub outcome: Outcome,
    pub summary: String,
    pub evidence: Vec<(String, String)>,
}

impl Finding {
    pub fn new(
        outcome: Outcome,
        summary: impl Into<String>,
        evidence: Vec<(String, String)>,
    ) -> Self {
        Finding {
            outcome,
            summary: summary.into(),
            evidence,
        }
    }
}

/// Shortens `text` to at most `max` bytes on a char boundary, marking the cut.
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

/// Converts a [`Finding`] into the `verdict` type that `wit_bindgen::generate!`
/// made in the calling crate: `to_verdict!(finding, path::to::types)`, where
/// the path is the generated `pitwall::check::types` module.
#[macro_export]
macro_rules! to_verdict {
    ($finding:expr, $types:path) => {{
        use $types as wit;
        let finding: $crate::Finding = $finding;
        wit::Verdict {
            outcome: match finding.outcome {
                $crate::Outcome::Pass => wit::Outcome::Pass,
                $crate::Outcome::Fail => wit::Outcome::Fail,
                $crate::Outcome::Inconclusive => wit::Outcome::Inconclusive,
            },
            summary: finding.summary,
            evidence: finding
                .evidence
                .into_iter()
                .map(|(label, value)| wit::Evidence { label, value })
                .collect(),
        }
    }};
}
