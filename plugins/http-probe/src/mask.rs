//! Captured values and cookies are secrets: the probe knows every one it
//! holds and blanks them in its summary and evidence, as they are and as
//! they travel encoded in URLs and form bodies.

/// Shorter values are not blanked: they cannot be secrets worth the name,
/// and blanking `1` or `ok` would garble every status and number (the host's
/// redactor draws the same line).
const MIN_LEN: usize = 4;

#[derive(Debug, Default)]
pub struct Secrets {
    /// Longest first, so a secret containing another is blanked whole.
    values: Vec<String>,
}

impl Secrets {
    pub fn add(&mut self, value: &str) {
        if value.chars().count() < MIN_LEN {
            return;
        }
        let escaped = crate::form::escape(value);
        let percent = escaped.replace('+', "%20");
        for v in [value.to_string(), escaped, percent] {
            if !self.values.contains(&v) {
                self.values.push(v);
            }
        }
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// `text` with every secret replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_values_raw_and_encoded_but_not_tiny_ones() {
        let mut s = Secrets::default();
        s.add("Tok3n/ab c");
        s.add("Tok3n");
        s.add("ok");
        assert_eq!(
            s.mask("a Tok3n/ab c b Tok3n%2Fab+c c Tok3n%2Fab%20c d Tok3n e ok"),
            "a *** b *** c *** d *** e ok"
        );
    }
}
