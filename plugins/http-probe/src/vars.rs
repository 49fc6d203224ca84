//! `${var}` in step fields. Two kinds meet here: upper-case `${NAME}`s are
//! pitwall.toml's (the env file, the environment), expanded by the host
//! before the probe sees its configuration; lower-case ones are the probe's
//! own: `${release_id}`, `${project}` and values captured by earlier steps,
//! expanded at run time.

use std::collections::BTreeMap;

/// Replaces `${name}` with `vars[name]`; unknown names stay as they are.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                match vars.get(&after[..end]) {
                    Some(value) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The names `text` refers to as `${name}`.
pub fn references(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        found.push(&after[..end]);
        rest = &after[end + 1..];
    }
    found
}

/// Whether the host expands `${name}` (from the env file and the
/// environment) rather than the probe.
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_known_names_once_and_leaves_the_rest() {
        let vars = BTreeMap::from([
            ("csrf".to_string(), "${csrf}x".to_string()),
            ("n".to_string(), "1".to_string()),
        ]);
        // A value that looks like a reference is not expanded again.
        assert_eq!(substitute("a=${csrf}&b=${n}", &vars), "a=${csrf}x&b=1");
        assert_eq!(substitute("${other} ${n", &vars), "${other} ${n");
        assert_eq!(references("${a}/${B_2}?${"), ["a", "B_2"]);
        assert!(is_host_name("CHECK_PASSWORD") && !is_host_name("csrf") && !is_host_name("Csrf"));
    }
}
