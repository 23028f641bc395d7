//! A user's two-factor (TOTP) state: the shared secret, whether it is active, the
//! last time step a code was accepted for, and how many single-use recovery codes are
//! left.
//!
//! The store knows no TOTP arithmetic. It keeps two rules that must hold under
//! concurrency, so they are single conditional writes in every backend:
//! - a time step is accepted at most once, and never one at or below the last
//!   accepted ([`super::Store::accept_two_factor_step`]), so two logins racing with one
//!   code cannot both pass;
//! - a recovery code (kept only as a digest) is spent at most once
//!   ([`super::Store::use_recovery_code`]).

use super::Millis;

/// What the store holds about one user's two-factor login.
#[derive(Clone, PartialEq, Eq)]
pub struct TwoFactor {
    pub user_id: String,
    /// The TOTP shared secret, raw bytes (20 random bytes). Never logged.
    pub secret: Vec<u8>,
    /// False while the secret waits for its first code (the pending state): it does
    /// not guard logins until then.
    pub enabled: bool,
    /// The highest time step a code was accepted for (`unix seconds / 30`).
    pub last_step: Option<u64>,
    /// Recovery codes not yet spent.
    pub recovery_codes_left: u32,
    /// When the current secret was made.
    pub created_at: Millis,
    /// When it was activated.
    pub enabled_at: Option<Millis>,
}

impl std::fmt::Debug for TwoFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactor")
            .field("user_id", &self.user_id)
            .field("enabled", &self.enabled)
            .field("last_step", &self.last_step)
            .field("recovery_codes_left", &self.recovery_codes_left)
            .finish_non_exhaustive()
    }
}
