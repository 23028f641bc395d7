//! The torrent as clients see it. The REST API answers with these views and the
//! event contract carries them, so both speak one shape.

use serde::{Deserialize, Serialize};

use crate::InfoHash;
use crate::store::{Millis, Priority};

/// The lifecycle state users see, in qBittorrent/Transmission terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TorrentState {
    /// Waiting for a download slot.
    Queued,
    /// A magnet's metadata is being fetched from peers.
    Metadata,
    /// Existing data is being verified.
    Checking,
    Downloading,
    Seeding,
    /// Paused by its user.
    Paused,
    /// Complete, and the seeding policy (ratio or time) stopped it.
    Completed,
    Error,
}

impl TorrentState {
    pub const ALL: [TorrentState; 8] = [
        Self::Queued,
        Self::Metadata,
        Self::Checking,
        Self::Downloading,
        Self::Seeding,
        Self::Paused,
        Self::Completed,
        Self::Error,
    ];

    /// The name clients see (as serialized).
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Metadata => "metadata",
            Self::Checking => "checking",
            Self::Downloading => "downloading",
            Self::Seeding => "seeding",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerCounts {
    pub connected: u32,
    pub total: u32,
}

/// One torrent in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TorrentView {
    pub info_hash: InfoHash,
    pub name: Option<String>,
    pub state: TorrentState,
    pub priority: Priority,
    pub paused: bool,
    /// 1-based place in the download queue while queued.
    pub queue_position: Option<usize>,
    /// Percent of the wanted bytes verified, 0 to 100.
    pub percentage: f64,
    pub total_bytes: u64,
    /// Verified bytes on disk.
    pub completed_bytes: u64,
    /// Lifetime payload bytes received and sent.
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes per second.
    pub download_speed: u64,
    pub upload_speed: u64,
    /// Seconds until complete, when downloading and estimable.
    pub eta: Option<u64>,
    pub ratio: f64,
    pub peers: PeerCounts,
    /// Milliseconds since the Unix epoch.
    #[schema(value_type = i64)]
    pub added_at: Millis,
    /// Milliseconds since the Unix epoch.
    #[schema(value_type = Option<i64>)]
    pub completed_at: Option<Millis>,
    pub owner_id: String,
    pub error: Option<String>,
    /// The owner's category it is filed under.
    #[serde(default)]
    pub category: Option<String>,
    /// The owner's tags on it, sorted.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Downloads and seeds only while a stream reads it.
    #[serde(default)]
    pub stream_only: bool,
    /// Stream-only and nobody read it for `IDLE_TIMEOUT`: it moves no data (its state
    /// is `paused`) until the next read.
    #[serde(default)]
    pub idle: bool,
    /// Streams open on it now.
    #[serde(default)]
    pub streams: usize,
}

#[cfg(test)]
mod tests {
    use super::TorrentState;

    #[test]
    fn state_names_are_the_serialized_ones() {
        for s in TorrentState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name(), "{s:?}");
        }
    }
}
