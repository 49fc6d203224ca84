//! Recognising HTTP access lines in container logs.
//!
//! Pure functions, no I/O: the same code runs inside the wasm check and
//! natively (unit tests, the throughput benchmark).

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// What one log line says about an HTTP request, if it is an access line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub status: u16,
    pub has_request_id: bool,
}

/// Keys that hold the response status in JSON or logfmt access lines.
const STATUS_KEYS: &[&str] = &[
    "status",
    "status_code",
    "statusCode",
    "http_status",
    "response_status",
    "res_status",
    // Traefik's JSON access log: the status the client got (its
    // `OriginStatus` is 0 when Traefik answered itself, e.g. a 502).
    "DownstreamStatus",
];

/// Keys that hold a request id in JSON or logfmt access lines.
const REQUEST_ID_KEYS: &[&str] = &[
    "request_id",
    "requestId",
    "req_id",
    "reqId",
    "request-id",
    "x_request_id",
    "x-request-id",
    "rid",
    // The client's header, logged under its own name: Caddy's
    // `request.headers` (Go spells it `X-Request-Id`), Traefik's kept headers.
    "X-Request-Id",
    "X-Request-ID",
    "request_X-Request-Id",
];

/// Values servers log for "no id" (`-` and the empty value are caught before
/// this list): an id that is one of these is not an id.
const ABSENT_IDS: &[&str] = &[
    "null",
    "nil",
    "none",
    "undefined",
    "(null)",
    "n/a",
    "unknown",
];

/// Substring searchers, built once: building one costs more than running it
/// on a short line.
struct Finders {
    status: Vec<Finder<'static>>,
    request_id: Vec<Finder<'static>>,
    http: Finder<'static>,
}

fn finders() -> &'static Finders {
    static FINDERS: LazyLock<Finders> = LazyLock::new(|| Finders {
        status: STATUS_KEYS.iter().map(Finder::new).collect(),
        request_id: REQUEST_ID_KEYS.iter().map(Finder::new).collect(),
        http: Finder::new(" HTTP/"),
    });
    &FINDERS
}

/// Parses one line. Recognised formats:
/// - JSON objects with a status key (top level, or nested one level, e.g.
///   `{"http":{"status":500}}`; Caddy, Traefik's `DownstreamStatus`);
/// - Common/Combined log format (nginx, Apache, gunicorn, Traefik):
///   `... "GET /path HTTP/1.1" 500 123 ...`;
/// - logfmt / key=value: `method=GET path=/x status=500 request_id=abc`.
///
/// A request id is a value under one of `REQUEST_ID_KEYS` that is not one
/// of the servers' ways of writing "none" (`is_id`), or, in Common/Combined
/// lines, a trailing hex token (`is_request_id_token`).
///
/// Returns `None` for lines that are not access lines.
pub fn parse_line(line: &str) -> Option<Access> {
    let line = line.trim();
    if line.starts_with('{') {
        return parse_json(line);
    }
    parse_clf(line).or_else(|| parse_logfmt(line))
}

/// Reads the status and request id straight from the text, without building
/// a JSON tree: access logs are scanned by the hundred thousand lines, and
/// allocating a map per line would dominate. The first key of the list found
/// anywhere in the object wins (top level or nested).
fn parse_json(line: &str) -> Option<Access> {
    let finders = finders();
    let status = finders
        .status
        .iter()
        .find_map(|k| json_value(line, k))
        .and_then(|v| {
            let digits = trim_quotes(v);
            valid_status(digits.parse().ok()?)
        })?;
    // Any key with a real id: a line may carry an empty `request_id` beside
    // the client's header.
    let has_request_id = finders
        .request_id
        .iter()
        .any(|k| json_value(line, k).is_some_and(is_id));
    Some(Access {
        status,
        has_request_id,
    })
}

/// The raw value (a quoted string with its quotes, or a bare token) of
/// `"key": value` in a JSON line; of a list, its first value (Caddy logs
/// headers as lists: `"X-Request-Id":["abc"]`, `[""]`, `[]`).
fn json_value<'a>(line: &'a str, key: &Finder<'static>) -> Option<&'a str> {
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(i) = key.find(&bytes[from..]).map(|i| i + from) {
        from = i + key.needle().len();
        let quoted = i > 0
            && bytes[i - 1] == b'"'
            && bytes.get(from) == Some(&b'"')
            && (i < 2 || bytes[i - 2] != b'\\');
        if !quoted {
            continue;
        }
        let rest = line[from + 1..].trim_start();
        let Some(rest) = rest.strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('[').map_or(rest, str::trim_start);
        return Some(if let Some(inner) = rest.strip_prefix('"') {
            let end = memchr::memchr(b'"', inner.as_bytes()).map_or(rest.len(), |e| e + 2);
            &rest[..end]
        } else {
            let end = rest.find([',', '}', ' ', ']']).unwrap_or(rest.len());
            &rest[..end]
        });
    }
    None
}

fn valid_status(n: u64) -> Option<u16> {
    (100..=599).contains(&n).then_some(n as u16)
}

/// `"METHOD target HTTP/x.y" STATUS ...`: the status is the first token after
/// the quoted request line.
fn parse_clf(line: &str) -> Option<Access> {
    let proto = finders().http.find(line.as_bytes())?;
    let close = proto + memchr::memchr(b'"', &line.as_bytes()[proto..])?;
    let rest = &line[close + 1..];
    let mut tokens = fields(rest);
    let status = valid_status(tokens.next()?.parse().ok()?)?;
    let has_request_id = tokens.any(is_request_id_token) || logfmt(line).request_id.is_some();
    Some(Access {
        status,
        has_request_id,
    })
}

/// Whether a logged request-id value is an id. nginx, Apache and gunicorn
/// write `-` for a header the client did not send (`"-"` when the format
/// quotes it) and nothing for an empty one; JSON formats write `""` or
/// `null`. No allocation: this runs on every access line.
fn is_id(value: &str) -> bool {
    let v = value.trim_matches(|c: char| c == '"' || c == '\'' || c.is_ascii_whitespace());
    // Also the empty value: `all` is true on nothing.
    let dashes = v.bytes().all(|b| b == b'-');
    !dashes && !ABSENT_IDS.iter().any(|a| v.eq_ignore_ascii_case(a))
}

/// A trailing field that looks like a request id: a UUID, or 16+ hex chars,
/// possibly quoted (nginx `$request_id`, `X-Request-Id` echoed at the end).
fn is_request_id_token(token: &str) -> bool {
    // Bytes, not chars: a multi-byte character is neither hex nor a dash.
    let t = trim_quotes(token).as_bytes();
    if t.len() < 16 {
        return false;
    }
    // Eight bytes a loop turn, without a branch inside: in the wasm check
    // every turn also checks the deadline, and ids are typically 32 bytes.
    let (blocks, rest) = t.as_chunks::<8>();
    let (mut hex, mut other) = (0, false);
    let mut class = |b: &u8| {
        let is_hex = b.is_ascii_hexdigit();
        hex += usize::from(is_hex);
        other |= !is_hex && *b != b'-';
    };
    for block in blocks {
        block.iter().for_each(&mut class);
    }
    rest.iter().for_each(class);
    !other && hex >= 16
}

/// `text` without the `"`s at its ends (`str::trim_matches('"')`, byte by
/// byte: every value of every access line goes through it).
fn trim_quotes(text: &str) -> &str {
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|&b| b != b'"').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b'"')
        .map_or(start, |last| last + 1);
    &text[start..end]
}

fn parse_logfmt(line: &str) -> Option<Access> {
    let fields = logfmt(line);
    let status = valid_status(fields.status?.parse().ok()?)?;
    Some(Access {
        status,
        has_request_id: fields.request_id.is_some(),
    })
}

/// The values of the first status pair and of the first request-id pair
/// whose value is an id (`is_id`) of a `key=value` line.
#[derive(Default)]
struct Logfmt<'a> {
    status: Option<&'a str>,
    request_id: Option<&'a str>,
}

/// Both lookups in one pass over the pairs; a line without `=` (a plain
/// message, most non-access lines) costs one vectorised search.
fn logfmt(line: &str) -> Logfmt<'_> {
    let mut found = Logfmt::default();
    if memchr::memchr(b'=', line.as_bytes()).is_none() {
        return found;
    }
    for pair in fields(line) {
        let Some((k, v)) = split_at_byte(pair, b'=') else {
            continue;
        };
        if found.status.is_none() && STATUS_KEYS.contains(&k) {
            found.status = Some(trim_quotes(v));
        } else if found.request_id.is_none() && REQUEST_ID_KEYS.contains(&k) && is_id(v) {
            found.request_id = Some(trim_quotes(v));
        }
        if found.status.is_some() && found.request_id.is_some() {
            break;
        }
    }
    found
}

/// The fields of `text` between runs of ASCII whitespace, exactly as
/// `str::split_ascii_whitespace` gives them. Log lines separate their fields
/// with spaces alone, which a vectorised search finds many bytes at a time
/// (the standard splitter tests every byte, and inside the wasm check every
/// loop turn also checks the deadline); other whitespace takes the standard
/// path.
fn fields(text: &str) -> Fields<'_> {
    let bytes = text.as_bytes();
    if memchr::memchr3(b'\t', b'\r', b'\x0c', bytes).is_some()
        || memchr::memchr(b'\n', bytes).is_some()
    {
        Fields::Any(text.split_ascii_whitespace())
    } else {
        Fields::Spaces(text)
    }
}

enum Fields<'a> {
    /// What is left to split, with no whitespace but spaces.
    Spaces(&'a str),
    Any(std::str::SplitAsciiWhitespace<'a>),
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = match self {
            Fields::Any(split) => return split.next(),
            Fields::Spaces(rest) => rest,
        };
        while !rest.is_empty() {
            let (field, after) = split_at_byte(rest, b' ').unwrap_or((rest, ""));
            *rest = after;
            if !field.is_empty() {
                return Some(field);
            }
        }
        None
    }
}

/// `text` around the first `byte` (ASCII), found with the vectorised search
/// that `str::split_once` does not use on every target.
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let i = memchr::memchr(byte, text.as_bytes())?;
    Some((&text[..i], &text[i + 1..]))
}

/// The lines of `text` (without their `\n`), split with a vectorised search:
/// with hundreds of thousands of lines, finding the line ends is a good part
/// of the scan.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', text.as_bytes());
    std::iter::from_fn(move || {
        let end = match ends.next() {
            Some(end) => end,
            None if start < text.len() => text.len(),
            None => return None,
        };
        let line = &text[start..end];
        start = end + 1;
        Some(line)
    })
}

/// Totals over a set of lines.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub lines: u64,
    pub requests: u64,
    pub errors_5xx: u64,
    pub missing_request_id: u64,
    /// The first few 5xx lines, for evidence.
    pub samples: Vec<String>,
    /// The first few access lines without a request id, for evidence.
    pub missing_id_samples: Vec<String>,
}

impl Tally {
    pub fn ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors_5xx as f64 / self.requests as f64
        }
    }
}

/// Counts requests, 5xx and missing request ids, keeping up to `samples`
/// example lines of each problem.
pub fn tally<'a>(lines: impl IntoIterator<Item = &'a str>, samples: usize) -> Tally {
    let mut t = Tally::default();
    for line in lines {
        t.lines += 1;
        let Some(access) = parse_line(line) else {
            continue;
        };
        t.requests += 1;
        if access.status >= 500 {
            t.errors_5xx += 1;
            if t.samples.len() < samples {
                t.samples.push(line.to_string());
            }
        }
        if !access.has_request_id {
            t.missing_request_id += 1;
            if t.missing_id_samples.len() < samples {
                t.missing_id_samples.push(line.to_string());
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(line: &str) -> Option<u16> {
        parse_line(line).map(|a| a.status)
    }

    #[test]
    fn quotes_are_trimmed_as_the_standard_library_does() {
        for text in [
            "", "\"", "\"\"\"", "a", "\"a\"", "\"\"a\"", "a\"b", "\"ü\"", "ü\"\"",
        ] {
            assert_eq!(trim_quotes(text), text.trim_matches('"'), "{text:?}");
        }
    }

    #[test]
    fn fields_split_as_the_standard_library_does() {
        for text in [
            "",
            " ",
            "a",
            "  a  b   c ",
            "status=500 request_id=abc",
            "tab\tseparated\tfields",
            "mixed \t\r\x0c whitespace\n here",
            "\x0c",
            "ünï cödé  ✓ fields",
            "a\u{a0}b c", // a no-break space is not ASCII whitespace
            "trailing\r",
        ] {
            let ours: Vec<&str> = fields(text).collect();
            let std: Vec<&str> = text.split_ascii_whitespace().collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }

    #[test]
    fn nginx_combined() {
        let l = r#"172.18.0.1 - - [26/Nov/2026:13:00:00 +0000] "GET /api/health/ HTTP/1.1" 503 19 "-" "curl/8.0""#;
        assert_eq!(status(l), Some(503));
        assert!(!parse_line(l).unwrap().has_request_id);
    }

    #[test]
    fn request_id_tokens_are_16_or_more_hex_digits_and_dashes() {
        for (token, is_id) in [
            ("0123456789abcdef", true),
            ("0123456789abcde", false),
            ("\"5f0c3a9e-8b7d-4c2a-9e1f-0b3c4d5e6f70\"", true),
            ("5F0C3A9E8B7D4C2A9E1F0B3C4D5E6F70", true),
            // A stray byte in the first eight, in a later eight, at the end.
            ("0123g56789abcdef0123", false),
            ("0123456789abcdeg0123", false),
            ("0123456789abcdef012z", false),
            ("0123456789abcdef012\u{e9}", false),
            ("--------------------", false),
            ("0123456789abcde-------", false),
            ("-0123456789abcdef-", true),
        ] {
            assert_eq!(is_request_id_token(token), is_id, "{token}");
        }
    }

    #[test]
    fn nginx_with_request_id_at_end() {
        let l = r#"10.0.0.1 - - [26/Nov/2026:13:00:00 +0000] "POST /api/auth/login HTTP/1.1" 200 12 "-" "ua" "5f0c3a9e8b7d4c2a9e1f0b3c4d5e6f70""#;
        let a = parse_line(l).unwrap();
        assert_eq!(a.status, 200);
        assert!(a.has_request_id);
    }

    #[test]
    fn apache_common() {
        let l = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
        assert_eq!(status(l), Some(200));
    }

    #[test]
    fn json_lines_top_level_and_nested() {
        assert_eq!(
            status(r#"{"level":"info","status":502,"request_id":"r1"}"#),
            Some(502)
        );
        assert_eq!(status(r#"{"statusCode":"404"}"#), Some(404));
        let nested =
            parse_line(r#"{"msg":"done","http":{"status_code":500,"request_id":"x"}}"#).unwrap();
        assert_eq!(nested.status, 500);
        assert!(nested.has_request_id);
        assert!(
            !parse_line(r#"{"status":200,"request_id":""}"#)
                .unwrap()
                .has_request_id
        );
    }

    #[test]
    fn json_keys_inside_strings_do_not_count() {
        assert_eq!(
            status(r#"{"msg":"got \"status\": 500 upstream","code":1}"#),
            None
        );
        assert_eq!(status(r#"{"msg":"status","status": "503"}"#), Some(503));
        assert_eq!(
            status(r#"{"status" : 201 , "request_id" : null}"#),
            Some(201)
        );
        assert!(
            !parse_line(r#"{"status":201,"request_id":null}"#)
                .unwrap()
                .has_request_id
        );
    }

    #[test]
    fn absent_ids_are_not_ids() {
        for v in [
            "",
            "-",
            "--",
            "\"-\"",
            "\"\"",
            "''",
            " ",
            "\" \"",
            "null",
            "NULL",
            "nil",
            "None",
            "undefined",
            "(null)",
            "n/a",
            "unknown",
        ] {
            assert!(!is_id(v), "{v:?}");
        }
        for v in [
            "abc",
            "\"r1\"",
            "7d3e5c1a-4b2f-4e8a-9c6d-000000000001",
            "-1",
            "nullable",
        ] {
            assert!(is_id(v), "{v:?}");
        }
    }

    #[test]
    fn absent_ids_in_every_format() {
        let has_id = |l: &str| parse_line(l).unwrap().has_request_id;
        for absent in ["-", "\"-\"", "", "\"\"", "null", "\" \""] {
            let kv = format!("status=500 request_id={absent}");
            let clf =
                format!(r#"1.1.1.1 - - [x] "GET / HTTP/1.1" 500 1 "-" "ua" request_id={absent}"#);
            let json = format!(r#"{{"status":500,"request_id":{absent}}}"#);
            let header = format!(r#"{{"status":500,"headers":{{"X-Request-Id":[{absent}]}}}}"#);
            for line in [kv, clf, json, header] {
                assert!(!has_id(&line), "{line}");
            }
        }
        assert!(has_id(
            r#"{"status":200,"headers":{"X-Request-Id":["r1"]}}"#
        ));
        assert!(!has_id(r#"{"status":200,"headers":{"X-Request-Id":[]}}"#));
        // An empty field beside a real one: the line has an id.
        assert!(has_id("status=200 request_id=- x-request-id=r1"));
        assert!(has_id(
            r#"{"status":200,"request_id":"","request_X-Request-Id":"r1"}"#
        ));
    }

    #[test]
    fn logfmt() {
        let a = parse_line("ts=1 method=GET path=/x status=500 request_id=abc").unwrap();
        assert_eq!(
            a,
            Access {
                status: 500,
                has_request_id: true
            }
        );
        assert_eq!(status("level=info status_code=201"), Some(201));
    }

    #[test]
    fn lines_without_status_are_ignored() {
        for l in [
            "",
            "starting server on :8080",
            r#"{"level":"info","msg":"ready"}"#,
            "status=ok",
            r#"{"status":"healthy"}"#,
            "status=999",
            r#"weird "GET / HTTP/1.1" abc"#,
            "panic: something went wrong at line 500",
        ] {
            assert_eq!(parse_line(l), None, "{l:?}");
        }
    }

    #[test]
    fn lines_split_like_str_lines_without_carriage_returns() {
        for text in ["", "a", "a\n", "a\nb", "a\n\nb\n", "\n"] {
            assert_eq!(
                lines(text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn tally_mixed_formats() {
        let lines = [
            r#"1.1.1.1 - - [x] "GET / HTTP/1.1" 200 1"#,
            r#"{"status":500,"request_id":"a"}"#,
            "status=503 request_id=b",
            "boot complete",
            r#"{"status":201}"#,
        ];
        let t = tally(lines, 1);
        assert_eq!(t.lines, 5);
        assert_eq!(t.requests, 4);
        assert_eq!(t.errors_5xx, 2);
        assert_eq!(t.missing_request_id, 2);
        assert_eq!(t.samples, vec![lines[1].to_string()]);
        assert!((t.ratio() - 0.5).abs() < 1e-9);
    }
}
