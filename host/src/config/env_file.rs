//! Reading dotenv-style files: the env file compose is given, and
//! state.env. Values may be secrets, so an error names the file and the
//! entry it stopped at, never the text it could not parse.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, anyhow};

/// Reads `path`, called `what` in errors (e.g. "the env file").
pub fn read_env_file(path: &Path, what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let iter = dotenvy::from_path_iter(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    let mut out = BTreeMap::new();
    let mut last: Option<String> = None;
    for item in iter {
        // dotenvy's parse errors quote the rest of the file: drop them.
        let (k, v) = item.map_err(|_| {
            let place = match &last {
                Some(key) => format!("after the entry `{key}`"),
                None => "in its first entry".to_string(),
            };
            anyhow!(
                "{what} {} cannot be parsed {place} (an unclosed quote or a line that is not KEY=VALUE?); \
                 its content is not shown because it may hold secrets",
                path.display()
            )
        })?;
        last = Some(k.clone());
        out.insert(k, v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_malformed_env_file_is_reported_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::fs::write(
            &file,
            "DB_USER=shop\nDB_PASSWORD=\"hunter2hunter2\nAPI_TOKEN=tok-5ecret-99\n",
        )
        .unwrap();
        let e = format!(
            "{:#}",
            super::read_env_file(&file, "the env file").unwrap_err()
        );
        assert!(e.contains("after the entry `DB_USER`"), "{e}");
        for secret in ["hunter2", "tok-5ecret", "DB_PASSWORD=", "API_TOKEN"] {
            assert!(!e.contains(secret), "{secret} leaked: {e}");
        }
    }
}
