//! Streaming files of torrents over HTTP, while they download: single byte ranges
//! (RFC 9110 §14), `HEAD`, `ETag`/`If-Range`, and signed links for players that send
//! no `Authorization` header, plus an M3U playlist of a torrent's media files.
//!
//! The bytes come from the engine's [`FileStream`](crate::engine::stream::FileStream):
//! only verified pieces, the ones at the read position fetched first. A read that waits
//! past `STREAM_READ_TIMEOUT` ends the response early (the client sees a short body
//! and retries with a range) rather than holding the connection forever.

use std::ops::RangeInclusive;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Query, bearer_token};
use super::torrents::torrent_hash;
use crate::InfoHash;
use crate::auth::links::LinkError;
use crate::engine::Actor;
use crate::engine::stream::{TorrentFile, is_media};
use crate::store::Role;

/// Longest life of a signed link, and the default.
const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_LINK_TTL: Duration = Duration::from_secs(24 * 3600);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/torrents/{hash}/files/{index}/stream", get(stream))
        .route(
            "/api/torrents/{hash}/files/{index}/stream/{filename}",
            get(stream_named),
        )
        .route(
            "/api/torrents/{hash}/stream/{index}/{filename}",
            get(stream_short),
        )
        .route("/api/torrents/{hash}/files/{index}/link", get(file_link))
        .route("/api/torrents/{hash}/playlist.m3u", get(playlist))
        .route("/api/torrents/{hash}/playlist/link", get(playlist_link))
}

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(stream, stream_named, stream_short, file_link, playlist, playlist_link))]
pub(super) struct Doc;

/// A signed link's query: user, expiry (Unix seconds), signature.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// A signed link's user id (with `exp` and `sig`, in place of `Authorization`).
    u: Option<String>,
    /// A signed link's expiry, Unix seconds.
    exp: Option<i64>,
    /// A signed link's signature.
    sig: Option<String>,
}

/// The resource a link to file `index` of `hash` signs.
fn file_resource(hash: &InfoHash, index: usize) -> String {
    format!("file:{hash}:{index}")
}

fn playlist_resource(hash: &InfoHash) -> String {
    format!("playlist:{hash}")
}

/// The caller: a Bearer token if one is sent, else a signed link for `resource`.
async fn caller(
    s: &AppState,
    headers: &HeaderMap,
    link: &LinkQuery,
    resource: &str,
) -> Result<Actor, ApiError> {
    if let Some(token) = bearer_token(headers) {
        let claims = s
            .auth
            .verify_access(token)
            .await
            .map_err(|_| ApiError::unauthorized())?;
        return Ok(Actor {
            user_id: claims.sub,
            admin: claims.role == Role::Admin,
        });
    }
    let (Some(u), Some(exp), Some(sig)) = (&link.u, link.exp, &link.sig) else {
        return Err(ApiError::unauthorized());
    };
    match s.auth.verify_link(u, resource, exp, sig).await {
        Ok(user) => Ok(Actor {
            user_id: user.id,
            admin: user.role == Role::Admin,
        }),
        Err(LinkError::Expired) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "link_expired",
            "this link has expired; ask for a new one",
        )),
        Err(LinkError::Forged) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_link",
            "this link's signature is not valid",
        )),
        Err(LinkError::Unavailable) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "cannot check the link now; try again",
        )),
    }
}

/// A file's bytes while the torrent downloads: pieces at the read position first, only
/// verified bytes served.
#[utoipa::path(method(get, head), path = "/api/torrents/{hash}/files/{index}/stream", tag = "streaming",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters"), ("index" = usize, Path, description = "The file's index, as in the torrent's `files[].index`"), LinkQuery),
    security(("bearer" = []), ("signedLink" = [])),
    responses(
        (status = 200, description = "The whole file (`Accept-Ranges`, `ETag`, `Content-Type` from its extension; `HEAD`: headers only)",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The one range asked for (`Range: bytes=a-b`, `a-`, `-n`), with `Content-Range`",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid token or signed link", body = ErrorBody),
        (status = 403, description = "`link_expired`, `invalid_link`", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's, or `file_not_found`", body = ErrorBody),
        (status = 416, description = "`range_not_satisfiable`, with `Content-Range: bytes */len`", body = ErrorBody),
        (status = 503, description = "`busy`: too many streams open (`Retry-After`)", body = ErrorBody),
    ))]
async fn stream(
    State(s): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path((hash, index)): Path<(String, usize)>,
    Query(link): Query<LinkQuery>,
) -> Result<Response, ApiError> {
    serve(s, method, headers, &hash, index, link).await
}

/// The same, with a file name at the end for players that look at the extension.
#[utoipa::path(method(get, head), path = "/api/torrents/{hash}/files/{index}/stream/{filename}", tag = "streaming",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters"), ("index" = usize, Path, description = "The file's index, as in the torrent's `files[].index`"), ("filename" = String, Path, description = "Any name; ignored"), LinkQuery),
    security(("bearer" = []), ("signedLink" = [])),
    responses(
        (status = 200, description = "The whole file (`Accept-Ranges`, `ETag`, `Content-Type` from its extension; `HEAD`: headers only)",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The one range asked for (`Range: bytes=a-b`, `a-`, `-n`), with `Content-Range`",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid token or signed link", body = ErrorBody),
        (status = 403, description = "`link_expired`, `invalid_link`", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's, or `file_not_found`", body = ErrorBody),
        (status = 416, description = "`range_not_satisfiable`, with `Content-Range: bytes */len`", body = ErrorBody),
        (status = 503, description = "`busy`: too many streams open (`Retry-After`)", body = ErrorBody),
    ))]
async fn stream_named(
    State(s): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path((hash, index, _name)): Path<(String, usize, String)>,
    Query(link): Query<LinkQuery>,
) -> Result<Response, ApiError> {
    serve(s, method, headers, &hash, index, link).await
}

/// The path signed links use: the same as [`stream_named`], its own handler so the
/// OpenAPI document describes each path.
#[utoipa::path(method(get, head), path = "/api/torrents/{hash}/stream/{index}/{filename}", tag = "streaming",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters"), ("index" = usize, Path, description = "The file's index, as in the torrent's `files[].index`"), ("filename" = String, Path, description = "Any name; ignored"), LinkQuery),
    security(("bearer" = []), ("signedLink" = [])),
    responses(
        (status = 200, description = "The whole file (`Accept-Ranges`, `ETag`, `Content-Type` from its extension; `HEAD`: headers only)",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The one range asked for (`Range: bytes=a-b`, `a-`, `-n`), with `Content-Range`",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid token or signed link", body = ErrorBody),
        (status = 403, description = "`link_expired`, `invalid_link`", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's, or `file_not_found`", body = ErrorBody),
        (status = 416, description = "`range_not_satisfiable`, with `Content-Range: bytes */len`", body = ErrorBody),
        (status = 503, description = "`busy`: too many streams open (`Retry-After`)", body = ErrorBody),
    ))]
async fn stream_short(
    State(s): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path((hash, index, _name)): Path<(String, usize, String)>,
    Query(link): Query<LinkQuery>,
) -> Result<Response, ApiError> {
    serve(s, method, headers, &hash, index, link).await
}

async fn serve(
    s: AppState,
    method: Method,
    headers: HeaderMap,
    hash: &str,
    index: usize,
    link: LinkQuery,
) -> Result<Response, ApiError> {
    let hash = torrent_hash(hash)?;
    let actor = caller(&s, &headers, &link, &file_resource(&hash, index)).await?;
    let file = s.engine.file_of(&actor, &hash, index)?;
    let etag = format!("\"{hash}-{index}-{}\"", file.length);
    let range = match requested_range(&headers, &etag, file.length) {
        Ok(r) => r,
        Err(()) => return Ok(unsatisfiable(file.length)),
    };
    let (status, span) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None if file.length == 0 => (StatusCode::OK, 0..=0),
        None => (StatusCode::OK, 0..=file.length - 1),
    };
    let count = if file.length == 0 {
        0
    } else {
        span.end() - span.start() + 1
    };
    let mut resp = Response::builder()
        .status(status)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag)
        .header(header::CONTENT_TYPE, content_type(&file))
        .header(header::CONTENT_LENGTH, count)
        .header(header::CACHE_CONTROL, "private, max-age=0");
    if let Ok(v) = HeaderValue::from_str(&disposition(&file)) {
        resp = resp.header(header::CONTENT_DISPOSITION, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let cr = format!("bytes {}-{}/{}", span.start(), span.end(), file.length);
        resp = resp.header(header::CONTENT_RANGE, cr);
    }
    if method == Method::HEAD || count == 0 {
        return resp.body(Body::empty()).map_err(ApiError::internal);
    }
    let reader = s
        .engine
        .open_stream(&actor, &hash, index, *span.start())
        .await?;
    let body = tokio_util::io::ReaderStream::with_capacity(reader.take(count), 64 * 1024);
    resp.body(Body::from_stream(body))
        .map_err(ApiError::internal)
}

/// The one range asked for, if the request asks for a range that applies: `Err` when
/// it cannot be satisfied. Several ranges, or an `If-Range` that no longer matches,
/// get the whole file (a server may ignore `Range`).
fn requested_range(
    headers: &HeaderMap,
    etag: &str,
    len: u64,
) -> Result<Option<RangeInclusive<u64>>, ()> {
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    if let Some(cond) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && cond.trim() != etag
    {
        return Ok(None);
    }
    let Ok(parsed) = http_range_header::parse_range_header(raw) else {
        // A malformed Range header is ignored (RFC 9110 §14.2).
        return Ok(None);
    };
    match parsed.validate(len) {
        Ok(ranges) if ranges.len() == 1 => Ok(ranges.into_iter().next()),
        Ok(_) => Ok(None),
        Err(_) => Err(()),
    }
}

fn unsatisfiable(len: u64) -> Response {
    let mut resp = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        format!("the file has {len} bytes"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    resp
}

fn content_type(file: &TorrentFile) -> String {
    mime_guess::from_path(&file.path)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

/// `inline`, with the file's name (RFC 6266, UTF-8 percent-encoded).
fn disposition(file: &TorrentFile) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(file.file_name().as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("inline; filename*=UTF-8''{encoded}")
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TtlQuery {
    /// Seconds the link is valid, 60 to 604800 (default a day).
    ttl: Option<u64>,
}

impl TtlQuery {
    fn ttl(&self) -> Result<Duration, ApiError> {
        match self.ttl {
            None => Ok(DEFAULT_LINK_TTL),
            Some(t) if (60..=MAX_LINK_TTL.as_secs()).contains(&t) => Ok(Duration::from_secs(t)),
            Some(_) => Err(ApiError::bad_request(
                "invalid_query",
                format!("ttl must be 60 to {} seconds", MAX_LINK_TTL.as_secs()),
            )),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct SignedLink {
    url: String,
    /// Unix seconds.
    expires_at: i64,
}

/// The absolute URL of this server as the client reached it.
fn base_url(headers: &HeaderMap) -> String {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let proto = get("x-forwarded-proto")
        .filter(|p| p == "https" || p == "http")
        .unwrap_or_else(|| "http".to_owned());
    let host = get("x-forwarded-host")
        .or_else(|| get(header::HOST.as_str()))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{proto}://{host}")
}

/// A signed URL of `segments` (percent-encoded here) for `actor`.
fn signed_url(
    s: &AppState,
    headers: &HeaderMap,
    actor: &Actor,
    segments: &[&str],
    resource: &str,
    ttl: Duration,
) -> Result<SignedLink, ApiError> {
    let mut url = url::Url::parse(&base_url(headers))
        .map_err(|_| ApiError::bad_request("invalid_host", "the Host header is not a host"))?;
    url.path_segments_mut()
        .map_err(|_| ApiError::internal("base URL cannot have a path"))?
        .extend(segments);
    let (exp, sig) = s.auth.sign_link(&actor.user_id, resource, ttl);
    url.query_pairs_mut()
        .append_pair("u", &actor.user_id)
        .append_pair("exp", &exp.to_string())
        .append_pair("sig", &sig);
    Ok(SignedLink {
        url: url.into(),
        expires_at: exp,
    })
}

fn file_url(
    s: &AppState,
    headers: &HeaderMap,
    actor: &Actor,
    hash: &InfoHash,
    file: &TorrentFile,
    ttl: Duration,
) -> Result<SignedLink, ApiError> {
    let (h, i) = (hash.to_string(), file.index.to_string());
    let segments = ["api", "torrents", &h, "stream", &i, file.file_name()];
    signed_url(
        s,
        headers,
        actor,
        &segments,
        &file_resource(hash, file.index),
        ttl,
    )
}

/// `GET .../files/:index/link`: a signed URL a player can open.
#[utoipa::path(get, path = "/api/torrents/{hash}/files/{index}/link", tag = "streaming",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters"), ("index" = usize, Path, description = "The file's index, as in the torrent's `files[].index`"), TtlQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A signed URL that needs no `Authorization` header", body = SignedLink),
        (status = 400, description = "`invalid_query` (ttl), `invalid_host`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent (or file) of the caller's", body = ErrorBody),
    ))]
async fn file_link(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((hash, index)): Path<(String, usize)>,
    Query(q): Query<TtlQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = torrent_hash(&hash)?;
    let actor = caller(&s, &headers, &LinkQuery::default(), "").await?;
    let file = s.engine.file_of(&actor, &hash, index)?;
    Ok(axum::Json(file_url(
        &s,
        &headers,
        &actor,
        &hash,
        &file,
        q.ttl()?,
    )?))
}

/// `GET .../playlist/link`: a signed URL of the torrent's playlist.
#[utoipa::path(get, path = "/api/torrents/{hash}/playlist/link", tag = "streaming",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters"), TtlQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A signed URL that needs no `Authorization` header", body = SignedLink),
        (status = 400, description = "`invalid_query` (ttl), `invalid_host`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent (or file) of the caller's", body = ErrorBody),
    ))]
async fn playlist_link(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    Query(q): Query<TtlQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = torrent_hash(&hash)?;
    let actor = caller(&s, &headers, &LinkQuery::default(), "").await?;
    s.engine.files_of(&actor, &hash)?;
    let h = hash.to_string();
    let segments = ["api", "torrents", &h, "playlist.m3u"];
    let link = signed_url(
        &s,
        &headers,
        &actor,
        &segments,
        &playlist_resource(&hash),
        q.ttl()?,
    )?;
    Ok(axum::Json(link))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PlaylistQuery {
    /// A signed link's user id (with `exp` and `sig`, in place of `Authorization`).
    u: Option<String>,
    /// A signed link's expiry, Unix seconds.
    exp: Option<i64>,
    /// A signed link's signature.
    sig: Option<String>,
    /// Seconds the entries' links are valid, 60 to 604800 (default a day).
    ttl: Option<u64>,
}

/// `GET .../playlist.m3u`: the torrent's audio and video files, each a signed link
/// (players fetch entries without the playlist's credentials).
#[utoipa::path(get, path = "/api/torrents/{hash}/playlist.m3u", tag = "streaming",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters"), PlaylistQuery),
    security(("bearer" = []), ("signedLink" = [])),
    responses(
        (status = 200, description = "M3U of the audio and video files, each entry a signed link",
            content_type = "audio/x-mpegurl", body = String),
        (status = 400, description = "`invalid_query` (ttl)", body = ErrorBody),
        (status = 401, description = "No valid token or signed link", body = ErrorBody),
        (status = 403, description = "`link_expired`, `invalid_link`", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
    ))]
async fn playlist(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    Query(q): Query<PlaylistQuery>,
) -> Result<Response, ApiError> {
    let hash = torrent_hash(&hash)?;
    let link = LinkQuery {
        u: q.u,
        exp: q.exp,
        sig: q.sig,
    };
    let actor = caller(&s, &headers, &link, &playlist_resource(&hash)).await?;
    let ttl = TtlQuery { ttl: q.ttl }.ttl()?;
    let name = s.engine.view_of(&actor, &hash)?.name.unwrap_or_default();
    let mut out = String::from("#EXTM3U\n");
    if !name.is_empty() {
        out.push_str(&format!("#PLAYLIST:{}\n", one_line(&name)));
    }
    let mut files = s.engine.files_of(&actor, &hash)?;
    files.retain(|f| is_media(&f.path));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for f in &files {
        let link = file_url(&s, &headers, &actor, &hash, f, ttl)?;
        out.push_str(&format!("#EXTINF:-1,{}\n{}\n", one_line(&f.path), link.url));
    }
    let safe_name: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    Response::builder()
        .header(header::CONTENT_TYPE, "audio/x-mpegurl; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}.m3u\"", safe_name.trim_matches('_')),
        )
        .body(Body::from(out))
        .map_err(ApiError::internal)
}

/// Text for an M3U line: no line breaks.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(h: &str, len: u64) -> Result<Option<RangeInclusive<u64>>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(h).unwrap());
        requested_range(&headers, "\"e\"", len)
    }

    #[test]
    fn single_ranges_of_every_form() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some(0..=9)));
        assert_eq!(range("bytes=90-", 100), Ok(Some(90..=99)));
        assert_eq!(range("bytes=-10", 100), Ok(Some(90..=99)));
        // An end past the file is cut to it.
        assert_eq!(range("bytes=95-200", 100), Ok(Some(95..=99)));
    }

    #[test]
    fn ranges_outside_the_file_cannot_be_satisfied() {
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=200-300", 100), Err(()));
    }

    #[test]
    fn malformed_or_multiple_ranges_get_the_whole_file() {
        assert_eq!(range("pages=1-2", 100), Ok(None));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
    }

    #[test]
    fn if_range_must_match_the_etag() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=0-9"));
        headers.insert(header::IF_RANGE, HeaderValue::from_static("\"old\""));
        assert_eq!(requested_range(&headers, "\"e\"", 100), Ok(None));
        headers.insert(header::IF_RANGE, HeaderValue::from_static("\"e\""));
        assert_eq!(requested_range(&headers, "\"e\"", 100), Ok(Some(0..=9)));
    }

    #[test]
    fn base_url_follows_the_proxy() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
        assert_eq!(base_url(&h), "http://127.0.0.1:3000");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("media.example"),
        );
        assert_eq!(base_url(&h), "https://media.example");
    }
}
