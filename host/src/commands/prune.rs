//! `pitwall prune --keep N`: removes the images of old releases. Only names
//! (tags, digest references) pitwall's history recorded are candidates; an
//! image goes with its last name. An image stays while a
//! kept release pins it (under any name) or any container uses it, so every
//! rollback target `pitwall releases` lists stays deployable from here.

use std::collections::BTreeSet;
use std::process::ExitCode;

use schemars::JsonSchema;
use serde::Serialize;

use super::stack::read_config;
use crate::cli::StackArgs;
use crate::engine::LocalImages;
use crate::exit::Exit;
use crate::release::history::{self, Record};
use crate::release::lock::{Holding, Lock};
use crate::release::{Release, state};
use crate::report;
use crate::rollout::Refused;

#[derive(Serialize, JsonSchema)]
pub(crate) struct Pruned {
    dry_run: bool,
    /// The releases whose images were kept, newest first.
    kept_releases: Vec<String>,
    images: Vec<Decision>,
}

#[derive(Serialize, JsonSchema)]
struct Decision {
    /// A tag or digest reference from the history.
    name: String,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Action {
    Removed,
    WouldRemove,
    Kept,
    /// Docker refused to remove it (`reason` says why).
    Failed,
}

pub async fn prune(keep: usize, dry_run: bool, stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = read_config(stack)?;
    let s = &config.stack;
    // Held through the removals: a deploy must not pull or pin meanwhile.
    let lock = if dry_run {
        None
    } else {
        Some(
            Lock::acquire(&s.state_dir, Holding::Prune, "-")
                .map_err(|e| Refused::because("cannot take the deploy lock", e))?,
        )
    };
    let pointers = state::read(&s.state_dir, &s.services)?;
    let records = history::read(&s.state_dir)?;
    let mut kept: Vec<Release> = pointers
        .current
        .into_iter()
        .chain(pointers.previous)
        .map(|(r, _)| r)
        .collect();
    for v in history::verified_releases(&records).into_iter().take(keep) {
        if !kept.iter().any(|k| k.id == v.release.id) {
            kept.push(v.release);
        }
    }
    let images = LocalImages::connect()
        .await
        .map_err(|e| Refused::because("cannot prune", e))?;
    let kept_names: BTreeSet<String> = kept.iter().flat_map(names).collect();
    let mut kept_ids = BTreeSet::new();
    for name in &kept_names {
        if let Some(id) = images.id(name).await? {
            kept_ids.insert(id);
        }
    }
    let in_use: BTreeSet<String> = images.in_use().await?.into_iter().collect();
    // Names only, never bare ids: Docker deletes an image with its last
    // name, and an id shared with names pitwall did not record (another
    // project's tag) must stay.
    let candidates: BTreeSet<String> = records
        .iter()
        .flat_map(record_names)
        .filter(|n| !kept_names.contains(n) && !n.starts_with("sha256:"))
        .collect();

    let mut out = Pruned {
        dry_run,
        kept_releases: kept.iter().map(|r| r.id.clone()).collect(),
        images: Vec::new(),
    };
    for name in candidates {
        let Some(id) = images.id(&name).await? else {
            continue; // Already gone.
        };
        let (action, reason) = if kept_ids.contains(&id) {
            (
                Action::Kept,
                Some("a kept release pins this image".to_string()),
            )
        } else if in_use.contains(&id) {
            (
                Action::Kept,
                Some("a container on this host uses it".to_string()),
            )
        } else if dry_run {
            (Action::WouldRemove, None)
        } else {
            match images.remove(&name).await {
                Ok(()) => (Action::Removed, None),
                Err(e) => (Action::Failed, Some(e.to_string())),
            }
        };
        out.images.push(Decision {
            name,
            action,
            reason,
        });
    }
    drop(lock);
    let failed = out.images.iter().any(|d| d.action == Action::Failed);
    if stack.json {
        report::print_json(&out)?;
    } else {
        report::print(&text(&out))?;
    }
    Ok(if failed { Exit::NeedsHuman } else { Exit::Ok }.into())
}

/// Every name a release's images go by here: the reference given and the
/// digest reference (or id) resolved.
fn names(release: &Release) -> Vec<String> {
    release
        .images
        .values()
        .flat_map(|i| std::iter::once(i.reference.clone()).chain(i.digest.clone()))
        .collect()
}

fn record_names(record: &Record) -> Vec<String> {
    names(&Release {
        id: record.release_id.clone(),
        images: record.images.clone(),
    })
}

fn text(p: &Pruned) -> String {
    let mut text = format!("keeping releases: {}\n", p.kept_releases.join(", "));
    for d in &p.images {
        let verb = match d.action {
            Action::Removed => "removed",
            Action::WouldRemove => "would remove",
            Action::Kept => "kept",
            Action::Failed => "NOT removed",
        };
        let reason = d
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        text.push_str(&format!("{verb} {}{reason}\n", d.name));
    }
    if !p
        .images
        .iter()
        .any(|d| matches!(d.action, Action::Removed | Action::WouldRemove))
    {
        text.push_str("nothing to remove\n");
    }
    text
}
