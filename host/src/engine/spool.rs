//! The log spool. From the moment a rollout starts, the host follows the log
//! of every service a check may read and appends each line, with its time,
//! to a file per service in the state directory's temp area. Checks read
//! their windows from there: lines the engine rotates away later are still
//! there, memory stays bounded (lines go straight to disk, and a window is
//! read back one line at a time), and a read is a scan of a local file.
//!
//! The spool is a [`StackView`] over the engine's: a service it does not
//! follow, and the part of a window before it started, come from the engine.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};

use super::{Container, EngineError, LogItem, LogLines, LogWindow, StackView};

/// The default cap of one service's spool file.
const DEFAULT_CAP_MIB: u64 = 256;
/// A read waits for the follower to catch up with the window's end: until
/// it has a line from after it, or nothing came for this long (the
/// engine's own follow delivers a written line within milliseconds)...
const QUIET: Duration = Duration::from_millis(150);
/// ... and never longer than this: a follower this far behind is reported.
const MAX_SETTLE: Duration = Duration::from_secs(3);
/// Lines written between two publications of the follower's progress,
/// when the stream never pauses.
const PUBLISH_EVERY: u64 = 8192;

/// Following services' logs into files; dropping it stops the followers and
/// removes the files.
pub struct Spool {
    inner: Arc<dyn StackView>,
    /// When following began; earlier lines come from the engine.
    start_ms: u64,
    cap_bytes: u64,
    tails: BTreeMap<String, Arc<Tail>>,
    followers: Vec<tokio::task::AbortHandle>,
    /// Private to the owner (logs may carry anything), removed on drop.
    dir: PathBuf,
}

impl Spool {
    /// The cap of one service's spool: `PITWALL_LOG_SPOOL_MIB`, or 256 MiB.
    pub fn cap_from_env() -> Result<u64, String> {
        match std::env::var("PITWALL_LOG_SPOOL_MIB") {
            Ok(v) => v
                .parse::<u64>()
                .ok()
                .filter(|m| (1..=1 << 20).contains(m))
                .map(|m| m << 20)
                .ok_or_else(|| {
                    format!("PITWALL_LOG_SPOOL_MIB={v:?} is not a size in MiB from 1 to 1048576")
                }),
            Err(_) => Ok(DEFAULT_CAP_MIB << 20),
        }
    }

    /// Starts following `services` of `inner` from `start_ms` into
    /// `temp_area/logs`. What an earlier, killed run left there is removed
    /// first: the caller holds the deploy lock, so no other rollout is
    /// spooling.
    pub async fn start(
        inner: Arc<dyn StackView>,
        services: &[String],
        start_ms: u64,
        temp_area: &Path,
        cap_bytes: u64,
    ) -> Result<Spool, EngineError> {
        let dir = temp_area.join("logs");
        let shown = dir.display().to_string();
        let unwritable = |e: std::io::Error| {
            EngineError::Call(format!("cannot make the log spool in {shown}: {e}"))
        };
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(unwritable)?;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(unwritable)?;
        let mut spool = Spool {
            inner,
            start_ms,
            cap_bytes,
            tails: BTreeMap::new(),
            followers: Vec::new(),
            dir,
        };
        for (i, service) in services.iter().enumerate() {
            // Service names need not be file names.
            let path = spool.dir.join(format!("{i}.log"));
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(unwritable)?;
            let lines = spool.inner.follow(service, start_ms).await?;
            let tail = Arc::new(Tail {
                path,
                mark: Mutex::new(Mark::default()),
            });
            let task = tokio::spawn(follow(tail.clone(), lines, file, cap_bytes));
            spool.followers.push(task.abort_handle());
            spool.tails.insert(service.clone(), tail);
        }
        Ok(spool)
    }

    /// The spooled part of `window` of `service`, then (if its follower
    /// stopped) what the engine still has after that.
    async fn spooled(
        &self,
        service: &str,
        tail: &Tail,
        window: LogWindow,
    ) -> Result<LogLines, EngineError> {
        let until = window.until_ms.unwrap_or_else(crate::clock::now_ms);
        let mark = tail.settle(until).await;
        let file = File::open(&tail.path).map_err(|e| {
            EngineError::Call(format!("cannot read the log spool of `{service}`: {e}"))
        })?;
        // As the engine would answer: the lines of the units there are
        // now. A unit replaced since (a recreated container) takes its
        // lines with it, as it does from Docker.
        let units: HashSet<String> = self
            .inner
            .containers(Some(&[service.to_string()]))
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let lines = read_back(
            BufReader::with_capacity(256 << 10, file.take(mark.bytes)),
            window,
            units,
        );
        let mut notices = Vec::new();
        if mark.lost > 0 {
            notices.push(Ok(LogItem::Lost(format!(
                "the log spool of `{service}` reached its cap of {} MiB at {}: {} later lines \
                 were not kept (raise PITWALL_LOG_SPOOL_MIB)",
                self.cap_bytes >> 20,
                crate::clock::rfc3339_ms(mark.full_at_ms),
                mark.lost
            ))));
        }
        if mark.behind {
            notices.push(Ok(LogItem::Lost(format!(
                "the log follower of `{service}` was still catching up after {}: lines of the \
                 last moments of the window may be missing",
                humantime::format_duration(MAX_SETTLE)
            ))));
        }
        let rest = match &mark.stopped {
            Some(why) if mark.seen_ms < until => {
                tracing::warn!("following the log of `{service}` stopped: {why}");
                let after = LogWindow {
                    since_ms: mark.seen_ms.max(window.since_ms),
                    until_ms: window.until_ms,
                };
                Some(self.inner.logs(service, after).await?)
            }
            _ => None,
        };
        Ok(lines
            .chain(futures_util::stream::iter(notices))
            .chain(futures_util::stream::iter(rest).flatten())
            .boxed())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        for f in &self.followers {
            f.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        // The temp area itself goes too, unless something else is in it.
        if let Some(area) = self.dir.parent() {
            let _ = std::fs::remove_dir(area);
        }
    }
}

#[async_trait::async_trait]
impl StackView for Spool {
    async fn containers(&self, services: Option<&[String]>) -> Result<Vec<Container>, EngineError> {
        self.inner.containers(services).await
    }

    async fn logs(&self, service: &str, window: LogWindow) -> Result<LogLines, EngineError> {
        let Some(tail) = self.tails.get(service) else {
            return self.inner.logs(service, window).await;
        };
        let ends_before_spool = window.until_ms.is_some_and(|u| u <= self.start_ms);
        if ends_before_spool {
            return self.inner.logs(service, window).await;
        }
        if window.since_ms >= self.start_ms {
            return self.spooled(service, tail, window).await;
        }
        let before = LogWindow {
            since_ms: window.since_ms,
            until_ms: Some(self.start_ms),
        };
        let from_spool = LogWindow {
            since_ms: self.start_ms,
            until_ms: window.until_ms,
        };
        let before = self.inner.logs(service, before).await?;
        Ok(before
            .chain(self.spooled(service, tail, from_spool).await?)
            .boxed())
    }

    async fn follow(&self, service: &str, since_ms: u64) -> Result<LogLines, EngineError> {
        self.inner.follow(service, since_ms).await
    }
}

/// One service's spool file and how far its follower got.
struct Tail {
    path: PathBuf,
    mark: Mutex<Mark>,
}

/// The follower's progress, as last published.
#[derive(Debug, Clone, Default)]
struct Mark {
    /// Bytes of whole lines in the file, flushed: what a reader may read.
    bytes: u64,
    /// The time of the newest line seen (kept or not).
    seen_ms: u64,
    /// When a line last arrived.
    arrived: Option<Instant>,
    /// Lines not kept because the file reached its cap, since `full_at_ms`.
    lost: u64,
    full_at_ms: u64,
    /// Why following ended, if it did.
    stopped: Option<String>,
    /// Set on a settled mark whose follower had not caught up.
    behind: bool,
}

impl Tail {
    fn mark(&self) -> MutexGuard<'_, Mark> {
        // Every update is one assignment: a panic elsewhere leaves it whole.
        self.mark.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mark once the follower has everything up to `until_ms`: it has
    /// seen a later line, or nothing arrived for `QUIET`, or it stopped.
    async fn settle(&self, until_ms: u64) -> Mark {
        let start = Instant::now();
        loop {
            let mark = self.mark().clone();
            let caught_up = mark.seen_ms >= until_ms || mark.stopped.is_some();
            let quiet =
                start.elapsed() >= QUIET && mark.arrived.is_none_or(|at| at.elapsed() >= QUIET);
            if caught_up || quiet {
                return mark;
            }
            if start.elapsed() >= MAX_SETTLE {
                return Mark {
                    behind: true,
                    ..mark
                };
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Appends the lines of `lines` to `file` (`MS\tUNIT\tTEXT\n`) up to `cap` bytes,
/// publishing its progress whenever the stream pauses.
async fn follow(tail: Arc<Tail>, mut lines: LogLines, file: File, cap: u64) {
    let mut out = BufWriter::with_capacity(256 << 10, file);
    let mut mark = Mark::default();
    let mut unpublished = 0u64;
    let why = loop {
        let next = match lines.next().now_or_never() {
            Some(next) => next,
            None => {
                if let Err(e) = publish(&tail, &mut out, &mut mark, &mut unpublished) {
                    return stop(&tail, e);
                }
                lines.next().await
            }
        };
        let line = match next {
            Some(Ok(LogItem::Line(line))) => line,
            // Engine streams hand over single lines with their times and
            // report no losses of their own: blocks and notices come from
            // spools and recordings, which are not followed.
            Some(Ok(LogItem::Lines(_) | LogItem::Lost(_))) => continue,
            Some(Err(e)) => break e.to_string(),
            None => break "the engine ended the log stream".to_string(),
        };
        mark.seen_ms = mark.seen_ms.max(line.ms);
        // `MS\tUNIT\tTEXT\n`
        let unit = line.unit.as_deref().unwrap_or("");
        let digits = u64::from(line.ms.checked_ilog10().unwrap_or(0) + 1);
        let size = digits + 3 + unit.len() as u64 + line.text.len() as u64;
        if mark.lost > 0 || mark.bytes + size > cap {
            if mark.lost == 0 {
                mark.full_at_ms = line.ms;
            }
            mark.lost += 1;
        } else if let Err(e) = writeln!(out, "{}\t{unit}\t{}", line.ms, line.text) {
            break format!("cannot write the log spool: {e}");
        } else {
            mark.bytes += size;
        }
        unpublished += 1;
        if unpublished >= PUBLISH_EVERY
            && let Err(e) = publish(&tail, &mut out, &mut mark, &mut unpublished)
        {
            break e;
        }
    };
    // What was written so far stays readable.
    let why = match publish(&tail, &mut out, &mut mark, &mut unpublished) {
        Ok(()) => why,
        Err(e) => e,
    };
    stop(&tail, why);
}

/// Flushes what was written and makes it readable.
fn publish(
    tail: &Tail,
    out: &mut BufWriter<File>,
    mark: &mut Mark,
    unpublished: &mut u64,
) -> Result<(), String> {
    if *unpublished == 0 {
        return Ok(());
    }
    out.flush()
        .map_err(|e| format!("cannot write the log spool: {e}"))?;
    mark.arrived = Some(Instant::now());
    *tail.mark() = mark.clone();
    *unpublished = 0;
    Ok(())
}

fn stop(tail: &Tail, why: String) {
    tail.mark().stopped = Some(why);
}

/// The lines of a spool file that fall in `window`, in blocks of whole
/// lines of about `BLOCK_BYTES`.
/// Lines of a unit not in `units` are left out; lines of no particular
/// unit (a swarm service's) are kept.
fn read_back(
    reader: impl BufRead + Send + 'static,
    window: LogWindow,
    units: HashSet<String>,
) -> LogLines {
    let state = (reader, units);
    futures_util::stream::unfold(state, move |(mut reader, units)| async move {
        let (mut block, mut record) = (String::new(), Vec::new());
        while block.len() < BLOCK_BYTES {
            record.clear();
            match reader.read_until(b'\n', &mut record) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let e = EngineError::Call(format!("cannot read the log spool: {e}"));
                    return Some((Err(e), (reader, units)));
                }
            }
            if let Some((ms, unit, text)) = parse(&record)
                && window.contains(ms)
                && (unit.is_empty() || units.contains(unit))
            {
                block.push_str(&String::from_utf8_lossy(text));
                block.push('\n');
            }
        }
        (!block.is_empty()).then_some((Ok(LogItem::Lines(block)), (reader, units)))
    })
    .boxed()
}

/// How much a block read back from a spool holds.
const BLOCK_BYTES: usize = 256 << 10;

/// `MS\tUNIT\tTEXT\n` → (MS, UNIT, TEXT).
fn parse(record: &[u8]) -> Option<(u64, &str, &[u8])> {
    let record = record.strip_suffix(b"\n")?;
    let tab = memchr::memchr(b'\t', record)?;
    let ms = std::str::from_utf8(&record[..tab]).ok()?.parse().ok()?;
    let rest = &record[tab + 1..];
    let tab = memchr::memchr(b'\t', rest)?;
    let unit = std::str::from_utf8(&rest[..tab]).ok()?;
    Some((ms, unit, &rest[tab + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LogLine;

    /// An engine whose one service logs `lines` as soon as it is followed,
    /// then keeps the stream open, as a live service does.
    struct Logging {
        lines: Vec<String>,
    }

    #[async_trait::async_trait]
    impl StackView for Logging {
        async fn containers(&self, _: Option<&[String]>) -> Result<Vec<Container>, EngineError> {
            Ok(Vec::new())
        }

        async fn logs(&self, _: &str, _: LogWindow) -> Result<LogLines, EngineError> {
            Ok(futures_util::stream::empty().boxed())
        }

        async fn follow(&self, _: &str, since_ms: u64) -> Result<LogLines, EngineError> {
            let lines = self
                .lines
                .clone()
                .into_iter()
                .enumerate()
                .map(move |(i, text)| {
                    Ok(LogItem::Line(LogLine {
                        ms: since_ms + i as u64,
                        text,
                        unit: None,
                    }))
                });
            Ok(futures_util::stream::iter(lines)
                .chain(futures_util::stream::pending())
                .boxed())
        }
    }

    #[tokio::test]
    async fn a_full_spool_keeps_whole_lines_up_to_its_cap_and_counts_the_rest() {
        let lines: Vec<String> = (0..100).map(|i| format!("GET /item/{i} 200")).collect();
        let state = tempfile::tempdir().unwrap();
        let temp_area = state.path().join("tmp");
        // Each record is `1000\t\tGET /item/N 200\n`: 20 to 22 bytes.
        let cap = 500;
        let inner = Arc::new(Logging {
            lines: lines.clone(),
        });
        let spool = Spool::start(inner, &["api".into()], 1000, &temp_area, cap)
            .await
            .unwrap();
        let window = LogWindow {
            since_ms: 1000,
            until_ms: Some(1099),
        };
        let items: Vec<LogItem> = spool
            .logs("api", window)
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;

        let mut kept = String::new();
        let mut notices = Vec::new();
        for item in items {
            match item {
                LogItem::Lines(block) => kept.push_str(&block),
                LogItem::Line(line) => kept.push_str(&format!("{}\n", line.text)),
                LogItem::Lost(notice) => notices.push(notice),
            }
        }
        let kept: Vec<&str> = kept.lines().collect();
        // The oldest lines, whole and in order, as many as fit.
        assert!(!kept.is_empty() && kept.len() < lines.len(), "{kept:?}");
        assert_eq!(kept, lines[..kept.len()]);
        let on_disk = std::fs::metadata(temp_area.join("logs/0.log"))
            .unwrap()
            .len();
        assert!(on_disk <= cap, "{on_disk} bytes spooled, cap {cap}");
        assert!(
            on_disk + 22 > cap,
            "stopped early: {on_disk} of {cap} bytes"
        );
        // The rest counted and reported, with the way out.
        let lost = lines.len() - kept.len();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(
            notices[0].contains(&format!("{lost} later lines were not kept"))
                && notices[0].contains("PITWALL_LOG_SPOOL_MIB"),
            "{}",
            notices[0]
        );

        // Nothing is left behind.
        drop(spool);
        assert!(!temp_area.exists());
    }
}
