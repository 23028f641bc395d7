//! Events: what changed in the engine, as one stream with a stable contract.
//!
//! The engine calls [`Bus::emit`]; the bus stamps an envelope (`id`, `seq`, `type`,
//! `ts`, `infoHash`, `userId`) and hands the event to its sinks without waiting for
//! them:
//! - live subscribers (the Socket.IO gateway) through a broadcast channel: a subscriber
//!   that falls behind loses events and is told so, it never slows the engine;
//! - durable subscribers (the Kafka outbox) through unbounded channels: they never
//!   lose an event, at the cost of memory while they catch up;
//! - a bounded in-memory ring, from which reconnecting clients replay what they missed.
//!
//! `seq` is strictly increasing for the life of the data directory: the bus reserves
//! blocks of numbers in the store ahead of use, so numbers are never reused after a
//! restart (a restart skips to the next block).

pub mod kafka;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc};

use crate::store::{DynStore, StoreError};

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
    Removed,
    Error,
    QueueUpdated,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        Self::Added,
        Self::Metadata,
        Self::Progress,
        Self::Piece,
        Self::Complete,
        Self::Seeding,
        Self::Paused,
        Self::Resumed,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl Envelope {
    /// The envelope's own keys, as serialized.
    pub const FIELDS: [&str; 6] = ["id", "seq", "type", "ts", "infoHash", "userId"];

    pub fn event_type(&self) -> Option<EventType> {
        EventType::from_name(&self.kind)
    }
}

/// What a reconnecting client gets for its last seen `seq`.
#[derive(Debug)]
pub enum Replay {
    /// Everything after it, in order (possibly nothing).
    Events(Vec<Arc<Envelope>>),
    /// Events it missed are gone from the buffer (or the seq is from elsewhere):
    /// reload state through the REST API.
    Gap,
}

/// How many sequence numbers one store reservation covers.
const SEQ_BLOCK: u64 = 100_000;

struct Inner {
    next_seq: u64,
    /// First seq not covered by the current reservation.
    reserved_end: u64,
    /// A reservation that does not follow the current one (someone else reserved in
    /// between): used once the current one runs out.
    next_block: Option<(u64, u64)>,
    refilling: bool,
    ring: VecDeque<Arc<Envelope>>,
    durable: Vec<mpsc::UnboundedSender<Arc<Envelope>>>,
}

/// The event bus. Cheap to share behind an `Arc`.
pub struct Bus {
    inner: Mutex<Inner>,
    live: broadcast::Sender<Arc<Envelope>>,
    ring_capacity: usize,
    store: DynStore,
}

impl Bus {
    /// A bus whose replay ring keeps the last `ring_capacity` events.
    pub async fn new(store: DynStore, ring_capacity: usize) -> Result<Arc<Self>, StoreError> {
        let first = store.reserve_event_seqs(SEQ_BLOCK).await?;
        let (live, _) = broadcast::channel(4096);
        Ok(Arc::new(Self {
            inner: Mutex::new(Inner {
                next_seq: first,
                reserved_end: first + SEQ_BLOCK,
                next_block: None,
                refilling: false,
                ring: VecDeque::with_capacity(ring_capacity.min(65_536)),
                durable: Vec::new(),
            }),
            live,
            ring_capacity: ring_capacity.max(1),
            store,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain data behind the lock; a panic elsewhere leaves nothing half-done.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stamps and publishes an event. Never blocks on a sink.
    pub fn emit(
        self: &Arc<Self>,
        kind: EventType,
        info_hash: Option<&str>,
        user_id: Option<&str>,
        data: Value,
    ) {
        let data = match data {
            Value::Object(mut m) => {
                // A payload may be a whole view that carries `infoHash` itself; the
                // envelope's value is the one that counts.
                m.retain(|k, _| !Envelope::FIELDS.contains(&k.as_str()));
                m
            }
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        let mut inner = self.lock();
        if inner.next_seq == inner.reserved_end
            && let Some((start, end)) = inner.next_block.take()
        {
            inner.next_seq = start;
            inner.reserved_end = end;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let event = Arc::new(Envelope {
            id: uuid::Uuid::new_v4().to_string(),
            seq,
            kind: kind.name().to_owned(),
            ts: crate::now_millis(),
            info_hash: info_hash.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
            data,
        });
        if inner.ring.len() == self.ring_capacity {
            inner.ring.pop_front();
        }
        inner.ring.push_back(event.clone());
        inner.durable.retain(|tx| tx.send(event.clone()).is_ok());
        self.maybe_refill(&mut inner);
        // Sent under the lock so subscribers see events in seq order.
        let _ = self.live.send(event);
    }

    /// Reserves the next block of sequence numbers once half of this one is used.
    fn maybe_refill(self: &Arc<Self>, inner: &mut Inner) {
        let left = inner.reserved_end.saturating_sub(inner.next_seq);
        if inner.refilling || inner.next_block.is_some() || left > SEQ_BLOCK / 2 {
            return;
        }
        inner.refilling = true;
        let bus = self.clone();
        tokio::spawn(async move {
            let result = bus.store.reserve_event_seqs(SEQ_BLOCK).await;
            let mut inner = bus.lock();
            inner.refilling = false;
            match result {
                Ok(start) if start == inner.reserved_end => inner.reserved_end += SEQ_BLOCK,
                Ok(start) => inner.next_block = Some((start, start + SEQ_BLOCK)),
                Err(e) => tracing::warn!(error = %e, "reserving event sequence numbers"),
            }
        });
    }

    /// Live events from now on. A receiver that lags gets `RecvError::Lagged`.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.live.subscribe()
    }

    /// Live events from now on, and the seq of the newest event before them, taken
    /// together: every event after that seq arrives on the receiver.
    pub fn subscribe_at(&self) -> (u64, broadcast::Receiver<Arc<Envelope>>) {
        let inner = self.lock();
        (inner.next_seq - 1, self.live.subscribe())
    }

    /// Every event from now on, none dropped (for durable sinks).
    pub fn subscribe_durable(&self) -> mpsc::UnboundedReceiver<Arc<Envelope>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().durable.push(tx);
        rx
    }

    /// Subscribes live and returns the events after `last_seq` atomically, so nothing
    /// falls between the replay and the live stream.
    pub fn resume_from(&self, last_seq: u64) -> (Replay, broadcast::Receiver<Arc<Envelope>>) {
        let inner = self.lock();
        let rx = self.live.subscribe();
        let newest = inner.next_seq - 1;
        let oldest = inner.ring.front().map(|e| e.seq).unwrap_or(inner.next_seq);
        let replay = if last_seq > newest || last_seq + 1 < oldest {
            Replay::Gap
        } else {
            Replay::Events(
                inner
                    .ring
                    .iter()
                    .filter(|e| e.seq > last_seq)
                    .cloned()
                    .collect(),
            )
        };
        (replay, rx)
    }

    /// The seq of the newest event (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use serde_json::json;

    async fn bus(cap: usize) -> Arc<Bus> {
        let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
        Bus::new(store, cap).await.unwrap()
    }

    #[tokio::test]
    async fn envelope_is_flat_and_camel_case() {
        let bus = bus(10).await;
        let mut rx = bus.subscribe();
        bus.emit(
            EventType::Progress,
            Some("ab"),
            Some("u1"),
            json!({"percentage": 12.5}),
        );
        let e = rx.recv().await.unwrap();
        let v = serde_json::to_value(&*e).unwrap();
        assert_eq!(v["type"], "torrent:progress");
        assert_eq!(v["infoHash"], "ab");
        assert_eq!(v["userId"], "u1");
        assert_eq!(v["percentage"], 12.5);
        assert_eq!(v["seq"], 1);
        assert!(v["id"].as_str().unwrap().len() >= 32);
        let back: Envelope = serde_json::from_value(v).unwrap();
        assert_eq!(&back, &*e);
    }

    #[tokio::test]
    async fn payload_fields_named_like_the_envelope_are_dropped() {
        let bus = bus(10).await;
        let mut rx = bus.subscribe();
        let payload = json!({"infoHash": "other", "seq": 99, "type": "x", "name": "n"});
        bus.emit(EventType::Added, Some("ab"), Some("u"), payload);
        let e = rx.recv().await.unwrap();
        let text = serde_json::to_string(&*e).unwrap();
        assert_eq!(text.matches("\"infoHash\"").count(), 1, "{text}");
        let back: Envelope = serde_json::from_str(&text).expect("parses back");
        assert_eq!(
            (back.seq, back.info_hash.as_deref(), back.kind.as_str()),
            (1, Some("ab"), "torrent:added")
        );
        assert_eq!(back.data.get("name"), Some(&json!("n")));
    }

    #[tokio::test]
    async fn seq_increases_and_replay_covers_the_ring() {
        let bus = bus(3).await;
        for i in 0..5 {
            bus.emit(EventType::Piece, Some("h"), None, json!({"index": i}));
        }
        assert_eq!(bus.last_seq(), 5);
        let (replay, _) = bus.resume_from(3);
        match replay {
            Replay::Events(ev) => {
                assert_eq!(ev.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5])
            }
            Replay::Gap => panic!("3 is still covered"),
        }
        assert!(matches!(bus.resume_from(2).0, Replay::Events(ref v) if v.len() == 3));
        assert!(
            matches!(bus.resume_from(1).0, Replay::Gap),
            "seq 2 fell out of the ring"
        );
        assert!(matches!(bus.resume_from(5).0, Replay::Events(ref v) if v.is_empty()));
        assert!(
            matches!(bus.resume_from(99).0, Replay::Gap),
            "a seq from the future"
        );
    }

    #[tokio::test]
    async fn durable_subscribers_get_everything_in_order() {
        let bus = bus(2).await;
        let mut rx = bus.subscribe_durable();
        for _ in 0..1000 {
            bus.emit(EventType::Progress, None, None, Value::Null);
        }
        for seq in 1..=1000 {
            assert_eq!(rx.recv().await.unwrap().seq, seq);
        }
    }

    #[tokio::test]
    async fn a_restart_never_reuses_a_seq() {
        let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
        let first = Bus::new(store.clone(), 4).await.unwrap();
        first.emit(EventType::Added, None, None, Value::Null);
        let second = Bus::new(store, 4).await.unwrap();
        second.emit(EventType::Added, None, None, Value::Null);
        assert!(second.last_seq() > first.last_seq() + SEQ_BLOCK - 1);
    }

    #[tokio::test]
    async fn a_block_reserved_elsewhere_in_between_is_skipped_to_not_shared() {
        let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
        let bus = Bus::new(store.clone(), 4).await.unwrap();
        let foreign = store.reserve_event_seqs(SEQ_BLOCK).await.unwrap();
        let half = SEQ_BLOCK / 2 + 1;
        for _ in 0..half {
            bus.emit(EventType::Progress, None, None, Value::Null);
        }
        // The refill runs on its own task; wait for it to land.
        while bus.lock().refilling {
            tokio::task::yield_now().await;
        }
        for _ in half..SEQ_BLOCK + 1 {
            bus.emit(EventType::Progress, None, None, Value::Null);
        }
        let last = bus.last_seq();
        assert!(
            last >= foreign + SEQ_BLOCK,
            "seq {last} runs into the block at {foreign}"
        );
    }

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.name()), Some(t));
        }
    }
}
