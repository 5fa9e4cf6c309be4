//! Networks: `/networks/...`.

use crate::uri::Uri;
use crate::{Client, Filters, Result};
use ferry_types::api::{
    AttachResponse, Attachment, CreateResponse, NetworkAttachRequest, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDetachRequest, NetworkDisconnectRequest, NetworkNamesRequest,
    NetworkPruneResponse,
};
use ferry_types::docker::NetworkInspect;

/// `/networks/NAME`.
fn network(name: &str) -> Uri {
    Uri::route("/networks").name(name)
}

/// A list or prune target, with the filters when there are any.
fn filtered(route: &'static str, filters: &Filters) -> Uri {
    let uri = Uri::route(route);
    if filters.is_empty() {
        uri
    } else {
        uri.query("filters", &filters.to_json())
    }
}

impl Client {
    /// `GET /networks`: the networks that match `filters`, in Docker's JSON.
    pub async fn network_list(&self, filters: &Filters) -> Result<Vec<NetworkInspect>> {
        self.get(filtered("/networks", filters)).await
    }

    /// `POST /networks/create`: creates a network; returns its ID.
    pub async fn network_create(&self, req: &NetworkCreateRequest) -> Result<CreateResponse> {
        self.post(Uri::route("/networks/create"), req).await
    }

    /// `GET /networks/NAME`: a network (by name, ID or unique ID prefix) in Docker's JSON.
    pub async fn network_inspect(&self, name: &str) -> Result<NetworkInspect> {
        self.get(network(name)).await
    }

    /// [`Client::network_inspect`] as the daemon sent it, fields this client does not know
    /// included: for printing, as `docker network inspect` does.
    pub async fn network_inspect_raw(&self, name: &str) -> Result<serde_json::Value> {
        self.get(network(name)).await
    }

    /// `DELETE /networks/NAME`: removes a network that no sandbox uses.
    pub async fn network_remove(&self, name: &str) -> Result<()> {
        self.delete(network(name)).await
    }

    /// `POST /networks/prune`: removes the user-defined networks no sandbox uses that match
    /// `filters`; returns their names.
    pub async fn network_prune(&self, filters: &Filters) -> Result<NetworkPruneResponse> {
        self.post(filtered("/networks/prune", filters), &serde_json::json!({}))
            .await
    }

    /// `POST /networks/NAME/connect`: connects a sandbox to the network, at once if it runs.
    pub async fn network_connect(&self, name: &str, req: &NetworkConnectRequest) -> Result<()> {
        self.post_unit(network(name).then("connect"), Some(req))
            .await
    }

    /// `POST /networks/NAME/disconnect`: disconnects a sandbox from the network.
    pub async fn network_disconnect(
        &self,
        name: &str,
        req: &NetworkDisconnectRequest,
    ) -> Result<()> {
        self.post_unit(network(name).then("disconnect"), Some(req))
            .await
    }

    /// `POST /networks/NAME/attach`: an endpoint of the network in a namespace ferry did not
    /// make, keyed by the caller's container ID; returns what was made.
    pub async fn network_attach(
        &self,
        name: &str,
        req: &NetworkAttachRequest,
    ) -> Result<AttachResponse> {
        self.post(network(name).then("attach"), req).await
    }

    /// `POST /networks/NAME/names`: replaces an attached container's DNS aliases on the network.
    pub async fn network_set_names(&self, name: &str, req: &NetworkNamesRequest) -> Result<()> {
        self.post_unit(network(name).then("names"), Some(req)).await
    }

    /// `GET /networks/NAME/attachments`: the containers callers attached to the network.
    pub async fn network_attachments(&self, name: &str) -> Result<Vec<Attachment>> {
        self.get(network(name).then("attachments")).await
    }

    /// `POST /networks/NAME/detach`: takes an attached container off the network (what is
    /// not attached is fine).
    pub async fn network_detach(&self, name: &str, req: &NetworkDetachRequest) -> Result<()> {
        self.post_unit(network(name).then("detach"), Some(req))
            .await
    }
}
