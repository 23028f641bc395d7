//! `/api/app-passwords`: passwords for programs that cannot do JWT (WebDAV clients).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, Json};
use crate::auth::app_passwords::AppPassword;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/app-passwords", get(list).post(create))
        .route("/api/app-passwords/{id}", delete(remove))
}

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, remove))]
pub(super) struct Doc;

#[derive(Deserialize, utoipa::ToSchema)]
struct CreateBody {
    name: String,
}

/// A new app password.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(flatten)]
    info: AppPassword,
    /// Shown this once; only its digest is kept.
    password: String,
}

#[utoipa::path(post, path = "/api/app-passwords", operation_id = "create_app_password", tag = "app-passwords",
    request_body = CreateBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the password is shown this once", body = Created),
        (status = 400, description = "Bad name, or too many app passwords", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn create(
    State(s): State<AppState>,
    user: AuthUser,
    Json(body): Json<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (info, password) = s.auth.create_app_password(&user.0.sub, &body.name).await?;
    Ok((StatusCode::CREATED, axum::Json(Created { info, password })))
}

#[utoipa::path(get, path = "/api/app-passwords", operation_id = "list_app_passwords", tag = "app-passwords",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's app passwords (never the passwords)", body = Vec<AppPassword>),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn list(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.auth.app_passwords(&user.0.sub).await?))
}

/// Revokes it at once, WebDAV included.
#[utoipa::path(delete, path = "/api/app-passwords/{id}", operation_id = "delete_app_password", tag = "app-passwords",
    params(("id" = String, Path, description = "The app password's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 404, description = "No such app password of the caller's", body = ErrorBody),
    ))]
async fn remove(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if s.auth.delete_app_password(&user.0.sub, &id).await? {
        // Revoked now, not when WebDAV's memory of it runs out.
        s.dav_credentials.forget_user(&user.0.sub);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such app password"))
    }
}
