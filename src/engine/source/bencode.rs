//! Just enough bencode to edit the top level of a `.torrent` while copying every other
//! value byte for byte.
//!
//! The info hash is the SHA-1 of the `info` value exactly as written, and torrents in the
//! wild are not always canonical (unsorted keys, odd integers). Decoding the file and
//! encoding it again could change those bytes, so nothing here re-encodes a value it was
//! not asked to change: values are located by their byte ranges and copied verbatim.
//! Scanning is iterative, so a deeply nested hostile file cannot overflow the stack.

use std::ops::Range;

/// The input is not well-formed bencode (or not of the shape asked for).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed bencode at byte {0}")]
pub struct Malformed(pub usize);

/// The end (exclusive) of the value that starts at `pos`.
pub fn value_end(buf: &[u8], pos: usize) -> Result<usize, Malformed> {
    let mut depth = 0usize;
    let mut i = pos;
    loop {
        match *buf.get(i).ok_or(Malformed(i))? {
            b'i' => {
                let end = find(buf, i + 1, b'e')?;
                parse_int(&buf[i + 1..end]).ok_or(Malformed(i))?;
                i = end + 1;
            }
            b'0'..=b'9' => i = string_at(buf, i)?.end,
            b'l' | b'd' => {
                depth += 1;
                i += 1;
                continue;
            }
            b'e' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            _ => return Err(Malformed(i)),
        }
        if depth == 0 {
            return Ok(i);
        }
    }
}

/// The byte string starting at `pos`: the range of its contents.
fn string_at(buf: &[u8], pos: usize) -> Result<Range<usize>, Malformed> {
    let colon = find(buf, pos, b':')?;
    let len: usize = std::str::from_utf8(&buf[pos..colon])
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or(Malformed(pos))?;
    let start = colon + 1;
    let end = start.checked_add(len).filter(|&e| e <= buf.len());
    let end = end.ok_or(Malformed(pos))?;
    Ok(start..end)
}

fn find(buf: &[u8], from: usize, byte: u8) -> Result<usize, Malformed> {
    buf.get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == byte))
        .map(|p| from + p)
        .ok_or(Malformed(from))
}

fn parse_int(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// One entry of a dictionary: its key, and where its value lies in the dictionary's bytes.
pub struct DictEntry<'a> {
    pub key: &'a [u8],
    pub value: Range<usize>,
}

/// The entries of the dictionary that is exactly `buf`, in the order written.
pub fn dict_entries(buf: &[u8]) -> Result<Vec<DictEntry<'_>>, Malformed> {
    let items = container_items(buf, b'd', true)?.into_iter();
    let entries = items.map(|(key, value)| DictEntry {
        key: key.map_or(&[][..], |k| &buf[k]),
        value,
    });
    Ok(entries.collect())
}

/// The item ranges of the list that is exactly `buf`.
pub fn list_items(buf: &[u8]) -> Result<Vec<Range<usize>>, Malformed> {
    container_items(buf, b'l', false).map(|items| items.into_iter().map(|(_, v)| v).collect())
}

type Item = (Option<Range<usize>>, Range<usize>);

fn container_items(buf: &[u8], open: u8, keyed: bool) -> Result<Vec<Item>, Malformed> {
    if buf.first() != Some(&open) {
        return Err(Malformed(0));
    }
    let mut items = Vec::new();
    let mut i = 1;
    while buf.get(i) != Some(&b'e') {
        let key = if keyed {
            let key = string_at(buf, i)?;
            i = key.end;
            Some(key)
        } else {
            None
        };
        let end = value_end(buf, i)?;
        items.push((key, i..end));
        i = end;
    }
    if i + 1 != buf.len() {
        return Err(Malformed(i + 1));
    }
    Ok(items)
}

/// The contents of the byte string that is exactly `buf`.
pub fn as_bytes(buf: &[u8]) -> Result<&[u8], Malformed> {
    let range = string_at(buf, 0)?;
    if range.end != buf.len() {
        return Err(Malformed(range.end));
    }
    Ok(&buf[range])
}

/// Appends `b` as a bencoded byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_located_without_decoding() {
        let buf = b"d1:ai-3e1:bl2:xyd1:ci0eee1:c0:e";
        let entries = dict_entries(buf).unwrap();
        let keys: Vec<&[u8]> = entries.iter().map(|e| e.key).collect();
        assert_eq!(keys, [&b"a"[..], b"b", b"c"]);
        assert_eq!(&buf[entries[1].value.clone()], b"l2:xyd1:ci0eee");
        let items = list_items(&buf[entries[1].value.clone()]).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(as_bytes(b"2:xy").unwrap(), b"xy");
        let mut out = Vec::new();
        put_bytes(&mut out, b"hello");
        assert_eq!(out, b"5:hello");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"d",
            b"d1:a",
            b"d1:ai1e",
            b"d1:ai1ee trailing",
            b"d1:a99999999999999999999:xe",
            b"d1:aiXee",
            b"d1:a-1:xe",
            b"l",
            b"i1e",
        ] {
            assert!(
                dict_entries(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("d1:a{}{}e", "l".repeat(100_000), "e".repeat(100_000));
        assert_eq!(dict_entries(deep.as_bytes()).unwrap().len(), 1);
    }
}
