//! `state.env`: the runbook's pointers, kept compatible with its scripts.
//!
//! Keys (KEY is the service's key, e.g. BACKEND for `api`):
//! `CURRENT_RELEASE_ID`, `CURRENT_<KEY>_IMAGE`, `CURRENT_<KEY>_DIGEST`,
//! `CURRENT_DEPLOYED_AT`, and the same with `PREVIOUS_` for the release
//! before it. Written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{Image, Release};
use crate::fsutil::write_atomic;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pointers {
    pub current: Option<(Release, String)>,
    pub previous: Option<(Release, String)>,
}

impl Pointers {
    /// The pointers once `release` is live (since `at`). `previous` moves to
    /// the release that was current only when that is another release:
    /// re-applying the current release (a repair, `rollback --to` it) keeps
    /// the previous pointer, so a plain `rollback` still has somewhere true
    /// to go, and no pointer ever names the release it sits beside.
    pub fn moved_to(self, release: Release, at: String) -> Pointers {
        let previous = match self.current {
            Some((current, _)) if current.id == release.id => self.previous,
            // A current pointer that could not be read (a service added
            // since) does not erase the way back.
            None => self.previous,
            current => current,
        }
        .filter(|(r, _)| r.id != release.id);
        Pointers {
            current: Some((release, at)),
            previous,
        }
    }
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("state.env")
}

/// Reads the pointers; a missing file means no release yet.
pub fn read(state_dir: &Path, services: &BTreeMap<String, String>) -> anyhow::Result<Pointers> {
    let file = path(state_dir);
    if !file.exists() {
        return Ok(Pointers::default());
    }
    let vars = crate::config::read_env_file(&file, "the release pointers")?;
    let release = |prefix: &str| -> Option<(Release, String)> {
        let id = vars.get(&format!("{prefix}_RELEASE_ID"))?.clone();
        let mut images = BTreeMap::new();
        for (service, key) in services {
            let reference = vars.get(&format!("{prefix}_{key}_IMAGE"))?.clone();
            let digest = vars
                .get(&format!("{prefix}_{key}_DIGEST"))
                .filter(|d| !d.is_empty())
                .cloned();
            images.insert(service.clone(), Image { reference, digest });
        }
        let at = vars
            .get(&format!("{prefix}_DEPLOYED_AT"))
            .cloned()
            .unwrap_or_default();
        Some((Release { id, images }, at))
    };
    Ok(Pointers {
        current: release("CURRENT"),
        previous: release("PREVIOUS"),
    })
}

pub fn write(
    state_dir: &Path,
    services: &BTreeMap<String, String>,
    p: &Pointers,
) -> anyhow::Result<()> {
    let mut out = String::from(
        "# pitwall release pointers, written atomically by pitwall; do not edit while a deploy runs.\n",
    );
    for (prefix, entry) in [("CURRENT", &p.current), ("PREVIOUS", &p.previous)] {
        let Some((release, at)) = entry else { continue };
        out.push_str(&format!("{prefix}_RELEASE_ID={}\n", quote(&release.id)));
        for (service, key) in services {
            if let Some(image) = release.images.get(service) {
                out.push_str(&format!(
                    "{prefix}_{key}_IMAGE={}\n",
                    quote(&image.reference)
                ));
                out.push_str(&format!(
                    "{prefix}_{key}_DIGEST={}\n",
                    quote(image.digest.as_deref().unwrap_or(""))
                ));
            }
        }
        out.push_str(&format!("{prefix}_DEPLOYED_AT={}\n", quote(at)));
    }
    let file = path(state_dir);
    write_atomic(&file, out.as_bytes()).with_context(|| format!("cannot write {}", file.display()))
}

/// Single quotes keep the file sourceable by the runbook's bash scripts.
fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(id: &str) -> Release {
        Release {
            id: id.into(),
            images: BTreeMap::new(),
        }
    }

    fn ids(p: &Pointers) -> (Option<&str>, Option<&str>) {
        (
            p.current.as_ref().map(|(r, _)| r.id.as_str()),
            p.previous.as_ref().map(|(r, _)| r.id.as_str()),
        )
    }

    fn on(current: &str, previous: Option<&str>) -> Pointers {
        Pointers {
            current: Some((release(current), "t0".into())),
            previous: previous.map(|p| (release(p), "t-1".into())),
        }
    }

    #[test]
    fn a_new_release_pushes_the_current_one_back() {
        let p = on("1.1", Some("1.0")).moved_to(release("1.2"), "t1".into());
        assert_eq!(ids(&p), (Some("1.2"), Some("1.1")));
        let first = Pointers::default().moved_to(release("1.0"), "t1".into());
        assert_eq!(ids(&first), (Some("1.0"), None));
        let unreadable_current = Pointers {
            current: None,
            previous: Some((release("1.0"), "t-1".into())),
        };
        let p = unreadable_current.moved_to(release("1.2"), "t1".into());
        assert_eq!(ids(&p), (Some("1.2"), Some("1.0")));
    }

    #[test]
    fn re_applying_the_current_release_keeps_the_previous_pointer() {
        let p = on("1.1", Some("1.0")).moved_to(release("1.1"), "t1".into());
        assert_eq!(ids(&p), (Some("1.1"), Some("1.0")));
        assert_eq!(p.current.unwrap().1, "t1");
    }

    #[test]
    fn going_back_to_the_previous_release_swaps_the_pointers() {
        let p = on("1.1", Some("1.0")).moved_to(release("1.0"), "t1".into());
        assert_eq!(ids(&p), (Some("1.0"), Some("1.1")));
    }
}
