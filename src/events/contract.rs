//! The event contract: the event types, named as clients see them, and the envelope
//! every sink receives.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::payload::Event;

/// Event types, named as in the contract (`torrent:progress`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Added,
    Metadata,
    Progress,
    Piece,
    Complete,
    Seeding,
    Paused,
    Resumed,
    /// A user changed the torrent's priority.
    Priority,
    /// A user changed the torrent's options (category, tags, limits, files, queue place).
    Updated,
    Removed,
    Error,
    QueueUpdated,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        Self::Added,
        Self::Metadata,
        Self::Progress,
        Self::Piece,
        Self::Complete,
        Self::Seeding,
        Self::Paused,
        Self::Resumed,
        Self::Priority,
        Self::Updated,
        Self::Removed,
        Self::Error,
        Self::QueueUpdated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Added => "torrent:added",
            Self::Metadata => "torrent:metadata",
            Self::Progress => "torrent:progress",
            Self::Piece => "torrent:piece",
            Self::Complete => "torrent:complete",
            Self::Seeding => "torrent:seeding",
            Self::Paused => "torrent:paused",
            Self::Resumed => "torrent:resumed",
            Self::Priority => "torrent:priority",
            Self::Updated => "torrent:updated",
            Self::Removed => "torrent:removed",
            Self::Error => "torrent:error",
            Self::QueueUpdated => "queue:updated",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Frequent events, delivered to browsers only for torrents they subscribed to.
    pub fn is_stream(self) -> bool {
        matches!(self, Self::Progress | Self::Piece)
    }
}

/// One event as every sink sees it: the envelope with the payload's fields beside it,
/// so `event.percentage` reads like the seed's clients expect.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Unique (UUID v4): consumers deduplicate by it.
    pub id: String,
    /// Strictly increasing.
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    pub info_hash: Option<String>,
    /// The owner of the torrent; absent for server-wide events.
    pub user_id: Option<String>,
    /// The payload. Never holds an envelope field name ([`Envelope::FIELDS`]): the bus
    /// removes those, so the serialized event has each key once.
    #[serde(flatten)]
    pub data: Map<String, Value>,
    /// This envelope as JSON, made once on first use ([`Envelope::json`]): an event
    /// goes to every socket that may see it, serialized once for all of them.
    #[serde(skip)]
    pub(crate) encoded: OnceLock<Box<RawValue>>,
}

impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.id,
            self.seq,
            &self.kind,
            self.ts,
            &self.info_hash,
            &self.user_id,
            &self.data,
        ) == (
            &other.id,
            other.seq,
            &other.kind,
            other.ts,
            &other.info_hash,
            &other.user_id,
            &other.data,
        )
    }
}

impl Envelope {
    /// The envelope's own keys, as serialized.
    pub const FIELDS: [&str; 6] = ["id", "seq", "type", "ts", "infoHash", "userId"];

    /// The envelope serialized, computed on the first call and kept.
    pub fn json(&self) -> &RawValue {
        self.encoded.get_or_init(|| {
            // Strings, numbers and JSON maps with string keys: it always serializes.
            serde_json::value::to_raw_value(self).expect("an envelope serializes")
        })
    }

    /// The same event holding its JSON and routing fields but not the parsed payload
    /// (`data` is empty; [`Envelope::json`] is whole): what the replay ring keeps, a
    /// fraction of the memory of a map of JSON values.
    pub(crate) fn compact(&self) -> Envelope {
        let encoded = OnceLock::new();
        let _ = encoded.set(self.json().to_owned());
        Envelope {
            id: self.id.clone(),
            seq: self.seq,
            kind: self.kind.clone(),
            ts: self.ts,
            info_hash: self.info_hash.clone(),
            user_id: self.user_id.clone(),
            data: Map::new(),
            encoded,
        }
    }

    pub fn event_type(&self) -> Option<EventType> {
        EventType::from_name(&self.kind)
    }

    /// The typed event this envelope carries (its `type` and payload), for consumers
    /// that want the contract's structs rather than JSON.
    pub fn event(&self) -> Result<Event, serde_json::Error> {
        let mut m = self.data.clone();
        m.insert("type".into(), Value::String(self.kind.clone()));
        if let Some(h) = &self.info_hash {
            m.insert("infoHash".into(), Value::String(h.clone()));
        }
        serde_json::from_value(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::{Envelope, EventType};
    use serde_json::json;

    #[test]
    fn the_kept_json_is_the_envelope_serialized() {
        let e: Envelope = serde_json::from_value(json!({
            "id": "a", "seq": 7, "type": "torrent:progress", "ts": 5,
            "infoHash": "00", "percentage": 12.5, "peers": {"connected": 1, "total": 2}
        }))
        .unwrap();
        let once = e.json().get().to_owned();
        assert_eq!(once, serde_json::to_string(&e).unwrap());
        assert!(std::ptr::eq(e.json(), e.json()), "made once, then kept");
        let back: Envelope = serde_json::from_str(&once).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.name()), Some(t));
        }
    }
}
