//! The UDP tracker protocol (BEP 15), IPv4 and IPv6, with the URL data option of
//! BEP 41 carrying a private tracker's passkey (`udp://host:port/announce/PASSKEY`).
//!
//! Connection ids keep no state: an id is a keyed hash of the client's address and the
//! current minute, under a secret made at start. An id from this minute or the one
//! before is accepted, so it lives one to two minutes, and a spoofed source address
//! cannot get an id it could use (the answer goes to the address it spoofed).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::swarm::{Event, PeerId};
use super::{Protocol, Refusal, Request, Tracker};
use crate::InfoHash;

/// The magic number a connect request starts with.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
pub const CONNECT: u32 = 0;
pub const ANNOUNCE: u32 = 1;
pub const SCRAPE: u32 = 2;
pub const ERROR: u32 = 3;
/// Seconds an id's minute lasts.
const EPOCH_SECS: u64 = 60;
/// The most info hashes one scrape may name (BEP 15: what fits in a packet's answer).
pub const MAX_SCRAPE_HASHES: usize = 74;
/// Large enough for any request this tracker reads (an announce with options).
const RECV_BUFFER: usize = 2048;

/// Makes and checks connection ids.
pub struct ConnectionIds {
    secret: [u8; 32],
}

impl ConnectionIds {
    pub fn new() -> Self {
        Self {
            secret: rand::random(),
        }
    }

    fn epoch_now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / EPOCH_SECS)
    }

    fn id_at(&self, epoch: u64, addr: SocketAddr) -> u64 {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length works");
        mac.update(&epoch.to_be_bytes());
        match addr.ip() {
            IpAddr::V4(ip) => mac.update(&ip.octets()),
            IpAddr::V6(ip) => mac.update(&ip.octets()),
        }
        mac.update(&addr.port().to_be_bytes());
        let out = mac.finalize().into_bytes();
        u64::from_be_bytes(out[..8].try_into().expect("a SHA-256 is 32 bytes"))
    }

    pub fn issue(&self, addr: SocketAddr) -> u64 {
        self.id_at(Self::epoch_now(), addr)
    }

    pub fn valid(&self, id: u64, addr: SocketAddr) -> bool {
        let now = Self::epoch_now();
        id == self.id_at(now, addr) || id == self.id_at(now.saturating_sub(1), addr)
    }
}

impl Default for ConnectionIds {
    fn default() -> Self {
        Self::new()
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("caller checked the length"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("caller checked the length"))
}

fn error_packet(txid: u32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + message.len());
    out.extend_from_slice(&ERROR.to_be_bytes());
    out.extend_from_slice(&txid.to_be_bytes());
    out.extend_from_slice(message.as_bytes());
    out
}

/// BEP 41's URL data: the path (and query) of the tracker URL, in option 2 chunks.
fn url_data(mut options: &[u8]) -> Vec<u8> {
    let mut url = Vec::new();
    while let Some((&kind, rest)) = options.split_first() {
        match kind {
            0 => break,
            1 => options = rest,
            _ => {
                let Some((&len, rest)) = rest.split_first() else {
                    break;
                };
                let len = usize::from(len).min(rest.len());
                if kind == 2 {
                    url.extend_from_slice(&rest[..len]);
                }
                options = &rest[len..];
            }
        }
    }
    url
}

/// The passkey in a URL path `/announce/PASSKEY` (or `/PASSKEY/announce`, as some
/// trackers write it), without any query.
fn passkey_of(url: &[u8]) -> Option<String> {
    let path = std::str::from_utf8(url).ok()?;
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["announce", key] | [key, "announce"] => Some((*key).to_owned()),
        _ => None,
    }
}

/// What to do with one datagram: the answer to send, or nothing (dropped).
pub async fn handle(tracker: &Tracker, packet: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    if packet.len() < 16 {
        tracker.count_udp("malformed");
        return None;
    }
    let (conn, action, txid) = (u64_at(packet, 0), u32_at(packet, 8), u32_at(packet, 12));
    if action == CONNECT {
        if conn != PROTOCOL_ID {
            tracker.count_udp("malformed");
            return Some(error_packet(txid, "not a BEP 15 connect request"));
        }
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&CONNECT.to_be_bytes());
        out.extend_from_slice(&txid.to_be_bytes());
        out.extend_from_slice(&tracker.ids.issue(from).to_be_bytes());
        tracker.count_udp("connect");
        return Some(out);
    }
    if !matches!(action, ANNOUNCE | SCRAPE) {
        tracker.count_udp("malformed");
        return Some(error_packet(txid, "unknown action"));
    }
    if !tracker.ids.valid(conn, from) {
        tracker.count_udp("bad_connection_id");
        return Some(error_packet(txid, "connection id expired or invalid"));
    }
    let answer = if action == ANNOUNCE {
        announce(tracker, packet, from, txid).await
    } else {
        scrape(tracker, packet, txid)
    };
    Some(answer.unwrap_or_else(|r| error_packet(txid, &r.0)))
}

async fn announce(
    tracker: &Tracker,
    p: &[u8],
    from: SocketAddr,
    txid: u32,
) -> Result<Vec<u8>, Refusal> {
    if p.len() < 98 {
        tracker.count_announce(Protocol::Udp, "malformed");
        return Err(Refusal("announce packet too short".into()));
    }
    let event = match u32_at(p, 80) {
        0 => Event::None,
        1 => Event::Completed,
        2 => Event::Started,
        3 => Event::Stopped,
        _ => {
            tracker.count_announce(Protocol::Udp, "malformed");
            return Err(Refusal("invalid event".into()));
        }
    };
    let port = u16::from_be_bytes([p[96], p[97]]);
    // As over HTTP: nobody can connect to port 0, and such a peer would fill a place in
    // every answer it is picked for.
    if port == 0 {
        tracker.count_announce(Protocol::Udp, "malformed");
        return Err(Refusal("invalid port: 0".into()));
    }
    // The IP field is ignored: answering to an address the packet did not come from
    // would let anyone point a swarm at a victim.
    let numwant = match u32_at(p, 92) as i32 {
        n if n < 0 => None,
        n => Some(n as usize),
    };
    let req = Request {
        protocol: Protocol::Udp,
        info_hash: InfoHash::from_bytes(p[16..36].try_into().expect("length checked")),
        peer_id: PeerId::try_from(&p[36..56]).expect("length checked"),
        addr: SocketAddr::new(from.ip(), port),
        downloaded: u64_at(p, 56),
        left: u64_at(p, 64),
        uploaded: u64_at(p, 72),
        event,
        numwant,
        passkey: passkey_of(&url_data(&p[98..])),
    };
    let answer = tracker.announce(req).await?;
    // BEP 15: an answer over IPv6 carries IPv6 peers, over IPv4 IPv4 ones.
    let v6 = super::swarm::canonical(from).is_ipv6();
    let (peers4, peers6) = super::http::compact(&answer.peers);
    let peers = if v6 { peers6 } else { peers4 };
    let mut out = Vec::with_capacity(20 + peers.len());
    out.extend_from_slice(&ANNOUNCE.to_be_bytes());
    out.extend_from_slice(&txid.to_be_bytes());
    out.extend_from_slice(&(answer.interval.as_secs() as u32).to_be_bytes());
    out.extend_from_slice(&clamp32(answer.counts.leechers).to_be_bytes());
    out.extend_from_slice(&clamp32(answer.counts.seeders).to_be_bytes());
    out.extend_from_slice(&peers);
    Ok(out)
}

fn clamp32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn scrape(tracker: &Tracker, p: &[u8], txid: u32) -> Result<Vec<u8>, Refusal> {
    let hashes = &p[16..];
    if hashes.is_empty()
        || !hashes.len().is_multiple_of(20)
        || hashes.len() / 20 > MAX_SCRAPE_HASHES
    {
        tracker.count_scrape(Protocol::Udp, "malformed");
        return Err(Refusal(format!(
            "a scrape names 1 to {MAX_SCRAPE_HASHES} info hashes of 20 bytes"
        )));
    }
    let hashes: Vec<InfoHash> = hashes
        .chunks_exact(20)
        .map(|c| InfoHash::from_bytes(c.try_into().expect("chunks of 20")))
        .collect();
    let counts = tracker.scrape(Protocol::Udp, &hashes)?;
    let mut out = Vec::with_capacity(8 + 12 * counts.len());
    out.extend_from_slice(&SCRAPE.to_be_bytes());
    out.extend_from_slice(&txid.to_be_bytes());
    for (_, c) in counts {
        out.extend_from_slice(&clamp32(c.seeders).to_be_bytes());
        out.extend_from_slice(&clamp32(c.completed).to_be_bytes());
        out.extend_from_slice(&clamp32(c.leechers).to_be_bytes());
    }
    Ok(out)
}

/// Binds every configured socket (an error names the address), then serves them until
/// `cancel`.
pub async fn serve(
    tracker: Arc<Tracker>,
    addrs: &[SocketAddr],
    cancel: CancellationToken,
) -> anyhow::Result<Vec<SocketAddr>> {
    let mut bound = Vec::new();
    for addr in addrs {
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("binding the UDP tracker on {addr}: {e}"))?;
        bound.push(socket.local_addr()?);
        tokio::spawn(serve_socket(tracker.clone(), socket, cancel.clone()));
    }
    Ok(bound)
}

async fn serve_socket(tracker: Arc<Tracker>, socket: UdpSocket, cancel: CancellationToken) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(got) => got,
                // ICMP errors of earlier sends surface here on some systems: not fatal.
                Err(e) => {
                    tracing::debug!(error = %e, "UDP tracker receive failed");
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        if let Some(answer) = handle(&tracker, &buf[..n], from).await
            && let Err(e) = socket.send_to(&answer, from).await
        {
            tracing::debug!(error = %e, %from, "UDP tracker send failed");
        }
    }
}

#[cfg(test)]
mod tests;
