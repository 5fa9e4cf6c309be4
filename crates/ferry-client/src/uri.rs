//! Request targets: fixed route parts, names as percent-encoded path segments, and query
//! values, so that no name can change which route is asked for.

use std::fmt::Write;

/// A request target (`/networks/app%2Fx/connect?force=1`) built one piece at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uri {
    text: String,
    has_query: bool,
}

impl Uri {
    /// A target starting with the fixed `route` (`/networks`).
    pub(crate) fn route(route: &'static str) -> Self {
        Uri {
            text: route.to_string(),
            has_query: false,
        }
    }

    /// Appends a name as one path segment, percent-encoded.
    pub(crate) fn name(mut self, name: &str) -> Self {
        debug_assert!(!self.has_query, "a path segment after the query");
        self.text.push('/');
        match name {
            // Dot segments would be removed by any normaliser on the way; encoded they stay names.
            "." => self.text.push_str("%2E"),
            ".." => self.text.push_str("%2E%2E"),
            _ => encode_into(&mut self.text, name),
        }
        self
    }

    /// Appends a fixed path part (`connect`).
    pub(crate) fn then(mut self, part: &'static str) -> Self {
        debug_assert!(!self.has_query, "a path segment after the query");
        self.text.push('/');
        self.text.push_str(part);
        self
    }

    /// Appends `key=value` to the query, the value percent-encoded.
    pub(crate) fn query(mut self, key: &'static str, value: &str) -> Self {
        self.text.push(if self.has_query { '&' } else { '?' });
        self.has_query = true;
        self.text.push_str(key);
        self.text.push('=');
        encode_into(&mut self.text, value);
        self
    }

    /// Appends `key=1` or `key=0`.
    pub(crate) fn flag(self, key: &'static str, on: bool) -> Self {
        self.query(key, if on { "1" } else { "0" })
    }

    /// The target as text.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_segment_whatever_they_hold() {
        let u = Uri::route("/networks").name("a/b?c=d#e f").then("connect");
        assert_eq!(u.as_str(), "/networks/a%2Fb%3Fc%3Dd%23e%20f/connect");
        assert_eq!(
            Uri::route("/containers").name("..").as_str(),
            "/containers/%2E%2E"
        );
        assert_eq!(
            Uri::route("/containers").name(".").as_str(),
            "/containers/%2E"
        );
        assert_eq!(
            Uri::route("/containers").name("web.1").as_str(),
            "/containers/web.1"
        );
        assert_eq!(
            Uri::route("/networks").name("é%").as_str(),
            "/networks/%C3%A9%25"
        );
    }

    #[test]
    fn queries_are_encoded_and_joined() {
        let u = Uri::route("/containers")
            .name("web")
            .then("logs")
            .flag("follow", true)
            .query("condition", "next-exit");
        assert_eq!(
            u.as_str(),
            "/containers/web/logs?follow=1&condition=next-exit"
        );
        let u = Uri::route("/networks").query("filters", r#"{"name":{"a&b":true}}"#);
        assert_eq!(
            u.as_str(),
            "/networks?filters=%7B%22name%22%3A%7B%22a%26b%22%3Atrue%7D%7D"
        );
    }
}
