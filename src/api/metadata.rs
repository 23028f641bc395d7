//! The metadata API: `POST /api/v1/metadata` (a magnet in, the torrent's metadata
//! out), `GET /download/{info_hash}` (the looked-up `.torrent`, when
//! `ENABLE_DOWNLOADS=true`) and `GET /api/v1/health`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, Json};
use crate::InfoHash;
use crate::metadata::{Metadata, MetadataError};
use crate::view::TorrentState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/metadata", post(metadata))
        .route("/api/v1/health", get(health))
        .route("/download/{hash}", get(download))
}

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(metadata, download, health))]
pub(super) struct Doc;

#[derive(Deserialize, utoipa::ToSchema)]
struct MetadataBody {
    magnet_uri: String,
}

impl From<MetadataError> for ApiError {
    fn from(e: MetadataError) -> Self {
        let msg = e.to_string();
        match e {
            MetadataError::InvalidMagnet(_) => Self::bad_request("invalid_magnet", msg),
            MetadataError::Timeout(_) => Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", msg),
            MetadataError::Failed(_) => Self::new(StatusCode::BAD_GATEWAY, "lookup_failed", msg),
        }
    }
}

/// A torrent's metadata, snake_case as in the service this one replaces.
// Built as JSON from `Metadata`; this type only describes it.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct MetadataAnswer {
    #[serde(flatten)]
    metadata: Metadata,
    /// Where the `.torrent` can be downloaded, when `ENABLE_DOWNLOADS=true`.
    download_url: Option<String>,
}

/// A magnet in, the torrent's metadata out, without downloading content.
#[utoipa::path(post, path = "/api/v1/metadata", tag = "metadata",
    request_body = MetadataBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The metadata", body = MetadataAnswer,
            headers(("X-Metadata-Source" = String, description = "Where it came from: `cache`, `disk` or `lookup`"))),
        (status = 400, description = "Malformed body or `invalid_magnet`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 502, description = "`lookup_failed`", body = ErrorBody),
        (status = 504, description = "`timeout`: no peer gave the metadata in time", body = ErrorBody),
    ))]
async fn metadata(
    State(s): State<AppState>,
    _user: AuthUser,
    Json(b): Json<MetadataBody>,
) -> Result<Response, ApiError> {
    let (m, source) = s.metadata.resolve(&b.magnet_uri).await?;
    let cfg = s.metadata.config();
    let download_url = cfg.enable_downloads.then(|| {
        let base = cfg.download_base_url.as_deref().unwrap_or("");
        format!("{base}/download/{}", m.info_hash)
    });
    let mut body = serde_json::to_value(&*m).map_err(|e| ApiError::internal(e.to_string()))?;
    body["download_url"] = json!(download_url);
    let from = [(
        header::HeaderName::from_static("x-metadata-source"),
        format!("{source:?}").to_lowercase(),
    )];
    Ok((from, axum::Json(body)).into_response())
}

/// A `.torrent` looked up before, when `ENABLE_DOWNLOADS=true` (no token needed).
#[utoipa::path(get, path = "/download/{hash}", tag = "metadata",
    params(("hash" = String, Path, description = "Info hash, optionally ending in `.torrent`")),
    responses(
        (status = 200, description = "The `.torrent` file", content_type = "application/x-bittorrent", body = Vec<u8>),
        (status = 404, description = "Not looked up here, or downloads are off", body = ErrorBody),
    ))]
async fn download(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("no torrent {hash} here"));
    if !s.metadata.config().enable_downloads {
        return Err(not_found());
    }
    let h = InfoHash::parse(hash.trim_end_matches(".torrent")).map_err(|_| not_found())?;
    let bytes = s.metadata.torrent_file(&h).await.ok_or_else(not_found)?;
    let headers = [
        (header::CONTENT_TYPE, "application/x-bittorrent".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{h}.torrent\""),
        ),
    ];
    Ok((headers, bytes).into_response())
}

// Built with `json!`; this type only describes it.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct MetadataHealth {
    /// Always `ok`.
    status: String,
    stats: MetadataStats,
    cache_dir: String,
    seeding_enabled: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct MetadataStats {
    active_torrents: usize,
    metadata_lookups_running: usize,
    metadata_lookups_total: u64,
}

/// The fields of the metadata service this one replaces: no token needed.
#[utoipa::path(get, path = "/api/v1/health", operation_id = "metadata_health", tag = "metadata",
    responses((status = 200, description = "Up, with counts", body = MetadataHealth)))]
async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let active = s
        .engine
        .torrent_states()
        .into_iter()
        .filter(|st| {
            matches!(
                st,
                TorrentState::Metadata
                    | TorrentState::Checking
                    | TorrentState::Downloading
                    | TorrentState::Seeding
            )
        })
        .count();
    let (running, started) = s.metadata.lookups();
    axum::Json(json!({
        "status": "ok",
        "stats": {
            "active_torrents": active,
            "metadata_lookups_running": running,
            "metadata_lookups_total": started,
        },
        "cache_dir": s.metadata.config().cache_dir.to_string_lossy(),
        "seeding_enabled": s.engine.seeding_enabled(),
    }))
}
