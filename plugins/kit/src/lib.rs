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
