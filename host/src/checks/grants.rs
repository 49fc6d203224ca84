//! Capabilities granted to one check. Everything is denied unless granted.

use reqwest::Url;
use serde::{Deserialize, Serialize};

/// The methods a check may use: no CONNECT (its target is an authority,
/// not a granted path), no TRACE.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Headers the host derives from the granted URL and the body: a check that
/// set them could reach another virtual host behind the same proxy, or
/// smuggle a second request through its own framing.
const HOST_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "expect",
    // Routing and method overrides that frameworks and proxies honour:
    // they would move the request past its granted path or method.
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Refuses a header a check may not set, naming it.
pub fn check_header(name: &str) -> Result<(), String> {
    if HOST_HEADERS.contains(&name.trim().to_ascii_lowercase().as_str()) {
        Err(format!(
            "header `{name}` denied: the host sets it from the granted URL and the body"
        ))
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// URL prefixes the check may send HTTP requests to.
    #[serde(default)]
    pub allow_http: Vec<String>,
    /// Compose services whose containers and logs the check may read.
    #[serde(default)]
    pub allow_logs: Vec<String>,
}

/// What a check can be granted, as its `describe` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `http.send`, granted by `allow_http` URL prefixes.
    Http,
    /// `stack.logs` and `stack.containers`, granted by `allow_logs` services.
    Logs,
}

impl Capability {
    /// The name in `describe`; unknown names are not guessed at.
    pub fn parse(name: &str) -> Option<Capability> {
        match name {
            "http" => Some(Capability::Http),
            "logs" => Some(Capability::Logs),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Logs => "logs",
        }
    }

    /// The `Grants` field that grants it, and an example value.
    pub fn grant(self) -> (&'static str, &'static str) {
        match self {
            Capability::Http => ("allow_http", "http://HOST:PORT/PATH/"),
            Capability::Logs => ("allow_logs", "SERVICE"),
        }
    }
}

impl Grants {
    /// Checks every prefix parses, so a typo is caught before a deploy.
    pub fn validate(&self) -> Result<(), String> {
        for p in &self.allow_http {
            let url =
                Url::parse(p).map_err(|e| format!("allow_http prefix `{p}` is not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!(
                    "allow_http prefix `{p}` must start with http:// or https://"
                ));
            }
        }
        Ok(())
    }

    /// Whether `url` is under a granted prefix: same scheme, host and port,
    /// and a path under the prefix's path on a segment boundary (so
    /// `http://h/api` grants `/api/x` but not `/apix`, and `http://h:80`
    /// never grants `http://h:8080`).
    pub fn check_http(&self, method: &str, url: &str) -> Result<Url, String> {
        if !METHODS.contains(&method.to_ascii_uppercase().as_str()) {
            return Err(format!(
                "http {method} {url} denied: the method is not one of {}",
                METHODS.join(", ")
            ));
        }
        let target =
            Url::parse(url).map_err(|e| format!("http {method} {url}: not a valid URL: {e}"))?;
        let allowed = self
            .allow_http
            .iter()
            .filter_map(|p| Url::parse(p).ok())
            .any(|prefix| under(&prefix, &target));
        if allowed {
            Ok(target)
        } else if self.allow_http.is_empty() {
            Err(format!(
                "http {method} {url} denied: the check has no allow_http grant \
                 (grant a prefix of it: `allow_http` in pitwall.toml, `--allow-http` on check run)"
            ))
        } else {
            Err(format!(
                "http {method} {url} denied: not under any allow_http prefix ({}); \
                 grant a prefix of it: `allow_http` in pitwall.toml, `--allow-http` on check run",
                self.allow_http.join(", ")
            ))
        }
    }

    /// The capabilities a check declares (its `describe`) that these grants
    /// leave empty: a check that needs `http` and has no `allow_http` can
    /// only fail, and a deploy would blame the release for it.
    pub fn ungranted(&self, capabilities: &[String]) -> Vec<Capability> {
        capabilities
            .iter()
            .filter_map(|c| Capability::parse(c))
            .filter(|c| match c {
                Capability::Http => self.allow_http.is_empty(),
                Capability::Logs => self.allow_logs.is_empty(),
            })
            .collect()
    }

    pub fn check_logs(&self, service: &str) -> Result<(), String> {
        if self.allow_logs.iter().any(|s| s == service) {
            Ok(())
        } else {
            Err(format!(
                "logs of service `{service}` denied: not in allow_logs ({})",
                if self.allow_logs.is_empty() {
                    "empty".to_string()
                } else {
                    self.allow_logs.join(", ")
                }
            ))
        }
    }
}

fn under(prefix: &Url, target: &Url) -> bool {
    if prefix.scheme() != target.scheme()
        || prefix.host_str() != target.host_str()
        || prefix.port_or_known_default() != target.port_or_known_default()
        || !target.username().is_empty()
        || target.password().is_some()
    {
        return false;
    }
    let (p, t) = (prefix.path(), target.path());
    let beneath =
        t == p || (t.starts_with(p) && (p.ends_with('/') || t[p.len()..].starts_with('/')));
    // Servers and proxies that decode `%2F`, `%5C` or `%2E` route
    // `/api/..%2Fadmin` to `/admin`: under a path grant, such a path is not
    // taken at its word. (`..` and `.` segments are already resolved by the
    // URL parser.)
    beneath && (p == "/" || !hides_separator(&t[p.len()..]))
}

/// Whether `path` holds an encoded `/`, `\` or `.`, or a raw `\`.
fn hides_separator(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ["%2f", "%5c", "%2e", "\\"]
        .iter()
        .any(|s| lower.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(prefixes: &[&str]) -> Grants {
        Grants {
            allow_http: prefixes.iter().map(|s| s.to_string()).collect(),
            allow_logs: vec![],
        }
    }

    #[test]
    fn prefix_matching_is_by_origin_and_path_segment() {
        let g = grants(&["http://127.0.0.1:8080/api"]);
        for ok in [
            "http://127.0.0.1:8080/api",
            "http://127.0.0.1:8080/api/health/",
            "http://127.0.0.1:8080/api?x=1",
        ] {
            assert!(g.check_http("GET", ok).is_ok(), "{ok}");
        }
        for denied in [
            "http://127.0.0.1:8080/apix",
            "http://127.0.0.1:8081/api",
            "http://127.0.0.1:80800/api",
            "https://127.0.0.1:8080/api",
            "http://127.0.0.1:8080.evil.example/api",
            "http://127.0.0.1:8080/api/../admin",
            "http://user@127.0.0.1:8080/api",
            "http://localhost:8080/api",
        ] {
            assert!(g.check_http("GET", denied).is_err(), "{denied}");
        }
    }

    #[test]
    fn denial_messages_name_the_call_and_the_grant() {
        let e = grants(&["http://a/"])
            .check_http("GET", "http://x/")
            .unwrap_err();
        assert_eq!(
            e,
            "http GET http://x/ denied: not under any allow_http prefix (http://a/); \
             grant a prefix of it: `allow_http` in pitwall.toml, `--allow-http` on check run"
        );
        let e = Grants::default()
            .check_http("POST", "http://x/")
            .unwrap_err();
        assert!(e.contains("no allow_http grant"));
        let e = Grants::default().check_logs("db").unwrap_err();
        assert!(e.contains("`db` denied"));
    }

    #[test]
    fn ungranted_capabilities_are_the_declared_ones_left_empty() {
        let caps = vec!["http".to_string(), "logs".to_string(), "future".to_string()];
        assert_eq!(
            Grants::default().ungranted(&caps),
            [Capability::Http, Capability::Logs],
            "unknown capabilities are not guessed at"
        );
        assert_eq!(grants(&["http://a/"]).ungranted(&caps), [Capability::Logs]);
    }

    #[test]
    fn validate_rejects_non_http_prefixes() {
        assert!(grants(&["file:///etc"]).validate().is_err());
        assert!(grants(&["not a url"]).validate().is_err());
        assert!(grants(&["https://h/x"]).validate().is_ok());
    }

    #[test]
    fn encoded_separators_and_foreign_methods_do_not_slip_past_a_path_grant() {
        let g = Grants {
            allow_http: vec!["http://h/api/".into()],
            allow_logs: vec![],
        };
        for url in [
            "http://h/api/..%2fadmin",
            "http://h/api/..%2Fadmin",
            "http://h/api/%2e%2e/admin",
            "http://h/api/..%5cadmin",
            "http://h/api/x%2F..%2F..%2Fadmin",
        ] {
            assert!(g.check_http("GET", url).is_err(), "{url}");
        }
        assert!(g.check_http("GET", "http://h/api/items?q=a%2Fb").is_ok());
        for method in ["CONNECT", "TRACE", "get\r\nX: y", ""] {
            assert!(g.check_http(method, "http://h/api/").is_err(), "{method:?}");
        }
        assert!(g.check_http("patch", "http://h/api/").is_ok());
        for header in [
            "Host",
            "host ",
            "Transfer-Encoding",
            "CONTENT-LENGTH",
            "Connection",
        ] {
            assert!(check_header(header).is_err(), "{header}");
        }
        assert!(check_header("authorization").is_ok());
    }
}
