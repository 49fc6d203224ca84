//! `[[notify]]`: webhooks told how a deploy, rollback or recovery ended.
//! A body is scrubbed like all output; a receiver that fails is retried
//! within a bound, then reported as a warning naming only its host (the
//! URL is often a secret). Nothing here changes an outcome.

mod slack;

use std::time::Duration;

use serde::Serialize;

use crate::config::{Notify, NotifyFormat, Outcome};
use crate::release::history::{Action, Record};
use crate::report::Redactor;

/// The version of the JSON body; bumped when a field changes meaning or
/// goes away (new fields may appear without a bump).
pub const SCHEMA_VERSION: u32 = 1;

/// The longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How a command ended: the JSON body, and what hooks are told.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub schema_version: u32,
    pub outcome: Outcome,
    pub project: String,
    pub action: Action,
    /// The release the command was about, when it got that far.
    pub release_id: Option<String>,
    /// `CURRENT_RELEASE_ID` in state.env when the command took the lock.
    pub previous_release_id: Option<String>,
    pub exit_code: u8,
    /// What the operator was told.
    pub message: String,
    /// The history record (none for a refusal: nothing was recorded).
    pub record: Option<Record>,
    /// Bookkeeping that could not be written; the outcome still holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bookkeeping: Vec<String>,
}

/// Sends `event` to every webhook that wants its outcome, all at once;
/// returns a warning for each that could not be told.
pub async fn send_all(webhooks: &[Notify], event: &Event, redactor: &Redactor) -> Vec<String> {
    let wanted = webhooks.iter().filter(|w| w.on.contains(&event.outcome));
    let sent = futures_util::future::join_all(wanted.map(|w| async move {
        send(w, event, redactor).await.err().map(|problem| {
            redactor.apply(&format!(
                "the {} notification to {} was not delivered (the outcome stands): {problem}",
                event.outcome.as_str(),
                w.host()
            ))
        })
    }))
    .await;
    sent.into_iter().flatten().collect()
}

/// One webhook: the first attempt and up to `retries` more for a receiver
/// that is down, slow or failing (5xx, 408, 429). Another answer is final.
async fn send(webhook: &Notify, event: &Event, redactor: &Redactor) -> Result<(), String> {
    let body = body(webhook.format, event, redactor).map_err(|e| e.to_string())?;
    crate::tls::init();
    let client = reqwest::Client::builder()
        .timeout(webhook.timeout)
        // A redirected POST turns into a GET: point `url` at the receiver.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("pitwall/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", e.without_url()))?;
    let mut pause = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = client
            .post(&webhook.url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let (problem, retry) = match answer {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status();
                let retry = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                (format!("the receiver answered {status}"), retry)
            }
            Err(e) if e.is_timeout() => (
                format!(
                    "no answer within {}",
                    humantime::format_duration(webhook.timeout)
                ),
                true,
            ),
            Err(e) => (cause(&e.without_url()), true),
        };
        if !retry || attempt > webhook.retries {
            let tries = if attempt == 1 {
                "1 attempt".to_string()
            } else {
                format!("{attempt} attempts")
            };
            return Err(format!("{problem} ({tries})"));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_BACKOFF);
    }
}

/// The body in `format`, scrubbed.
fn body(format: NotifyFormat, event: &Event, redactor: &Redactor) -> anyhow::Result<Vec<u8>> {
    let body = match format {
        NotifyFormat::Json => redactor.scrub(&serde_json::to_value(event)?)?,
        NotifyFormat::Slack => slack::body(event, redactor),
    };
    Ok(serde_json::to_vec(&body)?)
}

/// The innermost cause of a failed request ("Connection refused"), which
/// says more than reqwest's "error sending request".
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_delivery_names_the_host_never_the_url() {
        // Nothing listens on this port: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let webhook = Notify {
            url: format!("http://127.0.0.1:{port}/services/T0KEN-in-the-path"),
            format: NotifyFormat::Slack,
            on: Outcome::ALL.to_vec(),
            timeout: Duration::from_secs(2),
            retries: 1,
        };
        let event = Event {
            schema_version: SCHEMA_VERSION,
            outcome: Outcome::Refused,
            project: "shop".into(),
            action: Action::Deploy,
            release_id: Some("1.4".into()),
            previous_release_id: None,
            exit_code: 4,
            message: "cannot take the deploy lock".into(),
            record: None,
            bookkeeping: Vec::new(),
        };
        let warnings = send_all(&[webhook], &event, &Redactor::default()).await;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = &warnings[0];
        assert!(w.contains("to 127.0.0.1 was not delivered"), "{w}");
        assert!(w.contains("(2 attempts)"), "{w}");
        assert!(
            !w.contains("T0KEN") && !w.contains(&port.to_string()),
            "{w}"
        );
    }
}
