//! That one release id names one set of images (what an id may look like
//! is `release::id`'s).

use std::collections::BTreeMap;

use super::{Deployer, Refused};
use crate::release::history::Action;

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
