//! The HTTP tracker protocol (BEP 3, compact peers BEP 23, `peers6` BEP 7, scrape
//! BEP 48): query strings in, bencoded dictionaries out.
//!
//! The query is parsed from the raw string because `info_hash` and `peer_id` are
//! percent-encoded *bytes*, not text; a decoder that wants UTF-8 would mangle them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_bytes::ByteBuf;

use super::swarm::{Event, PeerId, SwarmCounts};
use super::{Answer, Refusal};
use crate::InfoHash;

/// The most info hashes one scrape may name.
pub const MAX_SCRAPE_HASHES: usize = 100;

/// An announce's parameters as the client sent them, checked for form only.
#[derive(Debug)]
pub struct AnnounceQuery {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Event,
    pub numwant: Option<usize>,
}

fn refuse(msg: impl Into<String>) -> Refusal {
    Refusal(msg.into())
}

/// Each `key=value` pair, the value percent-decoded to bytes (`+` is a space, as in
/// forms). A `%` not followed by two hex digits refuses the whole query: a lenient
/// decoder keeps it as it is, so `info_hash=%zz...` would name 20 bytes the client
/// never meant, and announce them into some other swarm.
fn pairs(query: &str) -> impl Iterator<Item = Result<(String, Vec<u8>), Refusal>> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let key = percent_decode_str(k).decode_utf8_lossy().into_owned();
        if !well_escaped(k) || !well_escaped(v) {
            return Err(refuse(format!("invalid percent-encoding in {key}")));
        }
        let value = v.replace('+', " ");
        Ok((key, percent_decode_str(&value).collect()))
    })
}

/// Every `%` starts an escape of two hex digits.
fn well_escaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    })
}

fn twenty(name: &str, v: &[u8]) -> Result<[u8; 20], Refusal> {
    v.try_into()
        .map_err(|_| refuse(format!("invalid {name}: must be 20 bytes, got {}", v.len())))
}

fn number<T: std::str::FromStr>(name: &str, v: &[u8]) -> Result<T, Refusal> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| refuse(format!("invalid {name}: not a whole number in range")))
}

pub fn parse_announce(query: &str) -> Result<AnnounceQuery, Refusal> {
    let mut fields: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for pair in pairs(query) {
        let (k, v) = pair?;
        if k == "info_hash" && fields.contains_key("info_hash") {
            return Err(refuse("announce names one info_hash"));
        }
        fields.insert(k, v);
    }
    let get = |name: &str| {
        fields
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| refuse(format!("missing {name}")))
    };
    let port: u16 = number("port", get("port")?)?;
    if port == 0 {
        return Err(refuse("invalid port: 0"));
    }
    let event = match fields.get("event").map(Vec::as_slice) {
        None | Some(b"") | Some(b"empty") => Event::None,
        Some(b"started") => Event::Started,
        Some(b"completed") => Event::Completed,
        Some(b"stopped") => Event::Stopped,
        Some(_) => return Err(refuse("invalid event")),
    };
    Ok(AnnounceQuery {
        info_hash: InfoHash::from_bytes(twenty("info_hash", get("info_hash")?)?),
        peer_id: twenty("peer_id", get("peer_id")?)?,
        port,
        uploaded: number("uploaded", get("uploaded")?)?,
        downloaded: number("downloaded", get("downloaded")?)?,
        left: number("left", get("left")?)?,
        event,
        // A numwant that is not a number (or is negative, as some clients send for
        // "default") takes the default rather than failing the announce.
        numwant: fields.get("numwant").and_then(|v| number(".", v).ok()),
    })
}

pub fn parse_scrape(query: &str) -> Result<Vec<InfoHash>, Refusal> {
    let mut hashes = Vec::new();
    for pair in pairs(query) {
        let (k, v) = pair?;
        if k == "info_hash" {
            hashes.push(InfoHash::from_bytes(twenty("info_hash", &v)?));
        }
    }
    if hashes.is_empty() {
        return Err(refuse(
            "scrape names at least one info_hash (a full scrape is not offered)",
        ));
    }
    if hashes.len() > MAX_SCRAPE_HASHES {
        return Err(refuse(format!(
            "scrape names at most {MAX_SCRAPE_HASHES} info hashes"
        )));
    }
    hashes.sort();
    hashes.dedup();
    Ok(hashes)
}

// --- answers -----------------------------------------------------------------------------
// Field names are the protocol's; serde_bencode writes dictionary keys sorted, as
// bencoding requires.

#[derive(Serialize)]
struct Failure<'a> {
    #[serde(rename = "failure reason")]
    reason: &'a str,
}

#[derive(Serialize)]
struct AnnounceBody {
    complete: u64,
    downloaded: u64,
    incomplete: u64,
    interval: u64,
    #[serde(rename = "min interval")]
    min_interval: u64,
    peers: ByteBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    peers6: Option<ByteBuf>,
    #[serde(rename = "warning message", skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

#[derive(Serialize)]
struct ScrapeFile {
    complete: u64,
    downloaded: u64,
    incomplete: u64,
}

#[derive(Serialize)]
struct ScrapeBody {
    files: BTreeMap<ByteBuf, ScrapeFile>,
}

pub fn failure(r: &Refusal) -> Vec<u8> {
    serde_bencode::to_bytes(&Failure { reason: &r.0 }).expect("a dictionary of a string encodes")
}

/// Compact peer lists: 6 bytes per IPv4 peer, 18 per IPv6 peer (address, then port,
/// big-endian).
pub fn compact(peers: &[SocketAddr]) -> (Vec<u8>, Vec<u8>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for p in peers {
        match p {
            SocketAddr::V4(a) => {
                v4.extend_from_slice(&a.ip().octets());
                v4.extend_from_slice(&a.port().to_be_bytes());
            }
            SocketAddr::V6(a) => {
                v6.extend_from_slice(&a.ip().octets());
                v6.extend_from_slice(&a.port().to_be_bytes());
            }
        }
    }
    (v4, v6)
}

pub fn announce_body(a: &Answer) -> Vec<u8> {
    let (v4, v6) = compact(&a.peers);
    let body = AnnounceBody {
        complete: a.counts.seeders,
        downloaded: a.counts.completed,
        incomplete: a.counts.leechers,
        interval: a.interval.as_secs(),
        min_interval: a.min_interval.as_secs(),
        peers: ByteBuf::from(v4),
        peers6: (!v6.is_empty()).then(|| ByteBuf::from(v6)),
        warning: a.warning.clone(),
    };
    serde_bencode::to_bytes(&body).expect("an announce answer encodes")
}

pub fn scrape_body(counts: &[(InfoHash, SwarmCounts)]) -> Vec<u8> {
    let files = counts
        .iter()
        .map(|(h, c)| {
            let file = ScrapeFile {
                complete: c.seeders,
                downloaded: c.completed,
                incomplete: c.leechers,
            };
            (ByteBuf::from(h.as_bytes().to_vec()), file)
        })
        .collect();
    serde_bencode::to_bytes(&ScrapeBody { files }).expect("a scrape answer encodes")
}

#[cfg(test)]
mod tests;
