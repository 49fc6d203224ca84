//! `stack.containers` and `stack.logs`: the units and log lines of the
//! services the check's `allow_logs` grants, nothing else.

use super::super::bindings::stack;
use super::super::tape::{Call, Interaction, LogsQuery};
use super::HostState;
use crate::engine::{Container, LogWindow};

impl stack::Host for HostState {
    async fn containers(&mut self) -> Result<Vec<stack::Container>, String> {
        if self.grants.allow_logs.is_empty() {
            let denied = "stack.containers denied: the check has no allow_logs grant".to_string();
            self.note("host.denied", denied.clone());
            return Err(denied);
        }
        let services = &self.grants.allow_logs;
        let result = self
            .io
            .answer(
                async |live| {
                    live.stack
                        .containers(Some(services))
                        .await
                        .map(|cs| cs.into_iter().map(to_wit_container).collect())
                        .map_err(|e| e.to_string())
                },
                |result| Interaction::StackContainers { result },
                // A recording or a test case answers as the engine would:
                // only the granted services.
                |replay| {
                    replay.containers().map(|cs| {
                        cs.into_iter()
                            .filter(|c| services.contains(&c.service))
                            .collect()
                    })
                },
            )
            .await;
        if let Err(e) = &result {
            self.note("host.stack", format!("stack.containers → {e}"));
        }
        result
    }

    async fn logs(
        &mut self,
        service: String,
        since_ms: u64,
        until_ms: Option<u64>,
        max_lines: u32,
    ) -> Result<String, String> {
        if let Err(denied) = self.grants.check_logs(&service) {
            self.note("host.denied", denied.clone());
            return Err(denied);
        }
        let query = LogsQuery {
            service,
            since_ms,
            until_ms,
            max_lines: max_lines.min(
                self.limits
                    .max_log_read_lines
                    .try_into()
                    .unwrap_or(u32::MAX),
            ),
        };
        let call = Call::logs(&query);
        let window = LogWindow {
            since_ms,
            until_ms,
            max_lines: query.max_lines as usize,
        };
        let result = self
            .io
            .answer(
                async |live| {
                    live.stack
                        .logs(&query.service, window)
                        .await
                        .map(|lines| lines.iter().map(|l| format!("{l}\n")).collect())
                        .map_err(|e| e.to_string())
                },
                |result| Interaction::StackLogs {
                    query: query.clone(),
                    result,
                },
                // Capped like a live answer: the newest `max_lines` lines.
                |replay| {
                    replay
                        .logs(&query)
                        .map(|text| newest_lines(&text, query.max_lines as usize))
                },
            )
            .await;
        let seen = match &result {
            Ok(lines) => format!("{call} → {} lines", lines.lines().count()),
            Err(e) => format!("{call} → {e}"),
        };
        self.note("host.stack", seen);
        result
    }
}

fn to_wit_container(c: Container) -> stack::Container {
    stack::Container {
        service: c.service,
        name: c.name,
        image: c.image,
        state: c.state.as_str().to_string(),
        health: c.health.map(|h| h.as_str().to_string()),
        restart_count: c.restart_count,
    }
}

/// The last `max` lines of `text`.
fn newest_lines(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(max)..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect()
}
