//! CNI specification versions: which ferry speaks, and which result shape each one takes.

use crate::error::CniError;

/// Every version ferry answers, oldest first (what VERSION lists).
pub const SUPPORTED: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The shape a result takes for a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 0.3.x and 0.4.0: every IP carries `"version": "4"|"6"`.
    Legacy,
    /// 1.0.0 and later: no `version` in IPs.
    Current,
}

/// The request's version, checked: one ferry answers in, with its result shape.
pub fn shape_of(version: &str) -> Result<Shape, CniError> {
    if !SUPPORTED.contains(&version) {
        return Err(CniError::incompatible(version));
    }
    Ok(if version.starts_with("0.") {
        Shape::Legacy
    } else {
        Shape::Current
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_take_their_shapes() {
        for v in ["0.3.0", "0.3.1", "0.4.0"] {
            assert_eq!(shape_of(v).unwrap(), Shape::Legacy, "{v}");
        }
        for v in ["1.0.0", "1.1.0"] {
            assert_eq!(shape_of(v).unwrap(), Shape::Current, "{v}");
        }
    }

    #[test]
    fn unknown_versions_are_incompatible() {
        for v in ["0.2.0", "1.2.0", "", "1.0"] {
            assert_eq!(shape_of(v).unwrap_err().code, 1, "{v}");
        }
    }
}
