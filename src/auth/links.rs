//! Signed links: URLs a media player can open without a Bearer header.
//!
//! A link names one resource (a file of a torrent) for one user until a time, and
//! carries an HMAC-SHA256 over exactly those three, keyed by a key derived from the
//! JWT secret (so rotating the secret voids every link, and the key itself never
//! signs tokens). Links are checked in constant time and expire; a user deleted since
//! gets nothing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Expired,
    Forged,
    /// The store could not say whether the user exists.
    Unavailable,
}

pub struct LinkKey {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(***)")
    }
}

impl LinkKey {
    /// Derives the link key from the server's secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"torrentedge signed links v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, user_id: &str, resource: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        // Lengths first, so no two (user, resource) pairs share a message.
        for part in [user_id.as_bytes(), resource.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// The signature of `resource` for `user_id` until `expires` (Unix seconds).
    pub fn sign(&self, user_id: &str, resource: &str, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(user_id, resource, expires).finalize().into_bytes())
    }

    /// Checks a signature at time `now` (Unix seconds).
    pub fn verify(
        &self,
        user_id: &str,
        resource: &str,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        let raw = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| LinkError::Forged)?;
        self.mac(user_id, resource, expires)
            .verify_slice(&raw)
            .map_err(|_| LinkError::Forged)?;
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_verifies_until_it_expires() {
        let k = LinkKey::new(b"0123456789abcdef0123456789abcdef");
        let sig = k.sign("u1", "stream:abc:0", 1000);
        assert_eq!(k.verify("u1", "stream:abc:0", 1000, &sig, 999), Ok(()));
        assert_eq!(
            k.verify("u1", "stream:abc:0", 1000, &sig, 1000),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn any_change_is_a_forgery() {
        let k = LinkKey::new(b"0123456789abcdef0123456789abcdef");
        let sig = k.sign("u1", "stream:abc:0", 1000);
        let forged = Err(LinkError::Forged);
        assert_eq!(k.verify("u2", "stream:abc:0", 1000, &sig, 1), forged);
        assert_eq!(k.verify("u1", "stream:abc:1", 1000, &sig, 1), forged);
        assert_eq!(k.verify("u1", "stream:abc:0", 2000, &sig, 1), forged);
        assert_eq!(k.verify("u1", "stream:abc:0", 1000, "AAAA", 1), forged);
        assert_eq!(k.verify("u1", "stream:abc:0", 1000, "!!", 1), forged);
        // Another secret, another key.
        let other = LinkKey::new(b"another secret of thirty-two bytes!");
        assert_eq!(other.verify("u1", "stream:abc:0", 1000, &sig, 1), forged);
        // Field boundaries cannot be shifted.
        let a = k.sign("u1s", "tream", 5);
        assert_eq!(k.verify("u1", "stream", 5, &a, 1), forged);
    }
}
