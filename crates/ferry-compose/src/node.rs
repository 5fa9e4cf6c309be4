//! The parsed YAML tree (a `serde_json::Value`) and typed, path-aware readers over it. Every
//! error starts with the key's path (`services.web.ports[0]`), as Compose reports it.

use serde_json::{Map, Value};

/// Internal result: an error is a message that starts with a key path.
pub(crate) type R<T> = Result<T, String>;

/// Parses YAML text into a tree. YAML 1.2 rules: only `true`/`false` are booleans (`yes`, `y`,
/// `on` stay strings, so `FOO: y` keeps its text), and numbers written with leading zeros or
/// underscores stay strings (`0755`, `1_000`).
pub(crate) fn parse_yaml(text: &str) -> R<Value> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| format!("invalid YAML: {e}"))
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// What a value is, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A scalar as text: strings as they are, numbers and booleans as YAML writes them.
pub(crate) fn scalar(path: &str, v: &Value) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "{path} must be a string, but it is {}",
            kind(other)
        )),
    }
}

/// A scalar, or `None` when the value is null.
pub(crate) fn opt_scalar(path: &str, v: &Value) -> R<Option<String>> {
    match v {
        Value::Null => Ok(None),
        other => scalar(path, other).map(Some),
    }
}

/// A mapping; null counts as an empty one (`networks: {front: }`).
pub(crate) fn map<'a>(path: &str, v: &'a Value) -> R<Option<&'a Map<String, Value>>> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(format!(
            "{path} must be a mapping, but it is {}",
            kind(other)
        )),
    }
}

/// A list; null counts as an empty one.
pub(crate) fn list<'a>(path: &str, v: &'a Value) -> R<&'a [Value]> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        other => Err(format!("{path} must be a list, but it is {}", kind(other))),
    }
}

/// A list of scalars.
pub(crate) fn scalar_list(path: &str, v: &Value) -> R<Vec<String>> {
    list(path, v)?
        .iter()
        .enumerate()
        .map(|(i, x)| scalar(&index(path, i), x))
        .collect()
}

/// One string or a list of them (`dns: 1.1.1.1` or `dns: [1.1.1.1, 8.8.8.8]`).
pub(crate) fn string_or_list(path: &str, v: &Value) -> R<Vec<String>> {
    match v {
        Value::Array(_) | Value::Null => scalar_list(path, v),
        other => Ok(vec![scalar(path, other)?]),
    }
}

/// A boolean. Interpolation turns `${X:-false}` into a string, so the strings `true`/`false`
/// (and Compose's `yes`/`no`/`on`/`off`) count too.
pub(crate) fn boolean(path: &str, v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Ok(true),
            "false" | "no" | "n" | "off" => Ok(false),
            _ => Err(format!("{path} must be true or false, not {s:?}")),
        },
        other => Err(format!(
            "{path} must be true or false, but it is {}",
            kind(other)
        )),
    }
}

/// The text of a number: a number, or a string (numbers may come from interpolation).
fn number_text(path: &str, v: &Value) -> R<String> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s.trim().to_string()),
        other => Err(format!(
            "{path} must be a whole number, but it is {}",
            kind(other)
        )),
    }
}

/// A non-negative integer (a number, or a string of digits after interpolation).
pub(crate) fn uint(path: &str, v: &Value) -> R<u64> {
    let text = number_text(path, v)?;
    text.parse::<u64>()
        .map_err(|_| format!("{path} must be a whole number of 0 or more, not {text}"))
}

/// A signed integer (priorities may be negative).
pub(crate) fn int(path: &str, v: &Value) -> R<i64> {
    let text = number_text(path, v)?;
    text.parse::<i64>()
        .map_err(|_| format!("{path} must be a whole number, not {text}"))
}

/// Entries given either as a list of `KEY=VALUE` (or bare `KEY`) or as a mapping
/// (`KEY: VALUE`, or `KEY:` with no value). A missing value is `None`.
pub(crate) fn list_or_map(path: &str, v: &Value) -> R<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    match v {
        Value::Null => {}
        Value::Object(m) => {
            for (k, x) in m {
                out.push((k.clone(), opt_scalar(&join(path, k), x)?));
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let s = scalar(&index(path, i), x)?;
                match s.split_once('=') {
                    Some((k, val)) => out.push((k.to_string(), Some(val.to_string()))),
                    None => out.push((s, None)),
                }
            }
        }
        other => {
            return Err(format!(
                "{path} must be a list of KEY=VALUE or a mapping, but it is {}",
                kind(other)
            ))
        }
    }
    for (k, _) in &out {
        if k.is_empty() || k.chars().any(char::is_whitespace) {
            return Err(format!(
                "{path}: invalid key {k:?}: keys must be non-empty and without spaces"
            ));
        }
    }
    Ok(out)
}

/// Refuses keys of a mapping that are not in `allowed`. `x-*` extension keys are always
/// allowed. Suggests the closest allowed key for a likely typo.
pub(crate) fn check_keys(path: &str, m: &Map<String, Value>, allowed: &[&str]) -> R<()> {
    for k in m.keys() {
        if k.starts_with("x-") || allowed.contains(&k.as_str()) {
            continue;
        }
        let hint = closest(k, allowed)
            .map(|s| format!("did you mean {s:?}? "))
            .unwrap_or_default();
        // Short lists help; the long one of service keys would drown the message.
        let known = if allowed.len() <= 12 {
            format!("allowed keys are {}", allowed.join(", "))
        } else {
            "it is not a key of the compose specification here (use x- for extensions)".to_string()
        };
        return Err(format!(
            "{}: unknown key {k:?}: {hint}{known}",
            if path.is_empty() { "top level" } else { path },
        ));
    }
    Ok(())
}

/// The allowed word within two edits of `word`, if any.
pub(crate) fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(word, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keeps_text_that_yaml_1_1_would_retype() {
        let v = parse_yaml("a: y\nb: 0755\nc: 8080:80\nd: 1_000\ne: true\nf: 80\n").unwrap();
        assert_eq!(scalar("a", &v["a"]).unwrap(), "y");
        assert_eq!(scalar("b", &v["b"]).unwrap(), "0755");
        assert_eq!(scalar("c", &v["c"]).unwrap(), "8080:80");
        assert_eq!(scalar("d", &v["d"]).unwrap(), "1_000");
        assert_eq!(v["e"], Value::Bool(true));
        assert_eq!(scalar("f", &v["f"]).unwrap(), "80");
    }

    #[test]
    fn yaml_errors_point_at_the_line() {
        let e = parse_yaml("a: [1\nb: 2\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_yaml("a: 1\na: 2\n").unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn readers_name_the_path() {
        let v = parse_yaml("l: [a, 1]\nm: {k: v}\n").unwrap();
        assert_eq!(scalar_list("l", &v["l"]).unwrap(), vec!["a", "1"]);
        let e = scalar("m", &v["m"]).unwrap_err();
        assert_eq!(e, "m must be a string, but it is a mapping");
        assert!(boolean("b", &Value::String("maybe".into())).is_err());
        assert!(boolean("b", &Value::String("False".into())).is_ok());
        assert_eq!(uint("n", &Value::String("3".into())).unwrap(), 3);
        assert!(uint("n", &Value::String("-3".into())).is_err());
    }

    #[test]
    fn list_or_map_forms() {
        let v = parse_yaml("a: [K=V, BARE, 'E=']\nb: {K: 1, N: }\n").unwrap();
        assert_eq!(
            list_or_map("a", &v["a"]).unwrap(),
            vec![
                ("K".into(), Some("V".into())),
                ("BARE".into(), None),
                ("E".into(), Some(String::new()))
            ]
        );
        assert_eq!(
            list_or_map("b", &v["b"]).unwrap(),
            vec![("K".into(), Some("1".into())), ("N".into(), None)]
        );
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let v = parse_yaml("netwroks: x\nx-extra: 1\n").unwrap();
        let m = v.as_object().unwrap();
        let e = check_keys("services.web", m, &["networks", "ports"]).unwrap_err();
        assert!(
            e.starts_with("services.web: unknown key \"netwroks\""),
            "{e}"
        );
        assert!(e.contains("did you mean \"networks\"?"), "{e}");
        assert!(check_keys("", m, &["netwroks"]).is_ok());
    }
}
