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
use super::error::ApiError;
use super::extract::{AuthUser, Json};
use super::torrents::torrent_hash;
use crate::engine::QueueMove;
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

/// `PATCH /api/torrents/{hash}/options`: the options given change, the rest stay.
/// `category: null` takes the category off; limits are `"global"`, `"unlimited"` or
/// `{"limit": n}` (ratio; seconds of seeding).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OptionsBody {
    #[serde(default, with = "serde_with_null")]
    category: Option<Option<String>>,
    tags: Option<Vec<String>>,
    ratio_limit: Option<ShareLimit<f64>>,
    seeding_time_limit: Option<ShareLimit<u64>>,
    download_limit: Option<u32>,
    upload_limit: Option<u32>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesBody {
    files: Vec<usize>,
    wanted: bool,
}

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

async fn recheck(
    State(s): State<AppState>,
    user: AuthUser,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = torrent_hash(&hash)?;
    Ok(axum::Json(s.engine.recheck(&user.actor(), &hash).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueBody {
    /// `top`, `bottom`, `up` or `down`.
    #[serde(rename = "move")]
    how: String,
}

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

async fn categories(State(s): State<AppState>, user: AuthUser) -> impl IntoResponse {
    axum::Json(s.engine.labels(&user.actor()).categories)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CategoryBody {
    name: Option<String>,
    #[serde(default)]
    save_path: String,
}

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

async fn remove_category(
    State(s): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.remove_categories(&user.actor(), &[name]).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tags(State(s): State<AppState>, user: AuthUser) -> impl IntoResponse {
    axum::Json(s.engine.labels(&user.actor()).tags)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

async fn create_tags(
    State(s): State<AppState>,
    user: AuthUser,
    Json(b): Json<TagsBody>,
) -> Result<StatusCode, ApiError> {
    s.engine.create_tags(&user.actor(), &b.tags).await?;
    Ok(StatusCode::CREATED)
}

async fn delete_tag(
    State(s): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.delete_tags(&user.actor(), &[name]).await?;
    Ok(StatusCode::NO_CONTENT)
}
