//! The built-in BitTorrent tracker: announce and scrape over HTTP ([`http`], served by
//! `api::tracker`) and UDP ([`udp`]), in one of three modes ([`TrackerMode`]).
//!
//! State is in memory ([`swarm`]): peers are forgotten when they miss an interval, as
//! every tracker does. What must outlive a restart is in the store: users' passkeys and
//! the uploaded/downloaded totals accounted from their announces (private mode), which
//! are added up in memory and written every [`FLUSH_EVERY`] and at shutdown.

pub mod http;
pub mod swarm;
pub mod udp;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::InfoHash;
pub use crate::config::{TrackerConfig, TrackerMode};
use crate::store::{DynStore, StoreResult};
pub use swarm::SwarmCounts;
use swarm::{Event, PeerAnnounce, PeerId, Swarms};

/// How often accounted transfers are written to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Udp,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Udp => "udp",
        }
    }
}

/// Why an announce or scrape was refused: the text of a bencoded `failure reason` or a
/// BEP 15 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// An announce from either protocol.
#[derive(Debug, Clone)]
pub struct Request {
    pub protocol: Protocol,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    /// The client's address as the connection shows it, with the port it listens on.
    pub addr: SocketAddr,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Event,
    pub numwant: Option<usize>,
    pub passkey: Option<String>,
}

/// What an announce is answered with.
#[derive(Debug)]
pub struct Answer {
    pub counts: SwarmCounts,
    pub peers: Vec<SocketAddr>,
    pub interval: Duration,
    pub min_interval: Duration,
    pub warning: Option<String>,
}

/// A user's tracker statistics (private mode accounts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserStats {
    pub uploaded: u64,
    pub downloaded: u64,
    /// Uploaded over downloaded; `None` before anything was downloaded.
    pub ratio: Option<f64>,
    /// Torrents one of the user's clients seeds (or leeches) right now.
    pub seeding: u64,
    pub leeching: u64,
}

pub struct Tracker {
    cfg: TrackerConfig,
    swarms: Swarms,
    /// The catalog's info hashes: what `catalog` and `private` modes track.
    allowed: RwLock<HashSet<InfoHash>>,
    store: DynStore,
    /// Passkeys already looked up, to their user ids.
    passkeys: RwLock<HashMap<String, Arc<str>>>,
    /// Transfers accounted but not yet written: user id → (uploaded, downloaded).
    pending: Mutex<HashMap<Arc<str>, (u64, u64)>>,
    /// Finished downloads counted but not yet written (not in `open` mode, where any
    /// hash may be announced and the store would grow without bound).
    pending_completions: Mutex<HashMap<InfoHash, u64>>,
    pub(crate) ids: udp::ConnectionIds,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig, store: DynStore) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            swarms: Swarms::default(),
            allowed: RwLock::default(),
            store,
            passkeys: RwLock::default(),
            pending: Mutex::default(),
            pending_completions: Mutex::default(),
            ids: udp::ConnectionIds::new(),
        })
    }

    pub fn mode(&self) -> TrackerMode {
        self.cfg.mode
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    // --- the catalog's hashes --------------------------------------------------------------

    pub fn allow(&self, info_hash: InfoHash) {
        self.allowed.write().insert(info_hash);
    }

    /// Stops tracking a torrent that left the catalog and forgets its swarm and its
    /// completed count, in memory and in the store, so that a torrent published again
    /// starts from zero.
    pub async fn forget(&self, info_hash: &InfoHash) -> StoreResult<()> {
        self.disallow(info_hash);
        self.pending_completions.lock().remove(info_hash);
        self.store.clear_completions(info_hash).await
    }

    /// Stops tracking the hash (in `catalog` and `private` modes) and forgets its swarm.
    pub fn disallow(&self, info_hash: &InfoHash) {
        self.allowed.write().remove(info_hash);
        if self.cfg.mode != TrackerMode::Open {
            self.swarms.forget(info_hash);
        }
    }

    fn tracks(&self, h: &InfoHash) -> bool {
        self.cfg.mode == TrackerMode::Open || self.allowed.read().contains(h)
    }

    // --- announce and scrape ---------------------------------------------------------------

    pub async fn announce(&self, req: Request) -> Result<Answer, Refusal> {
        let p = req.protocol;
        let user = match self.user_of(req.passkey.as_deref()).await {
            Ok(u) => u,
            Err(r) => {
                self.count_announce(p, "refused");
                return Err(r);
            }
        };
        if !self.tracks(&req.info_hash) {
            self.count_announce(p, "refused");
            return Err(Refusal("torrent not registered with this tracker".into()));
        }
        let mut warning = None;
        let asked = req.numwant.unwrap_or(self.cfg.default_numwant);
        if asked > self.cfg.max_numwant {
            warning = Some(format!("numwant capped at {}", self.cfg.max_numwant));
        }
        let announce = PeerAnnounce {
            info_hash: req.info_hash,
            peer_id: req.peer_id,
            addr: req.addr,
            uploaded: req.uploaded,
            downloaded: req.downloaded,
            left: req.left,
            event: req.event,
            numwant: asked.min(self.cfg.max_numwant),
            same_family_only: p == Protocol::Udp,
            user: user.clone(),
        };
        let done = self.swarms.announce(&announce, Instant::now());
        if let Some(user) = user {
            self.account(user, done.uploaded_delta, done.downloaded_delta);
        }
        if done.completed_now && self.cfg.mode != TrackerMode::Open {
            *self
                .pending_completions
                .lock()
                .entry(req.info_hash)
                .or_default() += 1;
        }
        if req.event == Event::None && done.since_last.is_some_and(|d| d < self.cfg.min_interval) {
            warning = Some(format!(
                "announcing too often: wait at least {} s between announces",
                self.cfg.min_interval.as_secs()
            ));
        }
        self.count_announce(p, "ok");
        Ok(Answer {
            counts: done.counts,
            peers: done.peers,
            interval: self.cfg.interval,
            min_interval: self.cfg.min_interval,
            warning,
        })
    }

    pub fn scrape(
        &self,
        p: Protocol,
        hashes: &[InfoHash],
    ) -> Result<Vec<(InfoHash, SwarmCounts)>, Refusal> {
        self.count_scrape(p, "ok");
        // Hashes it does not track are reported with zero counts, as for a swarm with
        // nobody in it, rather than failing the whole scrape.
        Ok(hashes
            .iter()
            .map(|h| {
                let c = if self.tracks(h) {
                    self.swarms.counts(h)
                } else {
                    SwarmCounts::default()
                };
                (*h, c)
            })
            .collect())
    }

    /// Live counts of one torrent's swarm.
    pub fn counts(&self, info_hash: &InfoHash) -> SwarmCounts {
        self.swarms.counts(info_hash)
    }

    // --- passkeys and accounting -------------------------------------------------------

    /// The account an announce is made for: its passkey's user in private mode (where
    /// one is required), nobody otherwise.
    async fn user_of(&self, passkey: Option<&str>) -> Result<Option<Arc<str>>, Refusal> {
        if self.cfg.mode != TrackerMode::Private {
            return Ok(None);
        }
        let Some(key) = passkey else {
            return Err(Refusal(
                "this is a private tracker: announce with your passkey URL".into(),
            ));
        };
        if let Some(user) = self.passkeys.read().get(key) {
            return Ok(Some(user.clone()));
        }
        if !is_passkey_shaped(key) {
            return Err(Refusal("unknown passkey".into()));
        }
        match self.store.user_of_passkey(key).await {
            Ok(Some(user)) => {
                let user: Arc<str> = user.into();
                self.passkeys.write().insert(key.to_owned(), user.clone());
                Ok(Some(user))
            }
            Ok(None) => Err(Refusal("unknown passkey".into())),
            Err(e) => {
                tracing::warn!(error = %e, "passkey lookup failed");
                Err(Refusal(
                    "tracker temporarily unavailable, try again later".into(),
                ))
            }
        }
    }

    /// Refuses a scrape in private mode without a known passkey.
    pub async fn check_passkey(&self, passkey: Option<&str>) -> Result<(), Refusal> {
        self.user_of(passkey).await.map(drop)
    }

    /// The user's passkey, made on first use.
    pub async fn passkey(&self, user_id: &str) -> StoreResult<String> {
        if let Some(key) = self.store.passkey_of(user_id).await? {
            return Ok(key);
        }
        // Two first uses at once: the store keeps the first passkey written.
        self.store.insert_passkey(user_id, &new_passkey()).await?;
        self.store.passkey_of(user_id).await?.ok_or_else(|| {
            crate::store::StoreError::Backend("passkey vanished after insert".into())
        })
    }

    /// Replaces the user's passkey (a leaked one stops working at once).
    pub async fn reset_passkey(&self, user_id: &str) -> StoreResult<String> {
        let key = new_passkey();
        self.store.replace_passkey(user_id, &key).await?;
        self.passkeys.write().retain(|_, u| &**u != user_id);
        Ok(key)
    }

    /// The announce URL a user's clients should use: with the passkey in private mode.
    pub async fn announce_url(&self, base_url: &str, user_id: &str) -> anyhow::Result<String> {
        let base = base_url.trim_end_matches('/');
        Ok(match self.cfg.mode {
            TrackerMode::Private => format!("{base}/announce/{}", self.passkey(user_id).await?),
            _ => format!("{base}/announce"),
        })
    }

    fn account(&self, user: Arc<str>, up: u64, down: u64) {
        if up == 0 && down == 0 {
            return;
        }
        let mut pending = self.pending.lock();
        let e = pending.entry(user).or_default();
        e.0 = e.0.saturating_add(up);
        e.1 = e.1.saturating_add(down);
    }

    /// Writes accounted transfers to the store, one user at a time; what fails is kept
    /// for the next round.
    pub async fn flush(&self) {
        let batch: Vec<(Arc<str>, (u64, u64))> = self.pending.lock().drain().collect();
        for (user, (up, down)) in batch {
            if let Err(e) = self.store.add_transfer(&user, up, down).await {
                tracing::warn!(error = %e, "writing tracker transfer totals failed; will retry");
                self.account(user, up, down);
            }
        }
        let done: Vec<(InfoHash, u64)> = self.pending_completions.lock().drain().collect();
        if done.is_empty() {
            return;
        }
        if let Err(e) = self.store.add_completions(&done).await {
            tracing::warn!(error = %e, "writing tracker completions failed; will retry");
            let mut pending = self.pending_completions.lock();
            for (hash, n) in done {
                *pending.entry(hash).or_default() += n;
            }
        }
    }

    /// Brings back the completed counts written before a restart, for the torrents
    /// tracked now (call once the catalog's hashes are allowed).
    pub async fn restore_completions(&self) -> StoreResult<()> {
        if self.cfg.mode == TrackerMode::Open {
            return Ok(());
        }
        for (hash, n) in self.store.completions().await? {
            if self.tracks(&hash) {
                self.swarms.restore_completed(&hash, n);
            }
        }
        Ok(())
    }

    pub async fn user_stats(&self, user_id: &str) -> StoreResult<UserStats> {
        let (mut up, mut down) = self.store.transfer_totals(user_id).await?;
        if let Some((u, d)) = self.pending.lock().get(user_id) {
            up += u;
            down += d;
        }
        let (seeding, leeching) = self.swarms.user_activity(user_id);
        Ok(UserStats {
            uploaded: up,
            downloaded: down,
            ratio: (down > 0).then(|| up as f64 / down as f64),
            seeding,
            leeching,
        })
    }

    // --- background work ---------------------------------------------------------------

    /// Forgets peers that missed their interval, refreshes the gauges and writes
    /// accounted transfers, until `cancel`; then writes them a last time.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let grace = self.cfg.interval + self.cfg.interval / 4;
        let sweep_every = (self.cfg.interval / 4).min(Duration::from_secs(60));
        let mut last_sweep = Instant::now();
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = cancel.cancelled() => break,
            }
            self.flush().await;
            if last_sweep.elapsed() >= sweep_every {
                last_sweep = Instant::now();
                self.sweep(grace);
            }
        }
        self.flush().await;
    }

    fn sweep(&self, grace: Duration) {
        let Some(deadline) = Instant::now().checked_sub(grace) else {
            return;
        };
        let keep = self.cfg.mode != TrackerMode::Open;
        let (swarms, seeders, leechers) = self.swarms.sweep(deadline, keep);
        metrics::gauge!("torrentedge_tracker_swarms").set(swarms as f64);
        metrics::gauge!("torrentedge_tracker_peers", "kind" => "seeder").set(seeders as f64);
        metrics::gauge!("torrentedge_tracker_peers", "kind" => "leecher").set(leechers as f64);
    }

    /// Refreshes the gauges now (a metrics scrape asks), without waiting for a sweep.
    pub fn record_gauges(&self) {
        self.sweep(self.cfg.interval + self.cfg.interval / 4);
    }

    pub(crate) fn count_announce(&self, p: Protocol, result: &'static str) {
        metrics::counter!("torrentedge_tracker_announces_total", "protocol" => p.label(), "result" => result)
            .increment(1);
    }

    pub(crate) fn count_scrape(&self, p: Protocol, result: &'static str) {
        metrics::counter!("torrentedge_tracker_scrapes_total", "protocol" => p.label(), "result" => result)
            .increment(1);
    }

    /// UDP packets that are neither announces nor scrapes: connects, and the dropped.
    pub(crate) fn count_udp(&self, kind: &'static str) {
        metrics::counter!("torrentedge_tracker_udp_packets_total", "kind" => kind).increment(1);
    }
}

/// Passkeys are 32 lowercase hex characters (128 random bits).
fn new_passkey() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn is_passkey_shaped(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
