//! What the authentication service hands out and refuses with: the token pair, an
//! access token's claims, and [`AuthError`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{Role, StoreError};

/// What a successful login or refresh returns to the client.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// Signed JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque, single-use token for `refresh`.
    pub refresh_token: String,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// User name at the time the token was issued.
    pub username: String,
    /// Role at the time the token was issued.
    pub role: Role,
    /// Token kind; always `"access"` for tokens this server accepts.
    pub typ: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
}

/// Everything authentication can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user or wrong password (deliberately indistinguishable).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many failed logins from this client's address (it is banned) or to this
    /// account; try again after `retry_after`.
    #[error("too many failed logins; retry in {} s", retry_after.as_secs())]
    Throttled { retry_after: Duration },
    /// Missing, malformed, forged, expired, revoked or reused token.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Too many password checks are running; try again after `retry_after`.
    #[error("too many logins in progress; retry in {} s", retry_after.as_secs())]
    Busy { retry_after: Duration },
    /// Self-service registration is disabled.
    #[error("registration is closed")]
    RegistrationClosed,
    /// The user name already exists.
    #[error("username is already taken")]
    UsernameTaken,
    /// The user name breaks the naming rules; the text says which.
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    /// The password breaks the password policy; the text says which.
    #[error("password {0}")]
    WeakPassword(String),
    /// A request the rules refuse (an app password's name); the text says why.
    #[error("{0}")]
    InvalidInput(String),
    /// The password was right, but the account has two-factor login: the request must
    /// carry a code or a recovery code (edges that cannot: an app password).
    #[error("two-factor code required")]
    TwoFactorRequired,
    /// A wrong, expired or already used code or recovery code.
    #[error("invalid or already used two-factor code")]
    InvalidTwoFactorCode,
    /// A code or recovery code that cannot be one (wrong length or characters).
    #[error("malformed two-factor code: {0}")]
    MalformedTwoFactorCode(String),
    /// Two-factor login is already on; turn it off first.
    #[error("two-factor login is already enabled")]
    TwoFactorAlreadyEnabled,
    /// Two-factor login is not on.
    #[error("two-factor login is not enabled")]
    TwoFactorNotEnabled,
    /// No two-factor setup waits for confirmation (or it changed meanwhile).
    #[error("no two-factor setup to confirm; enable it first")]
    TwoFactorNotPending,
    /// The JWT secret is missing, too short or unreadable (a startup error).
    #[error("JWT secret: {0}")]
    Secret(String),
    /// The store failed (also used for internal hashing faults).
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}
