//! Release ids: what they may look like, and that one id names one set of
//! images.

use std::collections::BTreeMap;

use super::{Deployer, Refused};
use crate::release::history::Action;

/// The longest release id accepted.
const MAX_RELEASE_ID: usize = 128;

/// Release ids: 1 to 128 characters, ASCII letters, digits, `.`, `_`, `-`
/// and `+`, starting with a letter or digit (`2026-11-26.1`, a git sha,
/// `1.4.0+build.7`). They name files, lines of state.env and log lines, so
/// nothing else is let in.
pub fn validate_release_id(id: &str) -> Result<(), Refused> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
    let ok = (1..=MAX_RELEASE_ID).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.chars().all(allowed);
    if ok {
        return Ok(());
    }
    Err(Refused::new(format!(
        "release id `{}` is not valid: use 1 to {MAX_RELEASE_ID} ASCII letters, digits, `.`, `_`, `-` or `+`, starting with a letter or digit (e.g. 2026-11-26.1 or a git sha)",
        id.escape_debug()
            .to_string()
            .chars()
            .take(MAX_RELEASE_ID)
            .collect::<String>()
    )))
}

impl Deployer {
    /// An id names one set of images: deploying it again with others would
    /// make `rollback --to` ambiguous.
    pub(super) fn refuse_reused_id(
        &self,
        release_id: &str,
        images: &BTreeMap<String, String>,
    ) -> Result<(), Refused> {
        let records = crate::release::history::read(self.state_dir())
            .map_err(|e| Refused::because("cannot read the history", e))?;
        let clash = records
            .iter()
            .filter(|r| r.release_id == release_id && r.action == Action::Deploy)
            .find_map(|r| {
                images.iter().find_map(|(service, reference)| {
                    let before = &r.images.get(service)?.reference;
                    (before != reference)
                        .then(|| format!("{service} was {before}, now {reference}"))
                })
            });
        match clash {
            None => Ok(()),
            Some(what) => Err(Refused::new(format!(
                "release id {release_id} was already deployed with other images ({what}); give the release a new id, or pass --force to reuse it"
            ))),
        }
    }
}
