//! The plugin's HTTP face: `POST /<Interface>.<Method>` on a unix socket, answered with
//! Docker's plugin media type; a failure is a 500 whose body carries `Err` and `Error`.

use crate::error::error_body;
use crate::Plugin;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The media type of plugin answers.
const MEDIA_TYPE: &str = "application/vnd.docker.plugins.v1+json";

async fn handle(
    State(plugin): State<Arc<Plugin>>,
    Path(method): Path<String>,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let (status, value) = match plugin.call(&method, &body).await {
        Some(Ok(v)) => (StatusCode::OK, v),
        Some(Err(e)) => {
            tracing::warn!(%method, error = %e, "plugin call failed");
            (StatusCode::INTERNAL_SERVER_ERROR, error_body(&e))
        }
        None => (
            StatusCode::NOT_FOUND,
            serde_json::json!({ "Err": format!("ferry does not implement {method}") }),
        ),
    };
    tracing::debug!(%method, %status, elapsed = ?started.elapsed(), "plugin call");
    (
        status,
        [(header::CONTENT_TYPE, MEDIA_TYPE)],
        value.to_string(),
    )
        .into_response()
}

/// Serves the plugin on `listener` until `shutdown` completes.
pub async fn serve(
    plugin: Arc<Plugin>,
    listener: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/{method}", axum::routing::post(handle))
        .with_state(plugin);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
