//! `/api/app-passwords`: passwords for programs that cannot do JWT (WebDAV clients).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Json};
use crate::auth::app_passwords::AppPassword;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/app-passwords", get(list).post(create))
        .route("/api/app-passwords/{id}", delete(remove))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(flatten)]
    info: AppPassword,
    /// Shown this once; only its digest is kept.
    password: String,
}

async fn create(
    State(s): State<AppState>,
    user: AuthUser,
    Json(body): Json<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (info, password) = s.auth.create_app_password(&user.0.sub, &body.name).await?;
    Ok((StatusCode::CREATED, axum::Json(Created { info, password })))
}

async fn list(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.auth.app_passwords(&user.0.sub).await?))
}

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
