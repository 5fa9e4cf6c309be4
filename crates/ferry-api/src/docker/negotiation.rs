//! Docker's API version negotiation: a `/vNN` path prefix names the version a client speaks
//! (and marks it as a Docker client, [`Dialect::Docker`]); versions outside
//! [`crate::MIN_API_VERSION`]..=[`crate::API_VERSION`] are refused with dockerd's words.

use ferry_types::FerryError;

/// Who sent a request, as its path tells: Docker's clients always prefix `/vNN`; ferry's own
/// client never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// ferry's own client: ferry's bodies, words and raw log streams.
    Ferry,
    /// A Docker client: Docker's bodies, words and multiplexed streams.
    Docker,
}

/// The version a request's prefix named, kept in its extensions; `None` without a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedVersion(pub Option<(u32, u32)>);

impl RequestedVersion {
    /// The dialect this implies.
    pub fn dialect(self) -> Dialect {
        match self.0 {
            Some(_) => Dialect::Docker,
            None => Dialect::Ferry,
        }
    }
}

/// Parses `1.50` into `(1, 50)`.
pub fn parse(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Splits a `/vNN/rest` path into the version text and `/rest`; `None` when the path has no
/// such prefix.
pub fn split_prefix(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let i = rest.find('/')?;
    let v = &rest[..i];
    (i > 0 && v.chars().all(|c| c.is_ascii_digit() || c == '.')).then(|| (v, &rest[i..]))
}

/// Refuses a version outside the range served, as dockerd words it.
pub fn check(text: &str) -> Result<(), FerryError> {
    let (Some(v), Some(min), Some(max)) = (
        parse(text),
        parse(crate::MIN_API_VERSION),
        parse(crate::API_VERSION),
    ) else {
        return Err(FerryError::invalid(format!(
            "invalid API version {text:?}: give it as MAJOR.MINOR, e.g. {}",
            crate::API_VERSION
        )));
    };
    if v < min {
        return Err(FerryError::invalid(format!(
            "client version {text} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            crate::MIN_API_VERSION
        )));
    }
    if v > max {
        return Err(FerryError::invalid(format!(
            "client version {text} is too new. Maximum supported API version is {}",
            crate::API_VERSION
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_ranges() {
        assert_eq!(split_prefix("/v1.50/networks"), Some(("1.50", "/networks")));
        assert_eq!(split_prefix("/v1.24/_ping"), Some(("1.24", "/_ping")));
        assert_eq!(split_prefix("/version"), None);
        assert_eq!(split_prefix("/v/x"), None);
        assert_eq!(split_prefix("/volumes/x"), None);
        assert!(check("1.24").is_ok());
        assert!(check("1.50").is_ok());
        assert!(check("1.9").unwrap_err().message.contains("too old"));
        let e = check("1.99").unwrap_err();
        assert_eq!(
            e.message,
            "client version 1.99 is too new. Maximum supported API version is 1.50"
        );
        assert!(check("2").is_err());
        assert!(check("1.x").is_err());
        assert!(parse("1.9") < parse("1.24"));
    }
}
