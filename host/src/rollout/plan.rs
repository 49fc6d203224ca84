//! `pitwall plan` (and `deploy --dry-run`): what a deploy would change,
//! found the way the deploy finds it, without the lock and without touching
//! the stack, the images or the state: per service the image and digest
//! before and after (resolved against the registry, not pulled), the checks
//! that would judge it with their grants, and the diff of what the engine
//! would apply.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::{Deployer, PullPolicy, Refused, Request, built_here_hint};
use crate::config::Phase;
use crate::release::{Image, Refs, Release};
use crate::report::Redactor;

/// What a deploy would do.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Plan {
    pub release_id: String,
    /// The release live now, if any.
    pub current: Option<String>,
    pub services: Vec<ServicePlan>,
    pub checks: Vec<CheckPlan>,
    /// A unified diff of what the engine would apply (the resolved compose
    /// file), secrets scrubbed; `None` when the engine has no such text.
    pub diff: Option<String>,
    /// The services whose containers the deploy would replace (for their
    /// image or their configuration); `None` when the engine cannot tell,
    /// and then `changes` is true: a plan never claims "nothing" unsure.
    pub replaced: Option<Vec<String>>,
    /// Whether anything would change.
    pub changes: bool,
    /// How users would be moved to the release, per blue-green service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ServicePlan {
    pub service: String,
    pub change: Change,
    pub old: Option<Image>,
    pub new: Image,
    /// How the new digest was found, or why it could not be.
    pub resolved_from: Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The same image (by digest) keeps running.
    Kept,
    /// Another image replaces it.
    Changed,
    /// The same image, but its container is replaced: the compose file or
    /// the env file changed what it runs with.
    Reconfigured,
    /// The first release: nothing runs yet.
    Added,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Kept => "kept",
            Change::Changed => "changed",
            Change::Reconfigured => "reconfigured",
            Change::Added => "added",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolved {
    /// The registry's manifest digest, as `--pull always` would pull.
    Registry,
    /// The image present here, as `--pull missing|never` would use it.
    Local,
    /// Neither has it: the deploy would be refused.
    Missing,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckPlan {
    pub name: String,
    pub plugin: String,
    pub phase: Phase,
    /// `false`: run and recorded, never gates.
    pub enforce: bool,
    pub allow_http: Vec<String>,
    pub allow_logs: Vec<String>,
}

impl Deployer {
    /// How a blue-green service's users would be moved, one line each.
    fn traffic_plan(&self, first: bool) -> Vec<String> {
        let stack = &self.config.stack;
        let Some(t) = &stack.traffic else {
            return Vec::new();
        };
        let moved = if t.steps.is_empty() || first {
            "all at once".to_string()
        } else {
            let steps: Vec<String> = t.steps.iter().map(ToString::to_string).collect();
            format!("in steps [{}]", steps.join(", "))
        };
        stack
            .switches
            .iter()
            .filter(|(_, w)| **w == crate::engine::Switch::BlueGreen)
            .map(|(service, _)| {
                format!(
                    "`{service}`: blue-green through `{}`: the new unit beside the live one, \
                     verified on the preview port {}, then users moved {moved}; the unit they \
                     leave is kept {} for a switch back",
                    t.proxy,
                    t.preview_port,
                    humantime::format_duration(t.keep_previous)
                )
            })
            .collect()
    }

    /// What `deploy(request)` would do; refused for what the deploy would
    /// refuse before touching anything.
    pub async fn plan(&self, request: &Request) -> anyhow::Result<Plan> {
        let current = self.pointers()?.current.map(|(r, _)| r);
        let wanted = self.wanted(&request.images, current.as_ref())?;
        if !request.force {
            self.refuse_reused_id(request.release_id.as_str(), &request.images)?;
        }
        let mut services = Vec::new();
        let mut missing = Vec::new();
        for (service, reference) in &wanted {
            let (digest, resolved_from) = self.resolve(reference, request.pull).await?;
            if resolved_from == Resolved::Missing {
                missing.push(format!("{service}: {reference}"));
            }
            let old = current
                .as_ref()
                .and_then(|r| r.images.get(service))
                .cloned();
            let change = match &old {
                None => Change::Added,
                Some(o) if digest.is_some() && o.digest == digest => Change::Kept,
                Some(_) => Change::Changed,
            };
            services.push(ServicePlan {
                service: service.clone(),
                change,
                old,
                new: Image {
                    reference: reference.clone(),
                    digest,
                },
                resolved_from,
            });
        }
        if !missing.is_empty() {
            return Err(Refused::new(format!(
                "the deploy would be refused: neither this host nor the registry has {}",
                missing.join(", ")
            ))
            .into());
        }
        let release = Release {
            id: request.release_id.to_string(),
            images: services
                .iter()
                .map(|s| (s.service.clone(), s.new.clone()))
                .collect(),
        };
        let diff = self.diff(current.as_ref(), &release).await?;
        let replaced = self
            .engine
            .replaced(&wanted)
            .await
            .map_err(|e| Refused::because("cannot compare the stack with what runs", e))?;
        if let Some(replaced) = &replaced {
            for s in services.iter_mut() {
                if s.change == Change::Kept && replaced.contains(&s.service) {
                    s.change = Change::Reconfigured;
                }
            }
        }
        let changes = replaced.is_none()
            || services.iter().any(|s| s.change != Change::Kept)
            || diff.as_ref().is_some_and(|d| !d.is_empty());
        let first = current.is_none();
        Ok(Plan {
            traffic: self.traffic_plan(first),
            release_id: request.release_id.to_string(),
            current: current.map(|r| r.id),
            services,
            checks: self
                .checks
                .iter()
                .map(|c| CheckPlan {
                    name: c.spec.name.clone(),
                    plugin: c.spec.plugin.clone(),
                    phase: c.spec.phase,
                    enforce: c.spec.enforce,
                    allow_http: c.spec.grants.allow_http.clone(),
                    allow_logs: c.spec.grants.allow_logs.clone(),
                })
                .collect(),
            diff,
            replaced,
            changes,
        })
    }

    /// The digest a deploy with `policy` would run for `reference`, found
    /// without pulling.
    async fn resolve(
        &self,
        reference: &str,
        policy: PullPolicy,
    ) -> Result<(Option<String>, Resolved), Refused> {
        let failed = |e| Refused::because(format!("cannot resolve {reference}"), e);
        let local = || async { self.engine.image_digest(reference).await.map_err(failed) };
        let remote = || async {
            match self.engine.registry_digest(reference).await {
                Ok(found) => Ok(found),
                Err(e) => Err(match self.engine.image_digest(reference).await {
                    Ok(Some(_)) => Refused::new(format!(
                        "cannot resolve {reference} in its registry: {e}. {}",
                        built_here_hint(reference)
                    )),
                    _ => failed(e),
                }),
            }
        };
        let found = match policy.applied_to(reference) {
            PullPolicy::Always => remote().await?.map(|d| (d, Resolved::Registry)),
            PullPolicy::Missing => match local().await? {
                Some(d) => Some((d, Resolved::Local)),
                None => remote().await?.map(|d| (d, Resolved::Registry)),
            },
            PullPolicy::Never => local().await?.map(|d| (d, Resolved::Local)),
        };
        Ok(match found {
            Some((d, from)) => (Some(d), from),
            None => (None, Resolved::Missing),
        })
    }

    /// The diff between what the engine applies for `current` and for
    /// `next`, both pinned to their digests so that only a change of image
    /// shows, scrubbed.
    async fn diff(
        &self,
        current: Option<&Release>,
        next: &Release,
    ) -> anyhow::Result<Option<String>> {
        let render = |images: BTreeMap<String, String>| async move {
            self.engine
                .render(&images)
                .await
                .map_err(|e| Refused::because("cannot render the stack for a diff", e))
        };
        let Some(after) = render(next.refs(Refs::Pinned)).await? else {
            return Ok(None);
        };
        let before = match current {
            Some(r) => render(r.refs(Refs::Pinned)).await?.unwrap_or_default(),
            None => String::new(),
        };
        // The rendered file writes values as compose does: `$` doubled,
        // quotes and backslashes escaped. Each form of a secret is blanked.
        let forms: Vec<String> = self
            .config
            .secrets
            .iter()
            .flat_map(|v| {
                [
                    v.clone(),
                    v.replace('$', "$$"),
                    v.replace('\\', "\\\\").replace('"', "\\\""),
                    v.replace('$', "$$")
                        .replace('\\', "\\\\")
                        .replace('"', "\\\""),
                ]
            })
            .collect();
        let redactor = Redactor::new(forms);
        let (before, after) = (
            self.progress.redactor.apply(&redactor.apply(&before)),
            self.progress.redactor.apply(&redactor.apply(&after)),
        );
        let diff = similar::TextDiff::from_lines(&before, &after)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("running ({})", current.map_or("nothing", |r| r.id.as_str())),
                &format!("release {}", next.id),
            )
            .to_string();
        Ok(Some(diff))
    }
}
