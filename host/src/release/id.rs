//! A release id, parsed once where it enters (the command line): 1 to 128
//! ASCII letters, digits, `.`, `_`, `-` and `+`, starting with a letter or
//! digit (`2026-11-26.1`, a git sha, `1.4.0+build.7`). Ids name files, lines
//! of state.env and log lines, so nothing else is let in.

use std::fmt;
use std::str::FromStr;

/// The longest release id accepted.
pub const MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseId(String);

/// Why a text is not a release id; shows the text escaped and cut.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "release id `{shown}` is not valid: use 1 to {MAX_LEN} ASCII letters, digits, `.`, `_`, `-` or \
     `+`, starting with a letter or digit (e.g. 2026-11-26.1 or a git sha)"
)]
pub struct InvalidReleaseId {
    shown: String,
}

impl FromStr for ReleaseId {
    type Err = InvalidReleaseId;

    fn from_str(id: &str) -> Result<ReleaseId, InvalidReleaseId> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
        let ok = (1..=MAX_LEN).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_alphanumeric())
            && id.chars().all(allowed);
        if ok {
            return Ok(ReleaseId(id.to_string()));
        }
        Err(InvalidReleaseId {
            shown: id
                .escape_debug()
                .to_string()
                .chars()
                .take(MAX_LEN)
                .collect(),
        })
    }
}

impl ReleaseId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_name_files_and_lines_safely_are_taken() {
        for ok in [
            "1",
            "2026-11-26.1",
            "1.4.0+build.7",
            "a_b",
            &"9".repeat(MAX_LEN),
        ] {
            assert_eq!(ok.parse::<ReleaseId>().unwrap().as_str(), ok);
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "../etc",
            "a b",
            "a/b",
            "ü",
            &"9".repeat(MAX_LEN + 1),
        ] {
            let e = bad.parse::<ReleaseId>().unwrap_err().to_string();
            assert!(e.contains("is not valid"), "{bad}: {e}");
        }
        let e = "a\nb".parse::<ReleaseId>().unwrap_err().to_string();
        assert!(e.contains("`a\\nb`"), "escaped, never a raw newline: {e}");
    }
}
