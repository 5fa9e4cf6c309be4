//! Where the daemon's API socket is: `-H`, `FERRY_HOST` or the default (the CLI and the
//! daemon read it alike).

use std::path::PathBuf;

/// Default socket of the daemon.
pub const DEFAULT_SOCKET: &str = "/run/ferry/ferry.sock";

/// Resolves the socket from `-H`, `FERRY_HOST` or the default.
pub fn socket_path(host: Option<&str>) -> anyhow::Result<PathBuf> {
    let h = host.unwrap_or(DEFAULT_SOCKET);
    if let Some(p) = h.strip_prefix("unix://") {
        return Ok(PathBuf::from(p));
    }
    if h.starts_with('/') {
        return Ok(PathBuf::from(h));
    }
    anyhow::bail!(
        "unsupported host {h:?}: ferry listens on unix sockets; use -H unix:///path/to/ferry.sock"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths() {
        assert_eq!(socket_path(None).unwrap(), PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            socket_path(Some("unix:///tmp/x.sock")).unwrap(),
            PathBuf::from("/tmp/x.sock")
        );
        assert!(socket_path(Some("tcp://1.2.3.4:2375")).is_err());
    }
}
