//! Passwords: the length policy and generated passwords. Hashing and checking them is
//! the `hasher` module's job.

use rand::Rng;
use rand::distr::Alphanumeric;

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
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dG9ycmVudGVkZ2UtZHVtbXktc2FsdA$IfWdqqDa+4EG6ptA/k6ZYOcF14E5IiCyPBTjX6qWVbQ";

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

/// A random password of [`GENERATED_PASSWORD_CHARS`] ASCII letters and digits.
pub fn generate_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(GENERATED_PASSWORD_CHARS)
        .map(char::from)
        .collect()
}

/// Hashing failures (a panicked blocking task, an argon2 error) are internal faults; they
/// surface as a backend error so the HTTP layer answers 500 without leaking details.
pub fn internal(e: impl std::fmt::Display) -> AuthError {
    AuthError::Store(StoreError::backend(std::io::Error::other(format!(
        "password hashing failed: {e}"
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_uses_the_default_cost() {
        let parsed = argon2::PasswordHash::new(DUMMY_HASH).unwrap();
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
