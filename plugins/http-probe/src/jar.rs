//! A cookie jar for one run of the probe, as RFC 6265 (section 5) stores and
//! sends cookies: host-only and domain cookies, paths, `Secure`, `Expires` and
//! `Max-Age` (a cookie expired on arrival deletes the one it names).
//!
//! Its clock is the run's `now` from the host, not the guest's clock, so a
//! recorded run replays the same way later. Public suffixes are approximated
//! by single labels (`com`, `localhost`): a `Domain` with no dot is honoured
//! only as the request's own host. Wherever a cookie may go, the host still
//! sends nothing outside the check's grants.

use crate::url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    /// Lower case, without a leading dot.
    domain: String,
    /// Sent only to `domain` itself, not to its subdomains.
    host_only: bool,
    path: String,
    secure_only: bool,
    /// In ms since the Unix epoch; `None` lasts the whole run.
    expires_ms: Option<i64>,
    /// Insertion order, for the send order of equal paths.
    created: u64,
}

#[derive(Debug, Default)]
pub struct Jar {
    cookies: Vec<Cookie>,
    now_ms: i64,
    next: u64,
}

impl Jar {
    /// An empty jar whose clock reads `now_ms` (ms since the Unix epoch).
    pub fn new(now_ms: u64) -> Jar {
        Jar {
            now_ms: i64::try_from(now_ms).unwrap_or(i64::MAX),
            ..Jar::default()
        }
    }

    /// Stores what one `Set-Cookie` header of a response to `url` says;
    /// a malformed or foreign one is ignored, as a browser does.
    pub fn store(&mut self, url: &Url, set_cookie: &str) {
        let Some(cookie) = self.parse(url, set_cookie) else {
            return;
        };
        let same = |c: &Cookie| {
            c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path
        };
        let created = match self.cookies.iter().position(same) {
            Some(i) => self.cookies.remove(i).created,
            None => {
                self.next += 1;
                self.next
            }
        };
        if !self.expired(&cookie) {
            self.cookies.push(Cookie { created, ..cookie });
        }
    }

    /// The `Cookie` header value for a request to `url`, if any cookie
    /// belongs there: longest paths first, then oldest first.
    pub fn header_for(&self, url: &Url) -> Option<String> {
        let mut matching: Vec<&Cookie> =
            self.cookies.iter().filter(|c| self.sends(c, url)).collect();
        matching.sort_by_key(|c| (std::cmp::Reverse(c.path.len()), c.created));
        let pairs: Vec<String> = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// The value of the cookie `name` that a request to `url` would carry.
    pub fn value_for(&self, url: &Url, name: &str) -> Option<&str> {
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.name == name && self.sends(c, url))
            .collect();
        matching.sort_by_key(|c| (std::cmp::Reverse(c.path.len()), c.created));
        matching.first().map(|c| c.value.as_str())
    }

    /// Names of the cookies a request to `url` would carry (not secret).
    pub fn names_for(&self, url: &Url) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .cookies
            .iter()
            .filter(|c| self.sends(c, url))
            .map(|c| c.name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Every value held: what the probe must keep out of its output.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.cookies.iter().map(|c| c.value.as_str())
    }

    fn expired(&self, c: &Cookie) -> bool {
        c.expires_ms.is_some_and(|at| at <= self.now_ms)
    }

    fn sends(&self, c: &Cookie, url: &Url) -> bool {
        let host_matches = if c.host_only {
            url.host == c.domain
        } else {
            domain_match(&url.host, &c.domain)
        };
        host_matches
            && path_match(&url.path, &c.path)
            && (!c.secure_only || url.is_secure())
            && !self.expired(c)
    }

    /// RFC 6265 sections 5.2 and 5.3, steps 1 to 8.
    fn parse(&self, url: &Url, set_cookie: &str) -> Option<Cookie> {
        let mut parts = set_cookie.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return None;
        }
        let mut max_age: Option<i64> = None;
        let mut expires: Option<i64> = None;
        let mut domain: Option<String> = None;
        let mut path: Option<String> = None;
        let mut secure_only = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            let val = val.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "expires" => expires = cookie_date(val).or(expires),
                "max-age" => max_age = delta_seconds(val).or(max_age),
                "domain" if !val.is_empty() => {
                    let d = val.strip_prefix('.').unwrap_or(val);
                    domain = Some(d.to_ascii_lowercase());
                }
                "path" => path = val.starts_with('/').then(|| val.to_string()),
                "secure" => secure_only = true,
                _ => {}
            }
        }
        // Max-Age wins over Expires; zero or less is "already expired".
        let expires_ms = match (max_age, expires) {
            (Some(s), _) if s <= 0 => Some(i64::MIN),
            (Some(s), _) => Some(self.now_ms.saturating_add(s.saturating_mul(1000))),
            (None, at) => at,
        };
        let (domain, host_only) = match domain {
            // A single label stands in for a public suffix: only its own host.
            Some(d) if !d.contains('.') && d == url.host => (d, true),
            Some(d) if !d.contains('.') => return None,
            Some(d) if domain_match(&url.host, &d) => (d, false),
            Some(_) => return None,
            None => (url.host.clone(), true),
        };
        Some(Cookie {
            name: name.to_string(),
            value: value.to_string(),
            domain,
            host_only,
            path: path.unwrap_or_else(|| default_path(&url.path)),
            secure_only,
            expires_ms,
            created: 0,
        })
    }
}

/// RFC 6265 section 5.1.3: `host` is `domain` or a name under it; IP
/// addresses match only themselves.
fn domain_match(host: &str, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    let is_ip = host.contains(':') || host.chars().all(|c| c.is_ascii_digit() || c == '.');
    !is_ip
        && host
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// RFC 6265 section 5.1.4.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => request_path[..i].into(),
    }
}

/// RFC 6265 section 5.1.4: `/docs` matches `/docs`, `/docs/` and
/// `/docs/web`, not `/docsets`.
fn path_match(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || request_path
            .strip_prefix(cookie_path)
            .is_some_and(|rest| cookie_path.ends_with('/') || rest.starts_with('/'))
}

/// RFC 6265 section 5.2.2: an optional `-` and digits, else ignored.
fn delta_seconds(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits to fit is "a very long time".
    let n = digits.parse::<i64>().unwrap_or(i64::MAX / 1000);
    Some(if text.starts_with('-') { -n } else { n })
}

/// RFC 6265 section 5.1.1, the forgiving cookie-date parser: ms since the
/// Unix epoch, or `None` when the date is not one.
fn cookie_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let delimiter = |c: char| matches!(c, '\x09' | '\x20'..='\x2f' | '\x3b'..='\x40' | '\x5b'..='\x60' | '\x7b'..='\x7e');
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in text.split(delimiter).filter(|t| !t.is_empty()) {
        if time.is_none()
            && let Some(t) = clock(token)
        {
            time = Some(t);
        } else if day.is_none()
            && let Some(d) = leading_digits(token, 1, 2)
        {
            day = Some(d);
        } else if month.is_none()
            && let Some(m) = token
                .get(..3)
                .and_then(|p| MONTHS.iter().position(|m| p.eq_ignore_ascii_case(m)))
        {
            month = Some(m as i64 + 1);
        } else if year.is_none()
            && let Some(y) = leading_digits(token, 2, 4)
        {
            year = Some(y);
        }
    }
    let (h, mi, s) = time?;
    let (day, month, mut year) = (day?, month?, year?);
    year += match year {
        70..=99 => 1900,
        0..=69 => 2000,
        _ => 0,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if year < 1601 || h > 23 || mi > 59 || s > 59 || day < 1 || day > month_days[month as usize - 1]
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000)
}

/// `hh:mm:ss` (one or two digits each), anything after a non-digit.
fn clock(token: &str) -> Option<(i64, i64, i64)> {
    let mut fields = token.splitn(3, ':');
    let h = whole_digits(fields.next()?, 1, 2)?;
    let m = whole_digits(fields.next()?, 1, 2)?;
    let s = leading_digits(fields.next()?, 1, 2)?;
    Some((h, m, s))
}

fn whole_digits(text: &str, min: usize, max: usize) -> Option<i64> {
    (text.len() >= min && text.len() <= max && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `min` to `max` digits, then nothing or a non-digit and anything.
fn leading_digits(token: &str, min: usize, max: usize) -> Option<i64> {
    let n = token.bytes().take_while(u8::is_ascii_digit).count();
    (n >= min && n <= max)
        .then(|| token[..n].parse().ok())
        .flatten()
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07 12:00:00 UTC.
    const NOW: u64 = 1_796_644_800_000;

    fn url(u: &str) -> Url {
        Url::parse(u).unwrap()
    }

    fn jar_with(from: &str, set_cookies: &[&str]) -> Jar {
        let mut jar = Jar::new(NOW);
        for s in set_cookies {
            jar.store(&url(from), s);
        }
        jar
    }

    #[test]
    fn cookie_dates_parse_as_browsers_read_them() {
        assert_eq!(
            cookie_date("Mon, 07 Dec 2026 12:00:00 GMT"),
            Some(NOW as i64)
        );
        // RFC 850 and asctime shapes, two-digit years.
        assert_eq!(
            cookie_date("Monday, 07-Dec-26 12:00:00 GMT"),
            Some(NOW as i64)
        );
        assert_eq!(cookie_date("Mon Dec  7 12:00:00 2026"), Some(NOW as i64));
        assert_eq!(cookie_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert!(cookie_date("Thu, 29 Feb 2024 00:00:00 GMT").is_some());
        assert_eq!(cookie_date("Fri, 29 Feb 2025 00:00:00 GMT"), None);
        assert_eq!(cookie_date("Mon, 07 Dec 2026 25:00:00 GMT"), None);
        assert_eq!(cookie_date("tomorrow"), None);
    }

    #[test]
    fn host_only_cookies_go_back_to_their_host_only() {
        let jar = jar_with("http://app.example.com/login", &["sid=abc; Path=/"]);
        assert_eq!(
            jar.header_for(&url("http://app.example.com/x")).as_deref(),
            Some("sid=abc")
        );
        // Ports do not separate cookies (RFC 6265 section 8.5).
        assert!(jar.header_for(&url("http://app.example.com:81/")).is_some());
        assert_eq!(jar.header_for(&url("http://sub.app.example.com/")), None);
        assert_eq!(jar.header_for(&url("http://example.com/")), None);
        assert_eq!(jar.header_for(&url("http://evil.com/")), None);
    }

    #[test]
    fn domain_cookies_reach_subdomains_but_not_strangers() {
        let jar = jar_with(
            "http://app.example.com/",
            &[
                "a=1; Domain=.Example.com",
                "b=2; Domain=other.com",
                "c=3; Domain=com",
                "d=4; Domain=pp.example.com",
            ],
        );
        assert_eq!(
            jar.header_for(&url("http://api.example.com/")).as_deref(),
            Some("a=1")
        );
        assert_eq!(
            jar.header_for(&url("http://example.com/")).as_deref(),
            Some("a=1")
        );
        assert_eq!(jar.header_for(&url("http://badexample.com/")), None);
        assert_eq!(jar.header_for(&url("http://other.com/")), None);
        // A single label is honoured as the host itself, host-only.
        let local = jar_with("http://localhost/", &["e=5; Domain=localhost"]);
        assert_eq!(
            local.header_for(&url("http://localhost/")).as_deref(),
            Some("e=5")
        );
        // IP addresses match only themselves.
        let ip = jar_with("http://10.0.0.1/", &["f=6; Domain=0.0.1"]);
        assert_eq!(ip.header_for(&url("http://10.0.0.1/")), None);
    }

    #[test]
    fn paths_match_by_segment_and_default_to_the_request_directory() {
        let jar = jar_with(
            "http://h/accounts/login/",
            &["deflt=1", "docs=2; Path=/docs", "bad=3; Path=relative"],
        );
        // No Path: the directory of /accounts/login/ is /accounts/login.
        assert_eq!(
            jar.header_for(&url("http://h/accounts/login/x")).as_deref(),
            Some("deflt=1; bad=3")
        );
        assert_eq!(jar.header_for(&url("http://h/accounts/")), None);
        assert_eq!(
            jar.header_for(&url("http://h/docs/web")).as_deref(),
            Some("docs=2")
        );
        assert_eq!(jar.header_for(&url("http://h/docsets")), None);
        // Longest path first.
        let jar = jar_with("http://h/", &["a=root; Path=/", "a=deep; Path=/x/y"]);
        assert_eq!(
            jar.header_for(&url("http://h/x/y/z")).as_deref(),
            Some("a=deep; a=root")
        );
        assert_eq!(jar.value_for(&url("http://h/x/y/z"), "a"), Some("deep"));
    }

    #[test]
    fn secure_cookies_only_over_https() {
        let jar = jar_with("https://h/", &["s=1; Secure; HttpOnly", "p=2"]);
        assert_eq!(
            jar.header_for(&url("https://h/")).as_deref(),
            Some("s=1; p=2")
        );
        assert_eq!(jar.header_for(&url("http://h/")).as_deref(), Some("p=2"));
    }

    #[test]
    fn expiry_replacement_and_deletion() {
        let mut jar = jar_with(
            "http://h/",
            &[
                "old=1; Expires=Thu, 01 Jan 2015 00:00:00 GMT",
                "future=2; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
                "aged=3; Max-Age=60; Expires=Thu, 01 Jan 2015 00:00:00 GMT",
                "sid=a",
            ],
        );
        let h = url("http://h/");
        // Max-Age wins over Expires.
        assert_eq!(
            jar.header_for(&h).as_deref(),
            Some("future=2; aged=3; sid=a")
        );
        // Same name, domain and path: replaced in place (keeps its order).
        jar.store(&h, "future=9");
        assert_eq!(
            jar.header_for(&h).as_deref(),
            Some("future=9; aged=3; sid=a")
        );
        // Logout: Max-Age=0, or an Expires in the past, deletes.
        jar.store(&h, "sid=; Max-Age=0");
        jar.store(&h, "aged=x; expires=Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(jar.header_for(&h).as_deref(), Some("future=9"));
        // A different path is a different cookie: not deleted.
        jar.store(&h, "future=; Path=/x; Max-Age=0");
        assert_eq!(jar.header_for(&h).as_deref(), Some("future=9"));
        // The clock is the run's: Max-Age=60 has not run out within it.
        let jar = jar_with("http://h/", &["m=1; Max-Age=60"]);
        assert!(jar.header_for(&h).is_some());
    }

    #[test]
    fn malformed_set_cookies_are_ignored() {
        let jar = jar_with(
            "http://h/",
            &["novalue", "=anon", "  ", "ok=1; max-age=soon"],
        );
        assert_eq!(jar.header_for(&url("http://h/")).as_deref(), Some("ok=1"));
        assert_eq!(jar.values().collect::<Vec<_>>(), ["1"]);
    }
}
