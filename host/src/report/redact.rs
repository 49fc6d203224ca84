//! Keeps the env file's values, and the CI secrets a configuration uses,
//! out of everything pitwall prints or writes.

use std::sync::{LazyLock, Mutex, OnceLock};

use regex::Regex;
use serde::Serialize;

/// Removes secrets from anything pitwall prints or writes: the env file's
/// values (and the passwords inside its URLs and DSNs, which an app logs as
/// part of a longer line), credentials in any URL, bearer tokens, JWTs, and
/// JSON fields or evidence named like a credential.
#[derive(Debug, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    shapes: &'static [(Regex, &'static str)],
}

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor::new(Vec::new())
    }
}

/// Names that mark a value as a credential, in evidence labels, JSON fields
/// and headers.
const SENSITIVE: &str =
    r"(?i)(token|secret|passw(or)?d|cookie|session|authorization|api[_-]?key|credential)";

/// Fields of pitwall's records that hold typed values or image references.
const NOT_TEXT: &[&str] = &[
    "action",
    "outcome",
    "failure_mode",
    "phase",
    "passed",
    "images",
    "command",
    // The event stream's type tag and failure mode.
    "event",
    "mode",
];

/// Text shaped like a credential, and what it becomes.
fn shapes() -> &'static [(Regex, &'static str)] {
    static SHAPES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let compile = |re: &str| Regex::new(re).expect("a valid built-in pattern");
        vec![
            // scheme://user:password@host
            (compile(r"(://[^/\s:@]*):[^/\s@]+@"), "$1:***@"),
            (
                compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"),
                "$1 ***",
            ),
            (
                compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
                "***",
            ),
            // "access_token": "…" in JSON bodies and logs
            (
                compile(&format!(r#"("[^"]*{SENSITIVE}[^"]*"\s*:\s*)"[^"]*""#)),
                r#"$1"***""#,
            ),
            // token=… in query strings, logfmt and headers
            (
                compile(&format!(
                    r"(\b[A-Za-z_-]*{SENSITIVE}[A-Za-z_-]*\s*[=:]\s*)[^\s&;,]+"
                )),
                "$1***",
            ),
        ]
    })
}

/// Every secret value this process has read (see [`remember`]). An error
/// can quote one before any command holds a configuration (a value
/// interpolated into a setting of the wrong type, say), so redaction cannot
/// wait for one.
static READ: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn read_so_far() -> Vec<String> {
    READ.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Names of environment variables that hold credentials. `PWD` alone (and
/// `OLDPWD`) is the shell's working directory; `DB_PWD` is a password.
const SECRET_NAME: &str = r"(?i)(token|secret|pass|key|auth|credential|cookie|session|dsn|private|salt|signing|[^a-z]pwd|pwd[^a-z])";

/// What of a process environment variable a configuration uses is secret.
/// The process environment mixes CI secrets with plain settings (`TAG`,
/// `REGISTRY`, `PWD`) that pitwall prints as part of image references and
/// paths, so the name decides: the whole value of a variable named like a
/// credential, else only a password inside a URL value.
pub fn secret_in(name: &str, value: &str) -> Option<String> {
    static NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(SECRET_NAME).expect("a valid pattern"));
    if NAME.is_match(name) {
        Some(value.to_string())
    } else {
        url_password(value)
    }
}

/// Adds `values` (an env file's, or secrets from the process environment)
/// to what [`Redactor::process`] removes,
/// each also as a parser quotes it: escaped as a Rust string (`\"`, `\\`,
/// `\n`), which is how serde's errors show a rejected string.
pub fn remember(values: &[String]) {
    let escaped = values.iter().map(|v| {
        let quoted = format!("{v:?}");
        quoted[1..quoted.len() - 1].to_string()
    });
    let mut read = READ.lock().unwrap_or_else(|p| p.into_inner());
    read.extend(values.iter().cloned().chain(escaped));
}

impl Redactor {
    /// A redactor for every secret value read so far, whichever command
    /// read it: for a command's final error. Values only: pitwall's own
    /// messages say `credentials: run …`, which a credential shape would
    /// blank.
    pub fn process() -> Redactor {
        Redactor {
            shapes: &[],
            ..Redactor::new(read_so_far())
        }
    }

    /// Values that cannot be secrets and would only garble the output when
    /// blanked (ports, booleans, tiny words) are left alone.
    pub fn new(values: Vec<String>) -> Redactor {
        const PLAIN: &[&str] = &["true", "false", "yes", "no", "on", "off", "null", "none"];
        let embedded: Vec<String> = values.iter().filter_map(|v| url_password(v)).collect();
        let mut secrets: Vec<String> = values
            .into_iter()
            .chain(embedded)
            .filter(|v| {
                let short_number = v.len() <= 5 && v.chars().all(|c| c.is_ascii_digit());
                v.len() >= 4 && !short_number && !PLAIN.contains(&v.to_ascii_lowercase().as_str())
            })
            .collect();
        // Longest first, so a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets,
            shapes: shapes(),
        }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
        }
        for (shape, with) in self.shapes {
            if let std::borrow::Cow::Owned(o) = shape.replace_all(&out, *with) {
                out = o;
            }
        }
        out
    }

    /// A copy of `value` with secrets removed from every string in it (keys
    /// and structure untouched, so the result is still the same type). An
    /// evidence item labelled like a credential loses its whole value.
    /// Typed fields (an outcome, an action, a phase) and image references
    /// are not text: an env value like `error` or `deploy` must not turn
    /// them into `***`.
    pub fn scrub<T: Serialize + serde::de::DeserializeOwned>(
        &self,
        value: &T,
    ) -> anyhow::Result<T> {
        fn walk(v: &mut serde_json::Value, r: &Redactor, label: &Regex) {
            match v {
                serde_json::Value::String(s) => *s = r.apply(s),
                serde_json::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, r, label)),
                serde_json::Value::Object(o) => {
                    let sensitive = o
                        .get("label")
                        .and_then(|l| l.as_str())
                        .is_some_and(|l| label.is_match(l));
                    for (k, v) in o.iter_mut() {
                        if NOT_TEXT.contains(&k.as_str()) {
                            continue;
                        }
                        if sensitive && k == "value" {
                            *v = serde_json::Value::String("***".into());
                        } else {
                            walk(v, r, label);
                        }
                    }
                }
                _ => {}
            }
        }
        static LABEL: OnceLock<Regex> = OnceLock::new();
        let label = LABEL.get_or_init(|| Regex::new(SENSITIVE).expect("a valid pattern"));
        let mut json = serde_json::to_value(value)?;
        walk(&mut json, self, label);
        Ok(serde_json::from_value(json)?)
    }
}

/// A writer of diagnostics (`PITWALL_LOG`, tracing's output) that removes
/// the secret values read so far and credential shapes: an event may quote
/// anything pitwall or a library saw. Tracing's formatter writes each event
/// whole in one call, so a secret is never split across two writes. Colours
/// go first: the formatter styles a field's name apart from its `=`, which
/// would hide `token=…` from the shapes.
pub struct Scrubbed<W>(pub W);

impl<W: std::io::Write> std::io::Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let plain = anstream::adapter::strip_str(&String::from_utf8_lossy(buf)).to_string();
        let text = Redactor::new(read_so_far()).apply(&plain);
        self.0.write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The password in `scheme://user:password@host…`, if `value` is such a URL.
fn url_password(value: &str) -> Option<String> {
    let rest = &value[value.find("://")? + 3..];
    let userinfo = &rest[..rest.find('@')?];
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty() && !password.contains('/')).then(|| password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_blanks_secrets_but_not_structure_or_plain_values() {
        let r = Redactor::new(vec![
            "hunter2hunter2".into(),
            "true".into(),
            "8080".into(),
            "abc".into(),
        ]);
        assert_eq!(
            r.apply("pw=hunter2hunter2 port 8080 ok=true"),
            "pw=*** port 8080 ok=true"
        );
        let v = serde_json::json!({"passed": true, "note": "hunter2hunter2!", "n": 8080});
        let scrubbed: serde_json::Value = r.scrub(&v).unwrap();
        assert_eq!(
            scrubbed,
            serde_json::json!({"passed": true, "note": "***!", "n": 8080})
        );
    }

    #[test]
    fn credentials_inside_longer_values_and_token_shapes_are_blanked() {
        let r = Redactor::new(vec!["postgres://shop:pg-Pa55word@db:5432/shop".into()]);
        // The app logs the password inside another line.
        assert_eq!(
            r.apply("connecting with password pg-Pa55word"),
            "connecting with password ***"
        );
        assert_eq!(
            r.apply("upstream http://admin:letmein99@10.0.0.7/"),
            "upstream http://admin:***@10.0.0.7/"
        );
        let header = r.apply("Authorization: Bearer abcdef0123456789");
        assert!(!header.contains("abcdef"), "{header}");
        assert_eq!(
            r.apply(r#"{"token":"abc123def456","user":"x"}"#),
            r#"{"token":"***","user":"x"}"#
        );
        assert_eq!(
            r.apply("GET /login?session_id=s3cr3t&x=1"),
            "GET /login?session_id=***&x=1"
        );
        assert_eq!(
            r.apply("jwt eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl ok"),
            "jwt *** ok"
        );
        let v = serde_json::json!({"evidence": [
            {"label": "captured token", "value": "opaque"},
            {"label": "status", "value": "200"},
        ]});
        let scrubbed: serde_json::Value = r.scrub(&v).unwrap();
        assert_eq!(scrubbed["evidence"][0]["value"], "***");
        assert_eq!(scrubbed["evidence"][1]["value"], "200");
    }

    #[test]
    fn typed_fields_survive_env_values_that_are_common_words() {
        let r = Redactor::new(vec!["error".into(), "deploy".into()]);
        let v = serde_json::json!({"action": "deploy", "outcome": "error", "note": "deploy error"});
        let scrubbed: serde_json::Value = r.scrub(&v).unwrap();
        assert_eq!(scrubbed["action"], "deploy");
        assert_eq!(scrubbed["outcome"], "error");
        assert_eq!(scrubbed["note"], "*** ***");
        assert!(!r.apply("password = hunter2").contains("hunter2"));
        assert!(
            !r.apply("Authorization: Token abcdefgh1234")
                .contains("abcdefgh1234")
        );
    }

    /// Shares what a subscriber writes with the test.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn diagnostics_are_scrubbed_of_env_values_and_credentials() {
        remember(&["hunter2-from-the-env-file".to_string()]);
        let out = Shared::default();
        let sink = out.clone();
        // Colours on, as tracing has them by default: a field's name and
        // its `=` are styled apart.
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Scrubbed(sink.clone()))
            .with_ansi(true)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                access_token = "abc123def456ghi",
                "login with hunter2-from-the-env-file at https://ci:pw-in-url@registry.test/v2/"
            );
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("login with *** at https://ci:***@registry.test/v2/"),
            "{text}"
        );
        assert!(text.contains("access_token=***"), "{text}");
        for secret in ["hunter2", "pw-in-url", "abc123"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn a_process_variable_is_secret_by_its_name_or_its_url_password() {
        for name in [
            "CI_DEPLOY_TOKEN",
            "db_password",
            "STRIPE_KEY",
            "SENTRY_DSN",
            "PGPASS",
            "APP_SECRET",
            "DB_PWD",
        ] {
            assert_eq!(
                secret_in(name, "v4lue-x").as_deref(),
                Some("v4lue-x"),
                "{name}"
            );
        }
        // Plain settings are printed as part of image references and paths.
        for name in [
            "TAG",
            "REGISTRY",
            "PWD",
            "OLDPWD",
            "HOME",
            "GITHUB_WORKSPACE",
            "LOG_LEVEL",
        ] {
            assert_eq!(secret_in(name, "/home/runner/work"), None, "{name}");
        }
        assert_eq!(
            secret_in("DATABASE_URL", "postgres://app:s3cr3t@db:5432/app").as_deref(),
            Some("s3cr3t")
        );
        assert_eq!(secret_in("API_URL", "https://api.test/v1"), None);
    }
}
