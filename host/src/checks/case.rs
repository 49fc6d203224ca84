//! Test cases for `pitwall check test`: a configuration, grants, canned host
//! answers (or a recording) and the verdict expected. The format is
//! documented in docs/check-test-cases.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::bindings::{http, stack, types};
use super::grants::Grants;
use super::tape::{Interaction, LogsQuery, Recording};
use super::verdict::{Outcome, Verdict};

/// A case file is small; anything bigger is not one.
const MAX_CASE_BYTES: u64 = 16 << 20;

/// One case, ready to run.
#[derive(Debug)]
pub struct Case {
    /// The plugin spec, relative paths resolved from the case's folder.
    pub plugin: Option<String>,
    pub config: String,
    pub grants: Grants,
    pub context: types::Context,
    pub recorded: Vec<Interaction>,
    pub canned: Vec<Interaction>,
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: Outcome,
    #[serde(default)]
    pub summary_contains: Option<String>,
    #[serde(default)]
    pub evidence: Vec<String>,
}

impl Expect {
    /// What differs between this expectation and `verdict`, one line each.
    pub fn mismatches(&self, verdict: &Verdict) -> Vec<String> {
        let mut out = Vec::new();
        if verdict.outcome != self.outcome {
            out.push(format!(
                "outcome: expected {}, got {}",
                self.outcome.as_str(),
                verdict.outcome.as_str()
            ));
        }
        if let Some(text) = &self.summary_contains
            && !verdict.summary.contains(text.as_str())
        {
            out.push(format!(
                "summary: expected it to contain {text:?}, got {:?}",
                verdict.summary
            ));
        }
        for label in &self.evidence {
            if !verdict.evidence.iter().any(|e| &e.label == label) {
                let labels: Vec<&str> = verdict.evidence.iter().map(|e| e.label.as_str()).collect();
                out.push(format!(
                    "evidence: expected a `{label}` item, got [{}]",
                    labels.join(", ")
                ));
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct CaseError {
    pub path: String,
    pub reason: String,
}

impl Case {
    /// Reads a case file (`.toml`), or a recording (`.json`, from `check run
    /// --record`) as a case expecting the recorded outcome and summary.
    pub fn read(path: &Path) -> Result<Case, CaseError> {
        let error = |reason: String| CaseError {
            path: path.display().to_string(),
            reason,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        if path.extension().is_some_and(|e| e == "json") {
            let r = Recording::read(path).map_err(|e| error(format!("{e:#}")))?;
            return Ok(Case {
                plugin: Some(resolve(dir, &r.plugin)),
                config: r.config,
                grants: r.grants,
                context: r.context,
                recorded: r.interactions,
                canned: Vec::new(),
                expect: Expect {
                    outcome: r.verdict.outcome,
                    summary_contains: Some(r.verdict.summary),
                    evidence: Vec::new(),
                },
            });
        }
        let bytes = crate::fsutil::read_regular(path, MAX_CASE_BYTES)
            .map_err(|e| error(format!("cannot read it: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| error("is not UTF-8 text".into()))?;
        let file: CaseFile = toml::from_str(&text).map_err(|e| error(e.to_string()))?;
        file.into_case(dir).map_err(error)
    }
}

/// A relative plugin path is relative to the case; specs with a scheme are
/// kept as they are.
fn resolve(dir: &Path, spec: &str) -> String {
    if spec.contains(':') || Path::new(spec).is_absolute() {
        spec.to_string()
    } else {
        dir.join(spec).display().to_string()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    plugin: Option<String>,
    #[serde(default)]
    config: Option<toml::Value>,
    #[serde(default)]
    allow_http: Vec<String>,
    #[serde(default)]
    allow_logs: Vec<String>,
    #[serde(default)]
    context: ContextSpec,
    #[serde(default)]
    http: Vec<CannedHttp>,
    #[serde(default)]
    logs: Vec<CannedLogs>,
    #[serde(default)]
    containers: Vec<CannedContainer>,
    tape: Option<PathBuf>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextSpec {
    #[serde(default = "test")]
    release_id: String,
    #[serde(default = "test")]
    project: String,
    #[serde(default)]
    phase: CasePhase,
    #[serde(default = "one")]
    attempt: u32,
    /// How long before "now" the phase started.
    #[serde(default = "five_minutes_ms")]
    window_ms: u64,
    /// "Now", in ms since the Unix epoch (default: the clock): pinned, a
    /// check that puts times in its URLs meets its canned answers.
    #[serde(default)]
    now_ms: Option<u64>,
}

impl Default for ContextSpec {
    fn default() -> Self {
        ContextSpec {
            release_id: test(),
            project: test(),
            phase: CasePhase::default(),
            attempt: one(),
            window_ms: five_minutes_ms(),
            now_ms: None,
        }
    }
}

fn test() -> String {
    "test".into()
}
/// The phases a check is told it runs in (`context.phase`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum CasePhase {
    #[default]
    Verify,
    Watch,
    Standalone,
}

impl CasePhase {
    fn as_str(self) -> &'static str {
        match self {
            CasePhase::Verify => "verify",
            CasePhase::Watch => "watch",
            CasePhase::Standalone => "standalone",
        }
    }
}
fn one() -> u32 {
    1
}
fn five_minutes_ms() -> u64 {
    300_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CannedHttp {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    json: Option<toml::Value>,
    body_base64: Option<String>,
    error: Option<BTreeMap<String, String>>,
    #[serde(default)]
    elapsed_ms: u32,
}

fn get() -> String {
    "GET".into()
}
fn ok() -> u16 {
    200
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CannedLogs {
    service: String,
    lines: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CannedContainer {
    service: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "running")]
    state: String,
    health: Option<String>,
    #[serde(default)]
    image: String,
    #[serde(default)]
    restart_count: u32,
}

fn running() -> String {
    "running".into()
}

impl CaseFile {
    fn into_case(self, dir: &Path) -> Result<Case, String> {
        let config = match self.config {
            None => "{}".to_string(),
            Some(toml::Value::String(s)) => s,
            Some(v) => serde_json::to_string(&v).map_err(|e| format!("config: {e}"))?,
        };
        let grants = Grants {
            allow_http: self.allow_http,
            allow_logs: self.allow_logs,
        };
        grants.validate()?;
        let c = self.context;
        let now = c.now_ms.unwrap_or_else(crate::clock::now_ms);
        let context = types::Context {
            release_id: c.release_id,
            project: c.project,
            images: Vec::new(),
            started_at_ms: now.saturating_sub(c.window_ms),
            now_ms: now,
            attempt: c.attempt,
            phase: c.phase.as_str().into(),
        };
        let recorded = match &self.tape {
            Some(tape) => {
                Recording::read(&dir.join(tape))
                    .map_err(|e| format!("tape: {e:#}"))?
                    .interactions
            }
            None => Vec::new(),
        };
        let mut canned = Vec::new();
        for (i, h) in self.http.into_iter().enumerate() {
            canned.push(
                h.into_interaction()
                    .map_err(|e| format!("http[{i}]: {e}"))?,
            );
        }
        for l in self.logs {
            canned.push(Interaction::StackLogs {
                query: LogsQuery {
                    service: l.service,
                    since_ms: 0,
                    until_ms: None,
                    max_lines: None,
                },
                result: Ok(l.lines.iter().map(|l| format!("{l}\n")).collect()),
            });
        }
        if !self.containers.is_empty() {
            let containers = self
                .containers
                .into_iter()
                .map(|c| stack::Container {
                    name: c.name.unwrap_or_else(|| format!("{}-1", c.service)),
                    service: c.service,
                    image: c.image,
                    state: c.state,
                    health: c.health,
                    restart_count: c.restart_count,
                })
                .collect();
            canned.push(Interaction::StackContainers {
                result: Ok(containers),
            });
        }
        Ok(Case {
            plugin: self.plugin.map(|p| resolve(dir, &p)),
            config,
            grants,
            context,
            recorded,
            canned,
            expect: self.expect,
        })
    }
}

impl CannedHttp {
    fn into_interaction(self) -> Result<Interaction, String> {
        let request = http::Request {
            method: self.method.to_ascii_uppercase(),
            url: self.url,
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            follow_redirects: false,
        };
        if let Some(error) = self.error {
            let [(kind, message)]: [(String, String); 1] = error
                .into_iter()
                .collect::<Vec<_>>()
                .try_into()
                .map_err(|_| "`error` takes one kind, e.g. { timeout = \"…\" }".to_string())?;
            let error = match kind.as_str() {
                "denied" => http::Error::Denied(message),
                "timeout" => http::Error::Timeout(message),
                "connect" => http::Error::Connect(message),
                "invalid" => http::Error::Invalid(message),
                "other" => http::Error::Other(message),
                other => {
                    return Err(format!(
                        "unknown error kind `{other}`: use denied, timeout, connect, invalid or other"
                    ));
                }
            };
            return Ok(Interaction::HttpSend {
                request,
                result: Err(error),
            });
        }
        let mut headers: Vec<http::Header> = self
            .headers
            .into_iter()
            .map(|(name, value)| http::Header { name, value })
            .collect();
        let body = match (self.body, self.json, self.body_base64) {
            (None, None, None) => Vec::new(),
            (Some(text), None, None) => text.into_bytes(),
            (None, Some(json), None) => {
                if !headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(http::Header {
                        name: "content-type".into(),
                        value: "application/json".into(),
                    });
                }
                serde_json::to_vec(&json).map_err(|e| format!("json: {e}"))?
            }
            (None, None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("body_base64: {e}"))?,
            _ => return Err("give one of body, json and body_base64".into()),
        };
        Ok(Interaction::HttpSend {
            request,
            result: Ok(http::Response {
                status: self.status,
                headers,
                body,
                truncated: false,
                elapsed_ms: self.elapsed_ms,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(text: &str) -> Result<Case, String> {
        let file: CaseFile = toml::from_str(text).map_err(|e| e.to_string())?;
        file.into_case(Path::new("/cases"))
    }

    #[test]
    fn reads_the_documented_shape() {
        let c = case(
            r#"
            plugin = "../x.wasm"
            config = { url = "http://app/health", limit = 3 }
            allow_http = ["http://app/"]
            [[http]]
            url = "http://app/health"
            json = { db = "ok" }
            [[http]]
            method = "post"
            url = "http://app/login"
            error = { timeout = "slow" }
            [[logs]]
            service = "api"
            lines = ["a", "b"]
            [context]
            now_ms = 1764215300000
            window_ms = 60000
            [expect]
            outcome = "pass"
            "#,
        )
        .unwrap();
        assert_eq!(
            (c.context.started_at_ms, c.context.now_ms),
            (1_764_215_240_000, 1_764_215_300_000)
        );
        assert_eq!(c.plugin.as_deref(), Some("/cases/../x.wasm"));
        let config: serde_json::Value = serde_json::from_str(&c.config).unwrap();
        assert_eq!(config["limit"], 3);
        assert_eq!(c.canned.len(), 3);
        match &c.canned[0] {
            Interaction::HttpSend { result: Ok(r), .. } => {
                assert_eq!(r.status, 200);
                assert_eq!(r.body, br#"{"db":"ok"}"#);
                assert_eq!(r.headers[0].value, "application/json");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &c.canned[1],
            Interaction::HttpSend { request, result: Err(http::Error::Timeout(_)) } if request.method == "POST"
        ));
    }

    #[test]
    fn mistakes_are_named() {
        let e = case("[expect]\noutcome = \"pass\"\ntypo = 1").unwrap_err();
        assert!(e.contains("unknown field `typo`"), "{e}");
        let e = case("[expect]\noutcome = \"maybe\"").unwrap_err();
        assert!(e.contains("unknown variant `maybe`"), "{e}");
        let e = case(
            "[[http]]\nurl = \"http://a/\"\nbody = \"x\"\njson = 1\n[expect]\noutcome = \"pass\"",
        )
        .unwrap_err();
        assert!(
            e.contains("http[0]: give one of body, json and body_base64"),
            "{e}"
        );
        let e = case("allow_http = [\"ftp://x\"]\n[expect]\noutcome = \"pass\"").unwrap_err();
        assert!(e.contains("allow_http"), "{e}");
    }

    #[test]
    fn mismatches_say_expected_and_actual() {
        let expect = Expect {
            outcome: Outcome::Pass,
            summary_contains: Some("healthy".into()),
            evidence: vec!["db".into()],
        };
        let mut v = Verdict::error("boom");
        let m = expect.mismatches(&v);
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(m[0], "outcome: expected pass, got error");
        v.outcome = Outcome::Pass;
        v.summary = "all healthy".into();
        v.evidence
            .push(super::super::verdict::Evidence::new("db", "ok"));
        assert!(expect.mismatches(&v).is_empty());
    }
}
