//! `/api/auth/2fa`: the caller's two-factor login: status, setting it up, turning it
//! off, new recovery codes. The rules are `auth`'s; this edge only maps.
//!
//! A wrong password or code here answers 403, not 401: the caller's access token is
//! fine, and clients (the dashboard among them) take a 401 as "renew the session".

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::AUTH_MAX_BODY_BYTES;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthUser, ClientIp, Json};
use crate::auth::{AuthError, SecondFactor};

/// This module's part of the OpenAPI document (see [`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(status, enable, qr, confirm, disable, recovery_codes))]
pub(super) struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/2fa", get(status))
        .route("/api/auth/2fa/enable", post(enable))
        .route("/api/auth/2fa/qr", get(qr))
        .route("/api/auth/2fa/confirm", post(confirm))
        .route("/api/auth/2fa/disable", post(disable))
        .route("/api/auth/2fa/recovery-codes", post(recovery_codes))
        .layer(DefaultBodyLimit::max(AUTH_MAX_BODY_BYTES))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct FactorBody {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

impl FactorBody {
    fn factor(&self) -> Result<SecondFactor, ApiError> {
        SecondFactor::from_request(self.code.as_deref(), self.recovery_code.as_deref())?.ok_or_else(
            || {
                AuthError::MalformedTwoFactorCode("a code or a recovery code is required".into())
                    .into()
            },
        )
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
struct CodeBody {
    code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EnableView {
    /// Base32, for typing into an authenticator by hand.
    secret: String,
    otpauth_url: String,
    /// `data:image/png;base64,...` of the QR code holding `otpauthUrl`.
    qr_code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RecoveryCodes {
    /// Shown this once; only their digests are kept.
    recovery_codes: Vec<String>,
}

/// A refused password or code is 403 here (see the module doc).
fn step_up_error(e: AuthError) -> ApiError {
    let refused = matches!(
        e,
        AuthError::InvalidCredentials | AuthError::InvalidTwoFactorCode
    );
    let mut api = ApiError::from(e);
    if refused {
        api.status = StatusCode::FORBIDDEN;
    }
    api
}

#[utoipa::path(get, path = "/api/auth/2fa", operation_id = "two_factor_status", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's two-factor state", body = crate::auth::TwoFactorStatus),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
    ))]
async fn status(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(s.auth.two_factor_status(&user.0.sub).await?))
}

/// A new pending secret (replacing a pending one); active once a code confirms it.
#[utoipa::path(post, path = "/api/auth/2fa/enable", operation_id = "two_factor_enable", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret, its otpauth URL and QR code", body = EnableView),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 409, description = "`two_factor_enabled`: already on", body = ErrorBody),
    ))]
async fn enable(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    let e = s.auth.begin_two_factor(&user.0.sub).await?;
    let qr_code = e.qr_data_url();
    Ok(axum::Json(EnableView {
        secret: e.secret,
        otpauth_url: e.otpauth_url,
        qr_code,
    }))
}

/// The pending secret's QR code as `image/png`.
#[utoipa::path(get, path = "/api/auth/2fa/qr", operation_id = "two_factor_qr", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The QR code", content_type = "image/png"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 409, description = "No pending secret", body = ErrorBody),
    ))]
async fn qr(State(s): State<AppState>, user: AuthUser) -> Result<impl IntoResponse, ApiError> {
    let png = s.auth.pending_two_factor_qr(&user.0.sub).await?;
    let headers = [
        (header::CONTENT_TYPE, "image/png"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    Ok((headers, png))
}

/// Turns two-factor login on with a first code; answers the recovery codes, once.
#[utoipa::path(post, path = "/api/auth/2fa/confirm", operation_id = "two_factor_confirm", tag = "auth",
    request_body = CodeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "On; the recovery codes, shown this once", body = RecoveryCodes),
        (status = 400, description = "`malformed_two_factor_code`", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "`invalid_two_factor_code`", body = ErrorBody),
        (status = 409, description = "`two_factor_not_pending`", body = ErrorBody),
    ))]
async fn confirm(
    State(s): State<AppState>,
    user: AuthUser,
    Json(b): Json<CodeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let recovery_codes = s
        .auth
        .confirm_two_factor(&user.0.sub, &b.code)
        .await
        .map_err(step_up_error)?;
    // WebDAV remembers checked passwords for a while; the account password must stop
    // working there now, not when that memory runs out.
    s.dav_credentials.forget_user(&user.0.sub);
    Ok(axum::Json(RecoveryCodes { recovery_codes }))
}

/// Turns two-factor login off: the password and a code (or a recovery code).
#[utoipa::path(post, path = "/api/auth/2fa/disable", operation_id = "two_factor_disable", tag = "auth",
    request_body = FactorBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Off"),
        (status = 400, description = "Password or code missing or malformed", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Wrong password or code", body = ErrorBody),
        (status = 409, description = "`two_factor_not_enabled`", body = ErrorBody),
        (status = 429, description = "Too many failures", body = ErrorBody),
    ))]
async fn disable(
    State(s): State<AppState>,
    user: AuthUser,
    ClientIp(client): ClientIp,
    Json(b): Json<FactorBody>,
) -> Result<StatusCode, ApiError> {
    let factor = b.factor()?;
    let password = b
        .password
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("invalid_request", "the password is required"))?;
    s.auth
        .disable_two_factor(&user.0.sub, password, &factor, client)
        .await
        .map_err(step_up_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// New recovery codes (the old ones stop working), for a code or a recovery code.
#[utoipa::path(post, path = "/api/auth/2fa/recovery-codes", operation_id = "two_factor_recovery_codes", tag = "auth",
    request_body = FactorBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new recovery codes, shown this once", body = RecoveryCodes),
        (status = 400, description = "Code missing or malformed", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "Wrong code", body = ErrorBody),
        (status = 409, description = "`two_factor_not_enabled`", body = ErrorBody),
        (status = 429, description = "Too many failures", body = ErrorBody),
    ))]
async fn recovery_codes(
    State(s): State<AppState>,
    user: AuthUser,
    ClientIp(client): ClientIp,
    Json(b): Json<FactorBody>,
) -> Result<impl IntoResponse, ApiError> {
    let factor = b.factor()?;
    let recovery_codes = s
        .auth
        .regenerate_recovery_codes(&user.0.sub, &factor, client)
        .await
        .map_err(step_up_error)?;
    Ok(axum::Json(RecoveryCodes { recovery_codes }))
}
