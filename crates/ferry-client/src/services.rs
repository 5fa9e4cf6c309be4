//! Services: `/services/...`.

use crate::stream::ServiceLogStream;
use crate::uri::Uri;
use crate::{Client, Filters, Result};
use ferry_types::api::CreateResponse;
use ferry_types::logs::ServiceLogOptions;
use ferry_types::service::{ServiceCreateRequest, ServiceUpdateRequest, ServiceView, TaskView};

/// `/services/NAME`.
fn service(name: &str) -> Uri {
    Uri::route("/services").name(name)
}

impl Client {
    /// `GET /services`: every service, in the shape of Docker's service object.
    pub async fn service_list(&self) -> Result<Vec<ServiceView>> {
        self.get(Uri::route("/services")).await
    }

    /// `GET /services?filters=...`: the services that match `filters` (`label`, `name`,
    /// `id`, `mode`), as Docker's `service ls --filter` takes them.
    pub async fn service_list_filtered(&self, filters: &Filters) -> Result<Vec<ServiceView>> {
        let uri = Uri::route("/services");
        if filters.is_empty() {
            self.get(uri).await
        } else {
            self.get(uri.query("filters", &filters.to_json())).await
        }
    }

    /// `POST /services/create`: creates a service and starts its replicas; returns its ID.
    pub async fn service_create(&self, req: &ServiceCreateRequest) -> Result<CreateResponse> {
        self.post(Uri::route("/services/create"), req).await
    }

    /// `GET /services/NAME`: a service (by name, ID or unique ID prefix).
    pub async fn service_inspect(&self, name: &str) -> Result<ServiceView> {
        self.get(service(name)).await
    }

    /// [`Client::service_inspect`] as the daemon sent it, fields this client does not know
    /// included: for printing, as `docker service inspect` does.
    pub async fn service_inspect_raw(&self, name: &str) -> Result<serde_json::Value> {
        self.get(service(name)).await
    }

    /// `POST /services/NAME/update`: changes what is given (replicas, published ports);
    /// returns the service as it is now.
    pub async fn service_update(
        &self,
        name: &str,
        req: &ServiceUpdateRequest,
    ) -> Result<ServiceView> {
        self.post(service(name).then("update"), req).await
    }

    /// `DELETE /services/NAME`: removes a service and its replicas.
    pub async fn service_remove(&self, name: &str) -> Result<()> {
        self.delete(service(name)).await
    }

    /// `GET /services/NAME/tasks`: the service's replicas.
    pub async fn service_tasks(&self, name: &str) -> Result<Vec<TaskView>> {
        self.get(service(name).then("tasks")).await
    }

    /// `GET /services/NAME/logs`: the output of every replica (on every node of a swarm),
    /// line by line as it arrives.
    pub async fn service_logs(
        &self,
        name: &str,
        options: ServiceLogOptions,
    ) -> Result<ServiceLogStream> {
        let mut uri = service(name).then("logs").flag("follow", options.follow);
        if let Some(n) = options.tail {
            uri = uri.query("tail", &n.to_string());
        }
        let what = format!("GET {}", uri.as_str());
        let reply = self.send(hyper::Method::GET, &uri, None).await?;
        Ok(ServiceLogStream::new(reply.body, what))
    }
}
