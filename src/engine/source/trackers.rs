//! Trackers from user input, screened before librqbit sees them.
//!
//! A magnet's `tr=` values and a `.torrent`'s `announce`/`announce-list` are addresses a
//! user makes the server request, again and again, for as long as the torrent runs. They
//! get the policy of [`super::address`]: link-local never, loopback and private networks
//! only with `ALLOW_PRIVATE_TRACKERS=true`, and only `http`, `https` and `udp` URLs.
//! A refused tracker is dropped, not the torrent: magnets lose the `tr=` value and
//! `.torrent` bytes are rewritten without it (the `info` value is copied byte for byte,
//! so the info hash stays). The stored record keeps what the user gave; what was dropped,
//! and why, is worked out again from it ([`dropped_trackers`]) for the torrent's details.
//!
//! Host names: a name that says where it points (`localhost`, single-label names,
//! `.local`, `.internal`, cloud metadata names) is judged by the name. Any other name is
//! resolved when the torrent is handed to librqbit (on adding, on restart, when a
//! magnet's metadata arrives), with a timeout, and dropped if an address it resolves to
//! is refused. A name that does not resolve then is kept: it leads nowhere yet, and it is
//! judged again the next time. This cannot stop DNS rebinding (a name that answers
//! differently once checked), because librqbit resolves tracker names itself at every
//! announce and follows HTTP redirects; against a hostile DNS, filter the server's
//! egress (for example, block 169.254.169.254 in the host's firewall).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::address::{Refusal, check_ip, classify_name};
use super::bencode::{self, Malformed};
use crate::config::EngineConfig;
use crate::engine::EngineError;
use crate::engine::types::DroppedTracker;
use crate::store::TorrentRecord;

/// The variable that lets trackers on loopback and private networks through.
const ALLOW_VAR: &str = "ALLOW_PRIVATE_TRACKERS";
/// How long resolving one tracker's name may take before the name is kept unjudged.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long what a name resolved to is trusted before it is resolved again.
const RESOLVED_FOR: Duration = Duration::from_secs(10 * 60);

/// How trackers are screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerPolicy {
    /// Loopback and private addresses allowed (`ALLOW_PRIVATE_TRACKERS`).
    pub allow_private: bool,
    /// Resolve host names to judge them. Off when trackers are off (`ENABLE_TRACKERS`):
    /// nothing will be announced to, so nothing needs to be looked up.
    pub resolve_names: bool,
}

impl From<&EngineConfig> for TrackerPolicy {
    fn from(cfg: &EngineConfig) -> Self {
        Self {
            allow_private: cfg.allow_private_trackers,
            resolve_names: cfg.enable_trackers,
        }
    }
}

/// `.torrent` bytes with only the allowed trackers: the same bytes when none is dropped.
pub async fn screen_torrent(bytes: &[u8], policy: TrackerPolicy) -> Result<Vec<u8>, EngineError> {
    let malformed = |e: Malformed| EngineError::InvalidTorrent(format!("invalid torrent: {e}"));
    let urls = torrent_trackers(bytes).map_err(malformed)?;
    resolve_names(&urls, policy).await;
    if urls.iter().all(|u| verdict(u, policy).is_ok()) {
        return Ok(bytes.to_vec());
    }
    rewrite_torrent(bytes, |u| verdict(u, policy).is_ok()).map_err(malformed)
}

/// A magnet link without the `tr=` values the policy refuses; other parameters are kept.
pub async fn screen_magnet(uri: &str, policy: TrackerPolicy) -> String {
    let Some(pairs) = magnet_pairs(uri) else {
        return uri.to_owned();
    };
    let urls: Vec<&[u8]> = trackers_of(&pairs).collect();
    resolve_names(&urls, policy).await;
    if urls.iter().all(|u| verdict(u, policy).is_ok()) {
        return uri.to_owned();
    }
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        if k != "tr" || verdict(v.as_bytes(), policy).is_ok() {
            ser.append_pair(k, v);
        }
    }
    format!("magnet:?{}", ser.finish())
}

/// The trackers of a record's magnet and `.torrent` bytes that [`screen_magnet`] and
/// [`screen_torrent`] leave out, with the reason. Resolves nothing: names are judged by
/// what they resolved to when the torrent was last screened.
pub fn dropped_trackers(rec: &TorrentRecord, policy: TrackerPolicy) -> Vec<DroppedTracker> {
    let mut out: Vec<DroppedTracker> = Vec::new();
    for url in record_trackers(rec) {
        let Err(reason) = verdict(&url, policy) else {
            continue;
        };
        let url = String::from_utf8_lossy(&url).into_owned();
        if !out.iter().any(|d| d.url == url) {
            out.push(DroppedTracker { url, reason });
        }
    }
    out
}

/// Resolves the names of a record's trackers now (when a torrent is added), so that
/// screening it later, under the engine's operations lock, need not wait on DNS.
pub async fn resolve_tracker_names(rec: &TorrentRecord, policy: TrackerPolicy) {
    let urls = record_trackers(rec);
    let urls: Vec<&[u8]> = urls.iter().map(Vec::as_slice).collect();
    resolve_names(&urls, policy).await;
}

/// Every tracker URL of a record: its magnet's, then its `.torrent`'s.
fn record_trackers(rec: &TorrentRecord) -> Vec<Vec<u8>> {
    let pairs = (rec.magnet.as_deref())
        .and_then(magnet_pairs)
        .unwrap_or_default();
    let from_file = (rec.torrent_bytes.as_deref())
        .and_then(|t| torrent_trackers(t).ok())
        .unwrap_or_default();
    let from_magnet = trackers_of(&pairs).map(<[u8]>::to_vec);
    from_magnet
        .chain(from_file.into_iter().map(<[u8]>::to_vec))
        .collect()
}

fn magnet_pairs(uri: &str) -> Option<Vec<(String, String)>> {
    let url = url::Url::parse(uri.trim()).ok()?;
    (url.scheme() == "magnet").then(|| url.query_pairs().into_owned().collect())
}

fn trackers_of(pairs: &[(String, String)]) -> impl Iterator<Item = &[u8]> {
    pairs
        .iter()
        .filter(|(k, _)| k == "tr")
        .map(|(_, v)| v.as_bytes())
}

/// Whether librqbit may be given this tracker, or why not. Names are judged by what
/// they last resolved to, if they resolved.
fn verdict(raw: &[u8], policy: TrackerPolicy) -> Result<(), String> {
    match screen_syntax(raw, policy.allow_private)? {
        None => Ok(()),
        Some(name) => match resolved(&name) {
            Some(addrs) => addrs.iter().try_for_each(|ip| {
                check_ip(*ip, policy.allow_private)
                    .map_err(|r| r.via_name(&name).explain(ALLOW_VAR))
            }),
            None => Ok(()),
        },
    }
}

/// Judges what the URL says by itself. `Ok(Some(name))`: allowed so far, but the host
/// is a name whose addresses decide.
fn screen_syntax(raw: &[u8], allow_private: bool) -> Result<Option<String>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "the URL is not UTF-8".to_owned())?;
    if text.trim().is_empty() {
        // librqbit writes an empty `announce` into torrents it builds from trackerless
        // magnets; it names no address and librqbit ignores it.
        return Ok(None);
    }
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https" | "udp") {
        return Err(format!(
            "the scheme {}: is not http:, https: or udp:",
            url.scheme()
        ));
    }
    let host = url.host_str().filter(|h| !h.is_empty());
    let host = host.ok_or_else(|| "the URL has no host".to_owned())?;
    // A udp: URL's host is opaque to `url`, but the resolver behind librqbit reads
    // 2130706433 or 0x7f.1 as 127.0.0.1: parse it as http: does, which reads them so too.
    let as_http = url::Url::parse(&format!("http://{host}/"))
        .map_err(|e| format!("the host {host:?} is not valid: {e}"))?;
    let refused = |r: Refusal| r.explain(ALLOW_VAR);
    match as_http.host() {
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), allow_private).map_err(refused)?,
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), allow_private).map_err(refused)?,
        Some(url::Host::Domain(name)) => {
            return match classify_name(name) {
                Some(class) if !class.allowed(allow_private) => Err(refused(Refusal {
                    what: name.to_owned(),
                    class,
                })),
                _ => Ok(Some(name.to_owned())),
            };
        }
        None => return Err("the URL has no host".to_owned()),
    }
    Ok(None)
}

/// The tracker URLs of `.torrent` bytes: `announce`, then every tier of `announce-list`.
fn torrent_trackers(bytes: &[u8]) -> Result<Vec<&[u8]>, Malformed> {
    let mut out = Vec::new();
    for bencode::DictEntry { key, value } in bencode::dict_entries(bytes)? {
        let value = &bytes[value];
        match key {
            b"announce" => out.push(bencode::as_bytes(value)?),
            b"announce-list" => out.extend(announce_tiers(value)?.into_iter().flatten()),
            _ => {}
        }
    }
    Ok(out)
}

fn announce_tiers(value: &[u8]) -> Result<Vec<Vec<&[u8]>>, Malformed> {
    let tiers = bencode::list_items(value)?.into_iter().map(|tier| {
        let tier = &value[tier];
        let urls = bencode::list_items(tier)?.into_iter();
        urls.map(|u| bencode::as_bytes(&tier[u])).collect()
    });
    tiers.collect()
}

/// The `.torrent` without the trackers `keep` refuses. Every other top-level value is
/// copied as it was, in its place; an emptied `announce-list` or refused `announce` is
/// left out.
fn rewrite_torrent(bytes: &[u8], keep: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, Malformed> {
    let mut out = Vec::with_capacity(bytes.len());
    out.push(b'd');
    for bencode::DictEntry { key, value } in bencode::dict_entries(bytes)? {
        let value = &bytes[value];
        match key {
            b"announce" if !keep(bencode::as_bytes(value)?) => {}
            b"announce-list" => {
                let tiers: Vec<Vec<&[u8]>> = announce_tiers(value)?
                    .into_iter()
                    .map(|tier| tier.into_iter().filter(|u| keep(u)).collect::<Vec<_>>())
                    .filter(|tier| !tier.is_empty())
                    .collect();
                if tiers.is_empty() {
                    continue;
                }
                bencode::put_bytes(&mut out, key);
                out.push(b'l');
                for tier in tiers {
                    out.push(b'l');
                    tier.iter().for_each(|u| bencode::put_bytes(&mut out, u));
                    out.push(b'e');
                }
                out.push(b'e');
            }
            _ => {
                bencode::put_bytes(&mut out, key);
                out.extend_from_slice(value);
            }
        }
    }
    out.push(b'e');
    Ok(out)
}

/// What names resolved to: `None` for a name that did not resolve in time. Process-wide,
/// like a resolver's cache: it holds facts about names, not policy, so it is shared by
/// every engine whatever its policy, and many torrents naming one tracker cost one lookup.
struct Lookup {
    addrs: Option<Vec<IpAddr>>,
    at: Instant,
}

fn lookups() -> std::sync::MutexGuard<'static, HashMap<String, Lookup>> {
    static LOOKUPS: OnceLock<Mutex<HashMap<String, Lookup>>> = OnceLock::new();
    let m = LOOKUPS.get_or_init(Default::default);
    // Plain data: a panic elsewhere while holding it leaves nothing half-done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn resolved(name: &str) -> Option<Vec<IpAddr>> {
    lookups().get(name).and_then(|l| l.addrs.clone())
}

/// Resolves, at once and each within [`RESOLVE_TIMEOUT`], the names among `urls` not
/// resolved lately.
async fn resolve_names(urls: &[&[u8]], policy: TrackerPolicy) {
    if !policy.resolve_names {
        return;
    }
    let mut names: Vec<String> = urls
        .iter()
        .filter_map(|u| screen_syntax(u, policy.allow_private).ok().flatten())
        .collect();
    names.sort();
    names.dedup();
    names.retain(|n| {
        lookups()
            .get(n)
            .is_none_or(|l| l.at.elapsed() > RESOLVED_FOR)
    });
    let found = futures::future::join_all(names.into_iter().map(|name| async move {
        let lookup = tokio::net::lookup_host((name.as_str(), 80));
        let addrs = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(addrs)) => Some(addrs.map(|a| a.ip()).collect()),
            _ => None,
        };
        (name, addrs)
    }))
    .await;
    let mut cache = lookups();
    for (name, addrs) in found {
        let at = Instant::now();
        cache.insert(name, Lookup { addrs, at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::source::inspect_torrent;

    const STRICT: TrackerPolicy = TrackerPolicy {
        allow_private: false,
        resolve_names: true,
    };
    const LAN: TrackerPolicy = TrackerPolicy {
        allow_private: true,
        resolve_names: true,
    };

    fn remember(name: &str, addrs: &[&str]) {
        let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
        let at = Instant::now();
        lookups().insert(
            name.to_owned(),
            Lookup {
                addrs: Some(addrs),
                at,
            },
        );
    }

    fn reason(url: &str, policy: TrackerPolicy) -> Option<String> {
        verdict(url.as_bytes(), policy).err()
    }

    #[test]
    fn schemes_other_than_http_https_udp_are_dropped() {
        for url in [
            "ws://tracker.example.org/announce",
            "wss://tracker.example.org/announce",
            "file:///etc/passwd",
            "ftp://tracker.example.org/",
            "gopher://tracker.example.org/",
            "not a url",
            "http://",
        ] {
            assert!(reason(url, LAN).is_some(), "{url}");
        }
        for url in [
            "http://1.1.1.1/announce",
            "https://1.1.1.1:443/announce",
            "udp://1.1.1.1:6969",
            "udp://[2606:4700::1111]:6969",
            "",
        ] {
            assert_eq!(reason(url, STRICT), None, "{url}");
        }
    }

    #[test]
    fn link_local_is_dropped_even_when_private_is_allowed() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "udp://169.254.169.254:80",
            "udp://2852039166:80",
            "http://[fe80::1]/announce",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/computeMetadata/v1/",
        ] {
            let why = reason(url, LAN).unwrap_or_else(|| panic!("{url} allowed"));
            assert!(why.contains("never allowed"), "{url}: {why}");
        }
    }

    #[test]
    fn loopback_and_private_are_dropped_unless_allowed() {
        for url in [
            "http://127.0.0.1:8000/announce",
            "udp://127.0.0.1:6969",
            "udp://2130706433:6969",
            "udp://0x7f.1:6969",
            "http://[::1]/announce",
            "http://10.0.0.1/announce",
            "udp://192.168.1.1:6969/announce",
            "http://100.64.1.1/",
            "http://0.0.0.0/",
            "http://localhost:8000/announce",
            "udp://LOCALHOST.:6969",
            "http://tracker/announce",
            "http://nas.local/announce",
        ] {
            let why = reason(url, STRICT).unwrap_or_else(|| panic!("{url} allowed"));
            assert!(why.contains("ALLOW_PRIVATE_TRACKERS=true"), "{url}: {why}");
            assert_eq!(reason(url, LAN), None, "{url}");
        }
    }

    #[test]
    fn names_are_judged_by_what_they_resolved_to() {
        remember("lan-tracker.test.example", &["93.184.216.34", "10.0.0.7"]);
        remember("imds.test.example", &["169.254.169.254"]);
        remember("public.test.example", &["93.184.216.34"]);
        let lan = reason("http://lan-tracker.test.example/a", STRICT).unwrap();
        assert_eq!(
            lan,
            "lan-tracker.test.example, resolving to 10.0.0.7, is a private address (RFC 1918); \
             set ALLOW_PRIVATE_TRACKERS=true to allow"
        );
        assert_eq!(reason("http://lan-tracker.test.example/a", LAN), None);
        assert!(
            reason("udp://imds.test.example:80", LAN)
                .unwrap()
                .contains("never allowed")
        );
        assert_eq!(reason("https://public.test.example/a", STRICT), None);
        // Not resolved (yet): kept.
        assert_eq!(reason("http://unresolved.test.example/a", STRICT), None);
    }

    #[tokio::test]
    async fn names_are_resolved_when_screened() {
        // Every resolver knows `localhost`: allowed by name under LAN, it is looked up.
        resolve_names(&[&b"http://localhost/announce"[..]], LAN).await;
        let addrs = resolved("localhost").expect("localhost resolves");
        assert!(addrs.iter().all(|a| a.is_loopback()), "{addrs:?}");
        let off = TrackerPolicy {
            resolve_names: false,
            ..STRICT
        };
        resolve_names(&[&b"http://never-looked-up.test.example/"[..]], off).await;
        assert!(lookups().get("never-looked-up.test.example").is_none());
    }

    /// A torrent as clients write it: `announce`, `announce-list`, `info` and more, with
    /// an `info` dict whose keys are deliberately out of order (not canonical bencode),
    /// which a decode-and-encode rewrite would sort and so change the info hash.
    fn sample_torrent() -> Vec<u8> {
        let mut info = b"d4:name5:a.bin12:piece lengthi16384e6:lengthi5e6:pieces20:".to_vec();
        info.extend_from_slice(&[7u8; 20]);
        info.push(b'e');
        let list = |out: &mut Vec<u8>, urls: &[&str]| {
            out.push(b'l');
            urls.iter()
                .for_each(|u| bencode::put_bytes(out, u.as_bytes()));
            out.push(b'e');
        };
        let mut t = b"d".to_vec();
        bencode::put_bytes(&mut t, b"announce");
        bencode::put_bytes(&mut t, b"http://169.254.169.254/announce");
        bencode::put_bytes(&mut t, b"announce-list");
        t.push(b'l');
        list(&mut t, &["http://169.254.169.254/announce"]);
        list(
            &mut t,
            &[
                "udp://127.0.0.1:6969",
                "http://1.1.1.1:80/announce",
                "wss://example.org/x",
            ],
        );
        t.push(b'e');
        t.extend_from_slice(b"7:comment2:hi4:info");
        t.extend_from_slice(&info);
        t.push(b'e');
        t
    }

    #[tokio::test]
    async fn rewriting_a_torrent_keeps_its_info_hash() {
        let original = sample_torrent();
        let before = inspect_torrent(&original).expect("sample parses");
        let screened = screen_torrent(&original, STRICT).await.unwrap();
        let after = inspect_torrent(&screened).expect("rewrite parses");
        assert_eq!(after.info_hash, before.info_hash);
        assert_eq!(
            torrent_trackers(&screened).unwrap(),
            [&b"http://1.1.1.1:80/announce"[..]]
        );
        let info_at = |b: &[u8]| b.windows(6).position(|w| w == b"4:info").unwrap();
        assert_eq!(
            original[info_at(&original)..],
            screened[info_at(&screened)..],
            "the info value and what follows are copied verbatim"
        );
        assert!(screened.windows(9).any(|w| w == b"2:hi4:inf"));

        let lan = screen_torrent(&original, LAN).await.unwrap();
        assert_eq!(
            torrent_trackers(&lan).unwrap(),
            [&b"udp://127.0.0.1:6969"[..], b"http://1.1.1.1:80/announce"]
        );
    }

    #[tokio::test]
    async fn a_torrent_with_nothing_to_drop_is_left_as_it_was() {
        let t = b"d8:announce19:http://1.1.1.1/annc4:infod6:lengthi1eee".to_vec();
        assert_eq!(screen_torrent(&t, STRICT).await.unwrap(), t);
        // Every tracker dropped: no announce key, no announce-list key at all.
        let all_bad = b"d8:announce16:http://10.0.0.1/13:announce-listll16:http://10.0.0.1/ee4:infod6:lengthi1eee";
        let out = screen_torrent(all_bad, STRICT).await.unwrap();
        assert_eq!(out, b"d4:infod6:lengthi1eee");
    }

    #[test]
    fn dropped_trackers_name_each_url_once_with_its_reason() {
        let rec = TorrentRecord {
            magnet: Some(
                "magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056\
                 &tr=http%3A%2F%2F169.254.169.254%2Fannounce&tr=udp%3A%2F%2F1.1.1.1%3A80"
                    .into(),
            ),
            torrent_bytes: Some(sample_torrent().into()),
            ..TorrentRecord::new(crate::InfoHash::from_bytes([0; 20]), String::new(), 0)
        };
        let dropped = dropped_trackers(&rec, STRICT);
        let urls: Vec<&str> = dropped.iter().map(|d| d.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://169.254.169.254/announce",
                "udp://127.0.0.1:6969",
                "wss://example.org/x"
            ]
        );
        assert!(dropped.iter().all(|d| !d.reason.is_empty()));
        let json = serde_json::to_value(&dropped[0]).unwrap();
        assert_eq!(json["url"], "http://169.254.169.254/announce");
        assert!(json["reason"].as_str().unwrap().contains("link-local"));
    }

    #[tokio::test]
    async fn magnets_lose_only_the_refused_tr_values() {
        let m = "magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056&dn=x\
                 &tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce&tr=udp%3A%2F%2F1.1.1.1%3A80&so=0";
        let strict = screen_magnet(m, STRICT).await;
        assert_eq!(
            strict,
            "magnet:?xt=urn%3Abtih%3Ac9e15763f722f23e98a29decdfae341b98d53056&dn=x\
             &tr=udp%3A%2F%2F1.1.1.1%3A80&so=0"
        );
        assert_eq!(screen_magnet(m, LAN).await, m, "nothing dropped: unchanged");
        let hex = "c9e15763f722f23e98a29decdfae341b98d53056";
        assert_eq!(screen_magnet(hex, STRICT).await, hex);
    }
}
