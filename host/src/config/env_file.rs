//! Reading the env file compose is given: its values are secrets, so a
//! parse error never echoes the file's content.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

pub fn read_env_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let iter = dotenvy::from_path_iter(path)
        .with_context(|| format!("cannot read the env file {}", path.display()))?;
    let mut out = BTreeMap::new();
    for item in iter {
        let (k, v) =
            item.with_context(|| format!("the env file {} has a malformed line", path.display()))?;
        out.insert(k, v);
    }
    Ok(out)
}
