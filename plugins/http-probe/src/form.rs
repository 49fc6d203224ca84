//! `form = { … }` bodies: application/x-www-form-urlencoded, as browsers
//! submit an HTML form (the WHATWG URL standard's serializer).

pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// `a=1&b=x+y` from `(name, value)` pairs, in their order.
pub fn encode<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    fields
        .into_iter()
        .map(|(name, value)| format!("{}={}", escape(name), escape(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One name or value: letters, digits and `*-._` as they are, a space as
/// `+`, every other byte of the UTF-8 as `%XX`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_a_browser_submits_a_form() {
        assert_eq!(
            encode([
                ("csrfmiddlewaretoken", "aB9-_.*"),
                ("username", "pit wall"),
                ("password", "p@ss&w=rd+%/é"),
            ]),
            "csrfmiddlewaretoken=aB9-_.*&username=pit+wall&password=p%40ss%26w%3Drd%2B%25%2F%C3%A9"
        );
        assert_eq!(encode([("next", "")]), "next=");
        assert_eq!(encode(std::iter::empty()), "");
    }
}
