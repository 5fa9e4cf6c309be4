//! Object IDs: 64 lowercase hex digits, shown shortened to 12 as Docker does, and a type for
//! the ID of each kind of object, so that a network's ID is never passed where a sandbox's is
//! expected.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// Length of the short form of an ID.
pub const SHORT_LEN: usize = 12;

/// The 12-digit short form of an ID.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(SHORT_LEN)]
}

/// Renders 32 random bytes as a 64-digit hex ID.
pub fn from_bytes(bytes: &[u8; 32]) -> String {
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// True when `s` could be an ID or a prefix of one (hex digits only).
pub fn is_hex_prefix(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Defines an ID type: the ID's text, written as a plain JSON string (so records and
/// replies read the same as with a `String`), usable as a `&str` where one is expected.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// An ID of this kind with the given text (not checked: records of any age and
            /// tests use other shapes).
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }
            /// The ID's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The 12-digit short form.
            pub fn short(&self) -> &str {
                short(&self.0)
            }
            /// The ID's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Lets maps keyed by this ID be searched with a `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type!(
    /// The ID of a network.
    NetworkId
);
id_type!(
    /// The ID of a sandbox.
    SandboxId
);
id_type!(
    /// The ID of an endpoint: one sandbox's attachment to one network.
    EndpointId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_and_prefixes() {
        let id = from_bytes(&[0xab; 32]);
        assert_eq!(id.len(), 64);
        assert_eq!(short(&id), "abababababab");
        assert!(is_hex_prefix("abc"));
        assert!(!is_hex_prefix("xyz"));
        assert!(!is_hex_prefix(""));
    }

    #[test]
    fn typed_ids_are_plain_strings_in_json() {
        let id = NetworkId::new(from_bytes(&[0x01; 32]));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "01".repeat(32)));
        assert_eq!(serde_json::from_str::<NetworkId>(&json).unwrap(), id);
        assert_eq!(id.short(), "010101010101");
        assert!(id.starts_with("0101"));
        assert_eq!(id, *"01".repeat(32).as_str());
        let map: std::collections::BTreeMap<SandboxId, u8> = [(SandboxId::new("ab"), 1)].into();
        assert_eq!(map.get("ab"), Some(&1));
    }
}
