//! Tokens: signing and checking access tokens (HS256 JWTs), and minting refresh tokens.
//!
//! Access tokens are short-lived JWTs carrying [`Claims`]. Validation pins HS256, requires
//! `exp` and `sub`, allows no leeway and accepts only `typ == "access"`, so `alg: none`,
//! other algorithms, forged signatures and tokens of any other kind are all refused.
//!
//! Refresh tokens are not JWTs: they are 32 random bytes in base64url (no padding). Only
//! their SHA-256 hex digest is ever stored, so a leaked database holds no usable token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{AuthError, Claims};

/// The `typ` claim of access tokens.
pub const ACCESS_TYP: &str = "access";
/// Random bytes in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;

/// The HS256 keys and the validation rules of access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(HS256, ***)")
    }
}

impl TokenKeys {
    /// Builds the keys from the raw shared secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs claims into a compact HS256 JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Secret(format!("cannot sign access token: {e}")))
    }

    /// Checks signature, algorithm, expiry and kind of an access token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "access token rejected");
                AuthError::InvalidToken
            })?;
        if data.claims.typ != ACCESS_TYP {
            return Err(AuthError::InvalidToken);
        }
        Ok(data.claims)
    }
}

/// A fresh refresh token: 32 random bytes, base64url without padding (43 characters).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a refresh token: the lower-case hex SHA-256 digest of its text.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Role;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";

    fn now_secs() -> i64 {
        crate::now_millis() / 1000
    }

    fn claims(typ: &str, exp: i64) -> Claims {
        Claims {
            sub: "user-1".into(),
            username: "alice".into(),
            role: Role::User,
            typ: typ.into(),
            iat: now_secs(),
            exp,
            jti: "jti-1".into(),
        }
    }

    fn b64(json: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn access_token_roundtrip() {
        let keys = TokenKeys::new(SECRET);
        let c = claims(ACCESS_TYP, now_secs() + 60);
        let back = keys.verify(&keys.sign(&c).unwrap()).unwrap();
        assert_eq!(back.sub, "user-1");
        assert_eq!(back.username, "alice");
        assert_eq!(back.role, Role::User);
        assert_eq!(back.jti, "jti-1");
    }

    #[test]
    fn forged_signature_is_rejected() {
        let other = TokenKeys::new(b"another-secret-another-secret-another");
        let token = other.sign(&claims(ACCESS_TYP, now_secs() + 60)).unwrap();
        assert!(matches!(
            TokenKeys::new(SECRET).verify(&token),
            Err(AuthError::InvalidToken)
        ));

        let keys = TokenKeys::new(SECRET);
        let good = keys.sign(&claims(ACCESS_TYP, now_secs() + 60)).unwrap();
        let (head, _sig) = good.rsplit_once('.').unwrap();
        let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert!(keys.verify(&tampered).is_err());
    }

    #[test]
    fn alg_none_is_rejected() {
        let keys = TokenKeys::new(SECRET);
        let body = serde_json::to_value(claims(ACCESS_TYP, now_secs() + 60)).unwrap();
        for alg in ["none", "None", "NONE"] {
            let header = serde_json::json!({ "alg": alg, "typ": "JWT" });
            let token = format!("{}.{}.", b64(&header), b64(&body));
            assert!(
                matches!(keys.verify(&token), Err(AuthError::InvalidToken)),
                "{alg}"
            );
        }
    }

    #[test]
    fn other_algorithm_with_same_secret_is_rejected() {
        let keys = TokenKeys::new(SECRET);
        let c = claims(ACCESS_TYP, now_secs() + 60);
        for alg in [Algorithm::HS512, Algorithm::HS384] {
            let token =
                jsonwebtoken::encode(&Header::new(alg), &c, &EncodingKey::from_secret(SECRET))
                    .unwrap();
            assert!(
                matches!(keys.verify(&token), Err(AuthError::InvalidToken)),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn expired_token_is_rejected() {
        let keys = TokenKeys::new(SECRET);
        let token = keys.sign(&claims(ACCESS_TYP, now_secs() - 2)).unwrap();
        assert!(matches!(keys.verify(&token), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn missing_exp_or_sub_is_rejected() {
        let keys = TokenKeys::new(SECRET);
        let mut body = serde_json::to_value(claims(ACCESS_TYP, now_secs() + 60)).unwrap();
        body.as_object_mut().unwrap().remove("exp");
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &body, &keys.encoding).unwrap();
        assert!(matches!(keys.verify(&token), Err(AuthError::InvalidToken)));

        let mut body = serde_json::to_value(claims(ACCESS_TYP, now_secs() + 60)).unwrap();
        body.as_object_mut().unwrap().remove("sub");
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &body, &keys.encoding).unwrap();
        assert!(matches!(keys.verify(&token), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn wrong_typ_is_rejected() {
        let keys = TokenKeys::new(SECRET);
        for typ in ["refresh", "Access", ""] {
            let token = keys.sign(&claims(typ, now_secs() + 60)).unwrap();
            assert!(
                matches!(keys.verify(&token), Err(AuthError::InvalidToken)),
                "{typ:?}"
            );
        }
    }

    #[test]
    fn refresh_token_is_not_an_access_token() {
        let keys = TokenKeys::new(SECRET);
        let refresh = new_refresh_token();
        assert!(matches!(
            keys.verify(&refresh),
            Err(AuthError::InvalidToken)
        ));
        assert!(keys.verify("").is_err());
        assert!(keys.verify("a.b.c").is_err());
    }

    #[test]
    fn refresh_tokens_are_random_base64url_and_hashed_to_hex() {
        let a = new_refresh_token();
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&a).unwrap().len(),
            REFRESH_TOKEN_BYTES
        );
        assert_ne!(a, new_refresh_token());

        let h = hash_refresh_token(&a);
        assert_eq!(h.len(), 64);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(h, hash_refresh_token(&a));
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_output_hides_the_keys() {
        let dbg = format!("{:?}", TokenKeys::new(SECRET));
        assert!(!dbg.contains("0123456789"));
    }
}
