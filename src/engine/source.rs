//! Where a torrent comes from, checked before the engine touches it.
//!
//! Magnet links are parsed strictly (v1 hex or base32 `btih`; v2-only `btmh` is refused
//! because the engine needs a v1 hash) and rebuilt in a canonical form. `.torrent` bytes
//! are parsed and every file path is checked: paths from torrents are hostile, so a
//! component that is empty, `.`/`..`, absolute, or holds a separator, a NUL or a drive
//! prefix makes the whole torrent refused. URLs are fetched with a size cap, a timeout
//! and the address policy of [`address`]: never from link-local addresses, and from
//! loopback or private ones only when allowed. Trackers get the same policy ([`trackers`]).

mod address;
pub mod announce;
mod bencode;
pub mod trackers;

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use librqbit::{ByteBuf, TorrentMetaV1, torrent_from_bytes};

use super::EngineError;
use crate::InfoHash;

/// A validated magnet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagnetLink {
    /// The v1 info hash.
    pub info_hash: InfoHash,
    pub name: Option<String>,
    pub trackers: Vec<String>,
    /// Peers from `x.pe` parameters (BEP 9).
    pub peers: Vec<SocketAddr>,
}

impl MagnetLink {
    /// Parses a `magnet:?xt=urn:btih:...` link or a bare 40-character hex info hash.
    ///
    /// ```
    /// use torrentedge::engine::source::MagnetLink;
    ///
    /// // base32 and hex spellings of one hash are the same torrent
    /// let m = MagnetLink::parse("magnet:?xt=urn:btih:ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW&dn=x&x.pe=127.0.0.1:6881")?;
    /// assert_eq!(m.info_hash.to_string(), "c9e15763f722f23e98a29decdfae341b98d53056");
    /// assert_eq!(m.peers, ["127.0.0.1:6881".parse()?]);
    /// assert!(MagnetLink::parse("magnet:?xt=urn:btih:1234").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, EngineError> {
        let input = input.trim();
        if let Ok(info_hash) = InfoHash::parse(input) {
            return Ok(Self {
                info_hash,
                name: None,
                trackers: Vec::new(),
                peers: Vec::new(),
            });
        }
        let bad = |why: &str| EngineError::InvalidMagnet(why.to_owned());
        let url = url::Url::parse(input).map_err(|_| bad("not a magnet URI"))?;
        if url.scheme() != "magnet" {
            return Err(bad("the scheme must be magnet:"));
        }
        let mut info_hash: Option<InfoHash> = None;
        let (mut name, mut trackers, mut peers) = (None, Vec::new(), Vec::new());
        let mut saw_v2 = false;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "xt" => {
                    if let Some(h) = value.strip_prefix("urn:btih:") {
                        let hash = InfoHash::parse_btih(h)
                            .map_err(|_| bad("btih must be 40 hex or 32 base32 characters"))?;
                        if info_hash.is_some_and(|known| known != hash) {
                            return Err(bad("more than one btih info hash"));
                        }
                        info_hash = Some(hash);
                    } else if let Some(h) = value.strip_prefix("urn:btmh:") {
                        if !(h.len() == 68 && h.starts_with("1220") && is_hex(&h[4..])) {
                            return Err(bad("btmh must be a SHA-256 multihash (1220 + 64 hex)"));
                        }
                        saw_v2 = true;
                    } else {
                        return Err(bad("xt must be urn:btih: or urn:btmh:"));
                    }
                }
                "dn" if !value.is_empty() => name = Some(value.into_owned()),
                "tr" => trackers.push(value.into_owned()),
                "x.pe" => peers.push(value.parse().map_err(|_| bad("x.pe must be ip:port"))?),
                _ => {}
            }
        }
        let Some(info_hash) = info_hash else {
            return Err(bad(if saw_v2 {
                "v2-only magnets (btmh without btih) are not supported"
            } else {
                "no info hash (xt=urn:btih:...)"
            }));
        };
        Ok(Self {
            info_hash,
            name,
            trackers,
            peers,
        })
    }

    /// The canonical form handed to the engine: hex hash, name and trackers.
    pub fn to_uri(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.append_pair("xt", &format!("urn:btih:{}", self.info_hash));
        if let Some(n) = &self.name {
            ser.append_pair("dn", n);
        }
        for t in &self.trackers {
            ser.append_pair("tr", t);
        }
        for p in &self.peers {
            ser.append_pair("x.pe", &p.to_string());
        }
        format!("magnet:?{}", ser.finish())
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the engine needs to know about a `.torrent` file, once checked.
#[derive(Debug, Clone)]
pub struct TorrentFileInfo {
    pub info_hash: InfoHash,
    pub name: Option<String>,
    pub total_bytes: u64,
    /// The folder below the download directory that holds a multi-file torrent: its
    /// name, or its info hash when it has none. The engine passes it to librqbit, so
    /// the layout checked here is the layout written.
    pub sub_folder: Option<String>,
    /// Paths of the files relative to the download directory.
    pub files: Vec<(PathBuf, u64)>,
    pub piece_length: u32,
    /// The pieces' SHA-1 hashes, 20 bytes each, in order.
    pub piece_hashes: Vec<u8>,
    /// Trackers, tier by tier (`announce-list`, else `announce`).
    pub trackers: Vec<String>,
    /// Outside the info dictionary: known from a `.torrent`, not from peers.
    pub created_by: Option<String>,
    /// Seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    pub comment: Option<String>,
    pub private: bool,
}

/// Parses and checks `.torrent` bytes. Any unsafe path refuses the whole torrent.
pub fn inspect_torrent(bytes: &[u8]) -> Result<TorrentFileInfo, EngineError> {
    let parsed: TorrentMetaV1<ByteBuf<'_>> = torrent_from_bytes(bytes)
        .map_err(|e| EngineError::InvalidTorrent(format!("not a torrent file: {e}")))?;
    let info_hash = InfoHash::from_bytes(parsed.info_hash.0);
    let name_raw = parsed.info.data.name.as_ref().map(|n| n.as_ref().to_vec());
    let piece_length = parsed.info.data.piece_length;
    let piece_hashes = parsed.info.data.pieces.as_ref().to_vec();
    let private = parsed.info.data.private;
    let mut trackers: Vec<String> = parsed
        .iter_announce()
        .map(|t| String::from_utf8_lossy(t.as_ref()).into_owned())
        .collect();
    trackers.dedup();
    let validated = parsed
        .info
        .data
        .validate()
        .map_err(|e| EngineError::InvalidTorrent(format!("invalid torrent: {e}")))?;
    let name = validated.name().map(|n| n.into_owned());
    if let Some(raw) = &name_raw {
        check_component(raw)?;
    }
    let single = validated.iter_file_details().count() == 1;
    let sub_folder = (!single).then(|| name.clone().unwrap_or_else(|| info_hash.to_string()));
    let mut files = Vec::new();
    for fd in validated.iter_file_details() {
        let mut path = PathBuf::new();
        for part in fd.filename.iter_components_bytes() {
            check_component(part)?;
        }
        for part in fd.filename.iter_components() {
            path.push(part.as_ref());
        }
        if let Some(sub) = &sub_folder {
            path = Path::new(sub).join(path);
        }
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(unsafe_path(&path.to_string_lossy()));
        }
        files.push((path, fd.len));
    }
    let text = |b: &Option<ByteBuf<'_>>| {
        b.as_ref()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
    };
    Ok(TorrentFileInfo {
        info_hash,
        name,
        total_bytes: validated.lengths().total_length(),
        sub_folder,
        files,
        piece_length,
        piece_hashes,
        trackers,
        created_by: text(&parsed.created_by),
        creation_date: parsed.creation_date.map(|d| d as i64),
        comment: text(&parsed.comment),
        private,
    })
}

fn unsafe_path(what: &str) -> EngineError {
    EngineError::UnsafePath(format!("refusing torrent with unsafe file path {what:?}"))
}

/// One path component from a torrent: it must name an ordinary entry of its folder.
fn check_component(raw: &[u8]) -> Result<(), EngineError> {
    let shown = String::from_utf8_lossy(raw);
    let bad = raw.is_empty()
        || raw == b"."
        || raw == b".."
        || raw.iter().any(|&b| b == b'/' || b == b'\\' || b == 0)
        || (raw.len() >= 2 && raw[1] == b':' && raw[0].is_ascii_alphabetic());
    if bad {
        Err(unsafe_path(&shown))
    } else {
        Ok(())
    }
}

/// Refuses a layout that would leave `root` through a symlink already on disk: every
/// existing ancestor of every file, below `root`, must be a real directory, and an
/// existing file must be a regular file.
pub fn check_layout_on_disk(root: &Path, files: &[(PathBuf, u64)]) -> Result<(), EngineError> {
    for (rel, _) in files {
        let mut cur = root.to_path_buf();
        for comp in rel.components() {
            cur.push(comp);
            match std::fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(unsafe_path(&rel.to_string_lossy()));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    Ok(())
}

/// Limits of fetching a `.torrent` by URL.
#[derive(Debug, Clone)]
pub struct UrlFetchPolicy {
    pub max_bytes: usize,
    pub timeout: Duration,
    pub allow_private: bool,
}

const MAX_REDIRECTS: usize = 5;

/// Fetches a `.torrent` over http(s). Each hop's host is resolved here, every address
/// checked, and the connection pinned to a checked address, so DNS rebinding cannot
/// point a fetch at an internal service between the check and the connect.
/// How transient faults (a URL that did not answer, a 5xx) are retried: `retries`
/// more tries, the first after `base_delay`, each wait twice the last.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base_delay: Duration,
}

/// Runs `op`, retrying [`EngineError::Fetch`] (transient by construction) by `policy`.
pub async fn with_retries<T, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    mut op: F,
) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    let mut delay = policy.base_delay;
    let mut attempt = 0;
    loop {
        match op().await {
            Err(EngineError::Fetch(e)) if attempt < policy.retries => {
                attempt += 1;
                tracing::info!(what, error = %e, retry_in = ?delay, attempt, "transient failure; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            other => return other,
        }
    }
}

pub async fn fetch_torrent_url(url: &str, policy: &UrlFetchPolicy) -> Result<Vec<u8>, EngineError> {
    let bad = |why: String| EngineError::InvalidUrl(why);
    let mut url = url::Url::parse(url).map_err(|e| bad(format!("invalid URL: {e}")))?;
    for _ in 0..=MAX_REDIRECTS {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("only http and https URLs can be fetched".into()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| bad("URL has no host".into()))?
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = resolve_allowed(&host, port, policy.allow_private).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .resolve(host.trim_start_matches('[').trim_end_matches(']'), addr)
            .build()
            .map_err(|e| EngineError::Fetch(e.to_string()))?;
        let resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| EngineError::Fetch(format!("fetching {url}: {e}")))?;
        if resp.status().is_redirection() {
            let loc = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| EngineError::Fetch("redirect without a location".into()))?;
            url = url
                .join(loc)
                .map_err(|e| bad(format!("bad redirect: {e}")))?;
            continue;
        }
        let status = resp.status();
        if !status.is_success() {
            let message = format!("{url} answered {status}");
            // A client error other than a timeout or a rate limit will not heal by
            // itself: not worth a retry.
            let lasting = status.is_client_error() && !matches!(status.as_u16(), 408 | 425 | 429);
            return Err(if lasting {
                EngineError::InvalidUrl(message)
            } else {
                EngineError::Fetch(message)
            });
        }
        return read_capped(resp, policy.max_bytes).await;
    }
    Err(EngineError::Fetch("too many redirects".into()))
}

async fn read_capped(resp: reqwest::Response, max: usize) -> Result<Vec<u8>, EngineError> {
    if resp.content_length().is_some_and(|l| l > max as u64) {
        return Err(EngineError::TooLarge(max));
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| EngineError::Fetch(e.to_string()))?;
        if body.len() + chunk.len() > max {
            return Err(EngineError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn resolve_allowed(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<SocketAddr, EngineError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| EngineError::Fetch(format!("cannot resolve {host}: {e}")))?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| EngineError::Fetch(format!("{host} has no address")))?;
    for a in &addrs {
        address::check_ip(a.ip(), allow_private)
            .map_err(|r| EngineError::InvalidUrl(r.via_name(host).explain("ALLOW_PRIVATE_URLS")))?;
    }
    Ok(first)
}

/// Whether an address is globally routable (not loopback, private, link-local, ...).
pub fn is_public(ip: IpAddr) -> bool {
    address::classify(ip) == address::AddressClass::Public
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c9e15763f722f23e98a29decdfae341b98d53056";

    #[test]
    fn magnet_hex_and_base32_give_the_same_hash() {
        let hex = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=x")).unwrap();
        assert_eq!(hex.info_hash.to_string(), HEX);
        assert_eq!(hex.name.as_deref(), Some("x"));
        let b32 =
            MagnetLink::parse("magnet:?xt=urn:btih:ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW").unwrap();
        assert_eq!(b32.info_hash.to_string(), HEX);
        assert_eq!(
            MagnetLink::parse(&HEX.to_uppercase())
                .unwrap()
                .info_hash
                .to_string(),
            HEX
        );
    }

    #[test]
    fn magnet_peers_and_trackers_are_kept() {
        let m = MagnetLink::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce&x.pe=127.0.0.1:6881"
        ))
        .unwrap();
        assert_eq!(m.trackers, vec!["http://127.0.0.1:1/announce"]);
        assert_eq!(m.peers, vec!["127.0.0.1:6881".parse().unwrap()]);
        assert_eq!(MagnetLink::parse(&m.to_uri()).unwrap(), m);
    }

    #[test]
    fn bad_magnets_are_refused_with_a_reason() {
        for bad in [
            "",
            "hello",
            "http://example.invalid/x",
            "magnet:?dn=nohash",
            "magnet:?xt=urn:btih:1234",
            "magnet:?xt=urn:btih:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "magnet:?xt=urn:sha1:c9e15763f722f23e98a29decdfae341b98d53056",
            &format!("magnet:?xt=urn:btih:{HEX}&x.pe=notapeer"),
            &format!("magnet:?xt=urn:btmh:1220{}", "a".repeat(64)),
        ] {
            assert!(
                matches!(MagnetLink::parse(bad), Err(EngineError::InvalidMagnet(_))),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn hybrid_magnet_uses_the_v1_hash() {
        let m = MagnetLink::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220{}",
            "b".repeat(64)
        ))
        .unwrap();
        assert_eq!(m.info_hash.to_string(), HEX);
    }

    #[test]
    fn components_that_escape_are_refused() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"a\\b",
            b"C:",
            b"c:evil",
            b"nul\0",
        ] {
            assert!(
                check_component(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for ok in [&b"a"[..], b"...", b"..a", b"file.txt", b" spaced "] {
            assert!(check_component(ok).is_ok());
        }
    }

    #[test]
    fn garbage_is_not_a_torrent() {
        assert!(matches!(
            inspect_torrent(b"hello"),
            Err(EngineError::InvalidTorrent(_))
        ));
        assert!(matches!(
            inspect_torrent(b"d4:infoi3ee"),
            Err(EngineError::InvalidTorrent(_))
        ));
    }

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_urls_are_refused_unless_allowed() {
        let policy = UrlFetchPolicy {
            max_bytes: 1024,
            timeout: Duration::from_secs(2),
            allow_private: false,
        };
        let err = fetch_torrent_url("http://127.0.0.1:9/x.torrent", &policy)
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::InvalidUrl(_)), "{err:?}");
        let err = fetch_torrent_url("ftp://127.0.0.1/x", &policy)
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::InvalidUrl(_)), "{err:?}");
    }

    #[tokio::test]
    async fn link_local_urls_are_refused_even_when_private_ones_are_allowed() {
        let policy = UrlFetchPolicy {
            max_bytes: 1024,
            timeout: Duration::from_secs(2),
            allow_private: true,
        };
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/x.torrent",
            "http://[::ffff:169.254.169.254]/x",
        ] {
            let err = fetch_torrent_url(url, &policy).await.unwrap_err();
            assert!(
                matches!(&err, EngineError::InvalidUrl(m) if m.contains("never allowed")),
                "{url}: {err:?}"
            );
        }
    }
}
