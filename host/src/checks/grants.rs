//! Capabilities granted to one check. Everything is denied unless granted.

use reqwest::Url;
use serde::{Deserialize, Serialize};

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
                "http {method} {url} denied: the check has no allow_http grant"
            ))
        } else {
            Err(format!(
                "http {method} {url} denied: not under any allow_http prefix ({})",
                self.allow_http.join(", ")
            ))
        }
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
    t == p || (t.starts_with(p) && (p.ends_with('/') || t[p.len()..].starts_with('/')))
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
            "http GET http://x/ denied: not under any allow_http prefix (http://a/)"
        );
        let e = Grants::default()
            .check_http("POST", "http://x/")
            .unwrap_err();
        assert!(e.contains("no allow_http grant"));
        let e = Grants::default().check_logs("db").unwrap_err();
        assert!(e.contains("`db` denied"));
    }

    #[test]
    fn validate_rejects_non_http_prefixes() {
        assert!(grants(&["file:///etc"]).validate().is_err());
        assert!(grants(&["not a url"]).validate().is_err());
        assert!(grants(&["https://h/x"]).validate().is_ok());
    }
}
