//! Native endpoints for what users change on torrents (category, tags, limits, files,
//! queue place, force start, re-check) and for their categories and tags. The
//! qBittorrent API maps onto the same engine operations.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, Json};
use super::torrents::torrent_hash;
use crate::engine::{QueueMove, TorrentDetails, TorrentView};
use crate::store::ShareLimit;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/torrents/{hash}/options",
            axum::routing::patch(set_options),
        )
        .route("/api/torrents/{hash}/files", put(set_files))
        .route("/api/torrents/{hash}/recheck", post(recheck))
        .route("/api/torrents/{hash}/queue", post(move_in_queue))
        .route("/api/categories", get(categories).post(create_category))
        .route(
            "/api/categories/{name}",
            put(edit_category).delete(remove_category),
        )
        .route("/api/tags", get(tags).post(create_tags))
        .route("/api/tags/{name}", delete(delete_tag))
}

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    set_options,
    set_files,
    recheck,
    move_in_queue,
    categories,
    create_category,
    edit_category,
    remove_category,
    tags,
    create_tags,
    delete_tag
))]
pub(super) struct Doc;

/// `PATCH /api/torrents/{hash}/options`: the options given change, the rest stay.
/// `category: null` takes the category off; limits are `"global"`, `"unlimited"` or
/// `{"limit": n}` (ratio; seconds of seeding).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OptionsBody {
    /// `null` takes the category off.
    #[serde(default, with = "serde_with_null")]
    category: Option<Option<String>>,
    /// Replaces the torrent's tags.
    tags: Option<Vec<String>>,
    ratio_limit: Option<ShareLimit<f64>>,
    /// Seconds of seeding since completion.
    seeding_time_limit: Option<ShareLimit<u64>>,
    /// Bytes per second, 0: none of its own.
    download_limit: Option<u32>,
    upload_limit: Option<u32>,
    /// Download without waiting for a slot.
    force_start: Option<bool>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
mod serde_with_null {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[utoipa::path(patch, path = "/api/torrents/{hash}/options", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters")),
    request_body = OptionsBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The torrent after it", body = TorrentDetails),
        (status = 400, description = "Malformed body or `invalid_setting`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
    ))]
async fn set_options(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
    Json(b): Json<OptionsBody>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = user.actor();
    let hashes = [torrent_hash(&hash)?];
    let e = &s.engine;
    // Checked first, so an unknown torrent is a 404 whatever the body holds.
    e.view_of(&actor, &hashes[0])?;
    if let Some(category) = &b.category {
        e.set_category(&actor, &hashes, category.as_deref()).await?;
    }
    if let Some(tags) = &b.tags {
        e.remove_tags(&actor, &hashes, None).await?;
        e.add_tags(&actor, &hashes, tags).await?;
    }
    if b.ratio_limit.is_some() || b.seeding_time_limit.is_some() {
        let now = e.info(&actor, &hashes[0])?.options;
        let ratio = b.ratio_limit.unwrap_or(now.ratio_limit);
        let time = b.seeding_time_limit.unwrap_or(now.seeding_time_limit);
        e.set_share_limits(&actor, &hashes, ratio, time).await?;
    }
    if b.download_limit.is_some() || b.upload_limit.is_some() {
        e.set_rate_limits(&actor, &hashes, b.download_limit, b.upload_limit)
            .await?;
    }
    if let Some(force) = b.force_start {
        e.set_force_start(&actor, &hashes, force).await?;
    }
    Ok(axum::Json(e.details(&actor, &hashes[0])?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FilesBody {
    /// File indexes, as in the torrent's `files[].index`.
    files: Vec<usize>,
    wanted: bool,
}

/// Leaves files out of the download (`wanted: false`) or takes them back in.
#[utoipa::path(put, path = "/api/torrents/{hash}/files", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters")),
    request_body = FilesBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The torrent after it", body = TorrentDetails),
        (status = 400, description = "Malformed body or `invalid_setting` (no such file)", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
    ))]
async fn set_files(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
    Json(b): Json<FilesBody>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = torrent_hash(&hash)?;
    s.engine
        .set_files_wanted(&user.actor(), &hash, &b.files, b.wanted)
        .await?;
    Ok(axum::Json(s.engine.details(&user.actor(), &hash)?))
}

/// Checks every piece on disk again.
#[utoipa::path(post, path = "/api/torrents/{hash}/recheck", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The torrent, now checking", body = TorrentView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
    ))]
async fn recheck(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = torrent_hash(&hash)?;
    Ok(axum::Json(s.engine.recheck(&user.actor(), &hash).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct QueueBody {
    /// `top`, `bottom`, `up` or `down`.
    #[serde(rename = "move")]
    #[schema(value_type = QueueMoveName)]
    how: String,
}

/// Where to move a torrent in the download queue.
// The handler matches the strings; this type only describes them.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum QueueMoveName {
    Top,
    Bottom,
    Up,
    Down,
}

#[utoipa::path(post, path = "/api/torrents/{hash}/queue", tag = "torrents",
    params(("hash" = String, Path, description = "Info hash: 40 hex or 32 base32 characters")),
    request_body = QueueBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The torrent after it", body = TorrentView),
        (status = 400, description = "`invalid_move`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such torrent of the caller's", body = ErrorBody),
    ))]
async fn move_in_queue(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
    Json(b): Json<QueueBody>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = torrent_hash(&hash)?;
    let how = match b.how.as_str() {
        "top" => QueueMove::Top,
        "bottom" => QueueMove::Bottom,
        "up" => QueueMove::Up,
        "down" => QueueMove::Down,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_move",
                "move must be top, bottom, up or down",
            ));
        }
    };
    let actor = user.actor();
    s.engine.view_of(&actor, &hash)?;
    s.engine.move_in_queue(&actor, &[hash], how).await?;
    Ok(axum::Json(s.engine.view_of(&actor, &hash)?))
}

#[utoipa::path(get, path = "/api/categories", tag = "labels",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's categories: name → save folder inside their own (empty: their own)", body = BTreeMap<String, String>),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn categories(State(s): State<AppState>, user: AuthUser) -> impl IntoResponse {
    axum::Json(s.engine.labels(&user.actor()).categories)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CategoryBody {
    /// Required to create one; ignored when editing (the path names it).
    name: Option<String>,
    /// A folder inside the caller's (default: theirs).
    #[serde(default)]
    save_path: String,
}

#[utoipa::path(post, path = "/api/categories", tag = "labels",
    request_body = CategoryBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created"),
        (status = 400, description = "Malformed body, a bad name or folder", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 409, description = "It exists", body = ErrorBody),
    ))]
async fn create_category(
    State(s): State<AppState>,
    user: AuthUser,
    Json(b): Json<CategoryBody>,
) -> Result<StatusCode, ApiError> {
    let name = b
        .name
        .ok_or_else(|| ApiError::bad_request("invalid_request", "name is required"))?;
    s.engine
        .create_category(&user.actor(), &name, &b.save_path)
        .await?;
    Ok(StatusCode::CREATED)
}

/// Changes its folder.
#[utoipa::path(put, path = "/api/categories/{name}", tag = "labels",
    params(("name" = String, Path, description = "The category's name")),
    request_body = CategoryBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Malformed body, a bad name or folder", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 409, description = "No such category", body = ErrorBody),
    ))]
async fn edit_category(
    State(s): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
    Json(b): Json<CategoryBody>,
) -> Result<StatusCode, ApiError> {
    s.engine
        .edit_category(&user.actor(), &name, &b.save_path)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Its torrents lose it.
#[utoipa::path(delete, path = "/api/categories/{name}", tag = "labels",
    params(("name" = String, Path, description = "The category's name")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed (or there was none)"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn remove_category(
    State(s): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.remove_categories(&user.actor(), &[name]).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/tags", tag = "labels",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's tags, sorted", body = Vec<String>),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn tags(State(s): State<AppState>, user: AuthUser) -> impl IntoResponse {
    axum::Json(s.engine.labels(&user.actor()).tags)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

#[utoipa::path(post, path = "/api/tags", tag = "labels",
    request_body = TagsBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created (those that existed stay)"),
        (status = 400, description = "Malformed body or a bad tag", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn create_tags(
    State(s): State<AppState>,
    user: AuthUser,
    Json(b): Json<TagsBody>,
) -> Result<StatusCode, ApiError> {
    s.engine.create_tags(&user.actor(), &b.tags).await?;
    Ok(StatusCode::CREATED)
}

/// From its torrents too.
#[utoipa::path(delete, path = "/api/tags/{name}", tag = "labels",
    params(("name" = String, Path, description = "The tag")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted (or there was none)"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn delete_tag(
    State(s): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.delete_tags(&user.actor(), &[name]).await?;
    Ok(StatusCode::NO_CONTENT)
}
