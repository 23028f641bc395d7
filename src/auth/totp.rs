//! TOTP (RFC 6238) as this server uses it: HMAC-SHA-1, 6 digits, 30-second steps,
//! one step of clock skew either way, 160-bit random secrets; and the single-use
//! recovery codes that stand in for a lost authenticator.
//!
//! Only arithmetic and formats live here (through the `totp-rs` crate). Which step was
//! already used, and which recovery codes are left, is the store's to decide atomically
//! (see `auth::two_factor`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::AuthError;
use super::password::internal;

/// The issuer shown by authenticator apps.
pub const ISSUER: &str = "TorrentEdge";
/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Steps accepted before and after the current one (RFC 6238 §5.2 recommends one).
const SKEW: u16 = 1;
/// Random bytes in a secret (RFC 4226 §4 recommends 160 bits).
const SECRET_BYTES: usize = 20;
/// Recovery codes made at once.
pub const RECOVERY_CODES: usize = 10;
/// Characters in a recovery code: 10 of Crockford's base32, 50 random bits each.
const RECOVERY_CHARS: usize = 10;
/// Crockford's base32 alphabet, lower case: no i, l, o or u to misread.
const RECOVERY_ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// What a user needs to set up an authenticator app. Holds the secret: no `Debug`.
pub struct Enrollment {
    /// The secret in base32 (RFC 4648, no padding), for typing in by hand.
    pub secret: String,
    /// The `otpauth://totp/...` URL the QR code holds.
    pub otpauth_url: String,
    /// The QR code as a PNG image.
    pub qr_png: Vec<u8>,
}

impl Enrollment {
    /// The QR code as a `data:image/png;base64,...` URL, for an `<img src>`.
    pub fn qr_data_url(&self) -> String {
        format!("data:image/png;base64,{}", STANDARD.encode(&self.qr_png))
    }
}

/// A fresh random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, AuthError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(SKEW)
        .with_step_duration(STEP_SECS)
        .with_secret(Secret::from(secret.to_vec()))
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .map_err(internal)
}

/// The secret, its `otpauth://` URL and QR code for the user `username`.
pub fn enrollment(secret: &[u8], username: &str) -> Result<Enrollment, AuthError> {
    let totp = totp(secret, username)?;
    Ok(Enrollment {
        secret: totp.secret().to_base32(),
        otpauth_url: totp.to_url().map_err(internal)?,
        qr_png: totp.to_qr_png().map_err(internal)?,
    })
}

/// The step a code is valid for at `unix_secs` (the current step or one either side),
/// if any. The caller still has to make sure that step was not used before.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    // The account name only matters for URLs; any valid one does here.
    let totp = totp(secret, "user").ok()?;
    totp.check(code, unix_secs)
}

/// The code of `secret` at time step `step` (the other end's computation, for tests
/// and tools).
pub fn code_at(secret: &[u8], step: u64) -> Result<String, AuthError> {
    Ok(totp(secret, "user")?.generate(step * STEP_SECS).to_string())
}

/// A code as typed (spaces allowed) in canonical form, or `None` when it is not
/// `DIGITS` digits.
pub fn normalize_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    (code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// Fresh recovery codes, as shown to the user (`xxxxx-xxxxx`).
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..RECOVERY_CHARS)
                .map(|_| char::from(RECOVERY_ALPHABET[rng.random_range(0..32)]))
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// A recovery code as typed in canonical form (lower case, no dashes or spaces, the
/// look-alikes `o`, `i`, `l` read as `0`, `1`, `1`), or `None` when it cannot be one.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    let valid =
        code.len() == RECOVERY_CHARS && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// The stored form of a recovery code: SHA-256 hex of its canonical form. Codes carry
/// 50 random bits and are tried under the login limiter, so a slow hash adds nothing.
pub fn recovery_digest(code: &str) -> Option<String> {
    normalize_recovery_code(code).map(|c| hex::encode(Sha256::digest(c.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    /// RFC 6238 appendix B's SHA-1 vectors, cut to 6 digits (the last six of the
    /// 8-digit values: the code is the truncated value modulo 10^digits).
    #[test]
    fn rfc_6238_sha1_test_vectors() {
        let vectors = [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ];
        for (time, eight) in vectors {
            let six = &eight[2..];
            assert_eq!(
                code_at(RFC_SECRET, time / STEP_SECS).unwrap(),
                six,
                "T={time}"
            );
            assert_eq!(matching_step(RFC_SECRET, six, time), Some(time / STEP_SECS));
        }
        assert_eq!(code_at(RFC_SECRET, 1).unwrap(), "287082");
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let now = 1_700_000_015;
        let step = now / STEP_SECS;
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let at = step.checked_add_signed(offset).unwrap();
            let code = code_at(RFC_SECRET, at).unwrap();
            let expect = accepted.then_some(at);
            assert_eq!(
                matching_step(RFC_SECRET, &code, now),
                expect,
                "offset {offset}"
            );
        }
        assert_eq!(matching_step(RFC_SECRET, "12345", now), None);
        assert_eq!(matching_step(RFC_SECRET, "+12345", now), None);
    }

    #[test]
    fn enrollment_names_the_issuer_and_the_user() {
        let secret = new_secret();
        assert_eq!(secret.len(), SECRET_BYTES);
        let e = enrollment(&secret, "alice").unwrap();
        assert_eq!(
            Secret::try_from_base32(&e.secret).unwrap().as_bytes(),
            &secret[..]
        );
        assert!(
            e.otpauth_url
                .starts_with("otpauth://totp/TorrentEdge:alice?"),
            "{}",
            e.otpauth_url
        );
        assert!(
            e.otpauth_url.contains("issuer=TorrentEdge"),
            "{}",
            e.otpauth_url
        );
        assert!(e.otpauth_url.contains(&format!("secret={}", e.secret)));
        assert!(e.qr_png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(e.qr_data_url().starts_with("data:image/png;base64,iVBOR"));
    }

    #[test]
    fn codes_are_normalised_or_refused() {
        assert_eq!(normalize_code(" 123 456 ").as_deref(), Some("123456"));
        for bad in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert_eq!(normalize_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_random_and_read_back_as_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), RECOVERY_CHARS + 1);
            let typed = code.to_uppercase().replace('-', " ");
            assert_eq!(recovery_digest(&typed), recovery_digest(code));
            assert_eq!(recovery_digest(code).unwrap().len(), 64);
        }
        assert_eq!(
            recovery_digest("0011a-bcdef"),
            recovery_digest("OOIL-ABCDEF")
        );
        assert_eq!(recovery_digest("abc"), None);
        assert_eq!(recovery_digest("uuuuu-uuuuu"), None);
    }
}
