//! Where a setting is in `pitwall.toml`: a path such as
//! `checks[2].failure_limt` turned into the line it is on, so an error
//! points at the line to edit.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The 1-based line of the deepest part of `path` found in `text`: the key
/// itself when it exists, else the table that lacks it.
pub fn line(text: &str, path: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut span = root.span();
    let mut table = Some(root.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, indices) = split_indices(segment);
        if !key.is_empty() {
            let Some((k, v)) = table?.iter().find(|(k, _)| k.get_ref().as_ref() == key) else {
                break;
            };
            span = k.span();
            value = Some(v);
        }
        for i in indices {
            let Some(DeValue::Array(items)) = value.map(Spanned::get_ref) else {
                return Some(line_at(text, span.start));
            };
            let Some(item) = items.get(i) else { break };
            span = item.span();
            value = Some(item);
        }
        table = match value.map(Spanned::get_ref) {
            Some(DeValue::Table(t)) => Some(t),
            _ => None,
        };
    }
    Some(line_at(text, span.start))
}

/// `checks[2][0]` → (`checks`, [2, 0]).
fn split_indices(segment: &str) -> (&str, Vec<usize>) {
    let key_end = segment.find('[').unwrap_or(segment.len());
    let indices = segment[key_end..]
        .split(['[', ']'])
        .filter_map(|i| i.parse().ok())
        .collect();
    (&segment[..key_end], indices)
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::line;

    const TEXT: &str = r#"[stack]
project = "shop"

[[checks]]
name = "a"

[[checks]]
name = "b"
failure_limt = 3
[checks.config]
url = "http://x/"
"#;

    #[test]
    fn finds_keys_inside_arrays_of_tables() {
        assert_eq!(line(TEXT, "stack.project"), Some(2));
        assert_eq!(line(TEXT, "checks[1].failure_limt"), Some(9));
        assert_eq!(line(TEXT, "checks[1].config.url"), Some(11));
        assert_eq!(line(TEXT, "checks[0].name"), Some(5));
    }

    #[test]
    fn a_missing_key_points_at_its_table() {
        assert_eq!(line(TEXT, "checks[0].plugin"), line(TEXT, "checks[0]"));
        assert!(matches!(line(TEXT, "checks[0]"), Some(4 | 5)));
    }

    #[test]
    fn unparsable_text_has_no_lines() {
        assert_eq!(line("[stack", "stack"), None);
    }
}
