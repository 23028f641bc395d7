//! Events: what changed in the engine, as one stream with a stable contract.
//!
//! [`contract`] names the event types and the envelope (`id`, `seq`, `type`, `ts`,
//! `infoHash`, `userId`, then the payload's fields); [`payload`] is the typed
//! contract, an [`Event`] enum with a payload struct per type. [`Bus`] is the only way an event
//! comes to be, and it is durable before anyone sees it: [`Bus::commit`] stamps the
//! events of one change with their `seq`, writes them to the store's outbox *in the
//! same store commit* as the torrent records they describe, and only then hands them to
//! the readers:
//! - live subscribers (the Socket.IO gateway) through a broadcast channel: a subscriber
//!   that falls behind loses events and is told so, it never slows the engine;
//! - a bounded in-memory ring, from which reconnecting clients replay what they missed;
//! - the Kafka relay ([`kafka`]), which reads the outbox itself, woken by the bus.
//!
//! `seq` is strictly increasing and has no gaps for the life of the data directory:
//! the store refuses a seq at or below the last one committed, and the bus only moves
//! on once a commit succeeded, so a failed write hands out nothing.

mod bus;
pub mod contract;
pub mod kafka;
pub mod payload;

pub use bus::{Bus, Change, Draft, Replay};

/// A sink's health as the health endpoints show it.
#[async_trait::async_trait]
pub trait SinkHealth: Send + Sync {
    async fn status(&self) -> kafka::KafkaStatus;
}
pub use contract::{Envelope, EventType};
pub use payload::Event;
