//! `pitwall releases`: the releases `rollback --to` can go back to, and
//! whether their images are still here or in their registry.

use std::process::ExitCode;

use schemars::JsonSchema;
use serde::Serialize;

use super::stack::read_config;
use crate::cli::StackArgs;
use crate::engine::LocalImages;
use crate::release::history::{self, Verified};
use crate::release::state;
use crate::report::{self, table};

#[derive(Serialize, JsonSchema)]
pub(crate) struct Releases {
    project: String,
    /// Newest first.
    releases: Vec<Target>,
    /// Why image availability is unknown (no Docker), if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    docker_error: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct Target {
    #[serde(flatten)]
    verified: Verified,
    /// `current`, `previous`, or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<&'static str>,
    images: Vec<Availability>,
    /// Every image is here or in its registry (`None`: unknown).
    rollback_ready: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
struct Availability {
    service: String,
    /// What a rollback applies: the digest reference where there is one.
    pinned: String,
    /// On this host (`None`: unknown).
    local: Option<bool>,
    /// In its registry (`None`: unknown or not a registry image; `registry_note` says which).
    registry: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registry_note: Option<String>,
}

impl Availability {
    /// Whether a rollback can get this image: here, or pullable.
    fn ready(&self) -> Option<bool> {
        let from_registry = self.pinned.contains('@');
        match (self.local, self.registry) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            (Some(false), None) if !from_registry => Some(false),
            _ => None,
        }
    }
}

pub async fn releases(stack: &StackArgs) -> anyhow::Result<ExitCode> {
    let config = read_config(stack)?;
    let s = &config.stack;
    let pointers = state::read(&s.state_dir, &s.services)?;
    let id_of =
        |p: &Option<(crate::release::Release, String)>| p.as_ref().map(|(r, _)| r.id.clone());
    let (current, previous) = (id_of(&pointers.current), id_of(&pointers.previous));
    let verified = history::verified_releases(&history::read(&s.state_dir)?);
    let images = LocalImages::connect().await;
    let mut out = Releases {
        project: s.project.clone(),
        releases: Vec::new(),
        docker_error: images.as_ref().err().map(|e| e.to_string()),
    };
    for v in verified {
        let mut availability = Vec::new();
        for (service, image) in &v.release.images {
            let pinned = image.pinned().to_string();
            let (local, registry, registry_note) = match &images {
                Err(_) => (None, None, None),
                Ok(images) => {
                    let local = images.id(&pinned).await.ok().map(|id| id.is_some());
                    // A locally built image (recorded by id) has no registry.
                    if !pinned.contains('@') {
                        (local, None, Some("not from a registry".to_string()))
                    } else {
                        match images.in_registry(&pinned).await {
                            Ok(found) => (local, Some(found), None),
                            Err(why) => (local, None, Some(why)),
                        }
                    }
                }
            };
            availability.push(Availability {
                service: service.clone(),
                pinned,
                local,
                registry,
                registry_note,
            });
        }
        let rollback_ready = availability
            .iter()
            .map(Availability::ready)
            .try_fold(true, |all, one| one.map(|o| all && o));
        let id = &v.release.id;
        let pointer = if current.as_ref() == Some(id) {
            Some("current")
        } else if previous.as_ref() == Some(id) {
            Some("previous")
        } else {
            None
        };
        out.releases.push(Target {
            verified: v,
            pointer,
            images: availability,
            rollback_ready,
        });
    }
    if stack.json {
        report::print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    report::print(&text(&out))?;
    Ok(ExitCode::SUCCESS)
}

fn text(r: &Releases) -> String {
    if r.releases.is_empty() {
        return format!(
            "no release of {} was ever live and verified: nothing to roll back to\n",
            r.project
        );
    }
    let yes_no = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "?",
    };
    let mut rows = table(&[
        "RELEASE",
        "",
        "VERIFIED",
        "ROLLBACK",
        "IMAGES (local / registry)",
    ]);
    for t in &r.releases {
        let images: Vec<String> = t
            .images
            .iter()
            .map(|a| {
                format!(
                    "{}: {} [{} / {}]",
                    a.service,
                    a.pinned,
                    yes_no(a.local),
                    a.registry_note
                        .as_deref()
                        .filter(|_| a.registry.is_none())
                        .unwrap_or(yes_no(a.registry))
                )
            })
            .collect();
        let ready = match t.rollback_ready {
            Some(true) => "ready",
            Some(false) => "IMAGES GONE",
            None => "unknown",
        };
        rows.add_row(vec![
            t.verified.release.id.as_str(),
            t.pointer.unwrap_or(""),
            &t.verified.verified_at,
            ready,
            &images.join("\n"),
        ]);
    }
    let mut text = format!("{}\n", rows.trim_fmt());
    if let Some(e) = &r.docker_error {
        text.push_str(&format!("image availability unknown: {e}\n"));
    }
    text.push_str("roll back with: pitwall rollback --to RELEASE\n");
    text
}
