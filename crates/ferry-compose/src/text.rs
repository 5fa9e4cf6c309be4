//! Text formats inside a compose project: shell-like splitting of `command: "a 'b c'"`, and
//! `.env` / `env_file` files.

use crate::interpolate;
use std::collections::{BTreeMap, BTreeSet};

/// Splits a command line into words as a POSIX shell would, without expanding anything:
/// whitespace separates words, `'...'` is literal, `"..."` honours `\"`, `\\`, `\$` and `` \` ``,
/// and a backslash outside quotes takes the next character literally.
pub(crate) fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A quoted empty string ("") is a word too, so track whether one was started.
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => word.push(x),
                        None => return Err(format!("unclosed single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => word.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                word.push('\\');
                                word.push(x);
                            }
                            None => return Err(format!("unclosed double quote in {s:?}")),
                        },
                        Some(x) => word.push(x),
                        None => return Err(format!("unclosed double quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(x) => word.push(x),
                    None => return Err(format!("a trailing backslash in {s:?} escapes nothing")),
                }
            }
            x => {
                in_word = true;
                word.push(x);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The variables of a dotenv file.
#[derive(Debug)]
pub(crate) struct DotEnv {
    /// The variables, in file order (a redefinition moves a variable to the end).
    pub vars: Vec<(String, String)>,
    /// Unset variables that the values used.
    pub unset: BTreeSet<String>,
}

/// Parses a dotenv file (`.env` or an `env_file`) as Compose does: `KEY=VALUE` lines, blank
/// lines and `#` comments skipped, an optional `export ` prefix, values in single quotes kept
/// literally, values in double quotes with `\n`, `\t`, `\"` and `\\` escapes, unquoted values
/// trimmed and cut at ` #`. Unquoted and double-quoted values are interpolated with `lookup`
/// plus the variables defined above them. A bare `KEY` takes its value from `lookup` and is
/// left out when it has none.
///
pub(crate) fn dotenv(text: &str, lookup: &BTreeMap<String, String>) -> Result<DotEnv, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut unset = BTreeSet::new();
    let mut scope = lookup.clone();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim_start())),
            None => (line, None),
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(format!(
                "line {line_no}: invalid variable name {key:?}: expected KEY=VALUE"
            ));
        }
        let Some(value) = value else {
            if let Some(v) = lookup.get(key) {
                out.push((key.to_string(), v.clone()));
            }
            continue;
        };
        let value = if let Some(rest) = value.strip_prefix('\'') {
            // Single-quoted values may span lines; they end at the next quote.
            quoted(rest, &mut lines, |s| s.find('\''))
                .ok_or_else(|| format!("line {line_no}: unclosed single quote"))?
        } else if let Some(rest) = value.strip_prefix('"') {
            let body = quoted(rest, &mut lines, closing_double_quote)
                .ok_or_else(|| format!("line {line_no}: unclosed double quote"))?;
            let unescaped = unescape_double(&body);
            interpolate::string(&unescaped, &scope, &mut unset)
                .map_err(|e| format!("line {line_no}: {e}"))?
        } else {
            let v = match value.find(" #") {
                Some(i) => &value[..i],
                None => value,
            };
            interpolate::string(v.trim_end(), &scope, &mut unset)
                .map_err(|e| format!("line {line_no}: {e}"))?
        };
        scope.insert(key.to_string(), value.clone());
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(DotEnv { vars: out, unset })
}

/// A quoted value from `first` (the text after the opening quote) and, while `close` finds
/// no closing quote, the lines after it; `None` when the text ends first.
fn quoted<'a>(
    first: &str,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
    close: impl Fn(&str) -> Option<usize>,
) -> Option<String> {
    let mut acc = first.to_string();
    loop {
        if let Some(end) = close(&acc) {
            acc.truncate(end);
            return Some(acc);
        }
        let (_, more) = lines.next()?;
        acc.push('\n');
        acc.push_str(more);
    }
}

fn closing_double_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

fn unescape_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(x @ ('"' | '\\')) => out.push(x),
            // `\$` keeps the dollar from interpolation: `$$` is its escaped form there.
            Some('$') => out.push_str("$$"),
            Some(x) => {
                out.push('\\');
                out.push(x);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            shell_split("socat TCP-LISTEN:80,fork 'SYSTEM:echo hi' \"a \\\"b\\\"\"").unwrap(),
            vec!["socat", "TCP-LISTEN:80,fork", "SYSTEM:echo hi", "a \"b\""]
        );
        assert_eq!(shell_split("  a\\ b   c ").unwrap(), vec!["a b", "c"]);
        assert_eq!(shell_split("x '' \"\"").unwrap(), vec!["x", "", ""]);
        assert_eq!(
            shell_split("sh -c 'echo $HOME'").unwrap(),
            vec!["sh", "-c", "echo $HOME"]
        );
        assert_eq!(shell_split("a\"b c\"d").unwrap(), vec!["ab cd"]);
        assert!(shell_split("").unwrap().is_empty());
        assert!(shell_split("'open")
            .unwrap_err()
            .contains("unclosed single quote"));
        assert!(shell_split("\"open")
            .unwrap_err()
            .contains("unclosed double quote"));
        assert!(shell_split("a\\")
            .unwrap_err()
            .contains("trailing backslash"));
    }

    #[test]
    fn dotenv_forms() {
        let lookup: BTreeMap<String, String> = [("HOST".to_string(), "h1".to_string())].into();
        let text = "# comment\n\nA=1\nexport B = two words  # note\nC='lit $A #x'\nD=\"q \\\"x\\\" ${A}\\n\"\nE=${B}-$HOST\nHOST\nMISSING\nF=\nG='multi\nline'\nA=override\n";
        let DotEnv { vars, unset } = dotenv(text, &lookup).unwrap();
        let m: BTreeMap<_, _> = vars.iter().cloned().collect();
        assert_eq!(m["A"], "override");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "lit $A #x");
        assert_eq!(m["D"], "q \"x\" 1\n");
        assert_eq!(m["E"], "two words-h1");
        assert_eq!(m["HOST"], "h1");
        assert!(!m.contains_key("MISSING"));
        assert_eq!(m["F"], "");
        assert_eq!(m["G"], "multi\nline");
        assert!(unset.is_empty());
        // A redefinition moves the variable to the end.
        assert_eq!(vars.last().map(|(k, _)| k.as_str()), Some("A"));
    }

    #[test]
    fn dotenv_errors_name_the_line() {
        let e = dotenv("A=1\nBAD KEY=2\n", &BTreeMap::new()).unwrap_err();
        assert!(e.starts_with("line 2: invalid variable name"), "{e}");
        let e = dotenv("A=\"open\n", &BTreeMap::new()).unwrap_err();
        assert!(e.contains("unclosed double quote"), "{e}");
        let e = dotenv("A=${NEED:?set NEED}\n", &BTreeMap::new()).unwrap_err();
        assert!(e.contains("line 1: required variable NEED"), "{e}");
    }
}
