//! `auth/login` and `auth/logout`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::forms::LoginForm;
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

/// This module's part of the OpenAPI document (see [`crate::api::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(login, logout))]
pub(in crate::api) struct Doc;

/// `Ok.` with an `SID` cookie, or `Fails.` (POST only, as in qBittorrent: credentials
/// stay out of URLs); a banned address gets 403, as from
/// qBittorrent. Failures count in the same limiter as native logins.
#[utoipa::path(post, path = "/api/v2/auth/login", tag = "qbittorrent",
    request_body(content((LoginForm = "application/x-www-form-urlencoded"), (LoginForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "`Ok.` with a `SID` cookie (HttpOnly, SameSite=Strict), or `Fails.`", content_type = "text/plain", body = String,
            headers(("Set-Cookie" = String, description = "`SID=...`"))),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "This address is banned after too many failures", content_type = "text/plain", body = String),
        (status = 503, description = "Too many logins at once, or the store does not answer", content_type = "text/plain", body = String),
    ))]
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

#[utoipa::path(method(get, post), path = "/api/v2/auth/logout", tag = "qbittorrent",
    responses(
        (status = 200, description = "`Ok.`; the `SID` cookie is expired", content_type = "text/plain", body = String),
    ))]
async fn logout(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(sid) = sessions::sid_cookie(&headers) {
        s.qbt.close(&sid);
    }
    let expired = "SID=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict; path=/";
    ([(header::SET_COOKIE, expired)], ok_text()).into_response()
}
