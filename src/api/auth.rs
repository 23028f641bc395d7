//! Accounts and sessions: login (with a second factor when the account has two-factor
//! login), refresh, logout, registration and user management.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, ClientIp, Json, MaybeAuthUser};
use crate::auth::SecondFactor;
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

#[derive(Deserialize)]
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    role: Option<Role>,
}

/// A user as the API shows it: never the password hash.
#[derive(Serialize)]
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

async fn refresh(
    State(s): State<AppState>,
    Json(b): Json<RefreshBody>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.auth.refresh(&b.refresh_token).await?))
}

/// Ends the refresh token's session; an access token sent along (`Authorization:
/// Bearer`) is revoked too, so it stops working before it expires.
async fn logout(
    State(s): State<AppState>,
    caller: MaybeAuthUser,
    Json(b): Json<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    s.auth.logout(&b.refresh_token, caller.0.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn register(
    State(s): State<AppState>,
    Json(c): Json<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let user = s.auth.register(&c.username, &c.password).await?;
    Ok((StatusCode::CREATED, axum::Json(UserView::from(user))))
}

async fn me(State(s): State<AppState>, user: AuthUser) -> Result<axum::Json<UserView>, ApiError> {
    let found = s.store.user_by_id(&user.0.sub).await?;
    found
        .map(|u| axum::Json(u.into()))
        .ok_or_else(ApiError::unauthorized)
}

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
