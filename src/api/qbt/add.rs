//! `torrents/add`: magnets, info hashes and http(s) URLs in `urls` (one per line), and
//! `.torrent` files in multipart `torrents` fields, each with the same options.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;

use super::forms::AddForm;
use super::params::Params;
use super::{AppState, QbtError, QbtUser, ok_text, text};
use crate::engine::{AddOptions, EngineError, TorrentInput, labels};
use crate::store::TorrentOptions;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v2/torrents/add", post(add))
}

/// This module's part of the OpenAPI document (see [`crate::api::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(add))]
pub(in crate::api) struct Doc;

/// `Ok.` when at least one torrent was added, else `Fails.` (qBittorrent's answers). A
/// save path outside the caller's folder, or a bad option, is a 400 with the reason.
#[utoipa::path(post, path = "/api/v2/torrents/add", tag = "qbittorrent",
    request_body(content((AddForm = "application/x-www-form-urlencoded"), (AddForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.` when at least one was added, else `Fails.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn add(State(s): State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    let opts = options(&p)?;
    if let Some(path) = &opts.save_path {
        labels::relative_save_path(path, &s.engine.user_root(&user.actor)?)?;
    }
    let mut inputs: Vec<TorrentInput> = p.files.iter().cloned().map(TorrentInput::File).collect();
    for line in p.get("urls").unwrap_or("").lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        inputs.push(input(line));
    }
    if inputs.is_empty() {
        return Err(QbtError::bad_request("Missing parameter: urls or torrents"));
    }
    let mut added = 0;
    for i in inputs {
        match s.engine.add(&user.actor, i, opts.clone()).await {
            Ok(_) => added += 1,
            Err(e @ (EngineError::Store(_) | EngineError::Internal(_))) => return Err(e.into()),
            Err(e) => tracing::info!(error = %e, "qBittorrent add refused"),
        }
    }
    Ok(if added > 0 { ok_text() } else { text("Fails.") })
}

/// A line of `urls`: a magnet, an http(s) URL, or a bare info hash.
fn input(line: &str) -> TorrentInput {
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        TorrentInput::Url(line.to_owned())
    } else if !lower.starts_with("magnet:") && matches!(line.len(), 32 | 40) {
        TorrentInput::Magnet(format!("magnet:?xt=urn:btih:{line}"))
    } else {
        TorrentInput::Magnet(line.to_owned())
    }
}

fn options(p: &Params) -> Result<AddOptions, QbtError> {
    let paused = p.bool("paused")?.or(p.bool("stopped")?).unwrap_or(false);
    let ratio: Option<f64> = p.number("ratioLimit")?;
    let minutes: Option<i64> = p.number("seedingTimeLimit")?;
    let rate = |k: &str| -> Result<u32, QbtError> {
        let v: i64 = p.number(k)?.unwrap_or(0);
        Ok(u32::try_from(v.max(0)).unwrap_or(u32::MAX))
    };
    let mut tags = Vec::new();
    for t in p.list("tags", ',') {
        tags.push(labels::check_tag(&t)?);
    }
    tags.sort();
    tags.dedup();
    let category = p.get("category").map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = category {
        labels::check_category_name(c)?;
    }
    let options = TorrentOptions {
        category: category.map(str::to_owned),
        tags,
        ratio_limit: ratio
            .map(super::map::parse_ratio_limit)
            .transpose()?
            .unwrap_or_default(),
        seeding_time_limit: minutes
            .map(super::map::parse_time_limit)
            .transpose()?
            .unwrap_or_default(),
        download_limit: rate("dlLimit")?,
        upload_limit: rate("upLimit")?,
        ..TorrentOptions::default()
    };
    // `sequentialDownload` and `firstLastPiecePrio` are read (so bad values are refused)
    // but change nothing: librqbit always fetches pieces in order.
    p.bool("sequentialDownload")?;
    p.bool("firstLastPiecePrio")?;
    Ok(AddOptions {
        paused,
        save_path: p
            .any(&["savepath", "savePath"])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        options,
        ..AddOptions::default()
    })
}
