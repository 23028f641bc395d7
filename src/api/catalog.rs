//! `/api/catalog`: the torrent catalog (see [`crate::catalog`]).
//!
//! Entries are answered camelCase: listings and searches as
//! `{entries: [summary], page, perPage, total}`, details with `files`, `uploaderName`
//! and `swarm {seeders, leechers, completed}`. The download's announce URL is built
//! from how the client reached the server (`Host`, or `X-Forwarded-Host`/`-Proto`
//! behind a trusted proxy).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, Json, Query};
use crate::catalog::{CatalogError, CommentView, EntryDetails, EntryPage, Page, Upload};
use crate::engine::AddOptions;
use crate::store::CatalogEntry;
use crate::store::Priority;
use crate::view::TorrentView;

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    browse,
    search,
    suggest,
    upload,
    details,
    remove,
    download,
    add,
    comments,
    add_comment,
    delete_comment
))]
pub(super) struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/catalog", get(browse).post(upload))
        .route("/api/catalog/search", get(search))
        .route("/api/catalog/suggest", get(suggest))
        .route("/api/catalog/{id}", get(details).delete(remove))
        .route("/api/catalog/{id}/download", get(download))
        .route("/api/catalog/{id}/add", post(add))
        .route(
            "/api/catalog/{id}/comments",
            get(comments).post(add_comment),
        )
        .route(
            "/api/catalog/{id}/comments/{comment}",
            delete(delete_comment),
        )
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        use CatalogError as C;
        let msg = e.to_string();
        match e {
            C::Invalid(_) => Self::bad_request("invalid_request", msg),
            C::NotFound(_) => Self::not_found(msg),
            C::Duplicate { id, .. } => {
                Self::new(StatusCode::CONFLICT, "duplicate", msg).with("id", json!(id))
            }
            C::Forbidden(_) => Self::forbidden(msg),
            C::Engine(e) => e.into(),
            C::Store(e) => e.into(),
            C::Search(e) => Self::internal(e),
            C::Tracker(e) => Self::internal(format!("{e:#}")),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    page: Option<u64>,
    per_page: Option<u64>,
    category: Option<String>,
    #[serde(default)]
    q: String,
}

impl PageQuery {
    fn page(&self) -> Result<Page, ApiError> {
        Ok(Page::new(self.page, self.per_page)?)
    }
}

#[utoipa::path(get, path = "/api/catalog", operation_id = "catalog_browse", tag = "catalog",
    params(("page" = Option<u64>, Query, description = "Page, from 1"), ("perPage" = Option<u64>, Query, description = "Entries per page"), ("category" = Option<String>, Query, description = "Only this category")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries, newest first", body = EntryPage), (status = 400, description = "Bad page", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn browse(
    State(s): State<AppState>,
    _: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let category = q.category.as_deref().filter(|c| !c.trim().is_empty());
    Ok(axum::Json(s.catalog.browse(category, q.page()?).await?))
}

#[utoipa::path(get, path = "/api/catalog/search", operation_id = "catalog_search", tag = "catalog",
    params(("q" = String, Query, description = "Words to find in titles, descriptions, file names, categories and tags"), ("page" = Option<u64>, Query, description = "Page, from 1"), ("perPage" = Option<u64>, Query, description = "Entries per page")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries, best first", body = EntryPage), (status = 400, description = "Bad query or page", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn search(
    State(s): State<AppState>,
    _: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.catalog.search(&q.q, q.page()?).await?))
}

#[utoipa::path(get, path = "/api/catalog/suggest", operation_id = "catalog_suggest", tag = "catalog",
    params(("q" = String, Query, description = "What was typed so far")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Titles completing the query, best first", body = Suggestions),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn suggest(
    State(s): State<AppState>,
    _: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let suggestions = s.catalog.suggest(&q.q).await?;
    Ok(axum::Json(Suggestions { suggestions }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Suggestions {
    /// Titles, best first.
    suggestions: Vec<String>,
}

/// `POST /api/catalog`: multipart `file`, `title`, `description`, `category`, `tags`.
#[utoipa::path(post, path = "/api/catalog", operation_id = "catalog_upload", tag = "catalog",
    request_body(content_type = "multipart/form-data", description = "`file` (.torrent), `title`, `description`, `category`, `tags` (comma-separated)"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The entry", body = CatalogEntry), (status = 400, description = "Not a torrent, or a field too long", body = ErrorBody), (status = 409, description = "`duplicate`: the info hash is in the catalog (`id` names it)", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn upload(
    State(s): State<AppState>,
    user: AuthUser,
    mut mp: Multipart,
) -> Result<impl IntoResponse, ApiError> {
    let mp_err = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), "invalid_multipart", e.body_text())
    };
    let mut up = Upload::default();
    let mut file = None;
    while let Some(field) = mp.next_field().await.map_err(mp_err)? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" | "torrent" => file = Some(field.bytes().await.map_err(mp_err)?.to_vec()),
            "title" => up.title = Some(field.text().await.map_err(mp_err)?),
            "description" => up.description = Some(field.text().await.map_err(mp_err)?),
            "category" => up.category = Some(field.text().await.map_err(mp_err)?),
            "tags" => up.tags = Some(field.text().await.map_err(mp_err)?),
            _ => {}
        }
    }
    up.torrent =
        file.ok_or_else(|| ApiError::bad_request("invalid_request", "no `file` field (.torrent)"))?;
    let entry = s.catalog.upload(&user.actor(), up).await?;
    Ok((StatusCode::CREATED, axum::Json(entry)))
}

#[utoipa::path(get, path = "/api/catalog/{id}", operation_id = "catalog_details", tag = "catalog",
    params(("id" = String, Path, description = "The catalog entry's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The entry with its files, uploader's name and live swarm", body = EntryDetails), (status = 404, description = "No such entry", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn details(
    State(s): State<AppState>,
    _: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.catalog.details(&id).await?))
}

#[utoipa::path(delete, path = "/api/catalog/{id}", operation_id = "catalog_delete", tag = "catalog",
    params(("id" = String, Path, description = "The catalog entry's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted with its comments"), (status = 403, description = "Neither the uploader nor an administrator", body = ErrorBody), (status = 404, description = "No such entry", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn remove(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.catalog.delete(&user.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How the client reached this server, `scheme://host[:port]`, for announce URLs.
fn base_url(headers: &HeaderMap, trust_proxy: bool) -> Result<String, ApiError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded = |name: &str| {
        trust_proxy
            .then(|| get(name))
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    let host = forwarded("x-forwarded-host")
        .or_else(|| get(header::HOST.as_str()))
        .unwrap_or("");
    let scheme = match forwarded("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    // A Host header is the client's to write: only what a host and port are made of.
    let valid = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !valid {
        return Err(ApiError::bad_request(
            "invalid_host",
            "the Host header is missing or not a host name",
        ));
    }
    Ok(format!("{scheme}://{host}"))
}

#[utoipa::path(get, path = "/api/catalog/{id}/download", operation_id = "catalog_download", tag = "catalog",
    params(("id" = String, Path, description = "The catalog entry's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The .torrent announcing to this tracker (with the caller's passkey in private mode)", content_type = "application/x-bittorrent"), (status = 404, description = "No such entry", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn download(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let base = base_url(&headers, s.trust_proxy)?;
    let (name, bytes) = s.catalog.torrent_file(&user.actor(), &id, &base).await?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .map_err(ApiError::internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-bittorrent"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    ))
}

/// `POST /api/catalog/{id}/add`: an empty body, or `{"paused": bool, "priority": ...}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddBody {
    paused: Option<bool>,
    priority: Option<String>,
}

#[utoipa::path(post, path = "/api/catalog/{id}/add", operation_id = "catalog_add", tag = "catalog",
    params(("id" = String, Path, description = "The catalog entry's id")),
    request_body(content = Option<Object>, description = "Optional `{paused, priority}`"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The torrent, added to the caller's downloads", body = TorrentView), (status = 404, description = "No such entry", body = ErrorBody), (status = 409, description = "The caller has it already", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn add(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let body: AddBody = if body.iter().all(u8::is_ascii_whitespace) {
        AddBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    };
    let priority = match body.priority.as_deref() {
        None => Priority::Normal,
        Some(p) => Priority::parse(p).ok_or_else(|| {
            ApiError::bad_request("invalid_priority", "priority must be high, normal or low")
        })?,
    };
    let opts = AddOptions {
        priority,
        paused: body.paused.unwrap_or(false),
        ..AddOptions::default()
    };
    let base = base_url(&headers, s.trust_proxy)?;
    let view = s
        .catalog
        .add_to_downloads(&user.actor(), &id, &base, opts)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[utoipa::path(get, path = "/api/catalog/{id}/comments", operation_id = "catalog_comments", tag = "catalog",
    params(("id" = String, Path, description = "The catalog entry's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Comments with their authors' names, oldest first", body = Vec<CommentView>), (status = 404, description = "No such entry", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn comments(
    State(s): State<AppState>,
    _: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.catalog.comments(&id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    body: String,
}

#[utoipa::path(post, path = "/api/catalog/{id}/comments", operation_id = "catalog_add_comment", tag = "catalog",
    params(("id" = String, Path, description = "The catalog entry's id")),
    request_body(content = Object, description = "`{body}`"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The comment", body = CommentView), (status = 400, description = "Empty or too long", body = ErrorBody), (status = 404, description = "No such entry", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn add_comment(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(b): Json<CommentBody>,
) -> Result<impl IntoResponse, ApiError> {
    let c = s.catalog.add_comment(&user.actor(), &id, &b.body).await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

#[utoipa::path(delete, path = "/api/catalog/{id}/comments/{comment}", operation_id = "catalog_delete_comment", tag = "catalog",
    params(("id" = String, Path, description = "The catalog entry's id"), ("comment" = String, Path, description = "The comment's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"), (status = 403, description = "Neither its author nor an administrator", body = ErrorBody), (status = 404, description = "No such entry or comment", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn delete_comment(
    State(s): State<AppState>,
    user: AuthUser,
    Path((id, comment)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.catalog
        .delete_comment(&user.actor(), &id, &comment)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
