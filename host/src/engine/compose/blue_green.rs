//! `switch = "blue-green"` on compose: a release's unit starts beside the
//! live one (`up --no-deps --no-recreate --scale SERVICE=2`, as start-first
//! does), the proxy's preview backend reaches it and its live backend does
//! not, until `promote` moves users in one Runtime API line. The unit users
//! left keeps running: applying its release again (a failed release's
//! rollback, `pitwall rollback`, `recover`) is a switch back to it, no
//! compose `up`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ComposeFile;
use super::switch::{replicas, wait_ready};
use crate::engine::docker::{DockerApi, Unit};
use crate::engine::removed::{Removal, Removed};
use crate::engine::{EngineError, Promotion, RunState};
use crate::traffic::{
    Haproxy, Others, Routes, ServiceRoutes, Slot, SlotUnit, live_backend, preview_backend,
};

/// What a blue-green stack is switched with.
#[derive(Debug, Clone)]
pub struct BlueGreen {
    /// The compose service running the proxy.
    pub proxy: String,
    pub admin: Haproxy,
    /// Blue-green service → the port its unit listens on.
    pub ports: BTreeMap<String, u16>,
    /// The preview listener's host port (published on loopback only).
    pub preview_port: u16,
    /// Where the routing record lives (the state directory).
    pub state_dir: PathBuf,
    /// How long the unit users left is kept for a switch back.
    pub keep_previous: Duration,
    /// The record as this process last read or wrote it (under the deploy
    /// lock no one else writes it): `aside`, asked at every container
    /// listing, reads the file once.
    pub seen: Arc<Mutex<Option<Routes>>>,
}

/// Where a service stands after `stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Staged {
    /// No unit yet: the stack's `up` creates it; `route_fresh` routes it.
    Fresh,
    /// A unit runs what was asked, and users and checks reach it now.
    Current,
    /// A new unit runs beside the live one; checks reach it, users do not.
    Candidate,
}

/// One staging pass: the compose file, Docker and the routing record.
pub(super) struct Staging<'a> {
    pub file: &'a ComposeFile,
    pub docker: &'a DockerApi,
    pub removed: &'a Removed,
    pub wait: Duration,
    pub setup: &'a BlueGreen,
}

fn traffic(e: crate::traffic::TrafficError) -> EngineError {
    EngineError::Apply(e.to_string())
}

fn record(e: std::io::Error) -> EngineError {
    EngineError::Apply(format!("cannot write the traffic record: {e}"))
}

impl BlueGreen {
    pub fn read_routes(&self) -> Result<Routes, EngineError> {
        let routes =
            Routes::read(&self.state_dir).map_err(|e| EngineError::Apply(e.to_string()))?;
        self.remember(&routes);
        Ok(routes)
    }

    pub fn write_routes(&self, routes: &Routes) -> Result<(), EngineError> {
        routes.write(&self.state_dir).map_err(record)?;
        self.remember(routes);
        Ok(())
    }

    fn remember(&self, routes: &Routes) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(routes.clone());
    }

    /// The containers of the blue-green services that are not the release
    /// being judged (or live): the unit users left, kept for a switch back,
    /// or the live one while a candidate is judged. Checks, the log spool and
    /// the container watch see the judged release's units only.
    pub fn aside(&self) -> Vec<String> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        // Unreadable: every unit shows; the next apply says why, loudly.
        let routes = seen.get_or_insert_with(|| Routes::read(&self.state_dir).unwrap_or_default());
        routes
            .services
            .values()
            .flat_map(|r| {
                r.slots
                    .iter()
                    .filter(|(slot, _)| r.preview != Some(**slot))
                    .map(|(_, u)| u.id.clone())
            })
            .collect()
    }

    /// Checks haproxy.cfg has both slots in both backends of every
    /// blue-green service.
    pub async fn preflight(&self) -> Result<(), EngineError> {
        for service in self.ports.keys() {
            for backend in [live_backend(service), preview_backend(service)] {
                self.admin
                    .require_slots(&backend)
                    .await
                    .map_err(|e| EngineError::Unavailable(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Tells the proxy the record again (it forgets runtime changes when it
    /// restarts): users to the live slot, checks to the preview slot.
    pub async fn reassert(&self, routes: &Routes) -> Result<(), EngineError> {
        for (service, r) in &routes.services {
            if let (Some(slot), Some(unit)) = (r.live, r.unit(r.live)) {
                let others = if r.slots.contains_key(&slot.other()) {
                    Others::Drain
                } else {
                    Others::Maintenance
                };
                self.admin
                    .route(&live_backend(service), slot, unit.addr, others)
                    .await
                    .map_err(traffic)?;
                // A canary's share on top: both addresses are set by now.
                if let (Some(share), Some(to), Some(canary)) =
                    (r.share, r.preview, r.unit(r.preview))
                    && Some(to) != r.live
                {
                    self.admin
                        .split(&live_backend(service), to, canary.addr, share)
                        .await
                        .map_err(traffic)?;
                }
            }
            if let (Some(slot), Some(unit)) = (r.preview, r.unit(r.preview)) {
                self.admin
                    .route(
                        &preview_backend(service),
                        slot,
                        unit.addr,
                        Others::Maintenance,
                    )
                    .await
                    .map_err(traffic)?;
            }
        }
        Ok(())
    }

    /// Gives the unit checks reached `share` percent of users, beside the
    /// live one (a canary step), for every service whose preview is not
    /// live yet. `100` is [`BlueGreen::promote`].
    pub async fn weigh(&self, share: u8) -> Result<Vec<Promotion>, EngineError> {
        if share >= 100 {
            return self.promote().await;
        }
        let mut routes = self.read_routes()?;
        let mut done = Vec::new();
        for (service, r) in &mut routes.services {
            let Some(to) = r.preview.filter(|p| r.live != Some(*p)) else {
                continue;
            };
            let (Some(unit), Some(_)) = (r.slots.get(&to).cloned(), r.unit(r.live)) else {
                continue;
            };
            let t = Instant::now();
            self.admin
                .split(&live_backend(service), to, unit.addr, share)
                .await
                .map_err(traffic)?;
            r.share = Some(share);
            done.push(Promotion {
                service: service.clone(),
                unit: unit.name.clone(),
                from: r.live,
                to,
                took: t.elapsed(),
                kept_for: None,
                share,
            });
        }
        self.write_routes(&routes)?;
        Ok(done)
    }

    /// Moves users to the unit checks reached, for every service whose
    /// preview is not live yet; the unit they leave drains and is kept for
    /// `keep_previous`.
    pub async fn promote(&self) -> Result<Vec<Promotion>, EngineError> {
        let mut routes = self.read_routes()?;
        let mut done = Vec::new();
        for (service, r) in &mut routes.services {
            let Some(to) = r.preview.filter(|p| r.live != Some(*p)) else {
                continue;
            };
            let Some(unit) = r.slots.get(&to).cloned() else {
                continue;
            };
            let from = r.live;
            let others = if from.is_some() {
                Others::Drain
            } else {
                Others::Maintenance
            };
            let t = Instant::now();
            self.admin
                .route(&live_backend(service), to, unit.addr, others)
                .await
                .map_err(traffic)?;
            let took = t.elapsed();
            r.live = Some(to);
            r.share = None;
            r.keep_until_ms = from.map(|_| crate::clock::now_ms() + ms(self.keep_previous));
            done.push(Promotion {
                service: service.clone(),
                unit: unit.name.clone(),
                from,
                to,
                took,
                kept_for: from.map(|_| self.keep_previous),
                share: 100,
            });
        }
        self.write_routes(&routes)?;
        Ok(done)
    }
}

impl Staging<'_> {
    /// Readies `service` for `images`: a switch back when a unit already
    /// runs them, a new unit beside the live one otherwise (`Fresh` when
    /// the service has no unit at all). `routed` learns when users were
    /// moved, for a switch back.
    pub async fn stage(
        &self,
        service: &str,
        images: &BTreeMap<String, String>,
        routes: &mut Routes,
        routed: &mut Option<Instant>,
    ) -> Result<Staged, EngineError> {
        let units = replicas(self.docker, &self.file.project, service).await?;
        if units.is_empty() {
            routes.services.remove(service);
            return Ok(Staged::Fresh);
        }
        let r = routes.service(service);
        // Units the record does not know (a service just switched to
        // blue-green, a lost record): the running one is adopted as live.
        if r.live.is_none()
            && r.slots.is_empty()
            && let Some(unit) = units.iter().find(|u| running(u))
        {
            let slot = Slot::Blue;
            let adopted = self.slot_unit(service, unit).await?;
            for backend in [live_backend(service), preview_backend(service)] {
                self.setup
                    .admin
                    .route(&backend, slot, adopted.addr, Others::Maintenance)
                    .await
                    .map_err(traffic)?;
            }
            r.slots.insert(slot, adopted);
            r.live = Some(slot);
            r.preview = Some(slot);
        }
        r.slots
            .retain(|_, s| units.iter().any(|u| u.id == s.id && running(u)));
        if r.live.is_some_and(|l| !r.slots.contains_key(&l)) {
            r.live = None;
        }

        // Already running what is asked: users and checks go there now.
        for unit in units.iter().filter(|u| running(u)) {
            let Some(slot) = r.slot_of(&unit.id) else {
                continue;
            };
            if !self.runs(unit, service, images).await? {
                continue;
            }
            let addr = r.slots[&slot].addr;
            // Users elsewhere, or some of them (a canary's share): all back.
            if r.live != Some(slot) || r.share.is_some() {
                self.setup
                    .admin
                    .route(&live_backend(service), slot, addr, Others::Maintenance)
                    .await
                    .map_err(traffic)?;
                *routed = Some(Instant::now());
            }
            self.preview(service, slot, addr).await?;
            r.live = Some(slot);
            r.preview = Some(slot);
            r.keep_until_ms = None;
            r.share = None;
            let others: Vec<&Unit> = units.iter().filter(|u| u.id != unit.id).collect();
            r.slots.retain(|s, _| *s == slot);
            for other in others {
                self.removed
                    .retire(self.docker, other, Removal::SwitchedAway, Duration::ZERO)
                    .await?;
            }
            return Ok(Staged::Current);
        }

        // A new release: only the live unit stays, a new one starts beside.
        let live = r.live.and_then(|l| r.slots.get(&l)).map(|u| u.id.clone());
        for unit in units.iter().filter(|u| Some(&u.id) != live.as_ref()) {
            self.removed
                .retire(self.docker, unit, Removal::Superseded, Duration::ZERO)
                .await?;
        }
        let Some(live_id) = live else {
            routes.services.remove(service);
            return Ok(Staged::Fresh);
        };
        let r = routes.service(service);
        let live_slot = r.slot_of(&live_id).unwrap_or(Slot::Blue);
        r.slots.retain(|s, _| *s == live_slot);
        r.keep_until_ms = None;
        r.share = None;
        let old = BTreeSet::from([live_id.as_str()]);
        let failed = |what: String| {
            EngineError::Apply(format!("blue-green start of `{service}` failed: {what}"))
        };
        let started = self.file.scale_beside(images, service, 2).await;
        let ready = match started {
            Ok(_) => wait_ready(self.docker, &self.file.project, service, &old, self.wait).await,
            Err(e) => Err(e.to_string()),
        };
        let new = replicas(self.docker, &self.file.project, service)
            .await?
            .into_iter()
            .find(|u| u.id != live_id);
        if let Err(why) = ready {
            let mut said = vec![why];
            if let Some(unit) = &new {
                let kept = self
                    .removed
                    .retire(self.docker, unit, Removal::NeverReady, Duration::ZERO)
                    .await?;
                said.push(kept.quoted());
                said.push("the new container was removed".into());
            }
            return Err(failed(format!(
                "{}; users stayed on the live container, which was never touched",
                said.join("\n")
            )));
        }
        let Some(new) = new else {
            return Err(failed("compose started no new container".into()));
        };
        let slot = live_slot.other();
        let unit = self.slot_unit(service, &new).await?;
        self.preview(service, slot, unit.addr).await?;
        let r = routes.service(service);
        r.slots.insert(slot, unit);
        r.preview = Some(slot);
        Ok(Staged::Candidate)
    }

    /// Points the preview backend of `service` at `addr` in `slot` alone.
    async fn preview(
        &self,
        service: &str,
        slot: Slot,
        addr: SocketAddr,
    ) -> Result<(), EngineError> {
        self.setup
            .admin
            .route(&preview_backend(service), slot, addr, Others::Maintenance)
            .await
            .map_err(traffic)
    }

    /// Routes the preview of a service the stack's `up` just created.
    pub async fn route_fresh(&self, service: &str, routes: &mut Routes) -> Result<(), EngineError> {
        let units = replicas(self.docker, &self.file.project, service).await?;
        let Some(unit) = units.iter().find(|u| running(u)) else {
            return Err(EngineError::Apply(format!(
                "`{service}` has no running container to route checks to"
            )));
        };
        let unit = self.slot_unit(service, unit).await?;
        let slot = Slot::Blue;
        let live = live_backend(service);
        self.setup.admin.close(&live).await.map_err(traffic)?;
        self.preview(service, slot, unit.addr).await?;
        *routes.service(service) = ServiceRoutes {
            slots: BTreeMap::from([(slot, unit)]),
            live: None,
            preview: Some(slot),
            keep_until_ms: None,
            share: None,
        };
        Ok(())
    }

    /// Whether `unit` runs what `images` make of `service`: the same image
    /// and the same compose configuration (hashed with the reference the
    /// unit was created from, so a rollback's digest matches its tag).
    async fn runs(
        &self,
        unit: &Unit,
        service: &str,
        images: &BTreeMap<String, String>,
    ) -> Result<bool, EngineError> {
        let Some(reference) = images.get(service) else {
            return Ok(false);
        };
        if self.docker.image_id(reference).await?.as_deref() != Some(&unit.container.image_id) {
            return Ok(false);
        }
        let mut as_created = images.clone();
        as_created.insert(service.to_string(), unit.container.image.clone());
        Ok(self.file.config_hash(&as_created, service).await? == unit.config_hash)
    }

    /// The slot record of `unit`: its address on a network it shares with
    /// the proxy.
    async fn slot_unit(&self, service: &str, unit: &Unit) -> Result<SlotUnit, EngineError> {
        let proxy = &self.setup.proxy;
        let proxies = replicas(self.docker, &self.file.project, proxy).await?;
        let ip = proxies
            .iter()
            .flat_map(|p| p.networks.keys())
            .find_map(|net| unit.networks.get(net))
            .ok_or_else(|| {
                EngineError::Apply(format!(
                    "`{service}` ({}) shares no network with the proxy service `{proxy}`{}: put \
                     both on the same compose network",
                    unit.container.name,
                    if proxies.is_empty() {
                        ", which has no container"
                    } else {
                        ""
                    }
                ))
            })?;
        let port = self.setup.ports.get(service).copied().unwrap_or(80);
        let addr: SocketAddr = format!("{ip}:{port}").parse().map_err(|e| {
            EngineError::Apply(format!(
                "`{}` has an address HAProxy cannot take ({ip}): {e}",
                unit.container.name
            ))
        })?;
        Ok(SlotUnit {
            id: unit.id.clone(),
            name: unit.container.name.clone(),
            addr,
            image: unit.container.image.clone(),
        })
    }
}

fn running(unit: &Unit) -> bool {
    unit.container.state == RunState::Running
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}
