//! `/api/torrents`: add, list, inspect, pause, resume, prioritise and remove torrents.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, Json, Query};
use crate::InfoHash;
use crate::engine::TorrentDetails;
use crate::engine::list::{ListQuery, SortKey};
use crate::engine::{AddOptions, TorrentInput};
use crate::store::Priority;
use crate::view::{TorrentState, TorrentView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/torrents", get(list).post(add))
        .route("/api/torrents/{hash}", get(details).delete(remove))
        .route("/api/torrents/{hash}/pause", post(pause))
        .route("/api/torrents/{hash}/resume", post(resume))
        .route("/api/torrents/{hash}/priority", put(set_priority))
}

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(add, list, details, pause, resume, remove, set_priority))]
pub(super) struct Doc;

/// The JSON form of an add request (the multipart form has the same fields).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AddBody {
    #[serde(rename = "magnetURI", alias = "magnetUri", alias = "magnet")]
    magnet_uri: Option<String>,
    /// An http(s) URL of a `.torrent` file.
    url: Option<String>,
    /// Default `normal`.
    #[schema(value_type = Option<Priority>)]
    priority: Option<String>,
    paused: Option<bool>,
    /// Peers to connect to besides trackers and DHT, each `ip:port`.
    peers: Option<Vec<String>>,
    /// Download (and seed) only while a stream reads it.
    stream_only: Option<bool>,
    /// With `streamOnly`: nothing is downloaded until the first read (else, like
    /// `paused`).
    start_paused: Option<bool>,
}

/// The multipart form of an add request: a file, `magnetURI` or `url`.
// Read field by field in `read_multipart`; this type only describes it.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
struct AddMultipart {
    /// The `.torrent` file (also accepted as `torrent`).
    #[schema(value_type = Option<String>, format = Binary)]
    file: Option<Vec<u8>>,
    #[schema(rename = "magnetURI")]
    magnet_uri: Option<String>,
    url: Option<String>,
    #[schema(value_type = Option<Priority>)]
    priority: Option<String>,
    /// `true` or `1`.
    paused: Option<bool>,
    /// `ip:port`, separated by commas, spaces or new lines.
    peers: Option<String>,
    stream_only: Option<bool>,
    start_paused: Option<bool>,
}

/// Exactly one of a file, `magnetURI` or `url`.
#[utoipa::path(post, path = "/api/torrents", tag = "torrents",
    request_body(content(
        (AddBody = "application/json"),
        (AddMultipart = "multipart/form-data"),
    )),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = TorrentView),
        (status = 400, description = "`invalid_magnet`, `invalid_torrent`, `invalid_url`, `invalid_peer`, `invalid_priority`, `invalid_request`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 409, description = "`already_exists`, `files_in_use`", body = ErrorBody),
        (status = 413, description = "Body or fetched `.torrent` too large", body = ErrorBody),
        (status = 502, description = "The URL could not be fetched", body = ErrorBody),
    ))]
async fn add(
    State(s): State<AppState>,
    user: AuthUser,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    let ctype = crate::api::extract::content_type(req.headers());
    let (input, opts) = if ctype.starts_with("multipart/form-data") {
        let mp = Multipart::from_request(req, &s)
            .await
            .map_err(|e| multipart_error(e.status(), e.body_text()))?;
        read_multipart(mp).await?
    } else {
        let Json(body) = Json::<AddBody>::from_request(req, &s).await?;
        let opts = add_options(&body)?;
        let input = match (body.magnet_uri, body.url) {
            (Some(m), None) => TorrentInput::Magnet(m),
            (None, Some(u)) => TorrentInput::Url(u),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "give exactly one of magnetURI or url (or upload a file)",
                ));
            }
        };
        (input, opts)
    };
    let view = s.engine.add(&user.actor(), input, opts).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

async fn read_multipart(mut mp: Multipart) -> Result<(TorrentInput, AddOptions), ApiError> {
    let mut file = None;
    let mut body = AddBody::default();
    let mp_err =
        |e: axum::extract::multipart::MultipartError| multipart_error(e.status(), e.body_text());
    while let Some(field) = mp.next_field().await.map_err(mp_err)? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" | "torrent" | "torrents" => {
                file = Some(field.bytes().await.map_err(mp_err)?.to_vec())
            }
            "magnetURI" | "magnet" | "urls" => {
                body.magnet_uri = Some(field.text().await.map_err(mp_err)?)
            }
            "url" => body.url = Some(field.text().await.map_err(mp_err)?),
            "priority" => body.priority = Some(field.text().await.map_err(mp_err)?),
            "paused" => body.paused = Some(flag(&field.text().await.map_err(mp_err)?)),
            "streamOnly" => body.stream_only = Some(flag(&field.text().await.map_err(mp_err)?)),
            "startPaused" => body.start_paused = Some(flag(&field.text().await.map_err(mp_err)?)),
            "peers" => {
                let text = field.text().await.map_err(mp_err)?;
                body.peers = Some(
                    text.split([',', '\n', ' '])
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            _ => {}
        }
    }
    let opts = add_options(&body)?;
    let input = match (file, body.magnet_uri, body.url) {
        (Some(f), None, None) => TorrentInput::File(f),
        (None, Some(m), None) => TorrentInput::Magnet(m),
        (None, None, Some(u)) => TorrentInput::Url(u),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "give exactly one of: a `file` field, magnetURI or url",
            ));
        }
    };
    Ok((input, opts))
}

fn multipart_error(status: StatusCode, text: String) -> ApiError {
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too_large"
    } else {
        "invalid_multipart"
    };
    ApiError::new(status, code, text)
}

/// A multipart form's boolean field.
fn flag(text: &str) -> bool {
    matches!(text.trim(), "true" | "1")
}

fn add_options(body: &AddBody) -> Result<AddOptions, ApiError> {
    let peers = body
        .peers
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            p.parse::<SocketAddr>().map_err(|_| {
                ApiError::bad_request("invalid_peer", format!("peer {p:?} is not ip:port"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AddOptions {
        priority: parse_priority(body.priority.as_deref())?,
        paused: body.paused.unwrap_or(false),
        peers,
        start_paused: body.start_paused.unwrap_or(false),
        options: crate::store::TorrentOptions {
            stream_only: body.stream_only.unwrap_or(false),
            ..Default::default()
        },
        ..AddOptions::default()
    })
}

fn parse_priority(p: Option<&str>) -> Result<Priority, ApiError> {
    match p {
        None => Ok(Priority::Normal),
        Some(p) => Priority::parse(p).ok_or_else(|| {
            ApiError::bad_request("invalid_priority", "priority must be high, normal or low")
        }),
    }
}

/// `GET /api/torrents` parameters, all optional: `state` (one or several, comma
/// separated), `sort` (a [`SortKey`] name, default `added`), `order` (`asc` or `desc`),
/// `offset` and `limit` (1 to 10000). The body stays the plain array; the number of
/// matching torrents is in `X-Total-Count`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// One or several states, comma separated (`queued`, `metadata`, `checking`,
    /// `downloading`, `seeding`, `paused`, `completed`, `error`).
    state: Option<String>,
    /// `added` (default), `name`, `size`, `progress`, `state`, `downloadSpeed`,
    /// `uploadSpeed`, `ratio`, `eta`, `priority` or `queue`.
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
    offset: Option<usize>,
    /// 1 to 10000.
    limit: Option<usize>,
}

impl ListParams {
    fn query(self) -> Result<ListQuery, ApiError> {
        let bad = |m: String| ApiError::bad_request("invalid_query", m);
        let mut states = Vec::new();
        for name in self.state.iter().flat_map(|s| s.split(',')).map(str::trim) {
            let state = TorrentState::ALL.into_iter().find(|s| s.name() == name);
            let names = TorrentState::ALL.map(TorrentState::name).join(", ");
            states.push(state.ok_or_else(|| bad(format!("state must be one of {names}")))?);
        }
        let sort = match self.sort.as_deref() {
            None => SortKey::default(),
            Some(k) => SortKey::parse(k)
                .ok_or_else(|| bad(format!("sort must be one of {}", SortKey::NAMES.join(", "))))?,
        };
        let descending = match self.order.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(bad("order must be asc or desc".into())),
        };
        if self.limit.is_some_and(|l| !(1..=MAX_PAGE).contains(&l)) {
            return Err(bad(format!("limit must be 1 to {MAX_PAGE}")));
        }
        Ok(ListQuery {
            states,
            sort,
            descending,
            offset: self.offset.unwrap_or(0),
            limit: self.limit,
        })
    }
}

/// The largest `limit` of one list page.
const MAX_PAGE: usize = 10_000;

#[utoipa::path(get, path = "/api/torrents", tag = "torrents",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's torrents (every user's, for an administrator)", body = Vec<TorrentView>,
            headers(("X-Total-Count" = u64, description = "Torrents matching, before `offset` and `limit`"))),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn list(
    State(s): State<AppState>,
    user: AuthUser,
    Query(params): Query<ListParams>,
) -> Result<impl IntoResponse, ApiError> {
    let answer = s.list_cache.get(&s.engine, &user.actor(), &params.query()?);
    let headers = [
        (header::CONTENT_TYPE, "application/json".to_owned()),
        (
            header::HeaderName::from_static("x-total-count"),
            answer.total.to_string(),
        ),
    ];
    Ok((headers, answer.body))
}

/// The `:infoHash` of a torrent's path. A malformed hash names no torrent: 404, as
/// for an unknown one.
pub(super) fn torrent_hash(path: &str) -> Result<InfoHash, ApiError> {
    InfoHash::parse(path).map_err(|_| ApiError::not_found(format!("torrent {path} not found")))
}

#[utoipa::path(get, path = "/api/torrents/{hash}", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The torrent with its files, pieces, peers and trackers", body = TorrentDetails),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
    ))]
async fn details(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        s.engine.details(&user.actor(), &torrent_hash(&hash)?)?,
    ))
}

#[utoipa::path(post, path = "/api/torrents/{hash}/pause", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The torrent after it", body = TorrentView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: nothing changed", body = ErrorBody),
    ))]
async fn pause(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        s.engine.pause(&user.actor(), &torrent_hash(&hash)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/torrents/{hash}/resume", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The torrent after it", body = TorrentView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
        (status = 503, description = "`store_unavailable`: nothing changed", body = ErrorBody),
    ))]
async fn resume(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        s.engine
            .resume(&user.actor(), &torrent_hash(&hash)?)
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct RemoveQuery {
    /// Delete the downloaded files too (default false).
    #[serde(default)]
    delete_files: bool,
}

#[utoipa::path(delete, path = "/api/torrents/{hash}", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters"), RemoveQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
        (status = 500, description = "`delete_files_failed`: the torrent was kept as it was", body = ErrorBody),
    ))]
async fn remove(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    s.engine
        .remove(&user.actor(), &torrent_hash(&hash)?, q.delete_files)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct PriorityBody {
    #[schema(value_type = Priority)]
    priority: String,
}

/// Re-plans the queue.
#[utoipa::path(put, path = "/api/torrents/{hash}/priority", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters")),
    request_body = PriorityBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The torrent after it", body = TorrentView),
        (status = 400, description = "`invalid_priority`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
    ))]
async fn set_priority(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
    Json(b): Json<PriorityBody>,
) -> Result<impl IntoResponse, ApiError> {
    let p = parse_priority(Some(&b.priority))?;
    Ok(axum::Json(
        s.engine
            .set_priority(&user.actor(), &torrent_hash(&hash)?, p)
            .await?,
    ))
}
