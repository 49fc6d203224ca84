//! `${VAR}` and `${VAR:-default}` in configuration strings.

use std::collections::BTreeMap;

use anyhow::bail;

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
        match (vars.get(name), default) {
            (Some(v), _) if is_env_name => out.push_str(v),
            (_, Some(d)) => out.push_str(d),
            _ => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
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
}
