//! `app/*` (versions, preferences) and `transfer/*` (global rates and limits).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::forms::{GlobalLimitForm, PreferencesForm};
use super::params::Params;
use super::{APP_VERSION, AppState, QbtError, QbtUser, WEBAPI_VERSION, ok_text, text};
use crate::engine::Settings;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/app/version", get(version).post(version))
        .route(
            "/api/v2/app/webapiVersion",
            get(webapi_version).post(webapi_version),
        )
        .route("/api/v2/app/buildInfo", get(build_info).post(build_info))
        .route(
            "/api/v2/app/preferences",
            get(preferences).post(preferences),
        )
        .route("/api/v2/app/setPreferences", post(set_preferences))
        .route(
            "/api/v2/app/defaultSavePath",
            get(default_save_path).post(default_save_path),
        )
        .route(
            "/api/v2/transfer/info",
            get(transfer_info).post(transfer_info),
        )
        .route(
            "/api/v2/transfer/speedLimitsMode",
            get(speed_limits_mode).post(speed_limits_mode),
        )
        .route(
            "/api/v2/transfer/downloadLimit",
            get(download_limit).post(download_limit),
        )
        .route(
            "/api/v2/transfer/uploadLimit",
            get(upload_limit).post(upload_limit),
        )
        .route(
            "/api/v2/transfer/setDownloadLimit",
            post(set_download_limit),
        )
        .route("/api/v2/transfer/setUploadLimit", post(set_upload_limit))
}

/// This module's part of the OpenAPI document (see [`crate::api::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    version,
    webapi_version,
    build_info,
    default_save_path,
    preferences,
    set_preferences,
    transfer_info,
    speed_limits_mode,
    download_limit,
    upload_limit,
    set_download_limit,
    set_upload_limit
))]
pub(in crate::api) struct Doc;

#[utoipa::path(method(get, post), path = "/api/v2/app/version", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The qBittorrent version followed, `v4.6.7`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn version(_: QbtUser) -> Response {
    text(APP_VERSION)
}

#[utoipa::path(method(get, post), path = "/api/v2/app/webapiVersion", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The API version, `2.9.3`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn webapi_version(_: QbtUser) -> Response {
    text(WEBAPI_VERSION)
}

#[utoipa::path(method(get, post), path = "/api/v2/app/buildInfo", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Versions of the parts", body = Value),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn build_info(_: QbtUser) -> Json<Value> {
    Json(json!({
        "qt": "",
        "libtorrent": "",
        "boost": "",
        "openssl": "",
        "zlib": "",
        "bitness": usize::BITS,
        "app": concat!("TorrentEdge ", env!("CARGO_PKG_VERSION")),
        "librqbit": "9.1.0",
    }))
}

#[utoipa::path(method(get, post), path = "/api/v2/app/defaultSavePath", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's folder, absolute", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn default_save_path(State(s): State<AppState>, user: QbtUser) -> Result<Response, QbtError> {
    let root = s.engine.user_root(&user.actor)?;
    Ok(text(root.to_string_lossy()))
}

#[utoipa::path(method(get, post), path = "/api/v2/app/preferences", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "qBittorrent's preferences object, with this server's values", body = Value),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn preferences(State(s): State<AppState>, user: QbtUser) -> Result<Json<Value>, QbtError> {
    let set = s.engine.settings();
    let root = s.engine.user_root(&user.actor)?;
    let ratio = set.seed_ratio_limit.unwrap_or(0.0);
    let minutes = set.seed_time_limit.unwrap_or(0);
    let limits = s.engine.limits();
    let max = s.engine.max_concurrent();
    let peer_port = s.engine.peer_addr().map_or(0, |a| a.port());
    Ok(Json(json!({
        "locale": "en",
        "save_path": root.to_string_lossy(),
        "temp_path_enabled": false,
        "temp_path": "",
        "auto_tmm_enabled": false,
        "create_subfolder_enabled": true,
        "start_paused_enabled": false,
        "preallocate_all": false,
        "incomplete_files_ext": false,
        "max_ratio_enabled": ratio > 0.0,
        "max_ratio": if ratio > 0.0 { ratio } else { -1.0 },
        "max_seeding_time_enabled": minutes > 0,
        "max_seeding_time": if minutes > 0 { minutes as i64 } else { -1 },
        // 0: pause (stop) the torrent when a limit is reached.
        "max_ratio_act": 0,
        "queueing_enabled": true,
        "max_active_downloads": max,
        "max_active_torrents": -1,
        "max_active_uploads": -1,
        "dont_count_slow_torrents": false,
        "dht": s.engine.discovery().0,
        "pex": true,
        "lsd": s.engine.discovery().1,
        "up_limit": limits.upload_limit,
        "dl_limit": limits.download_limit,
        "alt_up_limit": 0,
        "alt_dl_limit": 0,
        "scheduler_enabled": false,
        "listen_port": peer_port,
        "upnp": false,
        "web_ui_username": "",
        "bypass_local_auth": false,
    })))
}

/// `json`: the preferences to change. Those that map onto the server's settings (global
/// limits, download slots, seeding limits) are applied by administrators; others are
/// ignored, as qBittorrent ignores unknown names.
/// Changes those that map onto the server's settings (administrators); ignores others.
#[utoipa::path(post, path = "/api/v2/app/setPreferences", tag = "qbittorrent",
    request_body(content((PreferencesForm = "application/x-www-form-urlencoded"), (PreferencesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 403, description = "Changing server settings is for administrators (text)", content_type = "text/plain", body = String),
    ))]
async fn set_preferences(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let raw = p.required("json")?;
    let v: serde_json::Map<String, Value> = serde_json::from_str(raw)
        .map_err(|e| QbtError::bad_request(format!("Invalid json: {e}")))?;
    let int = |k: &str| v.get(k).and_then(Value::as_i64);
    let flag = |k: &str| v.get(k).and_then(Value::as_bool);
    let mut new = Settings::default();
    if let Some(l) = int("dl_limit") {
        new.download_limit = Some(u32::try_from(l.max(0)).unwrap_or(u32::MAX));
    }
    if let Some(l) = int("up_limit") {
        new.upload_limit = Some(u32::try_from(l.max(0)).unwrap_or(u32::MAX));
    }
    if let Some(m) = int("max_active_downloads") {
        // -1 is qBittorrent's "no limit": as many slots as the server allows.
        new.max_concurrent_torrents = Some(if m < 1 { 10_000 } else { m as usize });
    }
    let ratio = v.get("max_ratio").and_then(Value::as_f64);
    match (flag("max_ratio_enabled"), ratio) {
        (Some(false), _) => new.seed_ratio_limit = Some(0.0),
        (_, Some(r)) => new.seed_ratio_limit = Some(r.max(0.0)),
        _ => {}
    }
    match (flag("max_seeding_time_enabled"), int("max_seeding_time")) {
        (Some(false), _) => new.seed_time_limit = Some(0),
        (_, Some(m)) => new.seed_time_limit = Some(m.max(0) as u64),
        _ => {}
    }
    if new == Settings::default() {
        return Ok(ok_text());
    }
    if !user.actor.admin {
        return Err(QbtError::new(
            StatusCode::FORBIDDEN,
            "Only administrators change these preferences",
        ));
    }
    s.engine.update_settings(new).await?;
    Ok(ok_text())
}

#[utoipa::path(method(get, post), path = "/api/v2/transfer/info", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Global speeds, totals, limits and free space", body = Value),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn transfer_info(State(s): State<AppState>, user: QbtUser) -> Json<Value> {
    Json(server_state(&s, &user))
}

/// `transfer/info`, also `server_state` in `sync/maindata`.
pub fn server_state(s: &AppState, user: &QbtUser) -> Value {
    let st = s.engine.statistics(&user.actor);
    let limits = s.engine.limits();
    json!({
        "dl_info_speed": st.download_speed,
        "dl_info_data": st.total_downloaded,
        "up_info_speed": st.upload_speed,
        "up_info_data": st.total_uploaded,
        "dl_rate_limit": limits.download_limit,
        "up_rate_limit": limits.upload_limit,
        "dht_nodes": 0,
        "connection_status": "connected",
        "free_space_on_disk": st.disk.map_or(0, |d| d.free_bytes),
        "queueing": true,
        "use_alt_speed_limits": false,
        "refresh_interval": 1500,
    })
}

/// Alternative speed limits do not exist here: always 0.
#[utoipa::path(method(get, post), path = "/api/v2/transfer/speedLimitsMode", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Always `0`: there are no alternative limits", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn speed_limits_mode(_: QbtUser) -> Response {
    text("0")
}

#[utoipa::path(method(get, post), path = "/api/v2/transfer/downloadLimit", operation_id = "transfer_download_limit", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The global download limit, bytes/s (0: none)", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn download_limit(State(s): State<AppState>, _: QbtUser) -> Response {
    text(s.engine.limits().download_limit.to_string())
}

#[utoipa::path(method(get, post), path = "/api/v2/transfer/uploadLimit", operation_id = "transfer_upload_limit", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The global upload limit, bytes/s (0: none)", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn upload_limit(State(s): State<AppState>, _: QbtUser) -> Response {
    text(s.engine.limits().upload_limit.to_string())
}

async fn set_limit(
    s: AppState,
    user: QbtUser,
    p: Params,
    down: bool,
) -> Result<Response, QbtError> {
    if !user.actor.admin {
        return Err(QbtError::new(
            StatusCode::FORBIDDEN,
            "Only administrators change global limits",
        ));
    }
    let l: i64 = p
        .number("limit")?
        .ok_or_else(|| QbtError::bad_request("Missing parameter: limit"))?;
    let l = u32::try_from(l.max(0)).unwrap_or(u32::MAX);
    let new = if down {
        Settings {
            download_limit: Some(l),
            ..Settings::default()
        }
    } else {
        Settings {
            upload_limit: Some(l),
            ..Settings::default()
        }
    };
    s.engine.update_settings(new).await?;
    Ok(ok_text())
}

#[utoipa::path(post, path = "/api/v2/transfer/setDownloadLimit", operation_id = "transfer_set_download_limit", tag = "qbittorrent",
    request_body(content((GlobalLimitForm = "application/x-www-form-urlencoded"), (GlobalLimitForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 403, description = "Administrators only (text)", content_type = "text/plain", body = String),
    ))]
async fn set_download_limit(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    set_limit(s, user, p, true).await
}

#[utoipa::path(post, path = "/api/v2/transfer/setUploadLimit", operation_id = "transfer_set_upload_limit", tag = "qbittorrent",
    request_body(content((GlobalLimitForm = "application/x-www-form-urlencoded"), (GlobalLimitForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 403, description = "Administrators only (text)", content_type = "text/plain", body = String),
    ))]
async fn set_upload_limit(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    set_limit(s, user, p, false).await
}
