//! What a tape must not keep: credentials. Tapes get shared (attached to
//! tickets, committed as test cases), so a credential header's value is
//! blanked, and the URLs and request bodies a check sent lose the secret
//! values this process has read (the env file's) and anything shaped like a
//! credential (`password=…` in a form, `"token": "…"` in JSON, a URL's
//! `user:password@`). Replay matches a call on its scrubbed form, so a
//! scrubbed tape still replays the run that made it.

use std::borrow::Cow;

use crate::report::Redactor;

/// What a blanked value becomes.
pub const BLANK: &str = "***";

/// Headers that carry credentials: their values are never written to a tape
/// (and replay never compares header values).
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

pub fn is_credential_header(name: &str) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name.trim()))
}

/// A header's value as a tape keeps it.
pub fn header_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_credential_header(name) {
        BLANK
    } else {
        value
    }
}

/// Removes secrets from what a check sent and received.
pub struct Scrubber {
    /// The secret values this process has read (an env file's).
    values: Redactor,
    /// Credential shapes (see `Redactor`).
    shapes: Redactor,
}

impl Scrubber {
    pub fn new() -> Scrubber {
        Scrubber {
            values: Redactor::process(),
            shapes: Redactor::default(),
        }
    }

    /// A URL or request body the check sent: secret values, credential
    /// shapes, and form fields whose decoded value is a secret.
    pub fn sent<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let form = self.form(text);
        let scrubbed = self.shapes.apply(&self.values.apply(&form));
        if scrubbed == text {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(scrubbed)
        }
    }

    /// A response body: secret values only. Its shape is what the check
    /// judges (a `"session": …` field may be what it looks for).
    pub fn received<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let scrubbed = self.values.apply(text);
        if scrubbed == text {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(scrubbed)
        }
    }

    /// Bytes the check sent, scrubbed when they are text.
    pub fn sent_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match std::str::from_utf8(bytes).map(|t| self.sent(t)) {
            Ok(Cow::Owned(s)) => Cow::Owned(s.into_bytes()),
            _ => Cow::Borrowed(bytes),
        }
    }

    /// Bytes the check received, scrubbed when they are text.
    pub fn received_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match std::str::from_utf8(bytes).map(|t| self.received(t)) {
            Ok(Cow::Owned(s)) => Cow::Owned(s.into_bytes()),
            _ => Cow::Borrowed(bytes),
        }
    }

    /// A url-encoded form (`a=1&b=p%40ss`) with every field whose decoded
    /// value holds a secret blanked: the redactor knows the secret as the
    /// env file has it, not percent-encoded.
    fn form<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let looks_like_form = text.contains('=')
            && !text
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'{');
        if !looks_like_form {
            return Cow::Borrowed(text);
        }
        let mut changed = false;
        let fields: Vec<Cow<'a, str>> = text
            .split('&')
            .map(|field| match field.split_once('=') {
                Some((key, value)) if value.contains(['%', '+']) => {
                    let decoded = percent_decode(value);
                    if self.values.apply(&decoded) == decoded {
                        Cow::Borrowed(field)
                    } else {
                        changed = true;
                        Cow::Owned(format!("{key}={BLANK}"))
                    }
                }
                _ => Cow::Borrowed(field),
            })
            .collect();
        if changed {
            Cow::Owned(fields.join("&"))
        } else {
            Cow::Borrowed(text)
        }
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; anything malformed is kept as it is.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_named_in_any_case() {
        assert_eq!(header_value("Set-Cookie", "sid=abc"), BLANK);
        assert_eq!(header_value("COOKIE", "sid=abc"), BLANK);
        assert_eq!(header_value("Proxy-Authorization", "Basic x"), BLANK);
        assert_eq!(header_value("content-type", "text/html"), "text/html");
    }

    #[test]
    fn forms_and_json_lose_passwords_but_keep_their_shape() {
        let s = Scrubber::new();
        assert_eq!(
            s.sent("username=admin&password=hunter2&next=%2F"),
            "username=admin&password=***&next=%2F"
        );
        assert_eq!(
            s.sent(r#"{"username":"admin","password":"hunter2"}"#),
            r#"{"username":"admin","password":"***"}"#
        );
        // Scrubbing twice changes nothing: replay matches the scrubbed form.
        let once = s
            .sent("csrfmiddlewaretoken=abcdef123456&password=x%40y")
            .into_owned();
        assert_eq!(s.sent(&once), once);
        assert_eq!(percent_decode("p%40ss+word%2"), "p@ss word%2");
    }

    #[test]
    fn the_env_files_values_are_blanked_even_percent_encoded() {
        crate::report::remember(&["Zq9@env-secret-7".to_string()]);
        let s = Scrubber::new();
        assert_eq!(s.sent("user=a&pw=Zq9%40env-secret-7"), "user=a&pw=***");
        assert_eq!(s.sent("/login?k=Zq9@env-secret-7"), "/login?k=***");
        assert_eq!(s.received("hello Zq9@env-secret-7"), "hello ***");
        assert_eq!(s.received(r#"{"session":"abc"}"#), r#"{"session":"abc"}"#);
    }
}
