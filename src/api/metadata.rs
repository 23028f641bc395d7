//! The metadata API: `POST /api/v1/metadata` (a magnet in, the torrent's metadata
//! out), `GET /download/{info_hash}` (the looked-up `.torrent`, when
//! `ENABLE_DOWNLOADS=true`) and `GET /api/v1/health`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json};
use crate::InfoHash;
use crate::metadata::MetadataError;
use crate::view::TorrentState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/metadata", post(metadata))
        .route("/api/v1/health", get(health))
        .route("/download/{hash}", get(download))
}

#[derive(Deserialize)]
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

/// The fields of the metadata service this one replaces: no token needed.
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
