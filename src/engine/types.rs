//! The engine's own types: requests in, serializable views out. Nothing here names
//! librqbit, so the API layer and tests depend on these alone.

use std::net::SocketAddr;

use serde::Serialize;

use crate::store::Priority;
pub use crate::view::{PeerCounts, TorrentState, TorrentView};

/// Who is asking. Users see and act on their own torrents; admins on all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub admin: bool,
}

impl Actor {
    pub fn may_see(&self, owner_id: &str) -> bool {
        self.admin || self.user_id == owner_id
    }
}

/// Where a new torrent comes from.
#[derive(Debug, Clone)]
pub enum TorrentInput {
    Magnet(String),
    File(Vec<u8>),
    /// An http(s) URL of a `.torrent` file.
    Url(String),
}

/// Options given when adding.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    pub priority: Priority,
    pub paused: bool,
    /// Peers to connect to in addition to trackers, DHT and local discovery.
    pub peers: Vec<SocketAddr>,
    /// A folder inside the owner's (relative, or absolute under it); default: the
    /// category's folder, else the owner's.
    pub save_path: Option<String>,
    /// Category, tags, limits: missing categories and tags are created for the owner.
    pub options: crate::store::TorrentOptions,
    /// A stream-only torrent downloads nothing until it is first read (otherwise it
    /// downloads until `IDLE_TIMEOUT` passes without a read). Any other is added paused.
    pub start_paused: bool,
}

/// One file inside a torrent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    pub index: usize,
    pub path: String,
    /// Where the file starts in the torrent's byte stream (pieces map onto it).
    pub offset: u64,
    pub length: u64,
    pub downloaded: u64,
    pub percentage: f64,
    /// Whether it is downloaded (a user can leave files out).
    pub wanted: bool,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PieceCounts {
    pub have: u32,
    pub total: u32,
    pub length: u32,
    /// The verified pieces as a BitTorrent bitfield (piece 0 is the high bit of the
    /// first byte), base64; absent before the metadata is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitfield: Option<String>,
}

/// A connected peer of a torrent (`peerList` in its details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerView {
    pub address: String,
    /// `tcp` or `utp`.
    pub connection: Option<String>,
    /// The client it announced (from the extended handshake), when it did.
    pub client: Option<String>,
    /// Payload bytes received from it and sent to it.
    pub downloaded: u64,
    pub uploaded: u64,
}

/// One torrent in full.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TorrentDetails {
    #[serde(flatten)]
    pub summary: TorrentView,
    pub magnet_uri: Option<String>,
    pub files: Vec<FileView>,
    pub trackers: Vec<String>,
    pub pieces: PieceCounts,
    /// The peers connected now.
    pub peer_list: Vec<PeerView>,
    /// Payload bytes received since the server started (for this torrent).
    pub downloaded_session: u64,
    pub save_path: Option<String>,
    /// Trackers of the magnet or `.torrent` that the tracker policy kept from librqbit
    /// (`ALLOW_PRIVATE_TRACKERS`, link-local, scheme), each with the reason.
    pub dropped_trackers: Vec<DroppedTracker>,
    /// Category, tags, share and rate limits, skipped files, queue place, force start.
    pub options: crate::store::TorrentOptions,
}

/// A torrent with what qBittorrent-style clients list beside its view.
#[derive(Debug, Clone)]
pub struct TorrentInfo {
    pub view: TorrentView,
    pub options: crate::store::TorrentOptions,
    /// The folder its files are saved in, absolute.
    pub save_path: std::path::PathBuf,
    /// Its content, absolute: the single file, or the torrent's folder.
    pub content_path: std::path::PathBuf,
    /// 1-based place in the download order of every incomplete torrent (0: complete).
    pub queue_order: usize,
    /// The limits in force: its own, else the global ones (ratio; seconds).
    pub ratio_limit: Option<f64>,
    pub seeding_time_limit: Option<u64>,
    /// Whether it holds (or, force-started, bypasses) a download slot.
    pub active: bool,
}

/// A tracker of a magnet or `.torrent` that librqbit was not given, and why
/// (`droppedTrackers` in a torrent's details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTracker {
    pub url: String,
    pub reason: String,
}

/// Global transfer limits in bytes per second; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub download_limit: u32,
    pub upload_limit: u32,
}

/// The settings administrators change at runtime. Given ones replace the current value;
/// they are kept in the store and outlive restarts (over the environment's values).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    pub download_limit: Option<u32>,
    pub upload_limit: Option<u32>,
    pub max_concurrent_torrents: Option<usize>,
    /// The global seeding limits: ratio, and minutes since completion (0: none).
    #[serde(default)]
    pub seed_ratio_limit: Option<f64>,
    #[serde(default)]
    pub seed_time_limit: Option<u64>,
}

/// Counts and rates over the torrents an actor can see.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    pub total_torrents: usize,
    pub active_count: usize,
    pub queued_count: usize,
    pub seeding_count: usize,
    pub paused_count: usize,
    pub completed_count: usize,
    pub error_count: usize,
    pub download_speed: u64,
    pub upload_speed: u64,
    pub total_downloaded: u64,
    pub total_uploaded: u64,
    pub max_concurrent: usize,
    /// Space on the file system of `DOWNLOAD_PATH`, when it can be read.
    pub disk: Option<DiskSpace>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiskSpace {
    pub free_bytes: u64,
    pub total_bytes: u64,
}
