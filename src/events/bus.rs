//! The bus: stamps events, makes them durable together with the change they describe,
//! then publishes them in `seq` order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};
use tokio::sync::{Notify, broadcast};

use super::contract::{Envelope, EventType};
use super::payload::Event;
use crate::InfoHash;
use crate::store::{Commit, DynStore, OutboxRecord, StoreError, TorrentRecord};

/// An event before the bus stamps it with `id`, `seq` and `ts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub info_hash: Option<InfoHash>,
    /// The owner of the torrent; `None` for server-wide events.
    pub user_id: Option<String>,
    pub event: Event,
}

impl Draft {
    /// An event about one torrent, owned by `owner`.
    pub fn torrent(info_hash: &InfoHash, owner: &str, event: Event) -> Self {
        Self {
            info_hash: Some(*info_hash),
            user_id: Some(owner.to_owned()),
            event,
        }
    }

    /// A server-wide event.
    pub fn global(event: Event) -> Self {
        Self {
            info_hash: None,
            user_id: None,
            event,
        }
    }

    pub fn kind(&self) -> EventType {
        self.event.kind()
    }
}

/// One durable step: torrent records and the events that tell of their change.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub insert: Vec<TorrentRecord>,
    pub save: Vec<TorrentRecord>,
    pub delete: Vec<InfoHash>,
    pub events: Vec<Draft>,
}

impl Change {
    pub fn events(events: Vec<Draft>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.insert.is_empty()
            && self.save.is_empty()
            && self.delete.is_empty()
            && self.events.is_empty()
    }
}

/// What a reconnecting client gets for its last seen `seq`.
#[derive(Debug)]
pub enum Replay {
    /// Everything after it, in order (possibly nothing), compact: each event's JSON
    /// ([`Envelope::json`]) with its routing fields, `data` left empty.
    Events(Vec<Arc<Envelope>>),
    /// Events it missed are gone from the buffer (or the seq is from elsewhere):
    /// reload state through the REST API.
    Gap,
}

/// How many commits pass between trims of an outbox nobody relays.
const TRIM_EVERY: u64 = 1024;

/// What readers see: the newest committed seq and the replay ring (of compact events:
/// [`Envelope::json`] whole, `data` empty).
struct Published {
    /// The seq of the newest published event (0 before the first).
    head: u64,
    ring: VecDeque<Arc<Envelope>>,
}

/// The writer's own state, behind an async mutex held across the store commit: commits
/// are serialized, so events are stamped, written and published in one order.
struct Writer {
    next_seq: u64,
    commits: u64,
    /// The last commit failed: a store that could not tell whether it was written
    /// (a timeout) may have used its seqs, so the next commit asks for the mark first.
    resync: bool,
}

/// The event bus. Cheap to share behind an `Arc`.
pub struct Bus {
    writer: tokio::sync::Mutex<Writer>,
    published: Mutex<Published>,
    live: broadcast::Sender<Arc<Envelope>>,
    ring_capacity: usize,
    store: DynStore,
    /// Whether a relay drains the outbox; if not, the bus trims it itself.
    relayed: bool,
    committed: Notify,
}

impl Bus {
    /// A bus whose replay ring keeps the last `ring_capacity` events. `relayed`: a
    /// relay (Kafka) empties the outbox; otherwise the bus keeps only the newest
    /// `ring_capacity` events there.
    pub async fn new(
        store: DynStore,
        ring_capacity: usize,
        relayed: bool,
    ) -> Result<Arc<Self>, StoreError> {
        let head = store.event_seq_mark().await?;
        let (live, _) = broadcast::channel(4096);
        Ok(Arc::new(Self {
            writer: tokio::sync::Mutex::new(Writer {
                next_seq: head + 1,
                commits: 0,
                resync: false,
            }),
            published: Mutex::new(Published {
                head,
                ring: VecDeque::with_capacity(ring_capacity.min(65_536)),
            }),
            live,
            ring_capacity: ring_capacity.max(1),
            store,
            relayed,
            committed: Notify::new(),
        }))
    }

    fn published(&self) -> MutexGuard<'_, Published> {
        // Plain data behind the lock; a panic elsewhere leaves nothing half-done.
        self.published.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `change` (records and events) in one store commit, then publishes its
    /// events. On an error nothing was written and nothing is published; no `seq` is
    /// used up, unless the store cannot rule out having written it (a MongoDB write
    /// that timed out: the store then drops it, and the bus skips its seqs). Returns
    /// how many of the deleted torrents existed.
    pub async fn commit(&self, change: Change) -> Result<u64, StoreError> {
        if change.is_empty() {
            return Ok(0);
        }
        let mut writer = self.writer.lock().await;
        if writer.resync {
            let mark = self.store.event_seq_mark().await?;
            writer.next_seq = writer.next_seq.max(mark + 1);
            writer.resync = false;
        }
        let ts = crate::now_millis();
        let events: Vec<Arc<Envelope>> = change
            .events
            .into_iter()
            .zip(writer.next_seq..)
            .map(|(d, seq)| Arc::new(stamp(d, seq, ts)))
            .collect();
        let commit = Commit {
            insert: change.insert,
            save: change.save,
            delete: change.delete,
            events: events.iter().map(|e| outbox_record(e)).collect(),
        };
        let deleted = match self.store.commit(&commit).await {
            Ok(n) => n,
            Err(e) => {
                writer.resync = true;
                return Err(e);
            }
        };
        writer.next_seq += events.len() as u64;
        writer.commits += 1;
        self.publish(events);
        if self.relayed {
            self.committed.notify_one();
        } else if writer.commits.is_multiple_of(TRIM_EVERY) {
            self.trim(writer.next_seq - 1).await;
        }
        Ok(deleted)
    }

    /// Commits events that go with no record change.
    pub async fn emit(&self, events: Vec<Draft>) -> Result<(), StoreError> {
        self.commit(Change::events(events)).await.map(drop)
    }

    fn publish(&self, events: Vec<Arc<Envelope>>) {
        let mut p = self.published();
        for event in events {
            if p.ring.len() == self.ring_capacity {
                p.ring.pop_front();
            }
            let kind = event.event_type().map_or("unknown", |t| t.name());
            metrics::counter!("torrentedge_events_total", "type" => kind).increment(1);
            // Replays only ever send an event's JSON: the ring keeps just that.
            p.ring.push_back(Arc::new(event.compact()));
            p.head = event.seq;
            // Sent under the lock so subscribers see events in seq order.
            let _ = self.live.send(event);
        }
    }

    /// Keeps only the newest `ring_capacity` events of an outbox nobody relays.
    async fn trim(&self, newest: u64) {
        let through = newest.saturating_sub(self.ring_capacity as u64);
        if let Err(e) = self.store.outbox_remove_through(through).await {
            tracing::warn!(error = %e, "trimming the event outbox");
        }
    }

    /// Woken after every commit while a relay drains the outbox.
    pub fn committed(&self) -> &Notify {
        &self.committed
    }

    /// Live events from now on. A receiver that lags gets `RecvError::Lagged`.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.live.subscribe()
    }

    /// Live events from now on, and the seq of the newest event before them, taken
    /// together: every event after that seq arrives on the receiver.
    pub fn subscribe_at(&self) -> (u64, broadcast::Receiver<Arc<Envelope>>) {
        let p = self.published();
        (p.head, self.live.subscribe())
    }

    /// Subscribes live and returns the events after `last_seq` atomically, so nothing
    /// falls between the replay and the live stream.
    pub fn resume_from(&self, last_seq: u64) -> (Replay, broadcast::Receiver<Arc<Envelope>>) {
        let p = self.published();
        let rx = self.live.subscribe();
        let oldest = p.ring.front().map(|e| e.seq).unwrap_or(p.head + 1);
        let replay = if last_seq > p.head || last_seq + 1 < oldest {
            Replay::Gap
        } else {
            Replay::Events(
                p.ring
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
        self.published().head
    }
}

fn stamp(d: Draft, seq: u64, ts: i64) -> Envelope {
    Envelope {
        id: uuid::Uuid::new_v4().to_string(),
        seq,
        kind: d.kind().name().to_owned(),
        ts,
        info_hash: d.info_hash.map(|h| h.to_string()),
        user_id: d.user_id,
        data: payload(&d.event),
        encoded: Default::default(),
    }
}

/// The payload's fields without the envelope's keys: a view carries `infoHash`
/// itself, and the envelope's value is the one that counts ([`Envelope::event`] puts
/// it back when parsing).
fn payload(event: &Event) -> Map<String, Value> {
    // Plain data (strings, numbers, maps) with string keys: it always serializes.
    match serde_json::to_value(event).expect("an event serializes") {
        Value::Object(mut m) => {
            m.retain(|k, _| k != "type" && !Envelope::FIELDS.contains(&k.as_str()));
            m
        }
        _ => unreachable!("an internally tagged enum serializes to an object"),
    }
}

/// The outbox record of an event: key = info hash ("" for server-wide events), value
/// = the envelope's JSON.
fn outbox_record(e: &Envelope) -> OutboxRecord {
    OutboxRecord {
        seq: e.seq,
        key: e.info_hash.clone().unwrap_or_default(),
        // An envelope is plain data (strings, numbers, maps): it always serializes.
        payload: serde_json::to_vec(e).expect("an envelope serializes"),
        created_at: e.ts,
    }
}

#[cfg(test)]
mod tests;
