//! `GET /metrics`: the Prometheus text format. Open unless `METRICS_TOKEN` is set;
//! then it takes `Authorization: Bearer <METRICS_TOKEN>`.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::engine::{Actor, TorrentState};

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = &s.metrics_token {
        let given = super::extract::bearer_token(&headers).unwrap_or("");
        // Digests compared: the time taken says nothing about the token.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(token.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "GET /metrics takes Authorization: Bearer <METRICS_TOKEN>",
            ));
        }
    }
    observe(&s).await;
    s.metrics.run_upkeep();
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], s.metrics.render()).into_response())
}

/// The gauges: the state now, as the engine and the sinks see it.
async fn observe(s: &AppState) {
    let everyone = Actor {
        user_id: String::new(),
        admin: true,
    };
    let list = s.engine.list(&everyone);
    for state in TorrentState::ALL {
        let n = list.iter().filter(|t| t.state == state).count();
        metrics::gauge!("torrentedge_torrents", "state" => state.name()).set(n as f64);
    }
    let sum = |f: fn(&crate::engine::TorrentView) -> u64| list.iter().map(f).sum::<u64>() as f64;
    metrics::gauge!("torrentedge_transfer_rate_bytes", "direction" => "down")
        .set(sum(|t| t.download_speed));
    metrics::gauge!("torrentedge_transfer_rate_bytes", "direction" => "up")
        .set(sum(|t| t.upload_speed));
    metrics::gauge!("torrentedge_peers").set(sum(|t| u64::from(t.peers.connected)));
    let stats = s.engine.statistics(&everyone);
    metrics::gauge!("torrentedge_queue_torrents", "state" => "active")
        .set(stats.active_count as f64);
    metrics::gauge!("torrentedge_queue_torrents", "state" => "queued")
        .set(stats.queued_count as f64);
    if let Ok(n) = s.store.outbox_len().await {
        metrics::gauge!("torrentedge_outbox_events").set(n as f64);
    }
    s.tracker.record_gauges();
    if let Some(sink) = &s.sink {
        let up = sink.status().await.state == "up";
        metrics::gauge!("torrentedge_kafka_up").set(if up { 1.0 } else { 0.0 });
    }
}

/// Counts every request to a route by its template (`/api/torrents/{hash}`, never the
/// hash itself), method and status, with its latency.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::histogram!(
        "torrentedge_http_request_duration_seconds",
        "route" => route.clone(),
        "method" => method.clone()
    )
    .record(start.elapsed().as_secs_f64());
    metrics::counter!(
        "torrentedge_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => status
    )
    .increment(1);
    resp
}
