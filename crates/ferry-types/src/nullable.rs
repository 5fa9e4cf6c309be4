//! Docker's clients send `null` where a value is absent (docker-py's `"IPRange": null`), and
//! dockerd takes it as the zero value; `#[serde(default)]` covers only a missing field.

use serde::{Deserialize, Deserializer};

/// Deserializes `null` as the type's default: `#[serde(default, deserialize_with = "crate::nullable::or_default")]`.
pub fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Default, Debug, PartialEq)]
    struct S {
        #[serde(default, deserialize_with = "super::or_default")]
        a: String,
        #[serde(default, deserialize_with = "super::or_default")]
        b: Vec<u8>,
    }

    #[test]
    fn null_and_missing_are_the_default() {
        let s: S = serde_json::from_str(r#"{"a":null}"#).unwrap();
        assert_eq!(s, S::default());
        let s: S = serde_json::from_str(r#"{"a":"x","b":[1]}"#).unwrap();
        assert_eq!((s.a.as_str(), s.b), ("x", vec![1]));
    }
}
