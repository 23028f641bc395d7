//! Categories and tags: `torrents/categories`, `createCategory`, `editCategory`,
//! `removeCategories`, `tags`, `createTags`, `deleteTags`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::forms::{CategoryForm, RemoveCategoriesForm, TagsForm};
use super::params::Params;
use super::{AppState, QbtError, QbtUser, ok_text};
use crate::engine::EngineError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v2/torrents/categories",
            get(categories).post(categories),
        )
        .route("/api/v2/torrents/createCategory", post(create_category))
        .route("/api/v2/torrents/editCategory", post(edit_category))
        .route("/api/v2/torrents/removeCategories", post(remove_categories))
        .route("/api/v2/torrents/tags", get(tags).post(tags))
        .route("/api/v2/torrents/createTags", post(create_tags))
        .route("/api/v2/torrents/deleteTags", post(delete_tags))
}

/// This module's part of the OpenAPI document (see [`crate::api::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    categories,
    create_category,
    edit_category,
    remove_categories,
    tags,
    create_tags,
    delete_tags
))]
pub(in crate::api) struct Doc;

/// The caller's categories as qBittorrent lists them: name → `{name, savePath}`, the
/// save path absolute.
pub fn category_map(s: &AppState, user: &QbtUser) -> Map<String, Value> {
    let root = s.engine.user_root(&user.actor).unwrap_or_default();
    s.engine
        .labels(&user.actor)
        .categories
        .into_iter()
        .map(|(name, sub)| {
            let path = if sub.is_empty() {
                root.clone()
            } else {
                root.join(&sub)
            };
            let v = json!({"name": name, "savePath": path.to_string_lossy()});
            (name, v)
        })
        .collect()
}

#[utoipa::path(method(get, post), path = "/api/v2/torrents/categories", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Name → `{name, savePath}`, the path absolute", body = Map<String, Value>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn categories(State(s): State<AppState>, user: QbtUser) -> Json<Map<String, Value>> {
    Json(category_map(&s, &user))
}

/// qBittorrent's 409s for categories, with its texts.
fn category_error(e: EngineError, text: &str) -> QbtError {
    match e {
        EngineError::Conflict(_) | EngineError::InvalidSetting(_) => {
            QbtError::new(StatusCode::CONFLICT, text)
        }
        e => e.into(),
    }
}

#[utoipa::path(post, path = "/api/v2/torrents/createCategory", tag = "qbittorrent",
    request_body(content((CategoryForm = "application/x-www-form-urlencoded"), (CategoryForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 409, description = "`Unable to create category` (text)", content_type = "text/plain", body = String),
    ))]
async fn create_category(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let name = p.required("category")?.trim();
    let path = p.get("savePath").unwrap_or("");
    s.engine
        .create_category(&user.actor, name, path)
        .await
        .map_err(|e| category_error(e, "Unable to create category"))?;
    Ok(ok_text())
}

#[utoipa::path(post, path = "/api/v2/torrents/editCategory", tag = "qbittorrent",
    request_body(content((CategoryForm = "application/x-www-form-urlencoded"), (CategoryForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
        (status = 409, description = "`Unable to edit category` (text)", content_type = "text/plain", body = String),
    ))]
async fn edit_category(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let name = p.required("category")?.trim();
    let path = p.required("savePath")?;
    s.engine
        .edit_category(&user.actor, name, path)
        .await
        .map_err(|e| category_error(e, "Unable to edit category"))?;
    Ok(ok_text())
}

#[utoipa::path(post, path = "/api/v2/torrents/removeCategories", tag = "qbittorrent",
    request_body(content((RemoveCategoriesForm = "application/x-www-form-urlencoded"), (RemoveCategoriesForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn remove_categories(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    let names = p.list("categories", '\n');
    s.engine.remove_categories(&user.actor, &names).await?;
    Ok(ok_text())
}

#[utoipa::path(method(get, post), path = "/api/v2/torrents/tags", tag = "qbittorrent",
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's tags", body = Vec<String>),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn tags(State(s): State<AppState>, user: QbtUser) -> Json<Vec<String>> {
    Json(s.engine.labels(&user.actor).tags.into_iter().collect())
}

#[utoipa::path(post, path = "/api/v2/torrents/createTags", tag = "qbittorrent",
    request_body(content((TagsForm = "application/x-www-form-urlencoded"), (TagsForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn create_tags(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    s.engine
        .create_tags(&user.actor, &p.list("tags", ','))
        .await?;
    Ok(ok_text())
}

#[utoipa::path(post, path = "/api/v2/torrents/deleteTags", tag = "qbittorrent",
    request_body(content((TagsForm = "application/x-www-form-urlencoded"), (TagsForm = "multipart/form-data"))),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`Ok.`", content_type = "text/plain", body = String),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn delete_tags(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Response, QbtError> {
    s.engine
        .delete_tags(&user.actor, &p.list("tags", ','))
        .await?;
    Ok(ok_text())
}
