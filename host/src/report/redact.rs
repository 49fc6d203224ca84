//! Keeps the env file's values out of everything pitwall prints or writes.

use serde::Serialize;

/// Removes the env file's values from anything pitwall prints or writes.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Values that cannot be secrets and would only garble the output when
    /// blanked (ports, booleans, tiny words) are left alone.
    pub fn new(values: Vec<String>) -> Redactor {
        const PLAIN: &[&str] = &["true", "false", "yes", "no", "on", "off", "null", "none"];
        let mut secrets: Vec<String> = values
            .into_iter()
            .filter(|v| {
                let short_number = v.len() <= 5 && v.chars().all(|c| c.is_ascii_digit());
                v.len() >= 4 && !short_number && !PLAIN.contains(&v.to_ascii_lowercase().as_str())
            })
            .collect();
        // Longest first, so a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    /// A copy of `value` with secrets removed from every string in it (keys
    /// and structure untouched, so the result is still the same type).
    pub fn scrub<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        value: &T,
    ) -> anyhow::Result<T> {
        fn walk(v: &mut serde_json::Value, r: &Redactor) {
            match v {
                serde_json::Value::String(s) => *s = r.apply(s),
                serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, r)),
                serde_json::Value::Object(o) => o.values_mut().for_each(|v| walk(v, r)),
                _ => {}
            }
        }
        let mut json = serde_json::to_value(value)?;
        walk(&mut json, self);
        Ok(serde_json::from_value(json)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_blanks_secrets_but_not_structure_or_plain_values() {
        let r = Redactor::new(vec![
            "hunter2hunter2".into(),
            "true".into(),
            "8080".into(),
            "abc".into(),
        ]);
        assert_eq!(
            r.apply("pw=hunter2hunter2 port 8080 ok=true"),
            "pw=*** port 8080 ok=true"
        );
        let v = serde_json::json!({"passed": true, "note": "hunter2hunter2!", "n": 8080});
        let scrubbed: serde_json::Value = r.scrub(&v).unwrap();
        assert_eq!(
            scrubbed,
            serde_json::json!({"passed": true, "note": "***!", "n": 8080})
        );
    }
}
