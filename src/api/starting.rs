//! What the HTTP port answers while the server is still starting (waiting for
//! MongoDB): alive, not ready, and a JSON 503 for everything else, so probes and
//! clients get an answer instead of a refused connection.

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::error::ApiError;

pub fn router() -> Router {
    Router::new()
        .route(
            "/api/health/live",
            get(|| async { axum::Json(json!({ "status": "alive" })) }),
        )
        .route("/api/health/ready", get(not_ready))
        .route("/api/health", get(not_ready))
        .fallback(starting)
}

async fn not_ready() -> Response {
    let body = json!({ "status": "starting" });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

async fn starting() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "starting",
        "the server is starting: its database is not reachable yet",
    )
}
