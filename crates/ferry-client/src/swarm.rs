//! Swarm mode: `/swarm/...` and `/nodes/...`.

use crate::uri::Uri;
use crate::{Client, Result};
use ferry_types::swarm::{Node, NodeUpdate, SwarmInitRequest, SwarmInspect, SwarmJoinRequest};

/// `/nodes/ID`.
fn node(id: &str) -> Uri {
    Uri::route("/nodes").name(id)
}

fn flag(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

impl Client {
    /// `POST /swarm/init`: makes this node the first manager of a new swarm; returns its
    /// node ID.
    pub async fn swarm_init(&self, req: &SwarmInitRequest) -> Result<String> {
        self.post(Uri::route("/swarm/init"), req).await
    }

    /// `POST /swarm/join`: joins a swarm through a manager with a token.
    pub async fn swarm_join(&self, req: &SwarmJoinRequest) -> Result<()> {
        self.post_unit(Uri::route("/swarm/join"), Some(req)).await
    }

    /// `POST /swarm/leave`: leaves the swarm (`force`: even as its last manager).
    pub async fn swarm_leave(&self, force: bool) -> Result<()> {
        self.post_unit::<()>(Uri::route("/swarm/leave").query("force", flag(force)), None)
            .await
    }

    /// `GET /swarm`: the swarm's settings and join tokens (managers only).
    pub async fn swarm_inspect(&self) -> Result<SwarmInspect> {
        self.get(Uri::route("/swarm")).await
    }

    /// `POST /swarm/update`: rotates the join tokens asked for.
    pub async fn swarm_rotate_tokens(&self, worker: bool, manager: bool) -> Result<()> {
        let uri = Uri::route("/swarm/update")
            .query("rotateWorkerToken", flag(worker))
            .query("rotateManagerToken", flag(manager));
        self.post_unit::<()>(uri, None).await
    }

    /// `GET /nodes`: every node of the swarm.
    pub async fn node_list(&self) -> Result<Vec<Node>> {
        self.get(Uri::route("/nodes")).await
    }

    /// `GET /nodes/ID`: one node, by ID, hostname or unique ID prefix.
    pub async fn node_inspect(&self, id: &str) -> Result<Node> {
        self.get(node(id)).await
    }

    /// [`Client::node_inspect`] as the daemon sent it, for printing.
    pub async fn node_inspect_raw(&self, id: &str) -> Result<serde_json::Value> {
        self.get(node(id)).await
    }

    /// `POST /nodes/ID/update`: changes a node's role, availability or labels.
    pub async fn node_update(&self, id: &str, update: &NodeUpdate) -> Result<()> {
        self.post_unit(node(id).then("update"), Some(update)).await
    }

    /// `DELETE /nodes/ID`: removes a node that is down (`force`: even if up).
    pub async fn node_remove(&self, id: &str, force: bool) -> Result<()> {
        self.delete(node(id).query("force", flag(force))).await
    }
}
