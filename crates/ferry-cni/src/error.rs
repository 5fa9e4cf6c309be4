//! The spec's error object (`{"cniVersion","code","msg","details"}`) and its codes.

use serde::Serialize;

/// Incompatible CNI version.
pub const INCOMPATIBLE_VERSION: u32 = 1;
/// Unsupported field in the network configuration.
pub const UNSUPPORTED_FIELD: u32 = 2;
/// Container unknown or gone: the runtime need not clean up.
pub const UNKNOWN_CONTAINER: u32 = 3;
/// Invalid environment variable.
pub const INVALID_ENV: u32 = 4;
/// I/O failure (reading stdin).
pub const IO_FAILURE: u32 = 5;
/// The configuration could not be decoded.
pub const DECODE_FAILURE: u32 = 6;
/// Invalid network configuration.
pub const INVALID_CONFIG: u32 = 7;
/// Try again later: the ferry daemon could not be reached.
pub const TRY_AGAIN_LATER: u32 = 11;
/// STATUS: the plugin is not available (the daemon is unreachable, or the network missing).
pub const NOT_AVAILABLE: u32 = 50;
/// ferry's own: the daemon refused the request (its message says why).
pub const DAEMON_REFUSED: u32 = 100;
/// ferry's own: the daemon failed, or the container's network is not what ADD made (CHECK).
pub const DAEMON_FAILED: u32 = 101;

/// A failure, as the plugin prints it on stdout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}: {details}")]
pub struct CniError {
    /// One of the codes above.
    pub code: u32,
    /// What failed, short.
    pub msg: String,
    /// Why, and what to do.
    pub details: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    cni_version: &'a str,
    code: u32,
    msg: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    details: &'a str,
}

impl CniError {
    /// An error with a code.
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: details.into(),
        }
    }

    /// A version ferry does not speak.
    pub fn incompatible(version: &str) -> Self {
        Self::new(
            INCOMPATIBLE_VERSION,
            "incompatible CNI version",
            format!(
                "ferry speaks cniVersion {}, not {version:?}",
                crate::version::SUPPORTED.join(", ")
            ),
        )
    }

    /// A missing or malformed environment variable, named.
    pub fn env(name: &str, details: impl Into<String>) -> Self {
        Self::new(INVALID_ENV, format!("invalid {name}"), details)
    }

    /// A configuration value ferry cannot use.
    pub fn config(details: impl Into<String>) -> Self {
        Self::new(INVALID_CONFIG, "invalid network configuration", details)
    }

    /// The error object, in the request's version (the newest when it had none ferry knows).
    pub fn to_json(&self, version: &str) -> String {
        let version = if crate::version::SUPPORTED.contains(&version) {
            version
        } else {
            crate::version::SUPPORTED[crate::version::SUPPORTED.len() - 1]
        };
        let wire = Wire {
            cni_version: version,
            code: self.code,
            msg: &self.msg,
            details: &self.details,
        };
        serde_json::to_string(&wire).unwrap_or_else(|_| {
            format!(
                r#"{{"cniVersion":"{version}","code":{},"msg":"error"}}"#,
                self.code
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_spec_object() {
        let e = CniError::env("CNI_NETNS", "required for ADD");
        let v: serde_json::Value = serde_json::from_str(&e.to_json("0.4.0")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"cniVersion":"0.4.0","code":4,"msg":"invalid CNI_NETNS","details":"required for ADD"})
        );
    }

    #[test]
    fn an_unknown_version_answers_in_the_newest() {
        let v: serde_json::Value =
            serde_json::from_str(&CniError::incompatible("9.9.9").to_json("9.9.9")).unwrap();
        assert_eq!(v["cniVersion"], "1.1.0");
        assert_eq!(v["code"], 1);
    }
}
