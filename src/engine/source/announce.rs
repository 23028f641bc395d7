//! A `.torrent` rewritten to announce to one tracker only: how the catalog hands out
//! its torrents (announcing to this server's tracker, with the user's passkey when it
//! is private).

use super::bencode::{self, Malformed};
use crate::engine::EngineError;

/// The `.torrent` announcing only to `announce`: its `announce` replaced (or added,
/// keys kept in sorted order as bencode wants) and `announce-list` left out. Every other
/// top-level value, `info` above all, is copied byte for byte, so the info hash stays.
pub fn with_only_announce(bytes: &[u8], announce: &str) -> Result<Vec<u8>, EngineError> {
    let bad = |e: Malformed| EngineError::InvalidTorrent(format!("not a torrent file: {e}"));
    let mut out = Vec::with_capacity(bytes.len() + announce.len());
    out.push(b'd');
    let mut placed = false;
    let place = |out: &mut Vec<u8>| {
        bencode::put_bytes(out, b"announce");
        bencode::put_bytes(out, announce.as_bytes());
    };
    for bencode::DictEntry { key, value } in bencode::dict_entries(bytes).map_err(bad)? {
        if !placed && key >= &b"announce"[..] {
            place(&mut out);
            placed = true;
        }
        if key == b"announce" || key == b"announce-list" {
            continue;
        }
        bencode::put_bytes(&mut out, key);
        out.extend_from_slice(&bytes[value]);
    }
    if !placed {
        place(&mut out);
    }
    out.push(b'e');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The raw `info` value of `.torrent` bytes.
    fn info_of(bytes: &[u8]) -> Vec<u8> {
        let entries = bencode::dict_entries(bytes).unwrap();
        let e = entries.iter().find(|e| e.key == b"info").unwrap();
        bytes[e.value.clone()].to_vec()
    }

    #[test]
    fn announce_is_replaced_and_the_rest_kept_byte_for_byte() {
        // Not canonical on purpose: `info` holds unsorted keys and would change if
        // re-encoded.
        let info = b"d4:name1:x12:piece lengthi16384e6:lengthi1e6:pieces0:e";
        let mut file =
            b"d8:announce10:http://a/x13:announce-listll10:http://b/yee7:comment2:hi".to_vec();
        file.extend_from_slice(b"4:info");
        file.extend_from_slice(info);
        file.push(b'e');
        let out = with_only_announce(&file, "http://me:1/announce").unwrap();
        assert_eq!(info_of(&out), info);
        assert_eq!(
            out,
            [
                &b"d8:announce20:http://me:1/announce7:comment2:hi4:info"[..],
                info,
                b"e"
            ]
            .concat()
        );
        // No announce at all: one is put where bencode's key order wants it.
        let bare = [&b"d7:comment2:hi4:info"[..], info, b"e"].concat();
        let out = with_only_announce(&bare, "u").unwrap();
        assert!(
            out.starts_with(b"d8:announce1:u7:comment"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        let only_info = [&b"d4:info"[..], info, b"e"].concat();
        let out = with_only_announce(&only_info, "u").unwrap();
        assert!(out.starts_with(b"d8:announce1:u4:info"));
        assert!(with_only_announce(b"not bencode", "u").is_err());
    }
}
