//! The qBittorrent WebUI API v2 under `/api/v2/`: the contract Sonarr, Radarr, the
//! `qbittorrent-api` Python client and many scripts speak. Every endpoint maps onto the
//! engine's own operations; this module only translates names, units and shapes.
//!
//! Requests are authenticated by the `SID` cookie of `auth/login` or by a native
//! Bearer token; anything else is 403, as qBittorrent answers (Sonarr detects API v2
//! by that 403). Parameters come from the query string or the form body, for GET and
//! POST alike ([`params::Params`]). Answers are qBittorrent's: JSON, or plain text
//! (`Ok.`, `Fails.`, error messages) with its status codes.

mod actions;
mod add;
mod app;
mod auth;
mod forms;
mod info;
mod labels;
mod map;
mod params;
mod sessions;
mod sync;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::engine::{Actor, EngineError};
pub use sessions::Sessions;

/// The API version reported: below 2.11, so clients use `torrents/pause|resume`
/// (both those and `stop|start` are served).
pub const WEBAPI_VERSION: &str = "2.9.3";
/// The qBittorrent version reported, the one whose API this follows.
pub const APP_VERSION: &str = "v4.6.7";

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(app::router())
        .merge(info::router())
        .merge(actions::router())
        .merge(add::router())
        .merge(labels::router())
        .merge(sync::router())
        .layer(axum::middleware::from_fn(same_origin))
}

/// The qBittorrent API's part of the OpenAPI document (see [`super::openapi`]).
pub(super) fn doc() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    let mut doc = auth::Doc::openapi();
    for part in [
        app::Doc::openapi(),
        info::Doc::openapi(),
        actions::Doc::openapi(),
        add::Doc::openapi(),
        labels::Doc::openapi(),
        sync::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    super::openapi::prefix_operation_ids(&mut doc, "qbt_");
    doc
}

/// An error as qBittorrent gives it: a status and a plain-text reason.
#[derive(Debug)]
pub struct QbtError {
    status: StatusCode,
    message: String,
}

impl QbtError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden")
    }
}

impl IntoResponse for QbtError {
    fn into_response(self) -> Response {
        let headers = [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")];
        (self.status, headers, self.message).into_response()
    }
}

impl From<EngineError> for QbtError {
    fn from(e: EngineError) -> Self {
        use EngineError as E;
        let status = match &e {
            E::NotFound(_) | E::FileNotFound(_) => StatusCode::NOT_FOUND,
            E::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Conflict(_) | E::AlreadyExists(_) | E::FilesInUse(_) => StatusCode::CONFLICT,
            E::InvalidMagnet(_)
            | E::InvalidTorrent(_)
            | E::UnsafePath(_)
            | E::InvalidUrl(_)
            | E::InvalidSetting(_) => StatusCode::BAD_REQUEST,
            E::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::Fetch(_) => StatusCode::BAD_GATEWAY,
            E::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            E::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::DeleteFiles(_) | E::Internal(_) => {
                tracing::error!(error = %e, "qBittorrent API request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match &e {
            E::NotFound(_) => "Not Found".to_owned(),
            _ => e.to_string(),
        };
        Self::new(status, message)
    }
}

/// `Ok.`, qBittorrent's plain success answer.
pub fn ok_text() -> Response {
    text("Ok.")
}

pub fn text(body: impl Into<String>) -> Response {
    let headers = [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")];
    (StatusCode::OK, headers, body.into()).into_response()
}

/// The caller of a qBittorrent endpoint: a `SID` session or a native access token.
pub struct QbtUser {
    pub actor: Actor,
    /// Names the caller's `sync/maindata` state: the session id, or the token's id.
    pub session_key: String,
}

impl FromRequestParts<AppState> for QbtUser {
    type Rejection = QbtError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, QbtError> {
        if let Some(sid) = sessions::sid_cookie(&parts.headers)
            && let Some(actor) = s.qbt.get(&sid)
        {
            return Ok(Self {
                actor,
                session_key: sid,
            });
        }
        if let Some(token) = crate::api::extract::bearer_token(&parts.headers)
            && let Ok(claims) = s.auth.verify_access(token).await
        {
            return Ok(Self {
                actor: Actor {
                    admin: claims.role == crate::store::Role::Admin,
                    user_id: claims.sub,
                },
                session_key: format!("jwt:{}", claims.jti),
            });
        }
        Err(QbtError::forbidden())
    }
}

/// qBittorrent's cross-site request check: an `Origin` (or, without one, a `Referer`)
/// must name the host the request was sent to, so another site's page cannot drive the
/// API with the user's cookie. Requests without either (scripts, Sonarr) pass.
async fn same_origin(req: Request, next: Next) -> Response {
    if !origin_matches(req.headers()) {
        return QbtError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    next.run(req).await
}

fn origin_matches(headers: &HeaderMap) -> bool {
    let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(source) = value(header::ORIGIN).or_else(|| value(header::REFERER)) else {
        return true;
    };
    let Some(host) = value(header::HOST) else {
        return false;
    };
    let Ok(url) = url::Url::parse(source) else {
        return false;
    };
    let Some(src_host) = url.host_str() else {
        return false;
    };
    let src = match url.port() {
        Some(p) => format!("{src_host}:{p}"),
        None => src_host.to_owned(),
    };
    // A default port may be written or left out on either side.
    let strip = |h: &str| {
        h.strip_suffix(":80")
            .or_else(|| h.strip_suffix(":443"))
            .unwrap_or(h)
            .to_ascii_lowercase()
    };
    strip(&src) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_must_name_the_host() {
        use header::{HOST, ORIGIN, REFERER};
        assert!(origin_matches(&headers(&[(HOST, "127.0.0.1:8080")])));
        assert!(origin_matches(&headers(&[
            (HOST, "127.0.0.1:8080"),
            (ORIGIN, "http://127.0.0.1:8080")
        ])));
        assert!(origin_matches(&headers(&[
            (HOST, "box.lan"),
            (REFERER, "https://box.lan:443/index.html")
        ])));
        assert!(!origin_matches(&headers(&[
            (HOST, "127.0.0.1:8080"),
            (ORIGIN, "http://evil.example")
        ])));
        assert!(!origin_matches(&headers(&[
            (HOST, "127.0.0.1:8080"),
            (REFERER, "http://127.0.0.1:9999/")
        ])));
        assert!(!origin_matches(&headers(&[(ORIGIN, "http://127.0.0.1")])));
    }
}
