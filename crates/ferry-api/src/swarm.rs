//! The swarm routes: `/swarm` (init, join, leave, inspect, token rotation) and `/nodes`, in
//! Docker's shapes, served by the daemon's [`ferry_swarm::Swarm`].

use crate::server::ApiError;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ferry_swarm::Swarm;
use ferry_types::swarm::{NodeUpdate, SwarmInitRequest, SwarmJoinRequest};
use ferry_types::FerryError;
use std::collections::HashMap;
use std::sync::Arc;

type Res = Result<Response, ApiError>;
type Sw = Extension<Arc<Swarm>>;

/// The swarm's routes.
pub(crate) fn routes() -> Router<crate::server::App> {
    Router::new()
        .route("/swarm", get(inspect))
        .route("/swarm/init", post(init))
        .route("/swarm/join", post(join))
        .route("/swarm/leave", post(leave))
        .route("/swarm/update", post(update))
        .route("/nodes", get(node_list))
        .route("/nodes/{id}", get(node_inspect).delete(node_remove))
        .route("/nodes/{id}/update", post(node_update))
}

fn err(e: ferry_swarm::SwarmError) -> ApiError {
    ApiError(FerryError::from(e))
}

fn json<T: serde::de::DeserializeOwned>(b: &Bytes) -> Result<T, ApiError> {
    if b.is_empty() {
        return Err(ApiError(FerryError::invalid(
            "request body is empty: a JSON object is expected",
        )));
    }
    serde_json::from_slice(b)
        .map_err(|e| ApiError(FerryError::invalid(format!("invalid request body: {e}"))))
}

fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "1" || v == "true")
}

async fn inspect(Extension(s): Sw) -> Res {
    Ok(axum::Json(s.inspect().await.map_err(err)?).into_response())
}

async fn init(Extension(s): Sw, b: Bytes) -> Res {
    let req: SwarmInitRequest = if b.is_empty() {
        Default::default()
    } else {
        json(&b)?
    };
    Ok(axum::Json(s.init(req).await.map_err(err)?).into_response())
}

async fn join(Extension(s): Sw, b: Bytes) -> Res {
    let req: SwarmJoinRequest = json(&b)?;
    s.join(req).await.map_err(err)?;
    Ok(StatusCode::OK.into_response())
}

async fn leave(Extension(s): Sw, Query(q): Query<HashMap<String, String>>) -> Res {
    s.leave(flag(&q, "force")).await.map_err(err)?;
    Ok(StatusCode::OK.into_response())
}

async fn update(Extension(s): Sw, Query(q): Query<HashMap<String, String>>) -> Res {
    let (w, m) = (
        flag(&q, "rotateWorkerToken"),
        flag(&q, "rotateManagerToken"),
    );
    if w || m {
        s.rotate(w, m).await.map_err(err)?;
    }
    Ok(StatusCode::OK.into_response())
}

async fn node_list(Extension(s): Sw) -> Res {
    Ok(axum::Json(s.nodes().await.map_err(err)?).into_response())
}

async fn node_inspect(Extension(s): Sw, Path(id): Path<String>) -> Res {
    Ok(axum::Json(s.node(&id).await.map_err(err)?).into_response())
}

async fn node_update(Extension(s): Sw, Path(id): Path<String>, b: Bytes) -> Res {
    let u: NodeUpdate = json(&b)?;
    s.update_node(&id, u).await.map_err(err)?;
    Ok(StatusCode::OK.into_response())
}

async fn node_remove(
    Extension(s): Sw,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    s.remove_node(&id, flag(&q, "force")).await.map_err(err)?;
    Ok(StatusCode::OK.into_response())
}
