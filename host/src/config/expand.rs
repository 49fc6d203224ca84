//! `${VAR}` and `${VAR:-default}` in configuration strings.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use anyhow::bail;
use regex::Regex;

pub(super) fn expand_all(
    value: &mut toml::Value,
    vars: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    match value {
        toml::Value::String(s) => *s = expand(s, vars)?,
        toml::Value::Array(a) => a.iter_mut().try_for_each(|v| expand_all(v, vars))?,
        toml::Value::Table(t) => t.iter_mut().try_for_each(|(_, v)| expand_all(v, vars))?,
        _ => {}
    }
    Ok(())
}

/// Expands `${NAME}` and `${NAME:-default}`; leaves other `$` text alone
/// (e.g. `${release_id}`, which checks expand themselves, is kept when no
/// such variable exists and it has no default).
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> anyhow::Result<String> {
    substitute(text, |name| vars.get(name).map(String::as_str))
}

/// [`expand`] with `lookup` giving the value of each upper-case name it
/// meets: the one reader of pitwall's `${…}` syntax.
fn substitute<'v>(
    text: &str,
    mut lookup: impl FnMut(&str) -> Option<&'v str>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bail!("unclosed `${{` in `{text}`");
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let is_env_name = name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        match (is_env_name.then(|| lookup(name)).flatten(), default) {
            (Some(v), _) => out.push_str(v),
            (_, Some(d)) => out.push_str(d),
            _ => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The variables the strings of `value` refer to, as [`expand`] reads them.
pub(super) fn references_in(value: &toml::Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut walk = vec![value];
    while let Some(v) = walk.pop() {
        match v {
            // An unclosed `${` is `expand_all`'s to report.
            toml::Value::String(s) => drop(substitute(s, |name| {
                found.insert(name.to_string());
                None
            })),
            toml::Value::Array(a) => walk.extend(a),
            toml::Value::Table(t) => walk.extend(t.values()),
            _ => {}
        }
    }
    found
}

/// The variables `text` refers to as compose expands them: `$NAME`,
/// `${NAME}` with any modifier after the name, `$$` a plain `$`.
pub(super) fn compose_references(text: &str) -> BTreeSet<&str> {
    // `$$` is matched first at its position, so an escaped `$$NAME` is no
    // reference.
    static COMPOSE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\$\$|\$\{?([A-Za-z_][A-Za-z0-9_]*)").expect("a valid pattern")
    });
    COMPOSE
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .collect()
}

/// The variables compose takes from the environment for a compose file:
/// those it expands, and those a service passes through by name
/// (`environment: [NAME]`, or `NAME:` with no value).
pub(super) fn compose_variables(text: &str) -> BTreeSet<String> {
    use serde_norway::Value;
    let mut found: BTreeSet<String> = compose_references(text)
        .into_iter()
        .map(str::to_string)
        .collect();
    let Ok(mut yaml) = serde_norway::from_str::<Value>(text) else {
        return found;
    };
    // `<<: *defaults` may carry a service's environment.
    if yaml.apply_merge().is_err() {
        return found;
    }
    let services = yaml.get("services").and_then(Value::as_mapping);
    for service in services.into_iter().flat_map(|s| s.values()) {
        match service.get("environment") {
            Some(Value::Sequence(entries)) => found.extend(
                entries
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|e| !e.contains('='))
                    .map(|e| e.trim().to_string()),
            ),
            Some(Value::Mapping(entries)) => found.extend(
                entries
                    .iter()
                    .filter(|(_, v)| v.is_null())
                    .filter_map(|(k, _)| k.as_str())
                    .map(str::to_string),
            ),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_uses_vars_then_defaults_and_keeps_check_placeholders() {
        let vars = BTreeMap::from([("FRONTEND_PORT".to_string(), "18080".to_string())]);
        assert_eq!(
            expand("http://h:${FRONTEND_PORT:-8080}/", &vars).unwrap(),
            "http://h:18080/"
        );
        assert_eq!(expand("${MISSING:-x}", &vars).unwrap(), "x");
        assert_eq!(expand("v=${release_id}", &vars).unwrap(), "v=${release_id}");
        assert!(expand("${OPEN", &vars).is_err());
    }

    #[test]
    fn references_are_found_as_each_tool_expands_them() {
        let toml = r#"url = "https://h/${API_TOKEN}?p=${PORT:-80}" path = "${release_id}" cmd = "echo $HOME""#;
        assert_eq!(
            references_in(&toml::Value::String(toml.into())),
            BTreeSet::from(["API_TOKEN".to_string(), "PORT".to_string()])
        );
        let compose = "image: ${APP_IMAGE:?set it}\nenvironment:\n  - DB=$DB_PASSWORD\n  - A=${A-x} ${B:+y}\n  - PRICE=$$5 $$NOT_A_VAR\n";
        assert_eq!(
            compose_references(compose),
            BTreeSet::from(["APP_IMAGE", "DB_PASSWORD", "A", "B"])
        );
    }

    #[test]
    fn compose_takes_what_it_expands_and_what_it_passes_through() {
        let compose = "x-env: &env\n  environment:\n    - FROM_ANCHOR\nservices:\n  api:\n    image: ${API_IMAGE}\n    environment:\n      - DB_PASSWORD\n      - MODE=prod\n      - URL=$DSN\n  worker:\n    <<: *env\n  web:\n    environment:\n      STRIPE_KEY:\n      LEVEL: info\n";
        let found: Vec<String> = compose_variables(compose).into_iter().collect();
        assert_eq!(
            found,
            [
                "API_IMAGE",
                "DB_PASSWORD",
                "DSN",
                "FROM_ANCHOR",
                "STRIPE_KEY"
            ]
        );
        // Not YAML: what it expands, still.
        assert_eq!(
            compose_variables("services: [ ${TOKEN}")
                .into_iter()
                .collect::<Vec<_>>(),
            ["TOKEN"]
        );
    }

    #[test]
    fn references_are_read_from_the_parsed_strings() {
        // A TOML escape spells `${KEY}` without a `$` in the text.
        let value: toml::Value =
            toml::from_str("a = \"\\u0024{KEY}\"\n[t]\nb = [\"${ONE:-x}\", \"${lower}\"]\n")
                .unwrap();
        assert_eq!(
            references_in(&value).into_iter().collect::<Vec<_>>(),
            ["KEY", "ONE"]
        );
    }
}
