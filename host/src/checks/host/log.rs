//! `log.write`: the check's own log lines, capped in count and length.

use super::super::bindings::log;
use super::super::verdict::{Lines, excerpt, visible};
use super::HostState;

impl log::Host for HostState {
    async fn write(&mut self, level: log::Level, message: String) {
        if self.journal.logs.len() >= self.limits.max_log_lines {
            self.journal.dropped_logs += 1;
            return;
        }
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        let message = excerpt(
            &visible(message, Lines::Escaped),
            self.limits.max_log_line_bytes,
        );
        self.journal.logs.push(format!("{level}: {message}"));
    }
}
