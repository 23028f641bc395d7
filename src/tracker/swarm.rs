//! The tracker's state: one swarm per info hash, its peers, and its counts.
//!
//! Swarms live in [`SHARDS`] independently locked maps chosen by the hash's first
//! byte, so announces for different torrents rarely wait on each other, and every lock
//! is held only to update one swarm and copy out the peers an answer carries; encoding
//! and I/O happen after it is released.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use parking_lot::Mutex;
use rand::Rng;

use crate::InfoHash;

/// Number of independently locked maps of swarms.
pub const SHARDS: usize = 64;

/// A BitTorrent client's 20-byte peer id.
pub type PeerId = [u8; 20];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    None,
    Started,
    Completed,
    Stopped,
}

/// A swarm's counts as scrape reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SwarmCounts {
    pub seeders: u64,
    pub leechers: u64,
    /// Downloads the tracker saw finish (`event=completed`).
    pub completed: u64,
}

/// One announce, already validated, as the swarm sees it.
#[derive(Debug, Clone)]
pub struct PeerAnnounce {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub addr: SocketAddr,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Event,
    pub numwant: usize,
    /// Only peers of the announcer's address family: a UDP answer carries one family
    /// (BEP 15), so counting the other against `numwant` would shorten it.
    pub same_family_only: bool,
    /// The account the passkey named (private mode).
    pub user: Option<Arc<str>>,
}

/// What an announce changed and what its answer carries.
#[derive(Debug, Default)]
pub struct Announced {
    pub counts: SwarmCounts,
    pub peers: Vec<SocketAddr>,
    /// Bytes this announce adds to the user's totals (the growth of the client's
    /// counters since its previous announce).
    pub uploaded_delta: u64,
    pub downloaded_delta: u64,
    /// Time since this peer's previous announce, when it had one.
    pub since_last: Option<Duration>,
    /// This announce counted a finished download.
    pub completed_now: bool,
}

#[derive(Debug)]
struct Peer {
    addr: SocketAddr,
    seeder: bool,
    uploaded: u64,
    downloaded: u64,
    last: Instant,
    user: Option<Arc<str>>,
}

#[derive(Debug, Default)]
struct Swarm {
    peers: IndexMap<PeerId, Peer>,
    seeders: u64,
    completed: u64,
}

impl Swarm {
    fn counts(&self) -> SwarmCounts {
        SwarmCounts {
            seeders: self.seeders,
            leechers: self.peers.len() as u64 - self.seeders,
            completed: self.completed,
        }
    }

    fn remove(&mut self, id: &PeerId) -> Option<Peer> {
        let peer = self.peers.swap_remove(id)?;
        if peer.seeder {
            self.seeders -= 1;
        }
        Some(peer)
    }

    /// Up to `want` peers other than `me`, from a random place in the list, so that
    /// answers spread over the swarm; a seeder is given leechers only; with `v6` set,
    /// only peers of that family (IPv6 when `true`).
    fn pick(&self, me: &PeerId, want: usize, seeder: bool, v6: Option<bool>) -> Vec<SocketAddr> {
        let n = self.peers.len();
        if n == 0 || want == 0 {
            return Vec::new();
        }
        let start = rand::rng().random_range(0..n);
        let mut out = Vec::with_capacity(want.min(n));
        for i in 0..n {
            let (id, p) = self
                .peers
                .get_index((start + i) % n)
                .expect("index below len");
            let other_family = v6.is_some_and(|v6| p.addr.is_ipv6() != v6);
            if id == me || (seeder && p.seeder) || other_family {
                continue;
            }
            out.push(p.addr);
            if out.len() == want {
                break;
            }
        }
        out
    }
}

/// Growth of a client's counter since its last announce. Counters restart with the
/// client's session: one smaller than before counts from zero.
fn growth(before: u64, now: u64) -> u64 {
    if now >= before { now - before } else { now }
}

/// Peers seen through IPv4-mapped IPv6 sockets are stored as the IPv4 peers they are.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

pub struct Swarms {
    shards: Box<[Mutex<std::collections::HashMap<InfoHash, Swarm>>]>,
}

impl Default for Swarms {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl Swarms {
    fn shard(&self, h: &InfoHash) -> &Mutex<std::collections::HashMap<InfoHash, Swarm>> {
        &self.shards[h.as_bytes()[0] as usize % SHARDS]
    }

    /// Applies an announce and returns the swarm's counts and peers for the answer.
    pub fn announce(&self, a: &PeerAnnounce, now: Instant) -> Announced {
        let mut shard = self.shard(&a.info_hash).lock();
        let swarm = shard.entry(a.info_hash).or_default();
        let seeder = a.left == 0;
        let mut out = Announced::default();
        let previous = swarm.remove(&a.peer_id);
        match &previous {
            Some(p) => {
                out.uploaded_delta = growth(p.uploaded, a.uploaded);
                out.downloaded_delta = growth(p.downloaded, a.downloaded);
                out.since_last = Some(now.saturating_duration_since(p.last));
            }
            // Counters start at the `started` event; a peer the tracker does not know
            // that announces without it (the tracker restarted, or the peer expired)
            // has counters whose earlier part may have been counted already.
            None if a.event == Event::Started => {
                out.uploaded_delta = a.uploaded;
                out.downloaded_delta = a.downloaded;
            }
            None => {}
        }
        let was_seeder = previous.as_ref().is_some_and(|p| p.seeder);
        if a.event == Event::Completed && !was_seeder {
            swarm.completed += 1;
            out.completed_now = true;
        }
        if a.event != Event::Stopped {
            let family = a.same_family_only.then(|| canonical(a.addr).is_ipv6());
            out.peers = swarm.pick(&a.peer_id, a.numwant, seeder, family);
            swarm.peers.insert(
                a.peer_id,
                Peer {
                    addr: canonical(a.addr),
                    seeder,
                    uploaded: a.uploaded,
                    downloaded: a.downloaded,
                    last: now,
                    user: a.user.clone(),
                },
            );
            if seeder {
                swarm.seeders += 1;
            }
        }
        out.counts = swarm.counts();
        out
    }

    pub fn counts(&self, h: &InfoHash) -> SwarmCounts {
        self.shard(h)
            .lock()
            .get(h)
            .map(Swarm::counts)
            .unwrap_or_default()
    }

    /// Forgets peers not heard from since `deadline`, and swarms left empty unless
    /// `keep_completed` and they have completions to remember. Returns the totals
    /// after the sweep: (swarms, seeders, leechers).
    pub fn sweep(&self, deadline: Instant, keep_completed: bool) -> (u64, u64, u64) {
        let (mut swarms, mut seeders, mut leechers) = (0, 0, 0);
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.retain(|_, s| {
                let stale: Vec<PeerId> = s
                    .peers
                    .iter()
                    .filter(|(_, p)| p.last < deadline)
                    .map(|(id, _)| *id)
                    .collect();
                for id in &stale {
                    s.remove(id);
                }
                !s.peers.is_empty() || (keep_completed && s.completed > 0)
            });
            for s in shard.values() {
                let c = s.counts();
                swarms += 1;
                seeders += c.seeders;
                leechers += c.leechers;
            }
        }
        (swarms, seeders, leechers)
    }

    /// Adds finished downloads counted before a restart to a swarm's count.
    pub fn restore_completed(&self, h: &InfoHash, n: u64) {
        let mut shard = self.shard(h).lock();
        let swarm = shard.entry(*h).or_default();
        swarm.completed = swarm.completed.saturating_add(n);
    }

    /// Forgets a swarm entirely (its torrent left the catalog).
    pub fn forget(&self, h: &InfoHash) {
        self.shard(h).lock().remove(h);
    }

    /// Swarms in which the user's clients seed and leech: (seeding, leeching).
    pub fn user_activity(&self, user: &str) -> (u64, u64) {
        let (mut seeding, mut leeching) = (0, 0);
        for shard in self.shards.iter() {
            for s in shard.lock().values() {
                let mine = s.peers.values().filter(|p| p.user.as_deref() == Some(user));
                let (mut seeds, mut leeches) = (false, false);
                for p in mine {
                    if p.seeder {
                        seeds = true
                    } else {
                        leeches = true
                    }
                }
                seeding += u64::from(seeds);
                leeching += u64::from(leeches && !seeds);
            }
        }
        (seeding, leeching)
    }
}

#[cfg(test)]
mod tests;
