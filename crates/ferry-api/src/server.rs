//! The API server: thin handlers that parse requests (Docker's `filters` into the engine's
//! typed filters), call the controller, and render its answers in Docker's shapes
//! ([`crate::docker`]), with Docker's status codes and `{"message": ...}` error bodies.
//!
//! Clients are bounded ([`Limits`]): a request body larger than the limit gets 413, and a
//! client that takes too long to send a request's headers (a connection opened and left
//! silent, headers trickled in byte by byte, an idle kept-alive connection) or its body loses
//! its connection, so no client can hold the daemon's connections and memory.

use crate::docker::negotiation::{self, Dialect};
use crate::docker::{errors, filters, services, system, views};
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Query, State};
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use ferry_engine::Controller;
use ferry_types::api::{ErrorBody, NetworkPruneResponse};
use ferry_types::FerryError;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The controller, as the routes share it.
pub type Ctl = Arc<Controller>;

/// The server's state: the engine, and the exec instances Docker clients made (the only
/// thing the front end keeps, in memory, as dockerd does).
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) ctl: Ctl,
    pub(crate) execs: crate::docker_routes::Execs,
}

impl FromRef<App> for Ctl {
    fn from_ref(app: &App) -> Ctl {
        app.ctl.clone()
    }
}

/// The `/vNN` prefix a request came with (its text), put in its extensions by
/// [`strip_version`]; absent for ferry's own client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPrefix(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Dialect {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(dialect_of(&parts.extensions))
    }
}

fn dialect_of(ext: &axum::http::Extensions) -> Dialect {
    if ext.get::<ApiPrefix>().is_some() {
        Dialect::Docker
    } else {
        Dialect::Ferry
    }
}

/// An error reply.
pub struct ApiError(pub FerryError);

impl From<FerryError> for ApiError {
    fn from(e: FerryError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self.0.chain(), "request failed");
        }
        let mut resp = json_response(
            status,
            &ErrorBody {
                message: self.0.message.clone(),
            },
        );
        // For the Docker face, which may word it as dockerd does.
        resp.extensions_mut().insert(self.0);
        // The rest of a body too large or too slow is not read: the connection cannot carry
        // another request.
        if matches!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            resp.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        resp
    }
}

/// The bounds put on API clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body accepted, in bytes; a larger one gets 413.
    pub max_body: usize,
    /// How long a client may take to send a request's headers, from the moment the server
    /// waits for them (a new connection, or the end of the previous reply), and then its body.
    /// Past it the connection is closed (for the body, after a 408 reply).
    pub read_timeout: Duration,
}

/// The request body limit: 1 MiB, far above any real request (labels and options of one
/// object are limited to 64 KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The default [`Limits::read_timeout`].
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: MAX_BODY_BYTES,
            read_timeout: READ_TIMEOUT,
        }
    }
}

/// A request body read whole, within [`Limits`]; the handlers parse it with [`body`].
pub(crate) struct RawBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<Self, ApiError> {
        use http_body_util::BodyExt;
        let limits = req
            .extensions()
            .get::<Limits>()
            .copied()
            .unwrap_or_default();
        let read = http_body_util::Limited::new(req.into_body(), limits.max_body).collect();
        match tokio::time::timeout(limits.read_timeout, read).await {
            Ok(Ok(collected)) => Ok(RawBody(collected.to_bytes())),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                Err(FerryError::too_large(format!(
                    "request body too large: the API accepts at most {} bytes; send less (labels and options of one object are limited to 64 KiB)",
                    limits.max_body
                ))
                .into())
            }
            Ok(Err(e)) => {
                Err(FerryError::invalid(format!("cannot read the request body: {e}")).into())
            }
            Err(_) => Err(FerryError::timeout(format!(
                "the request body did not arrive within {} s; send it at once",
                limits.read_timeout.as_secs()
            ))
            .into()),
        }
    }
}

pub(crate) fn json_response<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub(crate) fn ok_json<T: serde::Serialize>(v: &T) -> Response {
    json_response(StatusCode::OK, v)
}

/// Parses a JSON body with a precise message instead of axum's plain-text rejection.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(FerryError::invalid("request body is empty: a JSON object is expected").into());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| FerryError::invalid(format!("invalid request body: {e}")).into())
}

pub(crate) type Res = Result<Response, ApiError>;

/// Builds the router for a controller; request bodies are read within `limits`.
pub fn router(ctl: Ctl, swarm: Arc<ferry_swarm::Swarm>, limits: Limits) -> Router {
    use crate::docker_routes as d;
    let app = App {
        ctl,
        execs: Default::default(),
    };
    Router::new()
        .merge(crate::swarm::routes())
        .merge(crate::task_routes::routes())
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/networks", get(network_list))
        .route("/networks/create", post(network_create))
        .route("/networks/prune", post(network_prune))
        .route(
            "/networks/{id}",
            get(network_inspect).delete(network_remove),
        )
        .route("/networks/{id}/connect", post(network_connect))
        .route("/networks/{id}/disconnect", post(network_disconnect))
        .route("/networks/{id}/attach", post(network_attach))
        .route("/networks/{id}/detach", post(network_detach))
        .route("/networks/{id}/attachments", get(network_attachments))
        .route("/networks/{id}/names", post(network_names))
        .route("/containers/json", get(sandbox_list))
        .route("/containers/create", post(sandbox_create))
        .route("/containers/run", post(sandbox_run))
        .route("/containers/prune", post(d::prune))
        .route("/containers/{id}", delete(sandbox_remove))
        .route("/containers/{id}/json", get(sandbox_inspect))
        .route("/containers/{id}/start", post(sandbox_start))
        .route("/containers/{id}/stop", post(sandbox_stop))
        .route("/containers/{id}/restart", post(sandbox_restart))
        .route("/containers/{id}/kill", post(d::kill))
        .route("/containers/{id}/wait", post(sandbox_wait))
        .route("/containers/{id}/logs", get(sandbox_logs))
        .route("/containers/{id}/top", get(d::top))
        .route("/containers/{id}/attach", post(d::attach))
        .route("/containers/{id}/exec", post(d::exec_create))
        .route("/containers/{id}/exec-target", get(sandbox_exec_target))
        .route("/exec/{id}/start", post(d::exec_start))
        .route("/exec/{id}/json", get(d::exec_inspect))
        .route("/exec/{id}/resize", post(d::exec_resize))
        .route("/containers/{id}/resize", post(d::container_resize))
        .route("/events", get(d::events))
        .route("/images/json", get(d::images))
        .route("/images/create", post(d::image_pull))
        .route("/images/{*name}", get(d::image_inspect))
        .route("/services", get(service_list))
        .route("/services/create", post(service_create))
        .route(
            "/services/{id}",
            get(service_inspect).delete(service_remove),
        )
        .route("/services/{id}/update", post(service_update))
        .route("/services/{id}/tasks", get(service_tasks))
        .route("/services/{id}/logs", get(service_logs))
        .fallback(|| async {
            ApiError(FerryError::not_found(
                "page not found: ferry has no such API route",
            ))
        })
        .layer(axum::middleware::from_fn(docker_face))
        .layer(axum::Extension(limits))
        .layer(axum::Extension(swarm))
        .with_state(app)
}

/// Docker's side of every request: the version a `/vNN` prefix names is checked (dockerd's
/// refusal when out of range), errors are worded as dockerd words them for Docker clients,
/// and every reply carries dockerd's `Api-Version`, `Ostype` and `Server` headers.
async fn docker_face(req: Request<Body>, next: axum::middleware::Next) -> Response {
    let prefix = req.extensions().get::<ApiPrefix>().cloned();
    let mut resp = match prefix.as_ref().map(|p| negotiation::check(&p.0)) {
        Some(Err(e)) => ApiError(e).into_response(),
        _ => next.run(req).await,
    };
    if prefix.is_some() {
        if let Some(e) = resp.extensions_mut().remove::<FerryError>() {
            resp = ApiError(errors::to_docker(e)).into_response();
        }
    }
    let h = resp.headers_mut();
    h.insert(
        "Api-Version",
        header::HeaderValue::from_static(crate::API_VERSION),
    );
    h.insert("Ostype", header::HeaderValue::from_static("linux"));
    h.insert(
        header::SERVER,
        header::HeaderValue::from_static(concat!("ferry/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

/// Strips a Docker client's `/v1.NN` prefix so that one set of routes serves both, and
/// records it ([`ApiPrefix`]) for the version check and the Docker face.
pub fn strip_version<B>(mut req: Request<B>) -> Request<B> {
    let Some((v, rest)) = negotiation::split_prefix(req.uri().path()) else {
        return req;
    };
    let v = v.to_string();
    let pq = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    if let Ok(uri) = pq.parse() {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(ApiPrefix(v));
    }
    req
}

/// Serves the API on a unix socket until `shutdown` completes, then lets the requests in
/// progress finish. Each connection is HTTP/1.1 whose request headers must arrive within
/// `limits.read_timeout` (hyper's header timer, which also runs while a kept-alive
/// connection is idle), and whose bodies are read within `limits` too.
pub async fn serve(
    ctl: Ctl,
    swarm: Arc<ferry_swarm::Swarm>,
    listener: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let app = tower::ServiceBuilder::new()
        .map_request(strip_version::<Body>)
        .service(router(ctl, swarm, limits));
    // Dropping `stop` asks every connection to finish; `closed` completes when all have.
    let (stop, stopping) = tokio::sync::watch::channel(());
    let (done, alive) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept an API connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let svc = TowerToHyperService::new(
            app.clone()
                .map_request(|r: Request<hyper::body::Incoming>| r.map(Body::new)),
        );
        let mut stopping = stopping.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.read_timeout);
            // With upgrades: Docker's attach and exec take the connection over.
            let mut conn = std::pin::pin!(builder
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades());
            let mut asked = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "API connection closed");
                        }
                        break;
                    }
                    // Err only: the sender is dropped, never used to send.
                    _ = stopping.changed(), if !asked => {
                        asked = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(alive);
        });
    }
    drop(listener);
    drop(stop);
    drop(alive);
    done.closed().await;
    Ok(())
}

/// dockerd's `/_ping` (the version headers come from [`docker_face`]).
async fn ping() -> Response {
    (
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-cache, no-store, must-revalidate"),
            ("Pragma", "no-cache"),
            ("Swarm", "inactive"),
        ],
        "OK",
    )
        .into_response()
}

async fn version() -> Response {
    ok_json(&system::version())
}

async fn info(
    State(ctl): State<Ctl>,
    axum::Extension(swarm): axum::Extension<Arc<ferry_swarm::Swarm>>,
) -> Response {
    let mut out = system::info(&ctl.info().await, ctl.config());
    out.swarm = swarm.info().await;
    // What `docker images` lists: `host` and the named root filesystems.
    out.images =
        1 + crate::docker::image::list(&crate::docker::image::rootfs_dir(&ctl.config().data_root))
            .len();
    ok_json(&out)
}

#[derive(Deserialize)]
struct FilterQuery {
    #[serde(default)]
    filters: String,
}

async fn network_list(State(ctl): State<Ctl>, Query(q): Query<FilterQuery>) -> Res {
    let f = filters::network_filter(&filters::parse(&q.filters)?)?;
    let networks = ctl.list_networks(&f).await?;
    Ok(ok_json(
        &networks
            .iter()
            .map(views::network_inspect)
            .collect::<Vec<_>>(),
    ))
}

async fn network_create(State(ctl): State<Ctl>, RawBody(b): RawBody) -> Res {
    let req = body(&b)?;
    Ok(json_response(
        StatusCode::CREATED,
        &ctl.create_network(req).await?,
    ))
}

async fn network_prune(State(ctl): State<Ctl>, Query(q): Query<FilterQuery>) -> Res {
    let f = filters::network_filter(&filters::parse(&q.filters)?)?;
    let networks_deleted = ctl
        .prune_networks(&f)
        .await?
        .into_iter()
        .map(|n| n.name)
        .collect();
    Ok(ok_json(&NetworkPruneResponse { networks_deleted }))
}

async fn network_inspect(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    Ok(ok_json(&views::network_inspect(
        &ctl.inspect_network(&id).await?,
    )))
}

async fn network_remove(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    ctl.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn network_connect(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    RawBody(b): RawBody,
) -> Res {
    ctl.connect(&id, body(&b)?).await?;
    Ok(StatusCode::OK.into_response())
}

async fn network_disconnect(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    RawBody(b): RawBody,
) -> Res {
    ctl.disconnect(&id, body(&b)?).await?;
    Ok(StatusCode::OK.into_response())
}

async fn network_attach(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    RawBody(b): RawBody,
) -> Res {
    Ok(json_response(
        StatusCode::CREATED,
        &ctl.attach(&id, body(&b)?).await?,
    ))
}

async fn network_detach(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    RawBody(b): RawBody,
) -> Res {
    ctl.detach(&id, body(&b)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn network_names(State(ctl): State<Ctl>, Path(id): Path<String>, RawBody(b): RawBody) -> Res {
    ctl.set_attached_names(&id, body(&b)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn network_attachments(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    Ok(json_response(StatusCode::OK, &ctl.attachments(&id).await?))
}

/// A query flag, true as Go's `strconv.ParseBool` reads it (docker-py sends `True`).
pub(crate) fn truthy(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

pub(crate) fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| truthy(v))
}

async fn sandbox_list(
    State(ctl): State<Ctl>,
    dialect: Dialect,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let f = filters::parse(q.get("filters").map(String::as_str).unwrap_or(""))?;
    let (engine, rest) = match dialect {
        Dialect::Ferry => (filters::sandbox_filter(&f)?, None),
        Dialect::Docker => {
            let p = filters::ps_filter(&f)?;
            (p.engine.clone(), Some(p))
        }
    };
    // `before` and `since` name sandboxes: their creation times bound the others'.
    let (mut before, mut since) = (None, None);
    if let Some(p) = &rest {
        for r in &p.before {
            let t = ctl.inspect_sandbox(r).await?.sandbox.created;
            before = Some(before.map_or(t, |b: ferry_types::time::Timestamp| b.min(t)));
        }
        for r in &p.since {
            let t = ctl.inspect_sandbox(r).await?.sandbox.created;
            since = Some(since.map_or(t, |s: ferry_types::time::Timestamp| s.max(t)));
        }
    }
    let sandboxes = ctl.list_sandboxes(flag(&q, "all"), &engine).await?;
    let dir = crate::docker::image::rootfs_dir(&ctl.config().data_root);
    let mut rows = Vec::new();
    for v in &sandboxes {
        let image =
            crate::docker::image::shown(v.sandbox.config.rootfs.as_deref().unwrap_or(""), &dir);
        let cx = filters::PsContext {
            image: image.clone(),
            before,
            since,
        };
        if rest.as_ref().is_none_or(|p| p.matches(v, &cx)) {
            let mut row = views::sandbox_summary(v);
            row.image = image;
            rows.push(row);
        }
    }
    Ok(ok_json(&rows))
}

async fn service_list(State(ctl): State<Ctl>, Query(q): Query<FilterQuery>) -> Res {
    let f = filters::service_filter(&filters::parse(&q.filters)?)?;
    let list = ctl.list_services().await;
    Ok(ok_json(
        &list
            .iter()
            .map(services::service_view)
            .filter(|v| f.matches(v))
            .collect::<Vec<_>>(),
    ))
}

type SwarmExt = axum::Extension<Arc<ferry_swarm::Swarm>>;

/// Workers do not change swarm services.
async fn manager_only(swarm: &ferry_swarm::Swarm) -> Result<(), ApiError> {
    swarm
        .require_manager_if_member()
        .await
        .map_err(|e| ApiError(FerryError::from(e)))
}

async fn service_create(
    State(ctl): State<Ctl>,
    axum::Extension(swarm): SwarmExt,
    RawBody(b): RawBody,
) -> Res {
    manager_only(&swarm).await?;
    let req: ferry_types::service::ServiceCreateRequest = body(&b)?;
    Ok(json_response(
        StatusCode::CREATED,
        &ctl.create_service(req).await?,
    ))
}

async fn service_inspect(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    Ok(ok_json(&services::service_view(
        &ctl.inspect_service(&id).await?,
    )))
}

async fn service_update(
    State(ctl): State<Ctl>,
    axum::Extension(swarm): SwarmExt,
    Path(id): Path<String>,
    RawBody(b): RawBody,
) -> Res {
    manager_only(&swarm).await?;
    let req: ferry_types::service::ServiceUpdateRequest = body(&b)?;
    ctl.update_service(&id, req).await?;
    Ok(ok_json(&services::service_view(
        &ctl.inspect_service(&id).await?,
    )))
}

async fn service_remove(
    State(ctl): State<Ctl>,
    axum::Extension(swarm): SwarmExt,
    Path(id): Path<String>,
) -> Res {
    manager_only(&swarm).await?;
    ctl.remove_service(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn service_tasks(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    if let Some(tasks) = ctl.swarm_service_tasks(&id).await? {
        return Ok(ok_json(&tasks));
    }
    let tasks = ctl.service_tasks(&id).await?;
    Ok(ok_json(
        &tasks.iter().map(services::task_view).collect::<Vec<_>>(),
    ))
}

/// The output of every replica of a service, one JSON object a line
/// ([`ferry_types::logs::ServiceLogEvent`]): a swarm service's from every Ready node, merged
/// as lines arrive (a node that cannot be reached is reported in the stream); a service of
/// this host's from its replicas here. A Docker client gets Docker's multiplexed stream.
async fn service_logs(
    State(ctl): State<Ctl>,
    dialect: Dialect,
    axum::Extension(swarm): axum::Extension<Arc<ferry_swarm::Swarm>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    service_log_stream(&ctl, dialect, &swarm, &id, &q, None).await
}

/// The log stream of service `id` (see [`service_logs`]); with `only_task`, the lines of
/// that one task (Docker's `GET /tasks/{id}/logs`).
pub(crate) async fn service_log_stream(
    ctl: &Ctl,
    dialect: Dialect,
    swarm: &ferry_swarm::Swarm,
    id: &str,
    q: &HashMap<String, String>,
    only_task: Option<String>,
) -> Res {
    use ferry_types::logs::{ServiceLogEvent, ServiceLogOptions};
    let options = ServiceLogOptions::from_query(q.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let mut events = if let Some(s) = ctl.find_swarm_service(id).await? {
        swarm
            .service_logs(&s.id, &s.name, options)
            .await
            .map_err(FerryError::from)?
    } else {
        let (service_id, name) = ctl.local_service(id).await?;
        let mut lines = ctl.replica_logs(&service_id, options);
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            while let Some(mut l) = lines.recv().await {
                l.service.clone_from(&name);
                if tx.send(ServiceLogEvent::Line(l)).await.is_err() {
                    return;
                }
            }
        });
        rx
    };
    if let Some(task) = only_task {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                let keep = match &e {
                    ServiceLogEvent::Line(l) => l.task_id == task,
                    ServiceLogEvent::Unreachable { .. } => true,
                };
                if keep && tx.send(e).await.is_err() {
                    return;
                }
            }
        });
        events = rx;
    }
    if dialect == Dialect::Docker {
        let docker = crate::docker::service_logs::DockerLogShape {
            timestamps: flag(q, "timestamps"),
            details: flag(q, "details"),
        };
        let body = futures::stream::poll_fn(move |cx| {
            events
                .poll_recv(cx)
                .map(|e| e.map(|e| Ok::<_, std::io::Error>(Bytes::from(docker.frame(&e)))))
        });
        return Ok((
            [(header::CONTENT_TYPE, crate::docker::stream::MULTIPLEXED)],
            Body::from_stream(body),
        )
            .into_response());
    }
    let body = futures::stream::poll_fn(move |cx| {
        events.poll_recv(cx).map(|e| {
            e.map(|e| {
                let mut bytes = serde_json::to_vec(&e).unwrap_or_default();
                bytes.push(b'\n');
                Ok::<_, std::io::Error>(Bytes::from(bytes))
            })
        })
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `create`: ferry's own body, or for a Docker client Docker's (translated by
/// [`crate::docker::create`]), answered with Docker's `Warnings` list.
async fn sandbox_create(
    State(ctl): State<Ctl>,
    dialect: Dialect,
    Query(q): Query<HashMap<String, String>>,
    RawBody(b): RawBody,
) -> Res {
    let name = q.get("name").cloned().unwrap_or_default();
    match dialect {
        Dialect::Ferry => {
            let mut req: ferry_types::api::SandboxCreateRequest = body(&b)?;
            if !name.is_empty() {
                req.name = name;
            }
            Ok(json_response(
                StatusCode::CREATED,
                &ctl.create_sandbox(req).await?,
            ))
        }
        Dialect::Docker => {
            let c: crate::docker::create::ContainerCreate = body(&b)?;
            let rootfs = crate::docker::image::rootfs_dir(&ctl.config().data_root);
            let req = crate::docker::create::to_sandbox_request(c, &name, &rootfs)?;
            let made = ctl.create_sandbox(req).await?;
            let warnings: Vec<String> = Some(made.warning)
                .filter(|w| !w.is_empty())
                .into_iter()
                .collect();
            Ok(json_response(
                StatusCode::CREATED,
                &serde_json::json!({"Id": made.id, "Warnings": warnings}),
            ))
        }
    }
}

/// `POST /containers/run`, ferry's own (Docker clients create, then start): creates a
/// sandbox and starts it in one request, as `ferry run -d` does; the reply is `create`'s,
/// sent once the sandbox runs.
async fn sandbox_run(
    State(ctl): State<Ctl>,
    Query(q): Query<HashMap<String, String>>,
    RawBody(b): RawBody,
) -> Res {
    let mut req: ferry_types::api::SandboxCreateRequest = body(&b)?;
    if let Some(name) = q.get("name").filter(|n| !n.is_empty()) {
        req.name = name.clone();
    }
    Ok(json_response(
        StatusCode::CREATED,
        &ctl.run_sandbox(req).await?,
    ))
}

async fn sandbox_remove(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    ctl.remove_sandbox(&id, flag(&q, "force")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sandbox_inspect(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    let v = ctl.inspect_sandbox(&id).await?;
    let mut out = views::sandbox_inspect(&v);
    out.config.image = crate::docker::image::shown(
        v.sandbox.config.rootfs.as_deref().unwrap_or(""),
        &crate::docker::image::rootfs_dir(&ctl.config().data_root),
    );
    Ok(ok_json(&out))
}

async fn sandbox_start(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    ctl.start_sandbox(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn timeout(q: &HashMap<String, String>) -> Result<Duration, ApiError> {
    match q.get("t") {
        None => Ok(Duration::from_secs(10)),
        Some(t) => t.parse::<u64>().map(Duration::from_secs).map_err(|_| {
            FerryError::invalid(format!("invalid timeout t={t:?}: give whole seconds")).into()
        }),
    }
}

async fn sandbox_stop(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    ctl.stop_sandbox(&id, timeout(&q)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn sandbox_restart(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    ctl.restart_sandbox(&id, timeout(&q)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Replies with headers at once and the exit code when the process ends, so a client that
/// waits before `start` cannot miss a short-lived process.
async fn sandbox_wait(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let id = ctl.sandbox_id(&id).await?;
    let next_exit = match q.get("condition").map(String::as_str) {
        None | Some("") | Some("not-running") => false,
        Some("next-exit") | Some("removed") => true,
        Some(other) => {
            return Err(FerryError::invalid(format!(
                "invalid wait condition {other:?}: use not-running, next-exit or removed"
            ))
            .into())
        }
    };
    let stream = futures::stream::once(async move {
        let bytes = match ctl.wait_sandbox(&id, next_exit).await {
            Ok(w) => serde_json::to_vec(&w).unwrap_or_default(),
            Err(e) => serde_json::to_vec(&ferry_types::api::WaitResponse {
                status_code: -1,
                error: Some(ferry_types::api::WaitError { message: e.message }),
            })
            .unwrap_or_default(),
        };
        Ok::<_, std::io::Error>(Bytes::from(bytes))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Streams the output log; with `follow`, keeps streaming until the process ends. ferry's
/// client gets the raw bytes; a Docker client Docker's multiplexed stream (the raw one for a
/// sandbox with a terminal), with `tail`, `timestamps`, `since` and `until` applied (a line's
/// time is when the daemon captured it: see `ferry_engine::sandbox::log_times`).
async fn sandbox_logs(
    State(ctl): State<Ctl>,
    dialect: Dialect,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let (id, path) = ctl.log_source(&id).await?;
    let follow = flag(&q, "follow");
    // With condition=next-exit (how `run` attaches before `start`) the stream lasts until the
    // next run ends; otherwise until the process is not running.
    let first_end = match q.get("condition").map(String::as_str) {
        Some("next-exit") => Some(ctl.last_end(&id).await),
        _ => None,
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(FerryError::internal(format!("open log {}: {e}", path.display())).into())
        }
    };
    if dialect == Dialect::Ferry {
        return Ok((
            [(header::CONTENT_TYPE, "application/octet-stream")],
            Body::from_stream(log_stream(ctl, id, path, file, follow, first_end)),
        )
            .into_response());
    }
    let tail = match q.get("tail").map(String::as_str) {
        None | Some("") | Some("all") => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            FerryError::invalid(format!("invalid tail {n:?}: give a number of lines or all"))
        })?),
    };
    // What is there now, read whole to take its tail; the stream goes on from its end.
    let mut first = Vec::new();
    if let Some(f) = file.as_mut() {
        f.read_to_end(&mut first)
            .await
            .map_err(|e| FerryError::internal(format!("read log {}: {e}", path.display())))?;
    }
    use crate::docker::stream::{parse_unix_time, LogLines, LogView};
    use ferry_engine::sandbox::log_times;
    let time_query = |k: &str| -> Result<Option<ferry_types::time::Timestamp>, ApiError> {
        match parse_unix_time(q.get(k).map(String::as_str).unwrap_or("")) {
            None => Ok(None),
            Some(Ok(t)) => Ok(Some(t)),
            Some(Err(e)) => Err(FerryError::invalid(format!("{k}: {e}")).into()),
        }
    };
    let view = LogView {
        timestamps: flag(&q, "timestamps"),
        since: time_query("since")?,
        until: time_query("until")?,
    };
    let mut lines = LogLines::new(view);
    let marks = if view.needs_times() {
        log_times::read(&path)
    } else {
        Vec::new()
    };
    let mut offset = first.len() as u64;
    first = lines.render(&first, 0, |o| log_times::time_at(&marks, o));
    if let Some(n) = tail {
        first = crate::docker::stream::tail(&first, n).to_vec();
    }
    let wanted = q.get("stdout").is_none_or(|v| truthy(v));
    // A sandbox with a terminal has one stream, unframed, as in Docker.
    let tty = ctl.inspect_sandbox(id.as_str()).await?.sandbox.config.tty;
    let log_path = path.clone();
    let rest = log_stream(ctl, id, path, file, follow, first_end).map(move |c| {
        c.map(|c| {
            let base = offset;
            offset += c.len() as u64;
            if !view.needs_times() {
                return c;
            }
            // Output that arrives while it is followed may be read before its mark is
            // written: without a mark at or after it, it arrived now.
            let marks = log_times::read(&log_path);
            let marked = marks.last().is_some_and(|m| m.offset >= base);
            Bytes::from(lines.render(&c, base, |o| {
                marked.then(|| log_times::time_at(&marks, o)).flatten()
            }))
        })
    });
    let chunks = futures::stream::once(async move { Ok(Bytes::from(first)) }).chain(rest);
    let framed = chunks.map(move |c| {
        c.map(|c| {
            if c.is_empty() || !wanted {
                return Bytes::new();
            }
            if tty {
                return c;
            }
            Bytes::from(crate::docker::stream::frame(
                crate::docker::stream::STDOUT,
                &c,
            ))
        })
    });
    let content_type = if tty {
        crate::docker::stream::RAW
    } else {
        crate::docker::stream::MULTIPLEXED
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(framed),
    )
        .into_response())
}

/// The bytes of a sandbox's output log from `file`'s position: to its end, or with `follow`
/// until the run ends (`first_end`: the next run after that end; `None`: the current one).
pub(crate) fn log_stream(
    ctl: Ctl,
    id: ferry_types::SandboxId,
    path: std::path::PathBuf,
    file: Option<tokio::fs::File>,
    follow: bool,
    first_end: Option<Option<Option<ferry_types::time::Timestamp>>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct Tail {
        ctl: Ctl,
        id: ferry_types::SandboxId,
        path: std::path::PathBuf,
        file: Option<tokio::fs::File>,
        follow: bool,
        first_end: Option<Option<Option<ferry_types::time::Timestamp>>>,
        done: bool,
        events: tokio::sync::watch::Receiver<u64>,
    }
    let events = ctl.exit_events();
    let tail = Tail {
        ctl,
        id,
        path,
        file,
        follow,
        first_end,
        done: false,
        events,
    };
    futures::stream::unfold(tail, |mut t| async move {
        if t.done {
            return None;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if t.file.is_none() {
                t.file = tokio::fs::File::open(&t.path).await.ok();
            }
            let n = match t.file.as_mut() {
                Some(f) => f.read(&mut buf).await.unwrap_or(0),
                None => 0,
            };
            if n > 0 {
                buf.truncate(n);
                return Some((Ok::<_, std::io::Error>(Bytes::from(buf)), t));
            }
            if !t.follow {
                return None;
            }
            let ended = match &t.first_end {
                Some(first) => t.ctl.run_ended_since(&t.id, first).await,
                None => !t.ctl.is_running(&t.id).await,
            };
            if ended {
                // One last read catches output written just before the exit.
                if let Some(f) = t.file.as_mut() {
                    let _ = f.seek(std::io::SeekFrom::Current(0)).await;
                    let n = f.read(&mut buf).await.unwrap_or(0);
                    if n > 0 {
                        buf.truncate(n);
                        t.done = true;
                        return Some((Ok(Bytes::from(buf)), t));
                    }
                }
                return None;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), t.events.changed()).await;
        }
    })
}

async fn sandbox_exec_target(State(ctl): State<Ctl>, Path(id): Path<String>) -> Res {
    Ok(ok_json(&ctl.exec_target(&id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn request(limits: Limits, body: Body) -> Request<Body> {
        let mut r = Request::post("/networks/create").body(body).unwrap();
        r.extensions_mut().insert(limits);
        r
    }

    async fn reply(e: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let connection = resp
            .headers()
            .get(header::CONNECTION)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, connection, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn bodies_over_the_limit_get_413_in_json() {
        let limits = Limits {
            max_body: 4,
            ..Limits::default()
        };
        let ok = RawBody::from_request(request(limits, Body::from("1234")), &())
            .await
            .ok()
            .unwrap();
        assert_eq!(ok.0, "1234");
        let Err(e) = RawBody::from_request(request(limits, Body::from("12345")), &()).await else {
            panic!("a body over the limit was read");
        };
        let (status, connection, body) = reply(e).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(connection.as_deref(), Some("close"));
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("at most 4 bytes"), "{message}");
    }

    #[tokio::test]
    async fn a_body_that_never_ends_gets_408() {
        let limits = Limits {
            read_timeout: Duration::from_millis(1),
            ..Limits::default()
        };
        let never = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let Err(e) = RawBody::from_request(request(limits, never), &()).await else {
            panic!("a body that never ends was read");
        };
        let (status, connection, body) = reply(e).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(connection.as_deref(), Some("close"));
        assert!(body["message"].as_str().unwrap().contains("did not arrive"));
    }

    #[test]
    fn strips_docker_version_prefixes() {
        let r = strip_version(Request::get("/v1.50/networks?filters=x").body(()).unwrap());
        assert_eq!(r.uri().to_string(), "/networks?filters=x");
        let r = strip_version(Request::get("/networks/v1").body(()).unwrap());
        assert_eq!(r.uri().path(), "/networks/v1");
        let r = strip_version(Request::get("/version").body(()).unwrap());
        assert_eq!(r.uri().path(), "/version");
    }
}
