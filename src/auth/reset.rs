//! Resetting a password out of band: `torrentedge reset-password USER`.
//!
//! It works on the store directly, without the server's JWT secret or the server itself
//! (which may be running: SQLite's WAL lets both write), because it is how an
//! administrator who lost every password gets back in.

use std::path::PathBuf;

use super::AuthError;
use super::hasher::Hasher;
use super::password;
use crate::config::Config;
use crate::store::{SqliteStore, Store, StoreError};

/// A reset's outcome. `Debug` leaves the password out.
pub struct PasswordReset {
    /// The new password: show it once, it is stored only as a hash.
    pub password: String,
    /// Refresh tokens revoked, so every session of the user must log in again.
    pub revoked_tokens: u64,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReset")
            .field("revoked_tokens", &self.revoked_tokens)
            .finish_non_exhaustive()
    }
}

/// Why a reset failed.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// There is no user by that name.
    #[error("no user named {0:?}")]
    UnknownUser(String),
    /// The data directory holds no database: probably the wrong `DATA_DIR`.
    #[error("no database at {} (is DATA_DIR the server's?)", .0.display())]
    NoDatabase(PathBuf),
    /// Hashing or the store failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for ResetError {
    fn from(e: StoreError) -> Self {
        Self::Auth(e.into())
    }
}

/// Gives `username` a new random password (made like the first administrator's) and
/// revokes all their refresh tokens. Access tokens already issued stay valid until they
/// expire (`ACCESS_TOKEN_TTL`): they are not stored, so they cannot be revoked.
pub async fn reset_password(
    store: &dyn Store,
    username: &str,
) -> Result<PasswordReset, ResetError> {
    let unknown = || ResetError::UnknownUser(username.to_owned());
    let user = store.user_by_name(username).await?.ok_or_else(unknown)?;
    let password = password::generate_password();
    let hash = Hasher::new(1).hash(&password).await?;
    if !store.set_password_hash(&user.id, &hash).await? {
        // Deleted in the meantime.
        return Err(unknown());
    }
    let revoked_tokens = store.revoke_user_tokens(&user.id).await?;
    tracing::info!(username, revoked_tokens, "password reset");
    Ok(PasswordReset {
        password,
        revoked_tokens,
    })
}

/// [`reset_password`] on the server's own database, as `config` locates it: MongoDB
/// when `MONGODB_URI` is set, else the SQLite file in `DATA_DIR`. A missing database
/// file is an error rather than an empty one created in the wrong place.
pub async fn reset_password_in(
    config: &Config,
    username: &str,
) -> Result<PasswordReset, ResetError> {
    if let Some(uri) = &config.mongodb_uri {
        let store = crate::store::MongoStore::connect(uri).await?;
        return reset_password(&store, username).await;
    }
    let path = config.database_path();
    if !path.is_file() {
        return Err(ResetError::NoDatabase(path));
    }
    let store = SqliteStore::open(&path)?;
    reset_password(&store, username).await
}
