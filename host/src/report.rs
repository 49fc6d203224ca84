//! Human and JSON output. Text is styled with anstyle and written through
//! anstream, which drops the styles when the stream is not a colour
//! terminal or `NO_COLOR` is set; what goes to files is made plain first.
//! On GitHub Actions, progress is also workflow commands and a step summary
//! (`github`); `--events` streams it as NDJSON (`events`).

mod events;
mod github;
mod progress;
mod redact;

use std::io::Write;

use comfy_table::{Table, presets};
use schemars::JsonSchema;
use serde::Serialize;

pub use events::{Ending, Event, EventLine, Events};
pub use github::{Github, command, escape_data, escape_property, markdown_cell};
pub use progress::{Progress, PullBar};
pub use redact::{Redactor, Scrubbed, remember, secret_in};

use crate::checks::{Outcome, Verdict};

/// A verdict with the name of the check it belongs to.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Named<'a> {
    pub check: &'a str,
    #[serde(flatten)]
    pub verdict: &'a Verdict,
}

/// Writes `text` to stdout. A reader that went away (`pitwall history |
/// head -1`) is not an error: the rest of the output is not wanted.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = anstream::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes a line to stderr; there is nowhere to report a failure to.
pub fn warn(line: &str) {
    let _ = writeln!(anstream::stderr().lock(), "{line}");
}

/// The version of every `--json` output's format and of the event stream.
pub const SCHEMA_VERSION: u32 = 1;

/// A `--json` output: `schema_version`, then the output's own fields.
#[derive(Serialize, JsonSchema)]
struct Versioned<T> {
    #[schemars(schema_with = "schema_version")]
    schema_version: u32,
    #[serde(flatten)]
    output: T,
}

/// The schema of a `schema_version` field: this version.
pub(crate) fn schema_version(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer",
        "const": SCHEMA_VERSION,
        "description": "The version of this format; a change that breaks readers bumps it.",
    })
}

/// The JSON Schema of `T` as pitwall writes it (an `Option` is written as
/// `null`, a field skipped when empty is optional).
pub fn written_schema<T: JsonSchema>(title: &str) -> schemars::Schema {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.insert("title".into(), title.into());
    schema
}

/// Prints `value` as a `--json` output, with its `schema_version`. Every
/// output has a schema (`pitwall schema`), hence the `JsonSchema` bound.
pub fn print_json<T: Serialize + JsonSchema>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(&Versioned {
        schema_version: SCHEMA_VERSION,
        output: value,
    })?;
    text.push('\n');
    Ok(print(&text)?)
}

/// Columns aligned by content, no borders: readable in a terminal, and
/// each row one line for grep (a cell with several lines continues below).
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING).set_header(header.to_vec());
    t.column_iter_mut().for_each(|c| {
        c.set_padding((0, 2));
    });
    t
}

/// The JSON Schema of what [`print_json`] prints for a `T`.
pub fn output_schema<T: JsonSchema>(title: &str) -> schemars::Schema {
    written_schema::<Versioned<T>>(title)
}

/// `text` without its styles, for files.
pub fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

pub fn outcome_label(outcome: Outcome) -> String {
    use anstyle::AnsiColor;
    let colour = match outcome {
        Outcome::Pass => AnsiColor::Green,
        Outcome::Fail => AnsiColor::Red,
        Outcome::Inconclusive => AnsiColor::Yellow,
        Outcome::Error => AnsiColor::Magenta,
    };
    let style = colour.on_default().bold();
    format!("{style}{}{style:#}", outcome.as_str().to_ascii_uppercase())
}

/// The verdict and its evidence, indented, for a terminal or (made
/// [`plain`]) a file.
pub fn verdict_text(check: &str, v: &Verdict) -> String {
    let mut out = format!(
        "{} {check}: {} ({} ms)\n",
        outcome_label(v.outcome),
        v.summary,
        v.duration_ms
    );
    let width = v.evidence.iter().map(|e| e.label.len()).max().unwrap_or(0);
    for e in &v.evidence {
        let value = e.value.replace('\n', "\n      ");
        out.push_str(&format!("    {:width$}  {value}\n", e.label));
    }
    for l in &v.logs {
        out.push_str(&format!("    log: {l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_for_files_has_no_escape_codes() {
        let v = Verdict::error("boom");
        let styled = verdict_text("c", &v);
        assert!(styled.contains('\x1b'), "styled for terminals: {styled:?}");
        assert_eq!(plain(&styled), "ERROR c: boom (0 ms)\n");
    }
}
