//! A tiny bencode encoder, for hand-made (and deliberately hostile) `.torrent` files,
//! and a strict decoder, for checking what trackers answer.
//!
//! Dictionaries are `BTreeMap`s keyed by raw bytes, so keys always come out sorted as
//! bencode requires. Piece hashes are SHA-1s of zero-filled pieces: the torrents parse and
//! validate, they just describe all-zero content.

use std::collections::BTreeMap;

use sha1::{Digest, Sha1};

/// Piece length of the torrents built here.
pub const PIECE_LENGTH: u64 = 16 * 1024;

/// A bencode value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum B {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<B>),
    Dict(BTreeMap<Vec<u8>, B>),
}

impl B {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            B::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            B::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            B::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            B::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    B::Bytes(k.clone()).encode_into(out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// Decodes one bencoded value that must fill `raw` exactly, refusing anything a
/// canonical encoder would not write: leading zeros, `-0`, unsorted or repeated
/// dictionary keys, trailing bytes.
pub fn decode(raw: &[u8]) -> Result<B, String> {
    let (value, end) = decode_at(raw, 0)?;
    if end != raw.len() {
        return Err(format!("{} bytes after the value", raw.len() - end));
    }
    Ok(value)
}

fn decode_at(raw: &[u8], pos: usize) -> Result<(B, usize), String> {
    match raw.get(pos) {
        Some(b'i') => {
            let end = pos
                + raw[pos..]
                    .iter()
                    .position(|&b| b == b'e')
                    .ok_or("unended int")?;
            let digits = std::str::from_utf8(&raw[pos + 1..end]).map_err(|e| e.to_string())?;
            let canonical = digits == "0"
                || (!digits.starts_with('0') && !digits.starts_with("-0") && !digits.is_empty());
            let n = digits.parse().ok().filter(|_| canonical);
            Ok((B::Int(n.ok_or(format!("bad int {digits:?}"))?), end + 1))
        }
        Some(b'l') => {
            let (mut items, mut p) = (Vec::new(), pos + 1);
            while raw.get(p) != Some(&b'e') {
                let (item, next) = decode_at(raw, p)?;
                items.push(item);
                p = next;
            }
            Ok((B::List(items), p + 1))
        }
        Some(b'd') => {
            let (mut map, mut p) = (BTreeMap::new(), pos + 1);
            while raw.get(p) != Some(&b'e') {
                let (B::Bytes(key), next) = decode_at(raw, p)? else {
                    return Err(format!("dictionary key at {p} is not a string"));
                };
                if map
                    .keys()
                    .next_back()
                    .is_some_and(|last: &Vec<u8>| *last >= key)
                {
                    return Err(format!(
                        "key {:?} out of order",
                        String::from_utf8_lossy(&key)
                    ));
                }
                let (value, after) = decode_at(raw, next)?;
                map.insert(key, value);
                p = after;
            }
            Ok((B::Dict(map), p + 1))
        }
        Some(b'0'..=b'9') => {
            let colon = pos
                + raw[pos..]
                    .iter()
                    .position(|&b| b == b':')
                    .ok_or("no colon")?;
            let digits = std::str::from_utf8(&raw[pos..colon]).map_err(|e| e.to_string())?;
            let len: usize = digits
                .parse()
                .map_err(|_| format!("bad length {digits:?}"))?;
            if digits.len() > 1 && digits.starts_with('0') {
                return Err(format!("length {digits:?} has a leading zero"));
            }
            let end = (colon + 1).checked_add(len).filter(|&e| e <= raw.len());
            let end = end.ok_or("string runs past the end")?;
            Ok((B::Bytes(raw[colon + 1..end].to_vec()), end))
        }
        other => Err(format!("unexpected {other:?} at {pos}")),
    }
}

/// A byte string.
pub fn bytes(b: impl AsRef<[u8]>) -> B {
    B::Bytes(b.as_ref().to_vec())
}

/// A dictionary from `(key, value)` pairs (any order; encoding sorts them).
pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, B)>) -> B {
    B::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

/// The concatenated SHA-1s of zero-filled pieces covering `total` bytes.
pub fn zero_pieces(total: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = total;
    while left > 0 {
        let len = left.min(PIECE_LENGTH);
        out.extend_from_slice(&Sha1::digest(vec![0u8; len as usize]));
        left -= len;
    }
    out
}

/// The info dict of a single-file torrent named `name` (unchecked: anything goes).
pub fn info_single(name: &str, length: u64) -> B {
    dict([
        ("name", bytes(name)),
        ("length", B::Int(length as i64)),
        ("piece length", B::Int(PIECE_LENGTH as i64)),
        ("pieces", bytes(zero_pieces(length))),
    ])
}

/// The info dict of a multi-file torrent: `name` is the folder, each file a list of path
/// components (unchecked) and a length. `name: None` leaves the key out.
pub fn info_multi(name: Option<&str>, files: &[(&[&str], u64)]) -> B {
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    let list = files
        .iter()
        .map(|(path, len)| {
            dict([
                ("length", B::Int(*len as i64)),
                ("path", B::List(path.iter().map(bytes).collect())),
            ])
        })
        .collect();
    let mut d = vec![
        ("files", B::List(list)),
        ("piece length", B::Int(PIECE_LENGTH as i64)),
        ("pieces", bytes(zero_pieces(total))),
    ];
    if let Some(n) = name {
        d.push(("name", bytes(n)));
    }
    dict(d)
}

/// A whole `.torrent` around `info`; returns its bytes and lower-case hex v1 info hash.
pub fn torrent(info: B) -> (Vec<u8>, String) {
    let hash = hex::encode(Sha1::digest(info.encode()));
    let file = dict([("info", info), ("created by", bytes("torrentedge tests"))]);
    (file.encode(), hash)
}

#[test]
fn encodes_sorted_canonical_bencode() {
    let v = dict([
        ("b", B::Int(-3)),
        ("a", B::List(vec![bytes("xy"), B::Int(0)])),
    ]);
    assert_eq!(v.encode(), b"d1:al2:xyi0ee1:bi-3ee".to_vec());
    assert_eq!(zero_pieces(PIECE_LENGTH + 1).len(), 40);
    assert_eq!(decode(&v.encode()), Ok(v));
    for bad in [
        &b"i03e"[..],
        b"i-0e",
        b"ie",
        b"d1:bi1e1:ai2ee",
        b"3:ab",
        b"i1ei2e",
        b"01:a",
    ] {
        assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
}
