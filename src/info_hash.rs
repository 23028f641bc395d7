//! A torrent's v1 info hash: 20 bytes, parsed once where it enters (a request path, a
//! magnet, a `.torrent`, a stored record) and written as 40 lowercase hex characters
//! everywhere it leaves.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash([u8; 20]);

/// Not 40 hexadecimal characters (or, for a magnet's `btih`, 32 base32 ones).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an info hash is 40 hexadecimal characters")]
pub struct InvalidInfoHash;

impl InfoHash {
    pub const fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// 40 hex characters, in any case.
    ///
    /// ```
    /// use torrentedge::InfoHash;
    ///
    /// let h = InfoHash::parse("C9E15763F722F23E98A29DECDFAE341B98D53056")?;
    /// assert_eq!(h.to_string(), "c9e15763f722f23e98a29decdfae341b98d53056");
    /// assert!(InfoHash::parse("c9e1").is_err());
    /// assert!(InfoHash::parse("../../../../../../../../../../etc/passwd").is_err());
    /// # Ok::<(), torrentedge::info_hash::InvalidInfoHash>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, InvalidInfoHash> {
        let mut out = [0u8; 20];
        if s.len() != 40 {
            return Err(InvalidInfoHash);
        }
        hex::decode_to_slice(s, &mut out).map_err(|_| InvalidInfoHash)?;
        Ok(Self(out))
    }

    /// A magnet's `urn:btih:` value: 40 hex or 32 base32 (RFC 4648) characters.
    ///
    /// ```
    /// use torrentedge::InfoHash;
    ///
    /// let b32 = InfoHash::parse_btih("ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW")?;
    /// assert_eq!(b32, InfoHash::parse("c9e15763f722f23e98a29decdfae341b98d53056")?);
    /// # Ok::<(), torrentedge::info_hash::InvalidInfoHash>(())
    /// ```
    pub fn parse_btih(s: &str) -> Result<Self, InvalidInfoHash> {
        if s.len() == 40 {
            return Self::parse(s);
        }
        if s.len() != 32 {
            return Err(InvalidInfoHash);
        }
        let mut bits: u64 = 0;
        let mut nbits = 0;
        let mut out = Vec::with_capacity(20);
        for c in s.bytes() {
            let v = match c.to_ascii_uppercase() {
                c @ b'A'..=b'Z' => c - b'A',
                c @ b'2'..=b'7' => c - b'2' + 26,
                _ => return Err(InvalidInfoHash),
            };
            bits = (bits << 5) | u64::from(v);
            nbits += 5;
            if nbits >= 8 {
                nbits -= 8;
                out.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        out.try_into().map(Self).map_err(|_| InvalidInfoHash)
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 40];
        // Infallible: the buffer is exactly twice the input.
        let _ = hex::encode_to_slice(self.0, &mut buf);
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({self})")
    }
}

impl FromStr for InfoHash {
    type Err = InvalidInfoHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for InfoHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Its schema in the OpenAPI document: how it is serialized, lower-case hex.
impl utoipa::PartialSchema for InfoHash {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9a-f]{40}$"))
            .description(Some("A torrent's v1 info hash, lower-case hex"))
            .into()
    }
}

impl utoipa::ToSchema for InfoHash {}

impl<'de> Deserialize<'de> for InfoHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text_and_json() {
        let h = InfoHash::from_bytes([0xab; 20]);
        assert_eq!(h.to_string(), "ab".repeat(20));
        assert_eq!(InfoHash::parse(&"AB".repeat(20)), Ok(h));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(20)));
        assert_eq!(serde_json::from_str::<InfoHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<InfoHash>("\"abc\"").is_err());
    }

    #[test]
    fn refuses_what_is_not_one() {
        for bad in ["", "ab", &"g".repeat(40), &"a".repeat(41), &"é".repeat(20)] {
            assert_eq!(InfoHash::parse(bad), Err(InvalidInfoHash), "{bad:?}");
        }
        for bad in ["1".repeat(32), "a".repeat(31), "A".repeat(33)] {
            assert_eq!(InfoHash::parse_btih(&bad), Err(InvalidInfoHash), "{bad:?}");
        }
    }
}
