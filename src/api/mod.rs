//! The REST edge. Each resource module owns its `router()`; this module merges them,
//! adds the body limit, JSON fallbacks for unknown routes and panics, and request
//! tracing. Handlers stay thin: extract, call the engine or auth, map the error.

mod app_passwords;
pub(crate) mod auth;
mod catalog;
pub mod error;
pub mod extract;
mod graphql;
mod library;
mod list_cache;
mod manage;
mod metadata;
mod metrics;
pub mod openapi;
pub mod qbt;
pub mod starting;
mod stream;
mod system;
mod torrents;
mod tracker;
mod two_factor;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use error::ApiError;

/// Largest request body accepted (a `.torrent` upload with its form fields).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What every handler can reach: the edges' shared state, owned by [`crate::app`].
pub use crate::app::Services as AppState;
pub use list_cache::ListCache;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(auth::router())
        .merge(two_factor::router())
        .merge(app_passwords::router())
        .merge(crate::dav::router())
        .merge(torrents::router())
        .merge(stream::router())
        .merge(manage::router())
        .merge(library::router())
        .merge(catalog::router())
        .merge(qbt::router())
        .merge(metadata::router())
        .merge(system::router())
        .merge(metrics::router())
        .merge(tracker::router())
        .merge(graphql::router())
        .merge(openapi::router())
        .route_layer(axum::middleware::from_fn(metrics::track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal server error",
    )
    .into_response()
}
