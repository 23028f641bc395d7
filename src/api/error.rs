//! One error type for the REST edge. Every failure leaves as
//! `{"error": {"code": "...", "message": "..."}}` with the matching status (and, for
//! some, fields beside `error` the client acts on, such as the files to choose from);
//! details of 5xx errors are logged, never returned.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::auth::AuthError;
use crate::engine::EngineError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// Fields of the body beside `error` (see [`ApiError::with`]). Boxed: most errors
    /// have none, and every `Result` of the edge carries this type.
    pub extra: Option<Box<Map<String, Value>>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            extra: None,
        }
    }
    /// Adds a field beside `error` in the body (`error` itself cannot be replaced).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        if key != "error" {
            self.extra
                .get_or_insert_with(Default::default)
                .insert(key.to_owned(), value);
        }
        self
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid access token",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }
}

/// Every error's body: `error`, and for some errors fields beside it the client acts
/// on (`candidates`, `files`).
// Written with `json!` by `into_response`; this type only describes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_magnet`, `not_found`, `unauthorized`, ...
    code: String,
    /// For people; may change.
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extra.map(|b| *b).unwrap_or_default();
        body.insert(
            "error".into(),
            json!({ "code": self.code, "message": self.message }),
        );
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        use EngineError as E;
        let msg = e.to_string();
        match e {
            E::InvalidMagnet(_) => Self::bad_request("invalid_magnet", msg),
            E::InvalidTorrent(_) => Self::bad_request("invalid_torrent", msg),
            E::UnsafePath(_) => Self::bad_request("unsafe_path", msg),
            E::InvalidUrl(_) => Self::bad_request("invalid_url", msg),
            E::Fetch(_) => Self::new(StatusCode::BAD_GATEWAY, "fetch_failed", msg),
            E::Timeout(_) => Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", msg),
            E::TooLarge(_) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", msg),
            E::AlreadyExists(_) => Self::new(StatusCode::CONFLICT, "already_exists", msg),
            E::InvalidSetting(_) => Self::bad_request("invalid_setting", msg),
            E::FilesInUse(_) => Self::new(StatusCode::CONFLICT, "files_in_use", msg),
            E::DeleteFiles(_) => {
                tracing::error!(error = %msg, "removing a torrent's files");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "delete_files_failed",
                    "the torrent's files could not be deleted; the torrent was kept as it was",
                )
            }
            E::NotFound(_) => Self::not_found(msg),
            E::FileNotFound(_) => Self::new(StatusCode::NOT_FOUND, "file_not_found", msg),
            E::Busy(_) => Self {
                retry_after: Some(Duration::from_secs(5)),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", msg)
            },
            E::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            E::Store(s) => s.into(),
            E::Internal(err) => Self::internal(format!("{err:#}")),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use AuthError as A;
        let msg = e.to_string();
        match e {
            A::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", msg)
            }
            A::Throttled { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", msg)
            },
            A::Busy { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "server_busy", msg)
            },
            A::InvalidToken => Self::new(StatusCode::UNAUTHORIZED, "invalid_token", msg),
            A::RegistrationClosed => Self::forbidden(msg),
            A::UsernameTaken => Self::new(StatusCode::CONFLICT, "username_taken", msg),
            A::InvalidUsername(_) => Self::bad_request("invalid_username", msg),
            A::WeakPassword(_) => Self::bad_request("weak_password", msg),
            A::InvalidInput(_) => Self::bad_request("invalid_request", msg),
            A::TwoFactorRequired => Self::new(StatusCode::UNAUTHORIZED, "two_factor_required", msg),
            A::InvalidTwoFactorCode => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_two_factor_code", msg)
            }
            A::MalformedTwoFactorCode(_) => Self::bad_request("malformed_two_factor_code", msg),
            A::TwoFactorAlreadyEnabled => {
                Self::new(StatusCode::CONFLICT, "two_factor_enabled", msg)
            }
            A::TwoFactorNotEnabled => {
                Self::new(StatusCode::CONFLICT, "two_factor_not_enabled", msg)
            }
            A::TwoFactorNotPending => {
                Self::new(StatusCode::CONFLICT, "two_factor_not_pending", msg)
            }
            A::Secret(_) => Self::internal(msg),
            A::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("already exists: {what}"),
            ),
            StoreError::Backend(_) => {
                tracing::error!(error = %e, "store failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "storage is unavailable, try again",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: ApiError) -> (StatusCode, Value) {
        let resp = e.into_response();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn extra_fields_go_beside_the_error_and_never_replace_it() {
        let plain = ApiError::not_found("no such thing");
        assert_eq!(
            body(plain).await,
            (
                StatusCode::NOT_FOUND,
                json!({"error": {"code": "not_found", "message": "no such thing"}})
            )
        );
        let rich = ApiError::new(StatusCode::CONFLICT, "ambiguous_file", "choose")
            .with("candidates", json!([{"index": 1}]))
            .with("error", json!("overwritten?"));
        assert_eq!(
            body(rich).await.1,
            json!({
                "error": {"code": "ambiguous_file", "message": "choose"},
                "candidates": [{"index": 1}],
            })
        );
    }
}
