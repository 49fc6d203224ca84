//! Verdicts as plain values, so decision logic returns them in native tests.

use crate::bindings::pitwall::check::types as wit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// The check could not tell (e.g. its own configuration is wrong). Counts
    /// as not passing, but says the release was not judged.
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub label: String,
    pub value: String,
}

/// What a run concludes: an outcome, one line of summary and labelled
/// evidence (`Verdict::fail("db is down").with("db", "down")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

impl Verdict {
    pub fn new(outcome: Outcome, summary: impl Into<String>) -> Verdict {
        Verdict {
            outcome,
            summary: summary.into(),
            evidence: Vec::new(),
        }
    }

    /// A verdict with its evidence as label/value pairs.
    pub fn with_evidence(
        outcome: Outcome,
        summary: impl Into<String>,
        evidence: impl IntoIterator<Item = (String, String)>,
    ) -> Verdict {
        Verdict {
            outcome,
            summary: summary.into(),
            evidence: evidence
                .into_iter()
                .map(|(label, value)| Evidence { label, value })
                .collect(),
        }
    }

    pub fn pass(summary: impl Into<String>) -> Verdict {
        Verdict::new(Outcome::Pass, summary)
    }

    pub fn fail(summary: impl Into<String>) -> Verdict {
        Verdict::new(Outcome::Fail, summary)
    }

    pub fn inconclusive(summary: impl Into<String>) -> Verdict {
        Verdict::new(Outcome::Inconclusive, summary)
    }

    /// Adds one piece of evidence. Labels starting with `host.` are the
    /// host's own: pitwall renames a check's.
    pub fn with(mut self, label: impl Into<String>, value: impl ToString) -> Verdict {
        self.evidence.push(Evidence {
            label: label.into(),
            value: value.to_string(),
        });
        self
    }

    /// The evidence value under `label`, if any.
    pub fn evidence(&self, label: &str) -> Option<&str> {
        self.evidence
            .iter()
            .find(|e| e.label == label)
            .map(|e| e.value.as_str())
    }

    pub(crate) fn into_wit(self) -> wit::Verdict {
        wit::Verdict {
            outcome: match self.outcome {
                Outcome::Pass => wit::Outcome::Pass,
                Outcome::Fail => wit::Outcome::Fail,
                Outcome::Inconclusive => wit::Outcome::Inconclusive,
            },
            summary: self.summary,
            evidence: self
                .evidence
                .into_iter()
                .map(|e| wit::Evidence {
                    label: e.label,
                    value: e.value,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads_back() {
        let v = Verdict::fail("db is down")
            .with("db", "down")
            .with("status", 503);
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.evidence("status"), Some("503"));
        assert_eq!(v.evidence("nope"), None);
        let w = v.into_wit();
        assert_eq!(w.evidence.len(), 2);
        assert!(matches!(w.outcome, wit::Outcome::Fail));
    }
}
