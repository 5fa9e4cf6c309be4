//! Variable interpolation, as Compose does it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, and `$$` for
//! a literal `$`. Defaults and alternatives may hold interpolations themselves. Only values are
//! interpolated, never keys.

use crate::node::{index, join, R};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Interpolates every string in the tree. Names of variables that were used but not set are
/// added to `unset` (Compose warns about each and uses an empty string).
pub(crate) fn tree(
    path: &str,
    v: &mut Value,
    env: &BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
) -> R<()> {
    match v {
        Value::String(s) => {
            *s = string(s, env, unset).map_err(|e| format!("{path}: {e}"))?;
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                tree(&index(path, i), x, env, unset)?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                tree(&join(path, k), x, env, unset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// How deep `${A:-${B:-...}}` may nest: far beyond real use, and bounded so that no input
/// can exhaust the stack.
const MAX_NESTING: usize = 16;

/// Interpolates one string.
pub(crate) fn string(
    s: &str,
    env: &BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
) -> R<String> {
    nested(s, env, unset, 0)
}

fn nested(
    s: &str,
    env: &BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
    depth: usize,
) -> R<String> {
    if depth > MAX_NESTING {
        return Err(format!(
            "invalid interpolation in {s:?}: defaults nest more than {MAX_NESTING} levels deep"
        ));
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let end = closing_brace(&chars, i + 2).ok_or_else(|| {
                    format!("invalid interpolation in {s:?}: \"${{\" has no closing \"}}\"")
                })?;
                let inner: String = chars[i + 2..end].iter().collect();
                out.push_str(&braced(&inner, s, env, unset, depth)?);
                i = end + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(&lookup(&name, env, unset));
                i = j;
            }
            _ => {
                return Err(format!(
                    "invalid interpolation in {s:?}: a \"$\" must be followed by a variable name or \"{{\"; write \"$$\" for a literal \"$\""
                ))
            }
        }
    }
    Ok(out)
}

/// The index of the `}` closing a `${` whose content starts at `from`; nested `${...}` and
/// `$$` inside are skipped over.
fn closing_brace(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 1;
    let mut i = from;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('$', Some('$')) => i += 2,
            ('$', Some('{')) => {
                depth += 1;
                i += 2;
            }
            ('}', _) => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

fn lookup(name: &str, env: &BTreeMap<String, String>, unset: &mut BTreeSet<String>) -> String {
    match env.get(name) {
        Some(v) => v.clone(),
        None => {
            unset.insert(name.to_string());
            String::new()
        }
    }
}

/// The content of `${...}`: a name, then nothing or an operator and a word.
fn braced(
    inner: &str,
    whole: &str,
    env: &BTreeMap<String, String>,
    unset: &mut BTreeSet<String>,
    depth: usize,
) -> R<String> {
    let name_len = inner
        .char_indices()
        .find(|&(i, c)| {
            !(if i == 0 {
                is_name_start(c)
            } else {
                is_name_char(c)
            })
        })
        .map(|(i, _)| i)
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() {
        return Err(format!(
            "invalid interpolation in {whole:?}: \"${{{inner}}}\" does not start with a variable name"
        ));
    }
    let value = env.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let (op, word) = [":-", ":?", ":+", "-", "?", "+"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|w| (*op, w)))
        .unwrap_or(("", rest));
    if op.is_empty() && !rest.is_empty() {
        return Err(format!(
            "invalid interpolation in {whole:?}: unexpected {rest:?} after the variable name {name}; use ${{{name}:-default}}, ${{{name}-default}}, ${{{name}:?error}} or ${{{name}:+alternative}}"
        ));
    }
    let word = |unset: &mut BTreeSet<String>| nested(word, env, unset, depth + 1);
    match op {
        "" => Ok(lookup(name, env, unset)),
        ":-" if non_empty => Ok(value.cloned().unwrap_or_default()),
        "-" if set => Ok(value.cloned().unwrap_or_default()),
        ":-" | "-" => word(unset),
        ":?" if non_empty => Ok(value.cloned().unwrap_or_default()),
        "?" if set => Ok(value.cloned().unwrap_or_default()),
        ":?" | "?" => {
            let msg = word(unset)?;
            let msg = if msg.is_empty() {
                "set it in the environment or in .env".to_string()
            } else {
                msg
            };
            Err(format!(
                "required variable {name} is missing a value: {msg}"
            ))
        }
        ":+" if non_empty => word(unset),
        "+" if set => word(unset),
        _ => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [("A", "alpha"), ("EMPTY", ""), ("PORT", "8080")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(s: &str) -> R<String> {
        string(s, &env(), &mut BTreeSet::new())
    }

    #[test]
    fn substitutes_and_defaults() {
        assert_eq!(run("$A-${A}").unwrap(), "alpha-alpha");
        assert_eq!(run("${PORT}:80").unwrap(), "8080:80");
        assert_eq!(run("${EMPTY:-d}|${EMPTY-d}").unwrap(), "d|");
        assert_eq!(run("${NOPE:-d}|${NOPE-d}").unwrap(), "d|d");
        assert_eq!(run("${A:-d}").unwrap(), "alpha");
        assert_eq!(
            run("${A:+set}|${EMPTY:+set}|${EMPTY+set}").unwrap(),
            "set||set"
        );
        assert_eq!(run("${NOPE:-${A}x}").unwrap(), "alphax");
        assert_eq!(run("${NOPE:-${NOPE2:-deep}}").unwrap(), "deep");
        assert_eq!(run("cost $$5 ${A}").unwrap(), "cost $5 alpha");
        assert_eq!(run("$$A").unwrap(), "$A");
        assert_eq!(run("héllo ${A}").unwrap(), "héllo alpha");
        assert_eq!(run("${NOPE:-a b}").unwrap(), "a b");
    }

    #[test]
    fn unset_variables_are_reported_and_empty() {
        let mut unset = BTreeSet::new();
        assert_eq!(string("x${NOPE}y$NOPE2", &env(), &mut unset).unwrap(), "xy");
        assert_eq!(
            unset.into_iter().collect::<Vec<_>>(),
            vec!["NOPE".to_string(), "NOPE2".to_string()]
        );
        // A default keeps a variable from counting as unset.
        let mut unset = BTreeSet::new();
        string("${NOPE:-x}", &env(), &mut unset).unwrap();
        assert!(unset.is_empty());
    }

    #[test]
    fn required_variables() {
        assert_eq!(run("${A:?need A}").unwrap(), "alpha");
        let e = run("${EMPTY:?give the token}").unwrap_err();
        assert_eq!(
            e,
            "required variable EMPTY is missing a value: give the token"
        );
        assert_eq!(run("${EMPTY?x}").unwrap(), "");
        let e = run("${NOPE?}").unwrap_err();
        assert!(e.contains("NOPE is missing a value: set it"), "{e}");
        let e = run("${NOPE:?port for ${A}}").unwrap_err();
        assert!(e.ends_with("port for alpha"), "{e}");
    }

    #[test]
    fn malformed_templates() {
        for (s, why) in [
            ("${A", "no closing"),
            ("${}", "does not start with a variable name"),
            ("${1A}", "does not start with a variable name"),
            ("${A B}", "unexpected \" B\""),
            ("${A=x}", "unexpected \"=x\""),
            ("cost $5", "write \"$$\""),
            ("end$", "write \"$$\""),
            (
                &format!("{}x{}", "${NOPE:-".repeat(40), "}".repeat(40)),
                "nest more than",
            ),
        ] {
            let e = run(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn trees_keep_keys_and_name_the_path() {
        let mut v: Value = serde_json::json!({"$K": ["${A}", 1, {"x": "${NOPE:?must}"}]});
        let e = tree("", &mut v, &env(), &mut BTreeSet::new()).unwrap_err();
        assert!(e.starts_with("$K[2].x: required variable NOPE"), "{e}");
        let mut v: Value = serde_json::json!({"$K": ["${A}", 1]});
        tree("", &mut v, &env(), &mut BTreeSet::new()).unwrap();
        assert_eq!(v, serde_json::json!({"$K": ["alpha", 1]}));
    }
}
