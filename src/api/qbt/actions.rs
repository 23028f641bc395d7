//! Acting on torrents: pause/resume (and stop/start), delete, re-check, share and rate
//! limits, queue moves, force start, file priorities, category and tags.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value};

use super::forms::{
    DeleteForm, FilePrioForm, ForceStartForm, HashesForm, HashesQuery, SetCategoryForm,
    ShareLimitsForm, TorrentLimitForm, TorrentTagsForm,
};
use super::params::Params;
use super::{AppState, QbtError, QbtUser, ok_text};
use crate::InfoHash;
use crate::engine::{EngineError, QueueMove};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/torrents/pause", post(pause))
        .route("/api/v2/torrents/stop", post(stop))
        .route("/api/v2/torrents/resume", post(resume))
        .route("/api/v2/torrents/start", post(start))
        .route("/api/v2/torrents/delete", post(delete))
        .route("/api/v2/torrents/recheck", post(recheck))
        .route("/api/v2/torrents/reannounce", post(reannounce))
        .route("/api/v2/torrents/setShareLimits", post(set_share_limits))
        .route("/api/v2/torrents/topPrio", post(top))
        .route("/api/v2/torrents/bottomPrio", post(bottom))
        .route("/api/v2/torrents/increasePrio", post(up))
        .route("/api/v2/torrents/decreasePrio", post(down))
        .route("/api/v2/torrents/setForceStart", post(force_start))
        .route(
            "/api/v2/torrents/setDownloadLimit",
            post(set_download_limit),
        )
        .route("/api/v2/torrents/setUploadLimit", post(set_upload_limit))
        .route(
            "/api/v2/torrents/downloadLimit",
            get(download_limit).post(download_limit),
        )
        .route(
            "/api/v2/torrents/uploadLimit",
            get(upload_limit).post(upload_limit),
        )
        .route("/api/v2/torrents/filePrio", post(file_prio))
        .route("/api/v2/torrents/setCategory", post(set_category))
        .route("/api/v2/torrents/addTags", post(add_tags))
        .route("/api/v2/torrents/removeTags", post(remove_tags))
}

/// This module's part of the OpenAPI document (see [`crate::api::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    pause,
    stop,
    resume,
    start,
    delete,
    recheck,
    reannounce,
    set_share_limits,
    top,
    bottom,
    up,
    down,
    force_start,
    set_download_limit,
    set_upload_limit,
    download_limit,
    upload_limit,
    file_prio,
    set_category,
    add_tags,
    remove_tags
))]
pub(in crate::api) struct Doc;

fn hashes(s: &AppState, user: &QbtUser, p: &Params) -> Result<Vec<InfoHash>, QbtError> {
    Ok(p.hashes()?.resolve(&s.engine, &user.actor))
}

/// Runs `f` on each torrent; torrents the caller may not see are skipped, as
/// qBittorrent skips unknown hashes.
async fn each<F, Fut, T>(hashes: Vec<InfoHash>, f: F) -> Result<Response, QbtError>
where
    F: Fn(InfoHash) -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    for h in hashes {
        match f(h).await {
            Ok(_) | Err(EngineError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ok_text())
}

#[utoipa::path(post, path = "/api/v2/torrents/pause", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn pause(State(s): State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let (e, a) = (&s.engine, &user.actor);
    each(hashes, |h| async move { e.pause(a, &h).await }).await
}

#[utoipa::path(post, path = "/api/v2/torrents/resume", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn resume(State(s): State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let (e, a) = (&s.engine, &user.actor);
    each(hashes, |h| async move { e.resume(a, &h).await }).await
}

/// qBittorrent 5's name for `pause`: its own handler so the document has both paths.
#[utoipa::path(post, path = "/api/v2/torrents/stop", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn stop(s: State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    pause(s, user, p).await
}

/// qBittorrent 5's name for `resume`.
#[utoipa::path(post, path = "/api/v2/torrents/start", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn start(s: State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    resume(s, user, p).await
}

#[utoipa::path(post, path = "/api/v2/torrents/delete", tag = "qbittorrent",
    request_body(content((DeleteForm = "application/x-www-form-urlencoded"), (DeleteForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn delete(State(s): State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let files = p.bool("deleteFiles")?.unwrap_or(false);
    let (e, a) = (&s.engine, &user.actor);
    each(hashes, |h| async move { e.remove(a, &h, files).await }).await
}

#[utoipa::path(post, path = "/api/v2/torrents/recheck", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn recheck(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let (e, a) = (&s.engine, &user.actor);
    each(hashes, |h| async move { e.recheck(a, &h).await }).await
}

/// Announces are librqbit's own schedule; asking for one is accepted, as for torrents
/// qBittorrent cannot announce yet.
#[utoipa::path(post, path = "/api/v2/torrents/reannounce", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn reannounce(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    hashes(&s, &user, &p)?;
    Ok(ok_text())
}

/// `ratioLimit`: -2 global, -1 none, else the ratio; `seedingTimeLimit`: the same in
/// minutes.
#[utoipa::path(post, path = "/api/v2/torrents/setShareLimits", tag = "qbittorrent",
    request_body(content((ShareLimitsForm = "application/x-www-form-urlencoded"), (ShareLimitsForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn set_share_limits(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let ratio: f64 = p
        .number("ratioLimit")?
        .ok_or_else(|| QbtError::bad_request("Missing parameter: ratioLimit"))?;
    let minutes: i64 = p
        .number("seedingTimeLimit")?
        .ok_or_else(|| QbtError::bad_request("Missing parameter: seedingTimeLimit"))?;
    let ratio = super::map::parse_ratio_limit(ratio)?;
    let time = super::map::parse_time_limit(minutes)?;
    s.engine
        .set_share_limits(&user.actor, &hashes, ratio, time)
        .await?;
    Ok(ok_text())
}

async fn queue_move(
    s: AppState,
    user: QbtUser,
    p: Params,
    how: QueueMove,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    s.engine.move_in_queue(&user.actor, &hashes, how).await?;
    Ok(ok_text())
}

/// High priority, first in the queue.
#[utoipa::path(post, path = "/api/v2/torrents/topPrio", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn top(State(s): State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    queue_move(s, user, p, QueueMove::Top).await
}

/// Low priority, last in the queue.
#[utoipa::path(post, path = "/api/v2/torrents/bottomPrio", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn bottom(State(s): State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    queue_move(s, user, p, QueueMove::Bottom).await
}

#[utoipa::path(post, path = "/api/v2/torrents/increasePrio", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn up(State(s): State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    queue_move(s, user, p, QueueMove::Up).await
}

#[utoipa::path(post, path = "/api/v2/torrents/decreasePrio", tag = "qbittorrent",
    request_body(content((HashesForm = "application/x-www-form-urlencoded"), (HashesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn down(State(s): State<AppState>, user: QbtUser, p: Params) -> Result<Response, QbtError> {
    queue_move(s, user, p, QueueMove::Down).await
}

#[utoipa::path(post, path = "/api/v2/torrents/setForceStart", tag = "qbittorrent",
    request_body(content((ForceStartForm = "application/x-www-form-urlencoded"), (ForceStartForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn force_start(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let value = p
        .bool("value")?
        .ok_or_else(|| QbtError::bad_request("Missing parameter: value"))?;
    s.engine
        .set_force_start(&user.actor, &hashes, value)
        .await?;
    Ok(ok_text())
}

/// A rate limit in bytes per second; 0 or -1 mean none.
fn limit(p: &Params) -> Result<u32, QbtError> {
    let l: i64 = p
        .number("limit")?
        .ok_or_else(|| QbtError::bad_request("Missing parameter: limit"))?;
    Ok(u32::try_from(l.max(0)).unwrap_or(u32::MAX))
}

#[utoipa::path(post, path = "/api/v2/torrents/setDownloadLimit", tag = "qbittorrent",
    request_body(content((TorrentLimitForm = "application/x-www-form-urlencoded"), (TorrentLimitForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn set_download_limit(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let l = limit(&p)?;
    s.engine
        .set_rate_limits(&user.actor, &hashes, Some(l), None)
        .await?;
    Ok(ok_text())
}

#[utoipa::path(post, path = "/api/v2/torrents/setUploadLimit", tag = "qbittorrent",
    request_body(content((TorrentLimitForm = "application/x-www-form-urlencoded"), (TorrentLimitForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn set_upload_limit(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let l = limit(&p)?;
    s.engine
        .set_rate_limits(&user.actor, &hashes, None, Some(l))
        .await?;
    Ok(ok_text())
}

/// Each torrent's own limit by hash, in bytes per second (-1: none).
fn limits(
    s: &AppState,
    user: &QbtUser,
    p: &Params,
    up: bool,
) -> Result<Json<Map<String, Value>>, QbtError> {
    let hashes = hashes(s, user, p)?;
    let mut out = Map::new();
    for h in hashes {
        if let Ok(t) = s.engine.info(&user.actor, &h) {
            let bps = if up {
                t.options.upload_limit
            } else {
                t.options.download_limit
            };
            let v = if bps == 0 { -1 } else { bps as i64 };
            out.insert(h.to_string(), v.into());
        }
    }
    Ok(Json(out))
}

#[utoipa::path(method(get, post), path = "/api/v2/torrents/downloadLimit", tag = "qbittorrent",
    params(HashesQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Info hash → its download limit, bytes/s (-1: none)", body = Map<String, i64>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn download_limit(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Map<String, Value>>, QbtError> {
    limits(&s, &user, &p, false)
}

#[utoipa::path(method(get, post), path = "/api/v2/torrents/uploadLimit", tag = "qbittorrent",
    params(HashesQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Info hash → its upload limit, bytes/s (-1: none)", body = Map<String, i64>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn upload_limit(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Map<String, Value>>, QbtError> {
    limits(&s, &user, &p, true)
}

/// `priority` 0 leaves the files out; 1, 6 and 7 (normal, high, maximum) download them
/// (librqbit has no finer priorities).
#[utoipa::path(post, path = "/api/v2/torrents/filePrio", tag = "qbittorrent",
    request_body(content((FilePrioForm = "application/x-www-form-urlencoded"), (FilePrioForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 404, description = "No such torrent of the caller's (text)", content_type = "text/plain", body = String),
        (status = 409, description = "No such file, or metadata not known yet (text)", content_type = "text/plain", body = String),
    ))]
async fn file_prio(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hash = p.hash()?;
    let ids = p
        .required("id")?
        .split('|')
        .map(|i| i.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| QbtError::bad_request("Invalid file id"))?;
    let wanted = match p.required("priority")?.trim() {
        "0" => false,
        "1" | "6" | "7" => true,
        other => return Err(QbtError::bad_request(format!("Invalid priority: {other}"))),
    };
    match s
        .engine
        .set_files_wanted(&user.actor, &hash, &ids, wanted)
        .await
    {
        Ok(_) => Ok(ok_text()),
        Err(EngineError::InvalidSetting(m)) => Err(QbtError::new(StatusCode::CONFLICT, m)),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/api/v2/torrents/setCategory", tag = "qbittorrent",
    request_body(content((SetCategoryForm = "application/x-www-form-urlencoded"), (SetCategoryForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 409, description = "`Incorrect category name` (text)", content_type = "text/plain", body = String),
    ))]
async fn set_category(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let category = p.get("category").map(str::trim).unwrap_or("");
    let category = (!category.is_empty()).then_some(category);
    match s.engine.set_category(&user.actor, &hashes, category).await {
        Ok(_) => Ok(ok_text()),
        Err(EngineError::Conflict(_)) => Err(QbtError::new(
            StatusCode::CONFLICT,
            "Incorrect category name",
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/api/v2/torrents/addTags", tag = "qbittorrent",
    request_body(content((TorrentTagsForm = "application/x-www-form-urlencoded"), (TorrentTagsForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn add_tags(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let tags = p.list("tags", ',');
    s.engine.add_tags(&user.actor, &hashes, &tags).await?;
    Ok(ok_text())
}

/// No `tags` (or an empty one) takes every tag off.
#[utoipa::path(post, path = "/api/v2/torrents/removeTags", tag = "qbittorrent",
    request_body(content((TorrentTagsForm = "application/x-www-form-urlencoded"), (TorrentTagsForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn remove_tags(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let hashes = hashes(&s, &user, &p)?;
    let tags = p.list("tags", ',');
    let which = (!tags.is_empty()).then_some(tags.as_slice());
    s.engine.remove_tags(&user.actor, &hashes, which).await?;
    Ok(ok_text())
}
