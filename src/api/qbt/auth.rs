//! `auth/login` and `auth/logout`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::params::Params;
use super::{AppState, QbtError, ok_text, sessions, text};
use crate::api::extract::ClientIp;
use crate::auth::AuthError;
use crate::engine::Actor;
use crate::store::Role;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/auth/login", post(login))
        .route("/api/v2/auth/logout", post(logout).get(logout))
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::api::auth::AUTH_MAX_BODY_BYTES,
        ))
}

/// `Ok.` with an `SID` cookie, or `Fails.` (POST only, as in qBittorrent: credentials
/// stay out of URLs); a banned address gets 403, as from
/// qBittorrent. Failures count in the same limiter as native logins.
async fn login(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    p: Params,
) -> Result<Response, QbtError> {
    let username = p.get("username").unwrap_or_default();
    let password = p.get("password").unwrap_or_default();
    // App passwords work here as on WebDAV; with two-factor login on, only they do
    // (a qBittorrent client cannot send a code).
    match s.auth.authenticate_app(username, password, client).await {
        Ok(user) => {
            let sid = s.qbt.open(Actor {
                admin: user.role == Role::Admin,
                user_id: user.id,
            });
            let cookie = format!("SID={sid}; HttpOnly; SameSite=Strict; path=/");
            Ok(([(header::SET_COOKIE, cookie)], ok_text()).into_response())
        }
        Err(AuthError::InvalidCredentials | AuthError::TwoFactorRequired) => Ok(text("Fails.")),
        Err(AuthError::Throttled { .. }) => Err(QbtError::new(
            StatusCode::FORBIDDEN,
            "Your IP address has been banned after too many failed authentication attempts.",
        )),
        Err(AuthError::Busy { .. }) => Err(QbtError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many logins in progress; try again.",
        )),
        Err(e) => {
            tracing::error!(error = %e, "qBittorrent login");
            Err(QbtError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Login is unavailable; try again.",
            ))
        }
    }
}

async fn logout(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(sid) = sessions::sid_cookie(&headers) {
        s.qbt.close(&sid);
    }
    let expired = "SID=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict; path=/";
    ([(header::SET_COOKIE, expired)], ok_text()).into_response()
}
