//! The stack through the host: its containers and its services' logs, for
//! services the operator granted (`allow_logs`).

use crate::bindings::pitwall::check::stack as wit;

pub use wit::Container;

/// The stack's containers.
pub fn containers() -> Result<Vec<Container>, String> {
    wit::containers()
}

/// Log lines of `service` between `since_ms` and `until_ms` (Unix ms; `None`
/// means now), at most `max_lines` (the host caps it too), newest kept.
pub fn logs(
    service: &str,
    since_ms: u64,
    until_ms: Option<u64>,
    max_lines: u32,
) -> Result<String, String> {
    wit::logs(service, since_ms, until_ms, max_lines)
}
