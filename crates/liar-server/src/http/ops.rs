//! Operations endpoints (SPEC §6.3): liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use std::fmt::Write as _;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The database (and Redis, when configured) answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "`UNAVAILABLE`: a dependency does not answer", body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    state
        .store()
        .ping()
        .await
        .map_err(|_| ApiError::Unavailable("database unreachable".into()))?;
    if state.cluster().is_some_and(|c| !c.redis_up()) {
        return Err(ApiError::Unavailable("Redis unreachable".into()));
    }
    if !state.rooms().saving() {
        return Err(ApiError::Unavailable("room saves are failing".into()));
    }
    Ok(axum::Json(Health { status: "ready" }))
}

/// Prometheus text exposition: request counts and latency, errors by code, and this node's pool.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state
        .metrics_handle()
        .map(|h| h.render())
        .unwrap_or_default();
    let pool = state.store().pool_stats();
    let _ = write!(
        text,
        "# HELP liar_db_pool_connections Database connections of this node's pool by state.\n\
         # TYPE liar_db_pool_connections gauge\n\
         liar_db_pool_connections{{state=\"open\"}} {}\n\
         liar_db_pool_connections{{state=\"idle\"}} {}\n\
         liar_db_pool_connections{{state=\"max\"}} {}\n",
        pool.size, pool.idle, pool.max
    );
    let _ = write!(
        text,
        "# HELP liar_user_queues Members with a private event queue on this node.\n\
         # TYPE liar_user_queues gauge\n\
         liar_user_queues {}\n",
        state.hub().queues()
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
