//! App passwords: random passwords a user creates for programs that cannot do JWT
//! (media players mounting WebDAV). They name the user like the real password does,
//! are shown once, are kept only as SHA-256 digests (they are 24 random bytes, so a
//! slow hash adds nothing), can be revoked one by one, and are accepted only where the
//! server says so (never for `POST /api/auth/login`).
//!
//! Each user's list is one settings entry, `app_passwords:<userId>`, in the store.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Auth, AuthError};
use crate::store::{Millis, StoreError};

/// Every app password starts with this, so it is told from a real one at a glance.
pub const PREFIX: &str = "tea_";
/// App passwords one user may have.
pub const MAX_PER_USER: usize = 50;

/// What is shown of an app password after it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPassword {
    pub id: String,
    pub name: String,
    /// Milliseconds since the Unix epoch.
    #[schema(value_type = i64)]
    pub created_at: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    #[serde(flatten)]
    info: AppPassword,
    /// SHA-256 hex of the password.
    digest: String,
}

fn key(user_id: &str) -> String {
    format!("app_passwords:{user_id}")
}

fn digest(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

/// Equal digests, in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Auth {
    async fn load_app_passwords(&self, user_id: &str) -> Result<Vec<Stored>, AuthError> {
        let key = key(user_id);
        let all = self.store.settings().await?;
        let Some((_, json)) = all.into_iter().find(|(k, _)| *k == key) else {
            return Ok(Vec::new());
        };
        serde_json::from_str(&json).map_err(|e| {
            let bad = std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{key}: {e}"));
            AuthError::Store(StoreError::backend(bad))
        })
    }

    async fn save_app_passwords(&self, user_id: &str, list: &[Stored]) -> Result<(), AuthError> {
        let json = serde_json::to_string(list).expect("app passwords serialize");
        self.store.save_settings(&[(key(user_id), json)]).await?;
        Ok(())
    }

    /// Creates an app password named `name`; returns it (the only time it is shown).
    pub async fn create_app_password(
        &self,
        user_id: &str,
        name: &str,
    ) -> Result<(AppPassword, String), AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(AuthError::InvalidInput(
                "name must be 1 to 64 characters".into(),
            ));
        }
        let _writing = self.app_passwords_lock.lock().await;
        let mut list = self.load_app_passwords(user_id).await?;
        if list.len() >= MAX_PER_USER {
            return Err(AuthError::InvalidInput(format!(
                "a user may have at most {MAX_PER_USER} app passwords"
            )));
        }
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        let password = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
        let info = AppPassword {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            created_at: crate::now_millis(),
        };
        list.push(Stored {
            info: info.clone(),
            digest: digest(&password),
        });
        self.save_app_passwords(user_id, &list).await?;
        Ok((info, password))
    }

    pub async fn app_passwords(&self, user_id: &str) -> Result<Vec<AppPassword>, AuthError> {
        Ok(self
            .load_app_passwords(user_id)
            .await?
            .into_iter()
            .map(|s| s.info)
            .collect())
    }

    /// Revokes one; false when the user has none with that id.
    pub async fn delete_app_password(&self, user_id: &str, id: &str) -> Result<bool, AuthError> {
        let _writing = self.app_passwords_lock.lock().await;
        let mut list = self.load_app_passwords(user_id).await?;
        let before = list.len();
        list.retain(|s| s.info.id != id);
        if list.len() == before {
            return Ok(false);
        }
        self.save_app_passwords(user_id, &list).await?;
        Ok(true)
    }

    /// Whether `password` is one of the user's app passwords.
    pub(super) async fn is_app_password(
        &self,
        user_id: &str,
        password: &str,
    ) -> Result<bool, AuthError> {
        if !password.starts_with(PREFIX) {
            return Ok(false);
        }
        let d = digest(password);
        let list = self.load_app_passwords(user_id).await?;
        // Every entry is compared, so the time says nothing about which matched.
        Ok(list.iter().fold(false, |hit, s| same(&s.digest, &d) | hit))
    }
}
