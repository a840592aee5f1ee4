//! A small YAML emitter for JSON values (manifests): block style, every string double-quoted
//! with JSON escapes (valid YAML), keys plain when they are simple.
use serde_json::Value;

fn plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !k.starts_with(['-', '.'])
}

fn key(k: &str) -> String {
    if plain_key(k) {
        k.to_owned()
    } else {
        Value::String(k.to_owned()).to_string()
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        other => other.to_string(),
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

fn emit(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, val) in m {
                if is_block(val) {
                    out.push_str(&format!("{pad}{}:\n", key(k)));
                    let child = if val.is_array() { indent } else { indent + 2 };
                    emit(out, val, child);
                } else {
                    out.push_str(&format!("{pad}{}: {}\n", key(k), scalar(val)));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                if is_block(item) {
                    let mut inner = String::new();
                    emit(&mut inner, item, indent + 2);
                    // The first line of the item goes after "- ".
                    let trimmed = inner.get(indent + 2..).unwrap_or_default();
                    out.push_str(&format!("{pad}- {trimmed}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

/// A YAML document for `v`.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    emit(&mut out, v, 0);
    out
}

/// Several documents separated by `---`.
pub fn documents(docs: &[Value]) -> String {
    docs.iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emits_block_yaml() {
        let v = json!({"a": {"b": [1, {"c": "x: y", "d": []}], "e": {}}, "k/with.dots": true});
        assert_eq!(
            to_yaml(&v),
            "a:\n  b:\n  - 1\n  - c: \"x: y\"\n    d: []\n  e: {}\nk/with.dots: true\n"
        );
    }
}
