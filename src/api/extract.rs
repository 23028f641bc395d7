//! Extractors: the authenticated user, and JSON / query bodies whose rejections are
//! turned into the API's JSON errors instead of axum's plain-text ones.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::auth::Claims;
use crate::engine::Actor;
use crate::store::Role;

/// The caller, proven by a valid access token in `Authorization: Bearer`.
pub struct AuthUser(pub Claims);

impl AuthUser {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.0.sub.clone(),
            admin: self.0.role == Role::Admin,
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("administrators only"))
        }
    }
}

/// A request's `Content-Type`, lower-case ("" when absent).
pub fn content_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The token of an `Authorization: Bearer` header, when there is a non-empty one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        state
            .auth
            .verify_access(token)
            .await
            .map(AuthUser)
            .map_err(|_| ApiError::unauthorized())
    }
}

/// The caller if the request carries a valid access token, else nobody: for endpoints
/// that answer everyone but tell administrators more. A missing or bad token is not an
/// error here.
pub struct MaybeAuthUser(pub Option<Claims>);

impl MaybeAuthUser {
    pub fn is_admin(&self) -> bool {
        self.0.as_ref().is_some_and(|c| c.role == Role::Admin)
    }
}

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await.ok();
        Ok(Self(user.map(|AuthUser(claims)| claims)))
    }
}

/// The client's address: the TCP peer, or behind a trusted proxy the last entry of
/// `X-Forwarded-For` (the one the proxy itself appended; earlier ones are the client's
/// own claims).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let forwarded = state
            .trust_proxy
            .then(|| {
                parts
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
                    .next_back()
            })
            .flatten();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        forwarded.or(peer).map(ClientIp).ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "client address unknown",
            )
        })
    }
}

/// `axum::Json` with JSON errors: malformed JSON 400, wrong content type 415, too large 413.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    let status = rej.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "invalid_json",
        _ => "bad_request",
    };
    // Unprocessable (valid JSON, wrong shape) is reported as 400 like malformed JSON:
    // for the client both are "fix your body".
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(status, code, rej.body_text())
}

/// `axum::extract::Query` with JSON errors.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|rej: QueryRejection| ApiError::bad_request("invalid_query", rej.body_text()))
    }
}
