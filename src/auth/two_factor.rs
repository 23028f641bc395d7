//! Two-factor login: setting it up, checking the second factor at login, turning it off.
//!
//! A user enables it in two steps: [`Auth::begin_two_factor`] makes a pending secret
//! (shown once as base32, `otpauth://` URL and QR code), and
//! [`Auth::confirm_two_factor`] activates it with a first code and hands out the
//! recovery codes, once. Until then logins are unchanged; beginning again replaces the
//! pending secret.
//!
//! Once enabled, a login with the account password also needs a [`SecondFactor`]: a
//! TOTP code whose time step is newer than the last one accepted (so a code works once,
//! also under racing logins: the store accepts a step with one conditional write), or
//! a recovery code, spent by deleting its digest. Edges whose clients cannot send a
//! code (the qBittorrent API, WebDAV) get [`AuthError::TwoFactorRequired`] for the
//! account password and must use app passwords. Wrong codes count as failed logins in
//! the login limiter, as wrong passwords do; a right password without a code does not.
//!
//! Codes and secrets are never logged.

use std::net::IpAddr;

use serde::Serialize;

use super::totp::{self, Enrollment};
use super::{Auth, AuthError};
use crate::cache::LoginAttempt;
use crate::store::{TwoFactor, User};

/// The second factor a request carries. Holds a secret: no `Debug`.
pub enum SecondFactor {
    /// A TOTP code, `totp::DIGITS` digits.
    Code(String),
    /// A recovery code in canonical form.
    RecoveryCode(String),
}

impl SecondFactor {
    /// The factor of a request's optional `code` and `recoveryCode` fields (at most one
    /// of them; empty counts as absent). Malformed ones are refused before anything is
    /// checked.
    pub fn from_request(
        code: Option<&str>,
        recovery_code: Option<&str>,
    ) -> Result<Option<Self>, AuthError> {
        let given = |v: Option<&str>| v.filter(|s| !s.trim().is_empty()).map(str::to_owned);
        match (given(code), given(recovery_code)) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(AuthError::MalformedTwoFactorCode(
                "send either a code or a recovery code, not both".into(),
            )),
            (Some(c), None) => totp::normalize_code(&c)
                .map(|c| Some(Self::Code(c)))
                .ok_or_else(|| {
                    AuthError::MalformedTwoFactorCode(format!("a code is {} digits", totp::DIGITS))
                }),
            (None, Some(r)) => totp::normalize_recovery_code(&r)
                .map(|r| Some(Self::RecoveryCode(r)))
                .ok_or_else(|| {
                    AuthError::MalformedTwoFactorCode("not a recovery code (xxxxx-xxxxx)".into())
                }),
        }
    }
}

/// A user's two-factor state as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorStatus {
    /// Logins need a second factor.
    pub enabled: bool,
    /// A secret waits for its first code.
    pub pending: bool,
    /// Recovery codes not yet used (0 unless enabled).
    pub recovery_codes_left: u32,
}

fn now_secs() -> u64 {
    u64::try_from(crate::now_millis() / 1000).unwrap_or(0)
}

/// The digests stored for freshly made recovery codes.
fn digests(codes: &[String]) -> Vec<String> {
    codes
        .iter()
        .map(|c| totp::recovery_digest(c).expect("codes made here are well formed"))
        .collect()
}

impl Auth {
    pub async fn two_factor_status(&self, user_id: &str) -> Result<TwoFactorStatus, AuthError> {
        let found = self.store.two_factor(user_id).await?;
        let enabled = found.as_ref().is_some_and(|t| t.enabled);
        Ok(TwoFactorStatus {
            enabled,
            pending: found.as_ref().is_some_and(|t| !t.enabled),
            recovery_codes_left: found
                .filter(|t| t.enabled)
                .map_or(0, |t| t.recovery_codes_left),
        })
    }

    /// Makes a new pending secret (replacing a pending one) and returns what the user
    /// needs to add it to an authenticator app.
    pub async fn begin_two_factor(&self, user_id: &str) -> Result<Enrollment, AuthError> {
        let user = self.user(user_id).await?;
        let secret = totp::new_secret();
        let enrollment = totp::enrollment(&secret, &user.username)?;
        let now = crate::now_millis();
        if !self
            .store
            .set_pending_two_factor(user_id, &secret, now)
            .await?
        {
            return Err(AuthError::TwoFactorAlreadyEnabled);
        }
        Ok(enrollment)
    }

    /// The QR code (PNG) of the pending secret.
    pub async fn pending_two_factor_qr(&self, user_id: &str) -> Result<Vec<u8>, AuthError> {
        let user = self.user(user_id).await?;
        let pending = self.pending(user_id).await?;
        Ok(totp::enrollment(&pending.secret, &user.username)?.qr_png)
    }

    /// Activates the pending secret with a code of it; returns the new recovery codes
    /// (the only time they are shown).
    pub async fn confirm_two_factor(
        &self,
        user_id: &str,
        code: &str,
    ) -> Result<Vec<String>, AuthError> {
        let Some(SecondFactor::Code(code)) = SecondFactor::from_request(Some(code), None)? else {
            return Err(AuthError::MalformedTwoFactorCode(
                "a code is required".into(),
            ));
        };
        let pending = self.pending(user_id).await?;
        let step = totp::matching_step(&pending.secret, &code, now_secs())
            .ok_or(AuthError::InvalidTwoFactorCode)?;
        let codes = totp::new_recovery_codes();
        let now = crate::now_millis();
        let enabled = self
            .store
            .enable_two_factor(user_id, &pending.secret, step, &digests(&codes), now)
            .await?;
        if !enabled {
            // Confirmed or begun again meanwhile, by another request.
            return Err(AuthError::TwoFactorNotPending);
        }
        tracing::info!(user_id, "two-factor login enabled");
        Ok(codes)
    }

    /// Turns two-factor login off, given the account password and a second factor
    /// (checked under the login limiter).
    pub async fn disable_two_factor(
        &self,
        user_id: &str,
        password: &str,
        factor: &SecondFactor,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        let user = self.user(user_id).await?;
        self.step_up(&user, Some(password), factor, client).await?;
        self.store.delete_two_factor(user_id).await?;
        tracing::info!(user_id, "two-factor login disabled");
        Ok(())
    }

    /// Replaces the recovery codes, given a second factor; returns the new ones.
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: &str,
        factor: &SecondFactor,
        client: IpAddr,
    ) -> Result<Vec<String>, AuthError> {
        let user = self.user(user_id).await?;
        self.step_up(&user, None, factor, client).await?;
        let codes = totp::new_recovery_codes();
        if !self
            .store
            .replace_recovery_codes(user_id, &digests(&codes))
            .await?
        {
            return Err(AuthError::TwoFactorNotEnabled);
        }
        Ok(codes)
    }

    /// After the account password matched: passes when the user has no two-factor
    /// login, or when `factor` is a valid, unused one.
    pub(super) async fn check_second_factor(
        &self,
        user: &User,
        factor: Option<&SecondFactor>,
    ) -> Result<(), AuthError> {
        let Some(enabled) = self.store.two_factor(&user.id).await?.filter(|t| t.enabled) else {
            return Ok(());
        };
        match factor {
            None => Err(AuthError::TwoFactorRequired),
            Some(f) => self.spend_factor(&enabled, f).await,
        }
    }

    /// Checks and spends a factor: a code's step is accepted once, a recovery code used once.
    async fn spend_factor(
        &self,
        state: &TwoFactor,
        factor: &SecondFactor,
    ) -> Result<(), AuthError> {
        let spent = match factor {
            SecondFactor::Code(code) => {
                match totp::matching_step(&state.secret, code, now_secs()) {
                    Some(step) => {
                        self.store
                            .accept_two_factor_step(&state.user_id, step)
                            .await?
                    }
                    None => false,
                }
            }
            SecondFactor::RecoveryCode(code) => match totp::recovery_digest(code) {
                Some(digest) => {
                    let used = self
                        .store
                        .use_recovery_code(&state.user_id, &digest)
                        .await?;
                    if used {
                        tracing::info!(user_id = %state.user_id, "recovery code used");
                    }
                    used
                }
                None => false,
            },
        };
        if spent {
            Ok(())
        } else {
            Err(AuthError::InvalidTwoFactorCode)
        }
    }

    /// Proves a signed-in user is at the keyboard: the password (when given) and a
    /// second factor, under the login limiter so codes cannot be guessed here either.
    async fn step_up(
        &self,
        user: &User,
        password: Option<&str>,
        factor: &SecondFactor,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        let attempt = self.begin_attempt(client, &user.username).await?;
        let checked = async {
            if let Some(p) = password
                && !self.hasher.verify(p, &user.password_hash).await?
            {
                return Err(AuthError::InvalidCredentials);
            }
            let state = self.store.two_factor(&user.id).await?;
            let enabled = state
                .filter(|t| t.enabled)
                .ok_or(AuthError::TwoFactorNotEnabled)?;
            self.spend_factor(&enabled, factor).await
        }
        .await;
        self.settle(attempt, client, checked).await
    }

    pub(super) async fn begin_attempt(
        &self,
        client: IpAddr,
        username: &str,
    ) -> Result<LoginAttempt<'_>, AuthError> {
        self.cache
            .begin_login(client, username)
            .await
            .map_err(|retry_after| AuthError::Throttled { retry_after })
    }

    /// Settles a login attempt by its outcome: wrong passwords and codes count as
    /// failures; a missing second factor, storage faults and the like are taken back
    /// (nobody learned anything from them).
    pub(super) async fn settle<T>(
        &self,
        attempt: LoginAttempt<'_>,
        client: IpAddr,
        checked: Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        match checked {
            Ok(v) => {
                attempt.succeeded().await;
                Ok(v)
            }
            Err(e @ (AuthError::InvalidCredentials | AuthError::InvalidTwoFactorCode)) => {
                attempt.failed().await;
                tracing::info!(client = %client, reason = %e, "failed login");
                Err(e)
            }
            Err(e) => {
                drop(attempt);
                Err(e)
            }
        }
    }

    async fn user(&self, user_id: &str) -> Result<User, AuthError> {
        self.store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)
    }

    async fn pending(&self, user_id: &str) -> Result<TwoFactor, AuthError> {
        match self.store.two_factor(user_id).await? {
            Some(t) if !t.enabled => Ok(t),
            Some(_) => Err(AuthError::TwoFactorAlreadyEnabled),
            None => Err(AuthError::TwoFactorNotPending),
        }
    }
}
