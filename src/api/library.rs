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
use super::error::ApiError;
use super::extract::{AuthUser, Json, Query};
use crate::InfoHash;
use crate::library::{AssignRequest, ItemRef, LibraryError, NewEpisode, NewTitle, TorrentRef};

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
#[derive(Deserialize)]
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpisodeBody {
    season: i64,
    episode: i64,
    title: Option<String>,
}

/// `POST .../assign`: a magnet (added when new) or the hash of a torrent that is there.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignBody {
    #[serde(rename = "magnetURI", alias = "magnetUri")]
    magnet_uri: Option<String>,
    info_hash: Option<String>,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeepQuery {
    #[serde(default)]
    keep_torrent: bool,
}

async fn movies(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.movies(&user.actor()).await?))
}

async fn create_movie(
    State(s): State<AppState>,
    user: AuthUser,
    Json(b): Json<TitleBody>,
) -> Result<impl IntoResponse, ApiError> {
    let item = s.library.create_movie(&user.actor(), b.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

async fn movie(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.movie(&user.actor(), &id).await?))
}

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

async fn shows(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.shows(&user.actor()).await?))
}

async fn create_show(
    State(s): State<AppState>,
    user: AuthUser,
    Json(b): Json<TitleBody>,
) -> Result<impl IntoResponse, ApiError> {
    let item = s.library.create_show(&user.actor(), b.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

async fn show(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.show(&user.actor(), &id).await?))
}

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

async fn episodes(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.library.episodes(&user.actor(), &id).await?))
}

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
