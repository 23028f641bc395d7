//! Health, statistics and runtime settings.
//!
//! The health endpoints answer anyone (probes carry no token), but only with their
//! status: the details (version, uptime, store backend, cache backend, torrent count, peer port,
//! Kafka's state, topic, backlog and last error) describe the deployment to whoever asks,
//! so they are shown only to a caller with an administrator's access token.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use serde::Serialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, Json, MaybeAuthUser};
use crate::cache::CacheStatus;
use crate::engine::{Settings, Statistics};
use crate::events::kafka::KafkaStatus;

async fn kafka_status(s: &AppState) -> KafkaStatus {
    match &s.sink {
        Some(k) => k.status().await,
        None => KafkaStatus::disabled(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/health/live", get(live))
        .route("/api/health/ready", get(ready))
        .route("/api/statistics", get(statistics))
        .route("/api/settings", get(settings).put(update_settings))
}

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(health, live, ready, statistics, settings, update_settings))]
pub(super) struct Doc;

// The bodies below are built with `json!`; these types describe them in the OpenAPI
// document only, so they are never built.

#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct Live {
    /// Always `alive`.
    status: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct Ready {
    /// `ready` or `not_ready`.
    status: String,
    /// Administrators, when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka: Option<KafkaStatus>,
    /// Administrators, when not ready: `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<String>,
}

/// Everyone gets `status`; administrators the rest.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Health {
    /// `ok` or `degraded`.
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<StoreHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<CacheStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    engine: Option<EngineHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka: Option<KafkaStatus>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct StoreHealth {
    /// `sqlite` or `mongodb`.
    backend: String,
    ok: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct EngineHealth {
    torrents: usize,
    peer_port: Option<u16>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct StatisticsBody {
    #[serde(flatten)]
    statistics: Statistics,
    kafka: KafkaStatus,
}

#[utoipa::path(get, path = "/api/health/live", tag = "system",
    responses((status = 200, description = "The process answers", body = Live)))]
async fn live() -> impl IntoResponse {
    axum::Json(json!({ "status": "alive" }))
}

/// Ready when the store answers; the engine is up whenever the server is. Kafka is
/// reported (to administrators) but never makes the server unready: events wait in the
/// outbox.
#[utoipa::path(get, path = "/api/health/ready", tag = "system",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The store answers", body = Ready),
        (status = 503, description = "The store does not answer (or the server is starting)", body = Ready),
    ))]
async fn ready(State(s): State<AppState>, caller: MaybeAuthUser) -> impl IntoResponse {
    let store = s.store.ping().await;
    if let Err(e) = &store {
        tracing::warn!(error = %e, "store not ready");
    }
    let (status, word) = match store {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
    };
    let body = match (caller.is_admin(), status.is_success()) {
        (false, _) => json!({ "status": word }),
        (true, true) => json!({ "status": word, "kafka": kafka_status(&s).await }),
        (true, false) => json!({ "status": word, "store": "unavailable" }),
    };
    (status, axum::Json(body))
}

/// 200 `ok`; 200 `degraded` while Redis is configured but not answering (the in-process
/// cache serves meanwhile); 503 `degraded` while the store does not answer.
#[utoipa::path(get, path = "/api/health", tag = "system",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "`ok`, or `degraded` while Redis does not answer", body = Health),
        (status = 503, description = "`degraded`: the store does not answer", body = Health),
    ))]
async fn health(State(s): State<AppState>, caller: MaybeAuthUser) -> impl IntoResponse {
    let store_ok = s.store.ping().await.is_ok();
    let cache = s.cache.status();
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if store_ok && !cache.degraded() {
        "ok"
    } else {
        "degraded"
    };
    if !caller.is_admin() {
        return (status, axum::Json(json!({ "status": word })));
    }
    let body = json!({
        "status": word,
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": s.started.elapsed().as_secs(),
        "store": { "backend": s.store.backend_name(), "ok": store_ok },
        "cache": cache,
        "engine": { "torrents": s.engine.torrent_count(), "peerPort": s.engine.peer_addr().map(|a| a.port()) },
        "kafka": kafka_status(&s).await,
    });
    (status, axum::Json(body))
}

#[utoipa::path(get, path = "/api/statistics", tag = "system",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counts per state, speeds and totals over the caller's torrents", body = StatisticsBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn statistics(State(s): State<AppState>, user: AuthUser) -> impl IntoResponse {
    let mut body = serde_json::to_value(s.engine.statistics(&user.actor())).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("kafka".into(), json!(kafka_status(&s).await));
    }
    axum::Json(body)
}

#[utoipa::path(get, path = "/api/settings", tag = "system",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Limits (bytes/s, 0: none), download slots, seeding limits", body = Settings),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn settings(State(s): State<AppState>, _user: AuthUser) -> impl IntoResponse {
    axum::Json(s.engine.settings())
}

/// Administrators change limits and slots; the change is kept across restarts.
#[utoipa::path(put, path = "/api/settings", tag = "system",
    request_body = Settings,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings now", body = Settings),
        (status = 400, description = "Malformed body or `invalid_setting`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    ))]
async fn update_settings(
    State(s): State<AppState>,
    user: AuthUser,
    Json(new): Json<Settings>,
) -> Result<impl IntoResponse, ApiError> {
    user.require_admin()?;
    Ok(axum::Json(s.engine.update_settings(new).await?))
}
