//! What pitwall last told the proxy, kept in the state directory
//! (`traffic.json`, written atomically): for each blue-green service, which
//! unit holds each slot and which slot users and checks reach. The proxy
//! forgets its runtime changes when it restarts; this record lets every
//! apply, rollback and `recover` tell it again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One of a service's two server slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    Blue,
    Green,
}

impl Slot {
    pub const BOTH: [Slot; 2] = [Slot::Blue, Slot::Green];

    pub fn other(self) -> Slot {
        match self {
            Slot::Blue => Slot::Green,
            Slot::Green => Slot::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Blue => "blue",
            Slot::Green => "green",
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit in a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotUnit {
    /// The container's id (a name may be reused, an id never is).
    pub id: String,
    pub name: String,
    pub addr: SocketAddr,
    /// The image the unit runs, as it was created from it.
    pub image: String,
}

/// One blue-green service's routing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRoutes {
    pub slots: BTreeMap<Slot, SlotUnit>,
    /// The slot users reach; none before the first promotion.
    pub live: Option<Slot>,
    /// The slot the preview listener reaches.
    pub preview: Option<Slot>,
    /// Until when (ms since the epoch) the slot users left is kept for a
    /// switch back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_until_ms: Option<u64>,
    /// During a canary: the share of users (percent) the preview slot gets
    /// beside the live one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<u8>,
}

impl ServiceRoutes {
    pub fn unit(&self, slot: Option<Slot>) -> Option<&SlotUnit> {
        slot.and_then(|s| self.slots.get(&s))
    }

    /// The slot holding the container `id`.
    pub fn slot_of(&self, id: &str) -> Option<Slot> {
        self.slots.iter().find(|(_, u)| u.id == id).map(|(s, _)| *s)
    }
}

/// Every blue-green service's routing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routes {
    pub services: BTreeMap<String, ServiceRoutes>,
}

impl Routes {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("traffic.json")
    }

    /// The record; empty when there is none yet.
    pub fn read(state_dir: &Path) -> std::io::Result<Routes> {
        let path = Routes::path(state_dir);
        match crate::fsutil::read_regular(&path, 1 << 20) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!(
                    "{} is not pitwall's traffic record ({e}); move it aside and run `pitwall recover`",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Routes::default()),
            Err(e) => Err(e),
        }
    }

    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::fsutil::create_private_dir(state_dir)?;
        crate::fsutil::write_atomic(&Routes::path(state_dir), &json)
    }

    pub fn service(&mut self, service: &str) -> &mut ServiceRoutes {
        self.services.entry(service.to_string()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Routes::read(dir.path()).unwrap(), Routes::default());
        let mut routes = Routes::default();
        let api = routes.service("api");
        api.slots.insert(
            Slot::Green,
            SlotUnit {
                id: "abc".into(),
                name: "p-api-2".into(),
                addr: "172.18.0.4:8000".parse().unwrap(),
                image: "app:1.1".into(),
            },
        );
        api.live = Some(Slot::Green);
        routes.write(dir.path()).unwrap();
        let back = Routes::read(dir.path()).unwrap();
        assert_eq!(back, routes);
        assert_eq!(back.services["api"].slot_of("abc"), Some(Slot::Green));
        assert_eq!(Slot::Green.other(), Slot::Blue);
    }
}
