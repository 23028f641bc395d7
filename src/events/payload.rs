//! The typed event contract: one variant per event type, each with its payload struct.
//!
//! An [`Event`] serializes to the JSON clients already read: the `type` name beside the
//! payload's camelCase fields, with the envelope's keys (`id`, `seq`, `ts`, `infoHash`,
//! `userId`) added by the bus. Events that carry the torrent's state after a change
//! (`torrent:added`, `torrent:paused`, `torrent:resumed`, `torrent:priority`) carry the
//! same [`TorrentView`] the REST API answers with.

use serde::{Deserialize, Serialize};

use super::contract::EventType;
use crate::store::Millis;
use crate::view::{PeerCounts, TorrentState, TorrentView};

/// One event, before the bus stamps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "torrent:added")]
    Added(TorrentView),
    #[serde(rename = "torrent:metadata")]
    Metadata(Metadata),
    #[serde(rename = "torrent:progress")]
    Progress(Progress),
    #[serde(rename = "torrent:piece")]
    Piece(Pieces),
    #[serde(rename = "torrent:complete")]
    Complete(Complete),
    #[serde(rename = "torrent:seeding")]
    Seeding(Seeding),
    #[serde(rename = "torrent:paused")]
    Paused(Paused),
    #[serde(rename = "torrent:resumed")]
    Resumed(TorrentView),
    #[serde(rename = "torrent:priority")]
    Priority(TorrentView),
    /// A user changed the torrent's options: category, tags, limits, files, queue place.
    #[serde(rename = "torrent:updated")]
    Updated(TorrentView),
    #[serde(rename = "torrent:removed")]
    Removed(Removed),
    #[serde(rename = "torrent:error")]
    Error(Failure),
    #[serde(rename = "queue:updated")]
    QueueUpdated(QueueUpdated),
}

impl Event {
    pub fn kind(&self) -> EventType {
        match self {
            Self::Added(_) => EventType::Added,
            Self::Metadata(_) => EventType::Metadata,
            Self::Progress(_) => EventType::Progress,
            Self::Piece(_) => EventType::Piece,
            Self::Complete(_) => EventType::Complete,
            Self::Seeding(_) => EventType::Seeding,
            Self::Paused(_) => EventType::Paused,
            Self::Resumed(_) => EventType::Resumed,
            Self::Priority(_) => EventType::Priority,
            Self::Updated(_) => EventType::Updated,
            Self::Removed(_) => EventType::Removed,
            Self::Error(_) => EventType::Error,
            Self::QueueUpdated(_) => EventType::QueueUpdated,
        }
    }
}

/// `torrent:metadata`: a magnet's metadata arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: Option<String>,
    pub total_bytes: u64,
}

/// `torrent:progress`: the moving numbers of a torrent, sent when one of them changed
/// while it moves, and when a torrent at rest changes state or place in the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub name: Option<String>,
    pub state: TorrentState,
    pub percentage: f64,
    pub completed_bytes: u64,
    pub total_bytes: u64,
    pub download_speed: u64,
    pub upload_speed: u64,
    pub peers: PeerCounts,
    pub eta: Option<u64>,
    pub downloaded: u64,
    pub uploaded: u64,
    pub ratio: f64,
    /// 1-based place in the download queue while queued.
    pub queue_position: Option<usize>,
}

impl From<&TorrentView> for Progress {
    fn from(v: &TorrentView) -> Self {
        Self {
            name: v.name.clone(),
            state: v.state,
            percentage: v.percentage,
            completed_bytes: v.completed_bytes,
            total_bytes: v.total_bytes,
            download_speed: v.download_speed,
            upload_speed: v.upload_speed,
            peers: v.peers,
            eta: v.eta,
            downloaded: v.downloaded,
            uploaded: v.uploaded,
            ratio: v.ratio,
            queue_position: v.queue_position,
        }
    }
}

/// `torrent:piece`: pieces verified since the last announcement, each announced once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pieces {
    /// The highest of `indexes`.
    pub index: Option<u32>,
    pub indexes: Vec<u32>,
    pub count: usize,
    /// Pieces verified in all, and in the torrent.
    pub have: u32,
    pub total: u32,
}

impl Pieces {
    pub fn new(indexes: Vec<u32>, have: u32, total: u32) -> Self {
        Self {
            index: indexes.last().copied(),
            count: indexes.len(),
            indexes,
            have,
            total,
        }
    }
}

/// `torrent:complete`: every wanted byte is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Complete {
    pub name: Option<String>,
    pub total_bytes: u64,
    pub completed_at: Millis,
}

/// `torrent:seeding`: the torrent started seeding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seeding {
    pub name: Option<String>,
    pub ratio: f64,
    pub uploaded: u64,
}

/// `torrent:paused`: by its user, or by the seeding policy (then with a `reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paused {
    #[serde(flatten)]
    pub torrent: TorrentView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Paused {
    pub fn by_user(torrent: TorrentView) -> Self {
        Self {
            torrent,
            reason: None,
        }
    }
}

/// `torrent:removed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    pub name: Option<String>,
    /// Whether its files were deleted with it.
    pub delete_files: bool,
}

/// `torrent:error`: the torrent failed and stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub message: String,
}

/// `queue:updated`: the download queue's counts changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueUpdated {
    pub stats: QueueStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub active_count: usize,
    pub queued_count: usize,
}

/// A torrent's view for tests of the contract and the bus.
#[cfg(test)]
pub(crate) fn sample_view(info_hash: crate::InfoHash) -> TorrentView {
    TorrentView {
        info_hash,
        name: Some("n".into()),
        state: TorrentState::Downloading,
        priority: crate::store::Priority::Normal,
        paused: false,
        queue_position: None,
        percentage: 12.5,
        total_bytes: 100,
        completed_bytes: 12,
        downloaded: 12,
        uploaded: 0,
        download_speed: 5,
        upload_speed: 0,
        eta: Some(18),
        ratio: 0.0,
        peers: PeerCounts {
            connected: 1,
            total: 2,
        },
        added_at: 1,
        completed_at: None,
        owner_id: "u".into(),
        error: None,
        category: None,
        tags: Vec::new(),
        stream_only: false,
        idle: false,
        streams: 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn one_of_each() -> Vec<Event> {
        let view = sample_view(crate::InfoHash::from_bytes([0xab; 20]));
        vec![
            Event::Added(view.clone()),
            Event::Metadata(Metadata {
                name: Some("n".into()),
                total_bytes: 100,
            }),
            Event::Progress(Progress::from(&view)),
            Event::Piece(Pieces::new(vec![3, 7], 5, 10)),
            Event::Complete(Complete {
                name: None,
                total_bytes: 100,
                completed_at: 9,
            }),
            Event::Seeding(Seeding {
                name: None,
                ratio: 0.5,
                uploaded: 50,
            }),
            Event::Paused(Paused::by_user(view.clone())),
            Event::Paused(Paused {
                torrent: view.clone(),
                reason: Some("seeding limit reached".into()),
            }),
            Event::Resumed(view.clone()),
            Event::Priority(view.clone()),
            Event::Removed(Removed {
                name: None,
                delete_files: true,
            }),
            Event::Error(Failure {
                message: "m".into(),
            }),
            Event::QueueUpdated(QueueUpdated {
                stats: QueueStats {
                    active_count: 1,
                    queued_count: 2,
                },
            }),
            // Last, so the indexes the tests below use stay those of the older types.
            Event::Updated(view),
        ]
    }

    #[test]
    fn every_variant_is_tagged_with_its_type_name() {
        let events = one_of_each();
        for t in EventType::ALL {
            assert!(events.iter().any(|e| e.kind() == t), "{t:?} has a sample");
        }
        for e in events {
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["type"], e.kind().name(), "{v}");
            assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
        }
    }

    /// The JSON clients read before the contract was typed: the same keys, the same
    /// spelling.
    #[test]
    fn payloads_keep_the_wire_names() {
        let keys = |e: &Event| -> Vec<String> {
            let Value::Object(m) = serde_json::to_value(e).unwrap() else {
                panic!("an object")
            };
            let mut k: Vec<String> = m.keys().cloned().collect();
            k.sort();
            k
        };
        let events = one_of_each();
        let want: [&[&str]; 4] = [
            &["count", "have", "index", "indexes", "total", "type"],
            &["completedAt", "name", "totalBytes", "type"],
            &["deleteFiles", "name", "type"],
            &["stats", "type"],
        ];
        for (e, want) in [&events[3], &events[4], &events[10], &events[12]]
            .into_iter()
            .zip(want)
        {
            assert_eq!(keys(e), want, "{e:?}");
        }
        let progress = keys(&events[2]);
        for k in [
            "percentage",
            "completedBytes",
            "downloadSpeed",
            "peers",
            "eta",
        ] {
            assert!(progress.contains(&k.to_owned()), "{k} in {progress:?}");
        }
        let v = serde_json::to_value(&events[12]).unwrap();
        assert_eq!(v["stats"], json!({ "activeCount": 1, "queuedCount": 2 }));
        let limit = serde_json::to_value(&events[7]).unwrap();
        assert_eq!(limit["reason"], "seeding limit reached");
        assert_eq!(
            limit["infoHash"],
            "ab".repeat(20),
            "a view's fields sit beside it"
        );
        assert!(
            serde_json::to_value(&events[6])
                .unwrap()
                .get("reason")
                .is_none()
        );
    }
}
