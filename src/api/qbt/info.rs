//! Reading torrents: `torrents/info`, `properties`, `files`, `trackers`,
//! `pieceStates`, `pieceHashes`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::forms::{FilesQuery, HashQuery, InfoQuery};
use super::map::{self, ETA_UNKNOWN};
use super::params::{Hashes, Params};
use super::{AppState, QbtError, QbtUser};
use crate::engine::TorrentInfo;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/torrents/info", get(info).post(info))
        .route(
            "/api/v2/torrents/properties",
            get(properties).post(properties),
        )
        .route("/api/v2/torrents/files", get(files).post(files))
        .route("/api/v2/torrents/trackers", get(trackers).post(trackers))
        .route(
            "/api/v2/torrents/pieceStates",
            get(piece_states).post(piece_states),
        )
        .route(
            "/api/v2/torrents/pieceHashes",
            get(piece_hashes).post(piece_hashes),
        )
}

/// This module's part of the OpenAPI document (see [`crate::api::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(info, properties, files, trackers, piece_states, piece_hashes))]
pub(in crate::api) struct Doc;

#[utoipa::path(method(get, post), path = "/api/v2/torrents/info", tag = "qbittorrent",
    params(InfoQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's torrents as qBittorrent objects", body = Vec<Value>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn info(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Vec<Map<String, Value>>>, QbtError> {
    let filter = p.get("filter").unwrap_or("all");
    let hashes = match p.get("hashes") {
        Some(_) => Some(p.hashes()?),
        None => None,
    };
    let now = crate::now_millis();
    let mut out = Vec::new();
    for t in s.engine.infos(&user.actor) {
        // An unknown filter selects everything, as in qBittorrent.
        let keep = map::filter_matches(filter, &t).unwrap_or(true);
        let in_category = p
            .get("category")
            .is_none_or(|c| t.view.category.as_deref().unwrap_or("") == c);
        let tagged = p.get("tag").is_none_or(|tag| match tag {
            "" => t.view.tags.is_empty(),
            tag => t.view.tags.iter().any(|x| x == tag),
        });
        let named = match &hashes {
            None | Some(Hashes::All) => true,
            Some(Hashes::Some(h)) => h.contains(&t.view.info_hash),
        };
        if keep && in_category && tagged && named {
            out.push(map::torrent(&t, now));
        }
    }
    if let Some(key) = p.get("sort") {
        if out.first().is_some_and(|t| !t.contains_key(key)) {
            return Err(QbtError::bad_request("'sort' parameter is invalid"));
        }
        out.sort_by(|a, b| compare(a.get(key), b.get(key)));
    }
    if p.bool("reverse")?.unwrap_or(false) {
        out.reverse();
    }
    let offset: i64 = p.number("offset")?.unwrap_or(0);
    let len = out.len() as i64;
    // A negative offset counts from the end, as in qBittorrent.
    let start = if offset < 0 {
        (len + offset).max(0)
    } else {
        offset.min(len)
    } as usize;
    let mut out = out.split_off(start);
    if let Some(limit) = p.number::<i64>("limit")?.filter(|l| *l > 0) {
        out.truncate(limit as usize);
    }
    Ok(Json(out))
}

/// Orders JSON values of one field: numbers by value, strings by text.
fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Some(Value::String(x)), Some(Value::String(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

#[utoipa::path(method(get, post), path = "/api/v2/torrents/properties", tag = "qbittorrent",
    params(HashQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "One torrent's properties", body = Value),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 404, description = "No such torrent of the caller's (text)", content_type = "text/plain", body = String),
    ))]
async fn properties(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Value>, QbtError> {
    let hash = p.hash()?;
    let actor = &user.actor;
    let t: TorrentInfo = s.engine.info(actor, &hash)?;
    let d = s.engine.details(actor, &hash)?;
    let meta = s.engine.metainfo(actor, &hash)?;
    let v = &t.view;
    let now = crate::now_millis();
    let secs = |ms: i64| ms.div_euclid(1000);
    let elapsed = secs(now - v.added_at).max(1);
    let (seeds, leechs) = if v.completed_at.is_some() {
        (0, v.peers.connected)
    } else {
        (v.peers.connected, 0)
    };
    let known = meta.is_some();
    Ok(Json(json!({
        "hash": hash.to_string(),
        "infohash_v1": hash.to_string(),
        "infohash_v2": "",
        "name": v.name.clone().unwrap_or_else(|| hash.to_string()),
        "save_path": t.save_path.to_string_lossy(),
        "download_path": "",
        "creation_date": meta.as_ref().and_then(|m| m.creation_date).unwrap_or(-1),
        "piece_size": meta.as_ref().map_or(-1, |m| m.piece_length as i64),
        "comment": meta.as_ref().and_then(|m| m.comment.clone()).unwrap_or_default(),
        "created_by": meta.as_ref().and_then(|m| m.created_by.clone()).unwrap_or_default(),
        "isPrivate": meta.as_ref().is_some_and(|m| m.private),
        "total_wasted": 0,
        "total_uploaded": v.uploaded,
        "total_uploaded_session": v.uploaded,
        "total_downloaded": v.downloaded,
        "total_downloaded_session": d.downloaded_session,
        "up_limit": rate(t.options.upload_limit),
        "dl_limit": rate(t.options.download_limit),
        "time_elapsed": elapsed,
        "seeding_time": v.completed_at.map_or(0, |c| secs(now - c).max(0)),
        "nb_connections": v.peers.connected,
        "nb_connections_limit": -1,
        "share_ratio": v.ratio,
        "addition_date": secs(v.added_at),
        "completion_date": v.completed_at.map_or(-1, secs),
        "last_seen": v.completed_at.map_or(-1, secs),
        "dl_speed_avg": v.downloaded / elapsed as u64,
        "up_speed_avg": v.uploaded / elapsed as u64,
        "dl_speed": v.download_speed,
        "up_speed": v.upload_speed,
        "eta": v.eta.unwrap_or(ETA_UNKNOWN),
        "peers": leechs,
        "peers_total": leechs,
        "seeds": seeds,
        "seeds_total": v.peers.total,
        "pieces_have": if known { d.pieces.have as i64 } else { -1 },
        "pieces_num": if known { d.pieces.total as i64 } else { -1 },
        "reannounce": 0,
        "total_size": if known { v.total_bytes as i64 } else { -1 },
    })))
}

fn rate(bps: u32) -> i64 {
    if bps == 0 { -1 } else { bps as i64 }
}

#[utoipa::path(method(get, post), path = "/api/v2/torrents/files", tag = "qbittorrent",
    params(FilesQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Its files: `index`, `name`, `size`, `progress`, `priority`, `piece_range`, ...", body = Vec<Value>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 404, description = "No such torrent of the caller's (text)", content_type = "text/plain", body = String),
    ))]
async fn files(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Vec<Value>>, QbtError> {
    let hash = p.hash()?;
    let d = s.engine.details(&user.actor, &hash)?;
    // Names as qBittorrent gives them: with the torrent's root folder.
    let names: Vec<String> = s
        .engine
        .metainfo(&user.actor, &hash)?
        .map(|m| {
            m.files
                .iter()
                .map(|(p, _)| p.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let wanted: Option<Vec<usize>> = p
        .get("indexes")
        .map(|v| v.split('|').filter_map(|i| i.trim().parse().ok()).collect());
    let piece = d.pieces.length.max(1) as u64;
    let out = d
        .files
        .iter()
        .filter(|f| wanted.as_ref().is_none_or(|w| w.contains(&f.index)))
        .map(|f| {
            let first = f.offset / piece;
            let last = (f.offset + f.length.max(1) - 1) / piece;
            let progress = if f.length == 0 {
                1.0
            } else {
                f.downloaded as f64 / f.length as f64
            };
            json!({
                "index": f.index,
                "name": names.get(f.index).unwrap_or(&f.path),
                "size": f.length,
                "progress": progress,
                "priority": if f.wanted { 1 } else { 0 },
                "is_seed": progress >= 1.0,
                "piece_range": [first, last],
                "availability": if d.summary.peers.connected > 0 { 1.0 } else { 0.0 },
            })
        })
        .collect();
    Ok(Json(out))
}

#[utoipa::path(method(get, post), path = "/api/v2/torrents/trackers", tag = "qbittorrent",
    params(HashQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "DHT, PeX and LSD first, then its trackers", body = Vec<Value>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 404, description = "No such torrent of the caller's (text)", content_type = "text/plain", body = String),
    ))]
async fn trackers(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Vec<Value>>, QbtError> {
    let hash = p.hash()?;
    let d = s.engine.details(&user.actor, &hash)?;
    let meta = s.engine.metainfo(&user.actor, &hash)?;
    let peers = d.summary.peers.connected;
    // The peer sources qBittorrent lists first; their counts are unknown here.
    let (dht, lsd) = s.engine.discovery();
    let sources = [
        ("** [DHT] **", dht),
        ("** [PeX] **", true),
        ("** [LSD] **", lsd),
    ];
    // Their counts are not known here; status 2: in use, 0: off.
    let mut out: Vec<Value> = sources
        .iter()
        .map(|(u, on)| {
            json!({"url": u, "status": if *on { 2 } else { 0 }, "tier": -1, "num_peers": 0,
                "num_seeds": 0, "num_leeches": 0, "num_downloaded": -1, "msg": ""})
        })
        .collect();
    let urls = if d.trackers.is_empty() {
        meta.map(|m| m.trackers).unwrap_or_default()
    } else {
        d.trackers.clone()
    };
    for (tier, url) in urls.iter().enumerate() {
        let dropped = d.dropped_trackers.iter().find(|t| &t.url == url);
        out.push(json!({
            "url": url,
            // 0: disabled (by the tracker policy), 2: in use.
            "status": if dropped.is_some() { 0 } else { 2 },
            "tier": tier,
            "num_peers": peers,
            "num_seeds": -1,
            "num_leeches": -1,
            "num_downloaded": -1,
            "msg": dropped.map(|t| t.reason.clone()).unwrap_or_default(),
        }));
    }
    for t in d.dropped_trackers.iter().filter(|t| !urls.contains(&t.url)) {
        out.push(
            json!({"url": t.url, "status": 0, "tier": out.len(), "num_peers": 0,
            "num_seeds": -1, "num_leeches": -1, "num_downloaded": -1, "msg": t.reason}),
        );
    }
    Ok(Json(out))
}

/// 0: not downloaded, 1: downloading, 2: downloaded, per piece.
#[utoipa::path(method(get, post), path = "/api/v2/torrents/pieceStates", tag = "qbittorrent",
    params(HashQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Per piece: 0 not downloaded, 2 downloaded", body = Vec<u8>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 404, description = "No such torrent of the caller's (text)", content_type = "text/plain", body = String),
    ))]
async fn piece_states(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Vec<u8>>, QbtError> {
    let hash = p.hash()?;
    let d = s.engine.details(&user.actor, &hash)?;
    let bits = d
        .pieces
        .bitfield
        .as_deref()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default();
    let states = (0..d.pieces.total as usize)
        .map(|i| {
            let have = bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
            if have { 2 } else { 0 }
        })
        .collect();
    Ok(Json(states))
}

#[utoipa::path(method(get, post), path = "/api/v2/torrents/pieceHashes", tag = "qbittorrent",
    params(HashQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Per piece, its SHA-1 in hex", body = Vec<String>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 404, description = "No such torrent of the caller's (text)", content_type = "text/plain", body = String),
    ))]
async fn piece_hashes(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Vec<String>>, QbtError> {
    let hash = p.hash()?;
    let meta = s.engine.metainfo(&user.actor, &hash)?;
    let Some(meta) = meta else {
        return Ok(Json(Vec::new()));
    };
    if meta.piece_hashes.len() % 20 != 0 {
        return Err(QbtError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt piece hashes",
        ));
    }
    Ok(Json(
        meta.piece_hashes.chunks(20).map(hex::encode).collect(),
    ))
}
