//! Authentication: accounts, passwords, access and refresh tokens, login throttling.
//!
//! [`Auth`] is the one entry point the HTTP layer uses. The pieces live in private
//! submodules: `password` (the password policy), `hasher` (argon2id hashing and checking,
//! a bounded number at once in reused memory), `tokens` (HS256 access tokens and opaque
//! refresh tokens), `secret` (the JWT signing secret), `purge` (deleting expired refresh tokens,
//! hourly), `reset` (the `reset-password` command), [`totp`] (RFC 6238 codes and recovery
//! codes) and `two_factor` (setting up two-factor login and checking it at login); `types` holds
//! the tokens' and errors' types.
//!
//! Refresh tokens rotate: each one can be spent once, for a new pair in the same family.
//! Presenting a spent token again means it was copied, so the whole family is revoked and
//! whoever holds its newest token (legitimate or not) has to log in again.

pub mod app_passwords;
mod hasher;
pub mod links;
mod password;
mod purge;
mod reset;
mod secret;
mod tokens;
pub mod totp;
mod two_factor;
mod types;

#[cfg(test)]
mod test_store;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, DropGuard};

use crate::cache::{Cache, Limits};
use crate::config::AuthConfig;
use crate::store::{Consumed, DynStore, RefreshToken, Role, StoreError, User};
pub use reset::{PasswordReset, ResetError, reset_password, reset_password_in};
use tokens::TokenKeys;
pub use totp::Enrollment;
pub use two_factor::{SecondFactor, TwoFactorStatus};
pub use types::{AuthError, Claims, TokenPair};

/// Name of the account [`Auth::bootstrap_admin`] creates.
pub const ADMIN_USERNAME: &str = "admin";
/// Shortest and longest accepted user names, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;

/// Authentication service: owns the signing keys and the account rules, counts logins in
/// the cache's limiter and keeps revoked access tokens there,
/// and the task deleting expired refresh tokens.
pub struct Auth {
    store: DynStore,
    keys: TokenKeys,
    links: links::LinkKey,
    /// Serialises changes to users' app-password lists (read, change, write).
    app_passwords_lock: tokio::sync::Mutex<()>,
    config: AuthConfig,
    cache: Cache,
    hasher: hasher::Hasher,
    /// Stops the token purge when this `Auth` is dropped.
    _purge: DropGuard,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("store", &self.store.backend_name())
            .field("keys", &self.keys)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Loads the JWT secret: config's `jwt_secret` if set (at least 32 bytes), else the file
    /// `<data_dir>/jwt_secret`, created on first start with 64 random bytes and mode 0600
    /// (the directory is created too). A file holding fewer than 32 bytes is an error.
    ///
    /// Starts deleting expired refresh tokens: now, then hourly, for as long as the
    /// returned `Auth` lives.
    pub async fn new(
        cfg: &AuthConfig,
        data_dir: &Path,
        store: DynStore,
    ) -> Result<Self, AuthError> {
        Self::with_cache(cfg, data_dir, store, Cache::in_process(login_limits(cfg))).await
    }

    /// [`Auth::new`] counting logins and keeping revocations in `cache` (which may be
    /// shared with other servers through Redis).
    pub async fn with_cache(
        cfg: &AuthConfig,
        data_dir: &Path,
        store: DynStore,
        cache: Cache,
    ) -> Result<Self, AuthError> {
        let secret = secret::load(cfg.jwt_secret.as_ref(), data_dir).await?;
        let purge = CancellationToken::new();
        tokio::spawn(purge::run(store.clone(), purge::PURGE_EVERY, purge.clone()));
        Ok(Self {
            store,
            keys: TokenKeys::new(secret.expose()),
            links: links::LinkKey::new(secret.expose()),
            app_passwords_lock: Default::default(),
            config: cfg.clone(),
            cache,
            hasher: hasher::Hasher::new(cfg.login_concurrency),
            _purge: purge.drop_guard(),
        })
    }

    /// If there is no user at all, creates `admin` (an administrator) with the configured
    /// admin password, or with a random 20-character one that is logged once at WARN (the
    /// only place a password is ever logged). Returns the password only if it generated it.
    /// Does nothing once any user exists.
    pub async fn bootstrap_admin(&self) -> Result<Option<String>, AuthError> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let configured = self.config.admin_password.as_ref();
        let password =
            configured.map_or_else(password::generate_password, |p| p.expose().to_owned());
        match self
            .create_user(ADMIN_USERNAME, &password, Role::Admin)
            .await
        {
            Ok(_) => {}
            // Another instance bootstrapped at the same moment; theirs stands.
            Err(AuthError::UsernameTaken) => return Ok(None),
            Err(e) => return Err(e),
        }
        if configured.is_some() {
            tracing::info!(username = ADMIN_USERNAME, "created the first administrator");
            return Ok(None);
        }
        tracing::warn!(
            username = ADMIN_USERNAME,
            password = %password,
            "created the first administrator with a generated password; store it now, it is not shown again"
        );
        Ok(Some(password))
    }

    /// Checks a user name and password and issues a new token pair (a new refresh family).
    /// Banned addresses, and addresses new to an account under attack, get
    /// [`AuthError::Throttled`] without a check (see `cache::throttle` for the rules).
    /// An account with two-factor login gets [`AuthError::TwoFactorRequired`]: see
    /// [`Auth::login_with`].
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<TokenPair, AuthError> {
        self.login_with(username, password, None, client).await
    }

    /// [`Auth::login`] with the second factor the request carried, if any; needed (and
    /// spent) when the account has two-factor login.
    pub async fn login_with(
        &self,
        username: &str,
        password: &str,
        factor: Option<&SecondFactor>,
        client: IpAddr,
    ) -> Result<TokenPair, AuthError> {
        let user = self
            .authenticate_with(username, password, client, false, factor)
            .await?;
        self.issue_pair(&user, uuid::Uuid::new_v4().to_string())
            .await
    }

    /// Checks a user name and password under the login limiter, as [`Auth::login`] does,
    /// without issuing tokens. An account with two-factor login is refused
    /// ([`AuthError::TwoFactorRequired`]): there is no way to send a code here.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<User, AuthError> {
        self.authenticate_with(username, password, client, false, None)
            .await
    }

    /// [`Auth::authenticate`] that also takes one of the user's app passwords (for
    /// WebDAV and the qBittorrent API, whose clients cannot do JWT). Failures count in
    /// the same limiter. App passwords are credentials of their own: they work with
    /// two-factor login on, when the account password is refused.
    pub async fn authenticate_app(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<User, AuthError> {
        self.authenticate_with(username, password, client, true, None)
            .await
    }

    async fn authenticate_with(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
        app_passwords: bool,
        factor: Option<&SecondFactor>,
    ) -> Result<User, AuthError> {
        let attempt = self.begin_attempt(client, username).await?;
        let checked = if app_passwords && password.starts_with(app_passwords::PREFIX) {
            self.check_app_password(username, password).await
        } else {
            match self.check_credentials(username, password).await {
                Ok(user) => self.check_second_factor(&user, factor).await.map(|()| user),
                Err(e) => Err(e),
            }
        };
        self.settle(attempt, client, checked).await
    }

    /// Spends a refresh token for a new pair in the same family. A token spent before is a
    /// replay: its whole family is revoked. Unknown, revoked or expired tokens, and tokens
    /// of deleted users, are [`AuthError::InvalidToken`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let now = crate::now_millis();
        let hash = tokens::hash_refresh_token(refresh_token);
        let record = match self.store.consume_refresh_token(&hash, now).await? {
            Consumed::Fresh(record) => record,
            Consumed::Reused(record) => return Err(self.reuse_detected(&record).await),
            Consumed::Unknown => return Err(AuthError::InvalidToken),
        };
        if record.revoked || record.expires_at <= now {
            return Err(AuthError::InvalidToken);
        }
        let Some(user) = self.store.user_by_id(&record.user_id).await? else {
            self.store.revoke_token_family(&record.family_id).await?;
            return Err(AuthError::InvalidToken);
        };
        self.issue_pair(&user, record.family_id).await
    }

    /// Revokes the family of a refresh token (every session descended from that login)
    /// and, when the caller showed its access token, that token too: its `jti` is refused
    /// until it would have expired. Unknown tokens are fine: logging out twice succeeds.
    pub async fn logout(
        &self,
        refresh_token: &str,
        access: Option<&Claims>,
    ) -> Result<(), AuthError> {
        if let Some(claims) = access {
            let left = claims.exp.saturating_sub(crate::now_millis() / 1000);
            let left = Duration::from_secs(u64::try_from(left).unwrap_or(0));
            self.cache.revoke(&claims.jti, left).await;
        }
        let hash = tokens::hash_refresh_token(refresh_token);
        match self
            .store
            .consume_refresh_token(&hash, crate::now_millis())
            .await?
        {
            Consumed::Fresh(record) | Consumed::Reused(record) => {
                self.store.revoke_token_family(&record.family_id).await?;
            }
            Consumed::Unknown => {}
        }
        Ok(())
    }

    /// Checks an access token (HS256 signature, expiry, `typ == "access"`, not revoked by
    /// a logout) and returns its claims.
    pub async fn verify_access(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.keys.verify(token)?;
        if self.is_revoked(&claims.jti).await {
            return Err(AuthError::InvalidToken);
        }
        Ok(claims)
    }

    /// Whether a logout revoked the access token with this `jti` (for holders of a
    /// token checked earlier, such as a socket).
    pub async fn is_revoked(&self, jti: &str) -> bool {
        self.cache.is_revoked(jti).await
    }

    /// Creates an account after checking the user name and password rules.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<User, AuthError> {
        validate_username(username)?;
        password::check_policy(password)?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_owned(),
            password_hash: self.hasher.hash(password).await?,
            role,
            created_at: crate::now_millis(),
        };
        match self.store.create_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(AuthError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Self-service sign-up of a regular user; [`AuthError::RegistrationClosed`] unless
    /// registration is allowed by the configuration.
    pub async fn register(&self, username: &str, password: &str) -> Result<User, AuthError> {
        if !self.config.allow_registration {
            return Err(AuthError::RegistrationClosed);
        }
        self.create_user(username, password, Role::User).await
    }

    /// The user if the password matches. Unknown users cost one dummy verification so the
    /// response time does not tell which user names exist.
    async fn check_app_password(&self, username: &str, password: &str) -> Result<User, AuthError> {
        let Some(user) = self.store.user_by_name(username).await? else {
            return Err(AuthError::InvalidCredentials);
        };
        if self.is_app_password(&user.id, password).await? {
            Ok(user)
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    async fn check_credentials(&self, username: &str, password: &str) -> Result<User, AuthError> {
        if password::is_oversized(password) {
            return Err(AuthError::InvalidCredentials);
        }
        let Some(user) = self.store.user_by_name(username).await? else {
            self.hasher.verify_dummy(password).await?;
            return Err(AuthError::InvalidCredentials);
        };
        if self.hasher.verify(password, &user.password_hash).await? {
            Ok(user)
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    /// Revokes the family of a replayed refresh token and returns the error to report.
    async fn reuse_detected(&self, record: &RefreshToken) -> AuthError {
        tracing::warn!(
            user_id = %record.user_id,
            family = %record.family_id,
            "refresh token reused; revoking its family"
        );
        match self.store.revoke_token_family(&record.family_id).await {
            Ok(_) => AuthError::InvalidToken,
            Err(e) => e.into(),
        }
    }

    /// Signs an access token and stores a new refresh token in `family_id`.
    async fn issue_pair(&self, user: &User, family_id: String) -> Result<TokenPair, AuthError> {
        let now = crate::now_millis();
        let access_token = self.keys.sign(&self.access_claims(user, now))?;
        let refresh_token = tokens::new_refresh_token();
        let record = RefreshToken {
            token_hash: tokens::hash_refresh_token(&refresh_token),
            user_id: user.id.clone(),
            family_id,
            created_at: now,
            expires_at: now.saturating_add(duration_millis(self.config.refresh_ttl)),
            used_at: None,
            revoked: false,
        };
        self.store.insert_refresh_token(&record).await?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: self.config.access_ttl.as_secs(),
        })
    }

    fn access_claims(&self, user: &User, now_ms: i64) -> Claims {
        let iat = now_ms / 1000;
        let ttl = i64::try_from(self.config.access_ttl.as_secs()).unwrap_or(i64::MAX);
        Claims {
            sub: user.id.clone(),
            username: user.username.clone(),
            role: user.role,
            typ: tokens::ACCESS_TYP.to_owned(),
            iat,
            exp: iat.saturating_add(ttl),
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl Auth {
    /// Signs a link to `resource` for `user_id`, valid for `ttl`: (expiry in Unix
    /// seconds, signature).
    pub fn sign_link(&self, user_id: &str, resource: &str, ttl: Duration) -> (i64, String) {
        let expires = crate::now_millis() / 1000 + ttl.as_secs() as i64;
        (expires, self.links.sign(user_id, resource, expires))
    }

    /// Checks a signed link and returns its user, who must still exist.
    pub async fn verify_link(
        &self,
        user_id: &str,
        resource: &str,
        expires: i64,
        signature: &str,
    ) -> Result<User, links::LinkError> {
        self.links.verify(
            user_id,
            resource,
            expires,
            signature,
            crate::now_millis() / 1000,
        )?;
        match self.store.user_by_id(user_id).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(links::LinkError::Forged),
            Err(_) => Err(links::LinkError::Unavailable),
        }
    }
}

/// Checks the user name rules: 3 to 32 characters of `A-Z a-z 0-9 _ . -`.
pub fn validate_username(username: &str) -> Result<(), AuthError> {
    if !USERNAME_CHARS.contains(&username.chars().count()) {
        return Err(AuthError::InvalidUsername(format!(
            "must be {} to {} characters long",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !username.chars().all(allowed) {
        return Err(AuthError::InvalidUsername(
            "may only contain letters, digits, '_', '.' and '-'".into(),
        ));
    }
    Ok(())
}

/// The limiter's rules from the configuration.
pub fn login_limits(cfg: &AuthConfig) -> Limits {
    Limits {
        max_failures: cfg.login_max_failures,
        window: cfg.login_window,
        ban: cfg.login_ban,
        account_max_failures: cfg.login_account_max_failures,
        account_window: cfg.login_account_window,
    }
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
