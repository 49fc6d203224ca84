//! The traffic switch of `switch = "blue-green"`: which unit of a service
//! users reach and which the verify checks reach, set through a trusted
//! proxy's runtime interface (HAProxy's Runtime API on a unix socket), never
//! by a proxy written here. Each blue-green service has two server slots,
//! `blue` and `green`, in two backends: `SERVICE` (users) and
//! `SERVICE_preview` (checks). A release's unit takes the slot the live one
//! does not hold; promotion is one Runtime API line.

mod haproxy;
mod routes;

pub use haproxy::{Haproxy, Others, ServerState, TrafficError};
pub use routes::{Routes, ServiceRoutes, Slot, SlotUnit};

/// The backend users reach for `service`.
pub fn live_backend(service: &str) -> String {
    service.to_string()
}

/// The backend the preview listener reaches for `service`.
pub fn preview_backend(service: &str) -> String {
    format!("{service}_preview")
}
