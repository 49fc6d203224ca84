//! The Slack-compatible body: `{"text": …}`, a one-glance summary in
//! Slack's mrkdwn, which incoming webhooks (and Mattermost, Rocket.Chat)
//! accept.

use super::Event;
use crate::config::Outcome;
use crate::report::Redactor;

pub(super) fn body(event: &Event, redactor: &Redactor) -> serde_json::Value {
    let (icon, ended) = match event.outcome {
        Outcome::Released => (":white_check_mark:", "released"),
        Outcome::Restored => (":leftwards_arrow_with_hook:", "restored"),
        Outcome::RolledBack => (":warning:", "rolled back"),
        Outcome::NotRecovered => (":rotating_light:", "NOT RECOVERED, a human is needed"),
        Outcome::Refused => (":no_entry:", "refused"),
    };
    let release = event
        .release_id
        .as_deref()
        .map(|id| format!(" of release `{}`", escape(id)))
        .unwrap_or_default();
    let mut text = format!(
        "{icon} *{}*: {}{release} {ended} (exit {})\n{}",
        escape(&event.project),
        event.action.as_str(),
        event.exit_code,
        escape(&event.message)
    );
    if let Some(incident) = event.record.as_ref().and_then(|r| r.incident.as_deref()) {
        text.push_str(&format!("\nincident: `{}`", escape(incident)));
    }
    serde_json::json!({ "text": redactor.apply(&text) })
}

/// Slack reads `&`, `<` and `>` as markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
