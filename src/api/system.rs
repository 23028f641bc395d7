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

use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json, MaybeAuthUser};
use crate::engine::Settings;
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

async fn live() -> impl IntoResponse {
    axum::Json(json!({ "status": "alive" }))
}

/// Ready when the store answers; the engine is up whenever the server is. Kafka is
/// reported (to administrators) but never makes the server unready: events wait in the
/// outbox.
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

async fn statistics(State(s): State<AppState>, user: AuthUser) -> impl IntoResponse {
    let mut body = serde_json::to_value(s.engine.statistics(&user.actor())).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("kafka".into(), json!(kafka_status(&s).await));
    }
    axum::Json(body)
}

async fn settings(State(s): State<AppState>, _user: AuthUser) -> impl IntoResponse {
    axum::Json(s.engine.settings())
}

/// Administrators change limits and slots; the change is kept across restarts.
async fn update_settings(
    State(s): State<AppState>,
    user: AuthUser,
    Json(new): Json<Settings>,
) -> Result<impl IntoResponse, ApiError> {
    user.require_admin()?;
    Ok(axum::Json(s.engine.update_settings(new).await?))
}
