//! Object IDs: 64 lowercase hex digits, shown shortened to 12 as Docker does.

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
}
