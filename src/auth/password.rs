//! Passwords: the length policy, argon2id hashing and verification, and generated passwords.
//!
//! Hashing and verifying deliberately cost tens of milliseconds of CPU, so both run on
//! tokio's blocking pool instead of stalling an async worker. Passwords only ever travel
//! from the caller into the hasher; nothing here logs them.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::distr::Alphanumeric;
use rand::{Rng, RngCore};

use super::AuthError;
use crate::store::StoreError;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters (bounds the hashing work one request can cause).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Length of the passwords [`generate_password`] makes.
pub const GENERATED_PASSWORD_CHARS: usize = 20;

/// An argon2id hash (default parameters) of a password nobody knows. Logins for unknown
/// users are verified against it so that they cost as much as a wrong password and the
/// response time does not reveal which user names exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dG9ycmVudGVkZ2UtZHVtbXktc2FsdA$IfWdqqDa+4EG6ptA/k6ZYOcF14E5IiCyPBTjX6qWVbQ";

/// Checks the length policy of a new password; the reason is safe to show to the user.
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword(format!(
            "must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword(format!(
            "must be at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Whether a password is too long to be worth verifying (it could never have been set).
pub fn is_oversized(password: &str) -> bool {
    password.chars().count() > MAX_PASSWORD_CHARS
}

/// Hashes a password with argon2id and a fresh random salt; returns the PHC string.
pub async fn hash(password: &str) -> Result<String, AuthError> {
    let password = password.to_owned();
    let salt = random_salt()?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(internal)
    })
    .await
    .map_err(internal)?
}

/// Verifies a password against a PHC string. A hash that does not parse (corrupt data)
/// verifies nothing and is reported as `false` after logging the fact (not the hash).
pub async fn verify(password: &str, phc: &str) -> Result<bool, AuthError> {
    let password = password.to_owned();
    let phc = phc.to_owned();
    tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
        .await
        .map_err(internal)
}

/// Spends the same work as verifying a real password, for a user that does not exist.
pub async fn verify_dummy(password: &str) -> Result<(), AuthError> {
    verify(password, DUMMY_HASH).await.map(|_| ())
}

/// A random password of [`GENERATED_PASSWORD_CHARS`] ASCII letters and digits.
pub fn generate_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(GENERATED_PASSWORD_CHARS)
        .map(char::from)
        .collect()
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "stored password hash is not a valid PHC string");
            false
        }
    }
}

fn random_salt() -> Result<SaltString, AuthError> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    SaltString::encode_b64(&bytes).map_err(internal)
}

/// Hashing failures (a panicked blocking task, an argon2 error) are internal faults; they
/// surface as a backend error so the HTTP layer answers 500 without leaking details.
fn internal(e: impl std::fmt::Display) -> AuthError {
    AuthError::Store(StoreError::backend(std::io::Error::other(format!(
        "password hashing failed: {e}"
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify_roundtrip() {
        let phc = hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse", &phc).await.unwrap());
        assert!(!verify("wrong horse!", &phc).await.unwrap());
    }

    #[tokio::test]
    async fn same_password_gets_different_salts() {
        let a = hash("correct horse").await.unwrap();
        let b = hash("correct horse").await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn corrupt_hash_verifies_nothing() {
        assert!(!verify("anything goes", "not-a-phc-string").await.unwrap());
    }

    #[test]
    fn dummy_hash_uses_the_default_cost() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        let params = argon2::Params::try_from(&parsed).unwrap();
        let default = argon2::Params::default();
        assert_eq!(parsed.algorithm, argon2::Algorithm::Argon2id.ident());
        assert_eq!(params.m_cost(), default.m_cost());
        assert_eq!(params.t_cost(), default.t_cost());
        assert_eq!(params.p_cost(), default.p_cost());
    }

    #[test]
    fn policy_bounds_length_in_characters() {
        assert!(matches!(
            check_policy("short7!"),
            Err(AuthError::WeakPassword(_))
        ));
        assert!(check_policy("eight888").is_ok());
        assert!(check_policy(&"é".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(check_policy(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
        assert!(is_oversized(&"x".repeat(MAX_PASSWORD_CHARS + 1)));
    }

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_distinct() {
        let a = generate_password();
        assert_eq!(a.len(), GENERATED_PASSWORD_CHARS);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, generate_password());
        assert!(check_policy(&a).is_ok());
    }
}
