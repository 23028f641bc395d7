//! Accounts and sessions: login (with a second factor when the account has two-factor
//! login), refresh, logout, registration and user management.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, ClientIp, Json, MaybeAuthUser};
use crate::auth::{SecondFactor, TokenPair};
use crate::store::{Role, User};

/// Largest body these endpoints read: a name, a password (at most 256 characters) or a
/// token fit many times over. Buffering a 10 MiB body per login would let a flood of
/// logins exhaust memory before the hashing bound is reached.
pub const AUTH_MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/register", post(register))
        .route("/api/users/me", get(me))
        .route("/api/users", get(list_users).post(create_user))
        // Closer to the handlers than the router-wide limit, so it is the one that applies.
        .layer(DefaultBodyLimit::max(AUTH_MAX_BODY_BYTES))
}

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(login, refresh, logout, register, me, list_users, create_user))]
pub(super) struct Doc;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    username: String,
    password: String,
    /// The second factor, for accounts with two-factor login: a TOTP code...
    #[serde(default)]
    code: Option<String>,
    /// ...or one of the account's recovery codes.
    #[serde(default)]
    recovery_code: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewUser {
    username: String,
    password: String,
    /// Default `user`.
    #[serde(default)]
    role: Option<Role>,
}

/// A user as the API shows it: never the password hash.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    id: String,
    username: String,
    role: Role,
    created_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            role: u.role,
            created_at: u.created_at,
        }
    }
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in: an access token and a refresh token", body = TokenPair),
        (status = 400, description = "Malformed body, or a malformed `code`/`recoveryCode` (`malformed_two_factor_code`)", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`; with two-factor login on, `two_factor_required` (send `code` or `recoveryCode`) or `invalid_two_factor_code`", body = ErrorBody),
        (status = 429, description = "Too many failures from this address or account, or too many logins at once (`Retry-After`)", body = ErrorBody),
    ))]
async fn login(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    Json(c): Json<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let factor = SecondFactor::from_request(c.code.as_deref(), c.recovery_code.as_deref())?;
    let pair = s
        .auth
        .login_with(&c.username, &c.password, factor.as_ref(), client)
        .await?;
    Ok(axum::Json(pair))
}

/// Rotates the refresh token: the one given is spent, a reused one revokes its family.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "`invalid_token`: unknown, expired, spent or revoked", body = ErrorBody),
    ))]
async fn refresh(
    State(s): State<AppState>,
    Json(b): Json<RefreshBody>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.auth.refresh(&b.refresh_token).await?))
}

/// Ends the refresh token's session; an access token sent along (`Authorization:
/// Bearer`) is revoked too, so it stops working before it expires.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    request_body = RefreshBody,
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "Session ended"),
        (status = 400, description = "Malformed body", body = ErrorBody),
    ))]
async fn logout(
    State(s): State<AppState>,
    caller: MaybeAuthUser,
    Json(b): Json<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    s.auth.logout(&b.refresh_token, caller.0.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Self sign-up; off unless `ALLOW_REGISTRATION=true`.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    request_body = Credentials,
    responses(
        (status = 201, description = "Account created", body = UserView),
        (status = 400, description = "`invalid_username`, `weak_password`", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody),
        (status = 409, description = "`username_taken`", body = ErrorBody),
    ))]
async fn register(
    State(s): State<AppState>,
    Json(c): Json<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let user = s.auth.register(&c.username, &c.password).await?;
    Ok((StatusCode::CREATED, axum::Json(UserView::from(user))))
}

#[utoipa::path(get, path = "/api/users/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn me(State(s): State<AppState>, user: AuthUser) -> Result<axum::Json<UserView>, ApiError> {
    let found = s.store.user_by_id(&user.0.sub).await?;
    found
        .map(|u| axum::Json(u.into()))
        .ok_or_else(ApiError::unauthorized)
}

#[utoipa::path(get, path = "/api/users", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every user (administrators only)", body = Vec<UserView>),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    ))]
async fn list_users(
    State(s): State<AppState>,
    user: AuthUser,
) -> Result<impl IntoResponse, ApiError> {
    user.require_admin()?;
    let users: Vec<UserView> = s
        .store
        .list_users()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(axum::Json(users))
}

#[utoipa::path(post, path = "/api/users", tag = "auth",
    request_body = NewUser,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Account created (administrators only)", body = UserView),
        (status = 400, description = "`invalid_username`, `weak_password`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 409, description = "`username_taken`", body = ErrorBody),
    ))]
async fn create_user(
    State(s): State<AppState>,
    user: AuthUser,
    Json(n): Json<NewUser>,
) -> Result<impl IntoResponse, ApiError> {
    user.require_admin()?;
    let created = s
        .auth
        .create_user(&n.username, &n.password, n.role.unwrap_or(Role::User))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(UserView::from(created))))
}
