//! Sysctl writes. `/proc/sys/net` resolves against the network namespace of the thread that
//! opens the file, so a write for a sandbox must run on a thread inside its namespace.

use crate::error::{KernelError, Result};

/// Writes `value` to `/proc/sys/<key>` (key like `net/ipv4/ip_forward`), skipping the write when
/// the value is already set (a write can be costly, e.g. for forwarding).
pub fn set(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{key}");
    if let Ok(cur) = std::fs::read_to_string(&path) {
        if cur.trim() == value {
            return Ok(());
        }
    }
    std::fs::write(&path, value)
        .map_err(|e| KernelError::io(format!("set sysctl {key}={value}"), e))
}

/// Reads `/proc/sys/<key>`.
pub fn get(key: &str) -> Result<String> {
    let path = format!("/proc/sys/{key}");
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| KernelError::io(format!("read sysctl {key}"), e))
}
