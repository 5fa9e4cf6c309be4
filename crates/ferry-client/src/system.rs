//! The daemon itself: `/_ping`, `/version`, `/info`.

use crate::uri::Uri;
use crate::{Client, Result};
use ferry_types::docker::{DaemonInfo, VersionInfo};
use hyper::Method;

impl Client {
    /// `GET /_ping`: whether the daemon answers; returns the API version it speaks (empty
    /// when it does not say).
    pub async fn ping(&self) -> Result<String> {
        let reply = self.send(Method::GET, &Uri::route("/_ping"), None).await?;
        Ok(reply
            .headers
            .get("API-Version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string())
    }

    /// `GET /version`: the daemon's version, API versions and platform.
    pub async fn version(&self) -> Result<VersionInfo> {
        self.get(Uri::route("/version")).await
    }

    /// `GET /info`: the daemon's settings and object counts.
    pub async fn info(&self) -> Result<DaemonInfo> {
        self.get(Uri::route("/info")).await
    }
}
