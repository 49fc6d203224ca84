//! Strict configuration parsing: an unknown key is an error that names it,
//! so a typo (`max_queu_depth`) is caught at deploy preflight instead of
//! silently falling back to a default.

use serde::de::DeserializeOwned;

/// Parses the JSON configuration into `T`, refusing keys `T` does not
/// declare, with the path of the key (`steps[1].timout_ms`).
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed: Result<T, _> =
        serde_ignored::deserialize(&mut de, |path| unknown.push(path.to_string()))
            .and_then(|value| de.end().map(|()| value));
    // A misspelt required key shows up twice: unknown, and missing. The
    // unknown one is the cause, so it comes first.
    match (parsed, unknown_keys(&unknown)) {
        (Ok(value), None) => Ok(value),
        (Ok(_), Some(unknown)) => Err(unknown),
        (Err(e), None) => Err(format!("invalid configuration: {e}")),
        (Err(e), Some(unknown)) => Err(format!("{unknown}; invalid configuration: {e}")),
    }
}

fn unknown_keys(keys: &[String]) -> Option<String> {
    match keys {
        [] => None,
        [one] => Some(format!("unknown configuration key `{one}` (a typo?)")),
        many => Some(format!(
            "unknown configuration keys {} (typos?)",
            many.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Step {
        url: String,
        #[serde(default)]
        timeout_ms: Option<u32>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Config {
        steps: Vec<Step>,
        #[serde(default)]
        limit: u32,
    }

    #[test]
    fn names_the_unknown_key_with_its_path() {
        let e = parse::<Config>(r#"{"steps": [{"url": "a"}, {"url": "b", "timout_ms": 5}]}"#)
            .unwrap_err();
        assert_eq!(e, "unknown configuration key `steps.1.timout_ms` (a typo?)");
        let e = parse::<Config>(r#"{"steps": [], "limt": 1, "x": 2}"#).unwrap_err();
        assert_eq!(e, "unknown configuration keys `limt`, `x` (typos?)");
    }

    #[test]
    fn parses_and_explains_wrong_types() {
        let c = parse::<Config>(r#"{"steps": [{"url": "a"}], "limit": 3}"#).unwrap();
        assert_eq!(c.limit, 3);
        let e = parse::<Config>(r#"{"steps": [], "limit": "three"}"#).unwrap_err();
        assert!(
            e.starts_with("invalid configuration: invalid type: string \"three\""),
            "{e}"
        );
        let e = parse::<Config>("{}").unwrap_err();
        assert!(e.contains("missing field `steps`"), "{e}");
        let e = parse::<Config>(r#"{"stpes": []}"#).unwrap_err();
        assert!(
            e.starts_with("unknown configuration key `stpes` (a typo?); invalid configuration: missing field `steps`"),
            "{e}"
        );
    }
}
