//! `/api/movies` and `/api/shows`: the media library (see [`crate::library`]).
//!
//! Items are answered as the store keeps them ([`crate::store::MediaItem`], camelCase);
//! a show with its `episodes`. Deleting an item or its assignment removes the torrent
//! no other item uses, with its files, unless `?keepTorrent=true`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, Json, Query};
use crate::InfoHash;
use crate::library::Unassigned;
use crate::library::{AssignRequest, ItemRef, LibraryError, NewEpisode, NewTitle, TorrentRef};
use crate::store::MediaItem;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/movies", get(movies).post(create_movie))
        .route("/api/movies/{id}", get(movie).delete(delete_movie))
        .route(
            "/api/movies/{id}/assign",
            post(assign_movie).delete(unassign_movie),
        )
        .route("/api/shows", get(shows).post(create_show))
        .route("/api/shows/{id}", get(show).delete(delete_show))
        .route("/api/shows/{id}/episodes", get(episodes).post(add_episode))
        .route(
            "/api/shows/{id}/episodes/{episode}",
            get(episode).delete(delete_episode),
        )
        .route(
            "/api/shows/{id}/episodes/{episode}/assign",
            post(assign_episode).delete(unassign_episode),
        )
}

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    movies,
    create_movie,
    movie,
    delete_movie,
    assign_movie,
    unassign_movie,
    shows,
    create_show,
    show,
    delete_show,
    episodes,
    add_episode,
    episode,
    delete_episode,
    assign_episode,
    unassign_episode
))]
pub(super) struct Doc;

impl From<LibraryError> for ApiError {
    fn from(e: LibraryError) -> Self {
        use LibraryError as L;
        let msg = e.to_string();
        match e {
            L::Invalid(_) => Self::bad_request("invalid_request", msg),
            L::NotFound(_) => Self::not_found(msg),
            L::DuplicateEpisode(_) => Self::new(StatusCode::CONFLICT, "duplicate_episode", msg),
            L::NoSuchFile { files, .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "no_such_file", msg)
                    .with("files", json!(files))
            }
            L::NoSingleVideo { videos, candidates } => {
                let code = if videos == 0 {
                    "no_video_file"
                } else {
                    "ambiguous_file"
                };
                Self::new(StatusCode::CONFLICT, code, msg).with("candidates", json!(candidates))
            }
            L::MetadataTimeout { .. } => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "metadata_timeout", msg)
            }
            L::TorrentFailed { .. } => Self::new(StatusCode::CONFLICT, "torrent_failed", msg),
            L::Engine(e) => e.into(),
            L::Store(e) => e.into(),
        }
    }
}

/// `POST /api/movies`, `POST /api/shows`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TitleBody {
    title: String,
    year: Option<i64>,
}

impl From<TitleBody> for NewTitle {
    fn from(b: TitleBody) -> Self {
        Self {
            title: b.title,
            year: b.year,
        }
    }
}

/// `POST /api/shows/{id}/episodes`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EpisodeBody {
    /// 0: specials.
    season: i64,
    episode: i64,
    title: Option<String>,
}

/// `POST .../assign`: a magnet (added when new) or the hash of a torrent that is there.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignBody {
    /// A magnet (added for the item's owner when new); or `infoHash`.
    #[serde(rename = "magnetURI", alias = "magnetUri")]
    magnet_uri: Option<String>,
    /// A torrent that is there; or `magnetURI`.
    info_hash: Option<String>,
    /// A path as in the torrent's `files[].path`; default: its only video file.
    file_path: Option<String>,
    resolution: Option<String>,
    source: Option<String>,
}

impl AssignBody {
    fn into_request(self) -> Result<AssignRequest, ApiError> {
        let torrent =
            match (self.magnet_uri, self.info_hash) {
                (Some(m), None) => TorrentRef::Magnet(m),
                (None, Some(h)) => TorrentRef::InfoHash(InfoHash::parse(&h).map_err(|e| {
                    ApiError::bad_request("invalid_request", format!("infoHash: {e}"))
                })?),
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        "give either magnetURI or infoHash",
                    ));
                }
            };
        Ok(AssignRequest {
            torrent,
            file_path: self.file_path,
            resolution: self.resolution,
            source: self.source,
        })
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct KeepQuery {
    /// Keep the torrent even when nothing else uses it (default: it goes, with its files).
    #[serde(default)]
    keep_torrent: bool,
}

#[utoipa::path(get, path = "/api/movies", tag = "library",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's movies (everyone's, for an administrator), by title", body = Vec<MediaItem>),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn movies(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.movies(&user.actor()).await?))
}

#[utoipa::path(post, path = "/api/movies", tag = "library",
    request_body = TitleBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = MediaItem),
        (status = 400, description = "Malformed body or `invalid_request`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn create_movie(
    State(s): State<AppState>,
    user: AuthUser,
    Json(b): Json<TitleBody>,
) -> Result<impl IntoResponse, ApiError> {
    let item = s.library.create_movie(&user.actor(), b.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

#[utoipa::path(get, path = "/api/movies/{id}", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The movie", body = MediaItem),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn movie(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.movie(&user.actor(), &id).await?))
}

/// Its torrent goes too when nothing else uses it, unless `keepTorrent`.
#[utoipa::path(delete, path = "/api/movies/{id}", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id"), KeepQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn delete_movie(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<KeepQuery>,
) -> Result<StatusCode, ApiError> {
    let r = ItemRef::Movie(&id);
    s.library.delete(&user.actor(), r, q.keep_torrent).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Assigns a file of a torrent, replacing the assignment it had.
#[utoipa::path(post, path = "/api/movies/{id}/assign", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id")),
    request_body = AssignBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The item with its assignment", body = MediaItem),
        (status = 400, description = "Malformed body or `invalid_request`", body = ErrorBody),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 409, description = "`ambiguous_file`, `no_video_file` (with `candidates`), `torrent_failed`", body = ErrorBody),
        (status = 422, description = "`no_such_file` (with the torrent's `files`)", body = ErrorBody),
        (status = 504, description = "`metadata_timeout`: the torrent stays; ask again later", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn assign_movie(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(b): Json<AssignBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (actor, req) = (user.actor(), b.into_request()?);
    let item = s.library.assign(&actor, ItemRef::Movie(&id), req).await?;
    Ok(axum::Json(item))
}

#[utoipa::path(delete, path = "/api/movies/{id}/assign", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id"), KeepQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The item without its assignment, and whether the torrent went", body = Unassigned),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn unassign_movie(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<KeepQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = user.actor();
    let done = s
        .library
        .unassign(&actor, ItemRef::Movie(&id), q.keep_torrent);
    Ok(axum::Json(done.await?))
}

#[utoipa::path(get, path = "/api/shows", tag = "library",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's shows (everyone's, for an administrator), by title", body = Vec<MediaItem>),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn shows(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.shows(&user.actor()).await?))
}

#[utoipa::path(post, path = "/api/shows", tag = "library",
    request_body = TitleBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = MediaItem),
        (status = 400, description = "Malformed body or `invalid_request`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn create_show(
    State(s): State<AppState>,
    user: AuthUser,
    Json(b): Json<TitleBody>,
) -> Result<impl IntoResponse, ApiError> {
    let item = s.library.create_show(&user.actor(), b.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

#[utoipa::path(get, path = "/api/shows/{id}", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The show with its `episodes`", body = MediaItem),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn show(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.show(&user.actor(), &id).await?))
}

/// With its episodes.
#[utoipa::path(delete, path = "/api/shows/{id}", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id"), KeepQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn delete_show(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<KeepQuery>,
) -> Result<StatusCode, ApiError> {
    let r = ItemRef::Show(&id);
    s.library.delete(&user.actor(), r, q.keep_torrent).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/shows/{id}/episodes", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The show's episodes, by season then episode", body = Vec<MediaItem>),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn episodes(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.episodes(&user.actor(), &id).await?))
}

#[utoipa::path(post, path = "/api/shows/{id}/episodes", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id")),
    request_body = EpisodeBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = MediaItem),
        (status = 400, description = "Malformed body or `invalid_request`", body = ErrorBody),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 409, description = "`duplicate_episode`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn add_episode(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(b): Json<EpisodeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewEpisode {
        season: b.season,
        episode: b.episode,
        title: b.title,
    };
    let item = s.library.add_episode(&user.actor(), &id, new).await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

#[utoipa::path(get, path = "/api/shows/{id}/episodes/{episode}", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id"), ("episode" = String, Path, description = "The episode's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The episode", body = MediaItem),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn episode(
    State(s): State<AppState>,
    user: AuthUser,
    Path((id, ep)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        s.library.episode(&user.actor(), &id, &ep).await?,
    ))
}

fn episode_ref<'a>(show_id: &'a str, episode_id: &'a str) -> ItemRef<'a> {
    ItemRef::Episode {
        show_id,
        episode_id,
    }
}

#[utoipa::path(delete, path = "/api/shows/{id}/episodes/{episode}", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id"), ("episode" = String, Path, description = "The episode's id"), KeepQuery),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn delete_episode(
    State(s): State<AppState>,
    user: AuthUser,
    Path((id, ep)): Path<(String, String)>,
    Query(q): Query<KeepQuery>,
) -> Result<StatusCode, ApiError> {
    let r = episode_ref(&id, &ep);
    s.library.delete(&user.actor(), r, q.keep_torrent).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/shows/{id}/episodes/{episode}/assign", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id"), ("episode" = String, Path, description = "The episode's id")),
    request_body = AssignBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The item with its assignment", body = MediaItem),
        (status = 400, description = "Malformed body or `invalid_request`", body = ErrorBody),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 409, description = "`ambiguous_file`, `no_video_file` (with `candidates`), `torrent_failed`", body = ErrorBody),
        (status = 422, description = "`no_such_file` (with the torrent's `files`)", body = ErrorBody),
        (status = 504, description = "`metadata_timeout`: the torrent stays; ask again later", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn assign_episode(
    State(s): State<AppState>,
    user: AuthUser,
    Path((id, ep)): Path<(String, String)>,
    Json(b): Json<AssignBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (actor, req) = (user.actor(), b.into_request()?);
    let item = s.library.assign(&actor, episode_ref(&id, &ep), req).await?;
    Ok(axum::Json(item))
}

#[utoipa::path(delete, path = "/api/shows/{id}/episodes/{episode}/assign", tag = "library",
    params(("id" = String, Path, description = "The movie's or show's id"), ("episode" = String, Path, description = "The episode's id"), KeepQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The item without its assignment, and whether the torrent went", body = Unassigned),
        (status = 404, description = "No such item of the caller's", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn unassign_episode(
    State(s): State<AppState>,
    user: AuthUser,
    Path((id, ep)): Path<(String, String)>,
    Query(q): Query<KeepQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (actor, r) = (user.actor(), episode_ref(&id, &ep));
    let done = s.library.unassign(&actor, r, q.keep_torrent);
    Ok(axum::Json(done.await?))
}
