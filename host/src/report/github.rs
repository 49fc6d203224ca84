//! GitHub Actions: workflow commands on the log (`::group::`, `::error::`,
//! `::warning::`) and the Markdown step summary. On when the runner says so
//! (`GITHUB_ACTIONS=true`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A workflow command's data (what follows the second `::`), escaped as
/// the runner unescapes it: a newline in a message cannot end the command
/// and start another.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value (`title=…`): also `:` and `,`, which
/// would end the value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::name key=value,key=value::data`, escaped.
pub fn command(name: &str, properties: &[(&str, &str)], data: &str) -> String {
    let properties: Vec<String> = properties
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(v)))
        .collect();
    let space = if properties.is_empty() { "" } else { " " };
    format!(
        "::{name}{space}{}::{}",
        properties.join(","),
        escape_data(data)
    )
}

/// The log of one GitHub Actions step. Clones share which group is open.
#[derive(Debug, Clone)]
pub struct Github {
    group_open: Arc<AtomicBool>,
    /// `$GITHUB_STEP_SUMMARY`: the file the step's Markdown summary is
    /// appended to.
    summary: Option<PathBuf>,
}

impl Github {
    /// On a GitHub Actions runner, its log; else `None`.
    pub fn detect() -> Option<Github> {
        if std::env::var("GITHUB_ACTIONS").ok()? != "true" {
            return None;
        }
        Some(Github {
            group_open: Arc::default(),
            summary: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        })
    }

    /// The lines that open a group titled `title`, closing the open one.
    pub fn group(&self, title: &str) -> String {
        let open = command("group", &[], title);
        if self.group_open.swap(true, Ordering::SeqCst) {
            format!("::endgroup::\n{open}")
        } else {
            open
        }
    }

    /// `::endgroup::` if a group is open.
    pub fn end_group(&self) -> Option<String> {
        self.group_open
            .swap(false, Ordering::SeqCst)
            .then(|| "::endgroup::".to_string())
    }

    /// Appends `markdown` to the step summary, if the runner gave one.
    pub fn append_summary(&self, markdown: &str) -> std::io::Result<()> {
        let Some(path) = &self.summary else {
            return Ok(());
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(markdown.as_bytes())?;
        f.flush()
    }

    pub fn summary_path(&self) -> Option<&std::path::Path> {
        self.summary.as_deref()
    }
}

/// A Markdown table cell: `|` and line breaks cannot break the table, and
/// text cannot become HTML.
pub fn markdown_cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the runner does with a command line: its name, properties and
    /// data, unescaped.
    fn unescape(text: &str) -> String {
        text.replace("%0D", "\r")
            .replace("%0A", "\n")
            .replace("%3A", ":")
            .replace("%2C", ",")
            .replace("%25", "%")
    }

    #[test]
    fn hostile_data_and_properties_stay_inside_one_command() {
        let message = "50% of requests failed\r\n::error::forged\nnext %0A line";
        let title = "health: fail (attempt 2, verify) a=b,c::d";
        let line = command("error", &[("title", title)], message);
        assert!(!line.contains(['\n', '\r']), "{line:?}");
        assert_eq!(
            line,
            "::error title=health%3A fail (attempt 2%2C verify) a=b%2Cc%3A%3Ad::\
             50%25 of requests failed%0D%0A::error::forged%0Anext %250A line"
        );
        let (head, data) = line[2..].split_once("::").unwrap();
        let value = head.strip_prefix("error title=").unwrap();
        assert!(!value.contains([',', ':']), "{value}");
        assert_eq!(unescape(value), title);
        assert_eq!(unescape(data), message);
    }

    #[test]
    fn a_command_without_properties_has_no_space_before_its_data() {
        assert_eq!(command("warning", &[], "a: b, c"), "::warning::a: b, c");
        assert_eq!(command("group", &[], "pull 100%"), "::group::pull 100%25");
    }

    #[test]
    fn groups_close_before_the_next_opens_and_once_at_the_end() {
        let gh = Github {
            group_open: Arc::default(),
            summary: None,
        };
        assert_eq!(gh.end_group(), None);
        assert_eq!(gh.group("pull"), "::group::pull");
        assert_eq!(gh.clone().group("apply"), "::endgroup::\n::group::apply");
        assert_eq!(gh.end_group().as_deref(), Some("::endgroup::"));
        assert_eq!(gh.end_group(), None);
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(
            markdown_cell("a | b\r\nc\n<script>&"),
            "a \\| b<br>c<br>&lt;script&gt;&amp;"
        );
    }
}
