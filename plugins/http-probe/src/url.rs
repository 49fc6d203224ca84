//! The little URL handling the probe needs: the parts a cookie jar matches
//! on (scheme, host, path) and resolving a redirect's `Location` against the
//! URL it answered. Only http(s) URLs reach here (the config refuses others).
//! The `url` crate would pull IDNA tables into the component for this; the
//! host parses every URL properly again before it checks the grants.

/// An absolute http(s) URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`, lower case.
    pub scheme: String,
    /// `user@host:port` as written.
    pub authority: String,
    /// The host, lower case, without brackets or port.
    pub host: String,
    /// Starts with `/`.
    pub path: String,
    /// With its `?`, or empty.
    pub query: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("`{text}` is not an absolute http(s) URL"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{text}` is not an http(s) URL"));
        }
        // The fragment never leaves the client.
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(end);
        let (path, query) = match rest.find('?') {
            Some(q) => rest.split_at(q),
            None => (rest, ""),
        };
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host_port.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() {
            return Err(format!("`{text}` has no host"));
        }
        Ok(Url {
            scheme,
            authority: authority.to_string(),
            host: host.to_ascii_lowercase(),
            path: if path.is_empty() { "/" } else { path }.to_string(),
            query: query.to_string(),
        })
    }

    pub fn is_secure(&self) -> bool {
        self.scheme == "https"
    }

    /// Scheme and authority: what decides whether credentials may follow a
    /// redirect.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority.to_ascii_lowercase())
    }

    /// `reference` (a `Location` value) resolved against this URL, as
    /// RFC 3986 section 5.2 says.
    pub fn join(&self, reference: &str) -> Result<Url, String> {
        let reference = reference.trim();
        let reference = reference.split('#').next().unwrap_or_default();
        let has_scheme = reference
            .split_once(':')
            .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(is_scheme_char));
        if has_scheme {
            return Url::parse(reference);
        }
        if let Some(rest) = reference.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme));
        }
        let (path, query) = match reference.find('?') {
            Some(q) => reference.split_at(q),
            None => (reference, ""),
        };
        let (path, query) = if path.is_empty() {
            let query = if query.is_empty() { &self.query } else { query };
            (self.path.clone(), query.to_string())
        } else if path.starts_with('/') {
            (remove_dot_segments(path), query.to_string())
        } else {
            let dir = &self.path[..self.path.rfind('/').map_or(0, |i| i + 1)];
            (
                remove_dot_segments(&format!("{dir}{path}")),
                query.to_string(),
            )
        };
        Ok(Url {
            path,
            query,
            ..self.clone()
        })
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}{}{}",
            self.scheme, self.authority, self.path, self.query
        )
    }
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// RFC 3986 section 5.2.4, on a path that starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." if last => out.push(""),
            "." => {}
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let u = Url::parse("HTTP://Me@Example.COM:8080/a/b?x=1#frag").unwrap();
        assert_eq!(u.scheme, "http");
        assert_eq!(u.host, "example.com");
        assert_eq!(u.path, "/a/b");
        assert_eq!(u.query, "?x=1");
        assert_eq!(u.to_string(), "http://Me@Example.COM:8080/a/b?x=1");
        assert_eq!(Url::parse("http://[::1]:80").unwrap().host, "::1");
        assert_eq!(Url::parse("https://h").unwrap().path, "/");
        assert!(Url::parse("ftp://h/").is_err());
        assert!(Url::parse("/relative").is_err());
    }

    #[test]
    fn redirect_targets_resolve_as_rfc_3986_says() {
        let base = Url::parse("http://h:1/accounts/login/?next=/x").unwrap();
        let join = |r: &str| base.join(r).unwrap().to_string();
        assert_eq!(join("/accounts/profile/"), "http://h:1/accounts/profile/");
        assert_eq!(join("profile/"), "http://h:1/accounts/login/profile/");
        assert_eq!(join("../profile"), "http://h:1/accounts/profile");
        assert_eq!(join("./"), "http://h:1/accounts/login/");
        assert_eq!(join("?page=2"), "http://h:1/accounts/login/?page=2");
        assert_eq!(join(""), "http://h:1/accounts/login/?next=/x");
        assert_eq!(join("//other:2/p"), "http://other:2/p");
        assert_eq!(join("https://other/p?q"), "https://other/p?q");
        assert_eq!(join("/a/./b/../c"), "http://h:1/a/c");
    }
}
