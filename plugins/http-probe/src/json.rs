//! Dotted paths into JSON bodies, for `json_field` and `capture`.

/// The value at a dotted path (`a.b.0.c`) of a JSON body.
pub fn at(body: &str, path: &str) -> Option<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    for key in path.split('.') {
        value = match value {
            serde_json::Value::Object(mut m) => m.remove(key)?,
            serde_json::Value::Array(mut a) => {
                let i: usize = key.parse().ok()?;
                (i < a.len()).then(|| a.swap_remove(i))?
            }
            _ => return None,
        };
    }
    Some(value)
}

/// A value as a string for `${var}`: strings without their quotes.
pub fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
