//! What the catalog needs of the tracker: live counts, the allow list, and the announce
//! URL a user's `.torrent` gets.
//!
//! A trait rather than the tracker's type, so the catalog is tested without one and
//! knows nothing of how the tracker keeps its swarms. `app` hands in the server's
//! tracker.

use async_trait::async_trait;
use serde::Serialize;

use crate::InfoHash;

/// A swarm as the tracker last saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmCounts {
    pub seeders: u64,
    pub leechers: u64,
    /// Peers that announced `completed`.
    pub completed: u64,
}

#[async_trait]
pub trait SwarmTracker: Send + Sync + 'static {
    fn counts(&self, info_hash: &InfoHash) -> SwarmCounts;
    /// Lets the tracker serve this torrent (published in the catalog).
    fn allow(&self, info_hash: InfoHash);
    /// Stops serving it (its entry was deleted).
    fn disallow(&self, info_hash: &InfoHash);
    /// The announce URL for `user_id` on the server at `base_url` (`http://host:port`).
    async fn announce_url(&self, base_url: &str, user_id: &str) -> anyhow::Result<String>;
}

/// No tracker: every swarm is empty and torrents announce to `{base}/announce`.
pub struct NoTracker;

#[async_trait]
impl SwarmTracker for NoTracker {
    fn counts(&self, _: &InfoHash) -> SwarmCounts {
        SwarmCounts::default()
    }
    fn allow(&self, _: InfoHash) {}
    fn disallow(&self, _: &InfoHash) {}
    async fn announce_url(&self, base_url: &str, _: &str) -> anyhow::Result<String> {
        Ok(format!("{}/announce", base_url.trim_end_matches('/')))
    }
}
