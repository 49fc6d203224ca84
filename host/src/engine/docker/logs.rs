//! Log streams from the Docker Engine API: a window of what the engine
//! still has, or a follow that keeps reading as units write. Every stream
//! is fed by a task through a bounded channel: the reader owns nothing the
//! connection borrows, a slow reader slows the task instead of growing a
//! buffer, and dropping the stream ends the task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::LogsOptions;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::{api, listed};
use crate::engine::{EngineError, LogItem, LogLine, LogLines, LogWindow};

/// Lines in flight between a reading task and the stream's reader.
const CHANNEL_LINES: usize = 4096;
/// How often a follow looks for units that started since.
const DISCOVERY_INTERVAL: Duration = Duration::from_millis(250);
/// How long a service's log stream may stay silent before it is taken as
/// complete. Docker sometimes never closes a (non-follow) service log
/// stream once the service has shut-down tasks (moby/moby#38640,
/// docker/cli#4678; seen here after every start-first update), which would
/// hang every read of the window, the incident capture's too.
const LOG_SILENCE: Duration = Duration::from_secs(2);

type Sender = mpsc::Sender<Result<LogItem, EngineError>>;

/// A stream fed by `feed`, run as a task that stops when the stream is
/// dropped (its sends fail).
fn pumped<F>(feed: impl FnOnce(Sender) -> F) -> LogLines
where
    F: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_LINES);
    tokio::spawn(feed(tx));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })
        .boxed()
}

/// The lines of the containers `ids` (one after the other) in `window`.
pub fn containers_window(docker: Docker, ids: Vec<String>, window: LogWindow) -> LogLines {
    pumped(async move |tx| {
        for id in ids {
            let lines = docker.logs(&id, Some(options(window.since_ms, window.until_ms, false)));
            if forward(lines, window, 0, Source::Unit(id.as_str().into()), &tx)
                .await
                .is_err()
            {
                return;
            }
        }
    })
}

/// The lines of swarm service `name`, all its tasks, in `window`; with
/// `follow`, the stream goes on as its tasks (present and future) write.
pub fn service(docker: Docker, name: String, window: LogWindow, follow: bool) -> LogLines {
    pumped(async move |tx| {
        let lines = docker.service_logs(
            &name,
            Some(options(window.since_ms, window.until_ms, follow)),
        );
        if follow {
            let _ = forward(lines, window, 0, Source::Merged, &tx).await;
            return;
        }
        let until_silent = futures_util::stream::unfold(Box::pin(lines), |mut lines| async move {
            let next = tokio::time::timeout(LOG_SILENCE, lines.next()).await;
            next.ok().flatten().map(|item| (item, lines))
        });
        let _ = forward(until_silent, window, 0, Source::Merged, &tx).await;
    })
}

/// Follows every container of compose service `service` from `since_ms`:
/// those running now, and those created later, found by listing the
/// project every `DISCOVERY_INTERVAL`. A container that stops and starts
/// again is followed again from its last line read, so nothing repeats.
pub fn follow_compose(docker: Docker, project: String, service: String, since_ms: u64) -> LogLines {
    pumped(async move |tx| {
        let mut followed: HashMap<String, Followed> = HashMap::new();
        let window = LogWindow {
            since_ms,
            until_ms: None,
        };
        while !tx.is_closed() {
            let containers = match list(&docker, &project, &service).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            for (id, running) in containers {
                let seen = followed.entry(id.clone()).or_default();
                if let Some(task) = seen.task.take_if(|t| t.is_finished()) {
                    seen.last_ns = seen.last_ns.max(task.await.unwrap_or(seen.last_ns));
                }
                // Never followed, or running again after its follow ended.
                if seen.task.is_none() && (!seen.started || running) {
                    seen.started = true;
                    let (docker, tx, after) = (docker.clone(), tx.clone(), seen.last_ns);
                    let from_ms = if after > 0 {
                        u64::try_from(after / 1_000_000).unwrap_or(since_ms)
                    } else {
                        since_ms
                    };
                    seen.task = Some(tokio::spawn(async move {
                        let lines = docker.logs(&id, Some(options(from_ms, None, true)));
                        let unit = Source::Unit(id.as_str().into());
                        forward(lines, window, after, unit, &tx)
                            .await
                            .unwrap_or(after)
                    }));
                }
            }
            tokio::time::sleep(DISCOVERY_INTERVAL).await;
        }
        for task in followed.into_values().filter_map(|f| f.task) {
            task.abort();
        }
    })
}

/// A container a follow has found.
#[derive(Default)]
struct Followed {
    /// The time (ns) of its last line forwarded.
    last_ns: i128,
    /// The follow reading it, while one runs.
    task: Option<tokio::task::JoinHandle<i128>>,
    started: bool,
}

/// Ids of the containers of `service` in `project`, with whether each runs.
async fn list(
    docker: &Docker,
    project: &str,
    service: &str,
) -> Result<Vec<(String, bool)>, EngineError> {
    Ok(listed(docker, project, Some(service))
        .await?
        .into_iter()
        .filter_map(|c| {
            let running = c.state == Some(ContainerSummaryStateEnum::RUNNING);
            c.id.map(|id| (id, running))
        })
        .collect())
}

/// Whose lines a stream carries.
#[derive(Clone, PartialEq, Eq)]
enum Source {
    /// One container's log (by id): its times only go forward. Docker
    /// 20.10's follow reads some lines twice where json-file rotates
    /// (measured: about 2,000 of 200,000 lines at 1 MB files); they are
    /// the ones not after the last line read, and are dropped.
    Unit(Arc<str>),
    /// Several units interleaved (a swarm service): times go back and forth.
    Merged,
}

/// Sends the lines of `stream` that fall in `window` and come after
/// `after` (ns; 0 for none). Returns the time of the last line read, or
/// `Err` once the reader is gone.
async fn forward(
    stream: impl Stream<Item = Result<LogOutput, bollard::errors::Error>>,
    window: LogWindow,
    after: i128,
    source: Source,
    tx: &Sender,
) -> Result<i128, ()> {
    let mut last = after;
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                tx.send(Err(api(e))).await.map_err(drop)?;
                break;
            }
        };
        for line in String::from_utf8_lossy(chunk.into_bytes().as_ref()).lines() {
            let (ns, text) = split_timestamp(line);
            let seen = match source {
                Source::Unit(_) => last,
                Source::Merged => after,
            };
            if ns <= seen {
                continue;
            }
            last = last.max(ns);
            let ms = u64::try_from(ns / 1_000_000).unwrap_or(0);
            if window.contains(ms) {
                let line = LogLine {
                    ms,
                    text: text.to_string(),
                    unit: match &source {
                        Source::Unit(name) => Some(name.clone()),
                        Source::Merged => None,
                    },
                };
                tx.send(Ok(LogItem::Line(line))).await.map_err(drop)?;
            }
        }
    }
    Ok(last)
}

/// The options that ask Docker for the lines from `since_ms` to
/// `until_ms`, with timestamps.
fn options(since_ms: u64, until_ms: Option<u64>, follow: bool) -> LogsOptions {
    LogsOptions {
        stdout: true,
        stderr: true,
        timestamps: true,
        follow,
        // The API filters by whole seconds in an i32 (it runs out in
        // 2038; 0 then means "no bound"); the exact cut is in `forward`.
        since: i32::try_from(since_ms / 1000).unwrap_or(0),
        until: until_ms
            .and_then(|u| i32::try_from(u / 1000 + 1).ok())
            .unwrap_or(0),
        ..Default::default()
    }
}

/// Splits Docker's `2026-11-26T13:00:00.123456789Z message` prefix; the
/// time in ns since the epoch, 0 when the line has none.
fn split_timestamp(line: &str) -> (i128, &str) {
    let (ts, rest) = line.split_once(' ').unwrap_or((line, ""));
    match crate::clock::parse_rfc3339_ns(ts) {
        Some(ns) => (ns, rest),
        None => (0, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_split_off_to_the_nanosecond() {
        let (ns, text) = split_timestamp("2026-11-26T13:00:00.123456789Z GET / 200");
        assert_eq!(ns % 1_000_000_000, 123_456_789);
        assert_eq!(text, "GET / 200");
        assert_eq!(split_timestamp("no time here"), (0, "no time here"));
    }
}
