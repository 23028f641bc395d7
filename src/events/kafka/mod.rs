//! The Kafka sink: every event of the bus, through a durable outbox, to one topic.
//!
//! The bus writes every event to the store's outbox in the same commit as the change it
//! describes (key = info hash, value = the envelope's JSON), so an event survives a
//! broker outage and a restart before anyone has seen it. Two tasks, neither of which
//! the server ever waits for:
//! - the **topic task** creates the topic through the admin API when it is missing
//!   ("already exists" counts as success), retrying with capped exponential backoff
//!   while the broker is unreachable;
//! - the **relay** sends the outbox's oldest events with an idempotent producer
//!   (`acks=all`), waits for every acknowledgement of the batch, and removes from the
//!   outbox only the acknowledged prefix in `seq` order. On an error it backs off and
//!   sends the rest again; the events stay in the outbox until the broker has them.
//!
//! Order: one torrent's events share a key, hence a partition, and the producer keeps
//! a partition's order across its own retries. The relay never sends an event before
//! the ones ahead of it in the outbox were acknowledged or given up on, so a resend
//! can duplicate events (consumers dedupe by `id`) but not reorder what was
//! acknowledged. The one exception is an outage longer than `message.timeout.ms`
//! (`KAFKA_MESSAGE_TIMEOUT`) that times out part of a batch: then a later event of the
//! same key may land before the earlier one's resend; consumers that need strict
//! order across such outages sort by `seq` per key.
//!
//! The module holds the sink's lifecycle and health; [`broker`] is the librdkafka side
//! (clients, topic, probe) and [`relay`] the outbox relay.
//!
//! Shutdown ([`KafkaSink::shutdown`]) relays what it can within a short bound; the rest
//! stays in the outbox and is sent at the next start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Bus;
use crate::config::KafkaConfig;
use crate::store::{DynStore, Millis};

mod broker;
mod relay;

/// Most events one outbox append or one produce round handles.
const BATCH: usize = 500;
/// Cap of the exponential backoff after errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A produce round waiting longer than this for acknowledgements means the broker is
/// not answering: health reports the sink down while it keeps waiting.
const STALL: Duration = Duration::from_secs(3);
/// When the outbox stays empty this long, the relay checks the broker still answers.
const IDLE_PROBE: Duration = Duration::from_secs(10);
/// How long one admin or metadata request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Flush bound when the token is cancelled without [`KafkaSink::shutdown`].
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The sink's health, as `/api/health/ready` and `/api/statistics` show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaStatus {
    pub enabled: bool,
    /// `disabled`, `connecting` (no answer from the broker yet), `up` or `down`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Whether the topic exists (created or found at start).
    pub topic_ready: bool,
    /// Events in the outbox, waiting to be relayed (`None` if the store did not answer).
    pub backlog: Option<u64>,
    /// Events the broker acknowledged since start.
    pub delivered: u64,
    pub last_error: Option<String>,
    /// When the last event was acknowledged (ms since the epoch).
    #[schema(value_type = Option<i64>)]
    pub last_delivery_at: Option<Millis>,
}

impl KafkaStatus {
    /// The status when `KAFKA_BROKERS` is unset.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            state: "disabled",
            topic: None,
            topic_ready: false,
            backlog: None,
            delivered: 0,
            last_error: None,
            last_delivery_at: None,
        }
    }
}

#[derive(Default)]
struct Health {
    topic_ready: bool,
    /// The last produce round, topic creation or probe reached the broker.
    connected: bool,
    /// Set once anything has reached the broker.
    ever_connected: bool,
    last_error: Option<String>,
    last_delivery_at: Option<Millis>,
    /// When the produce round now waiting for acknowledgements started.
    in_flight_since: Option<Instant>,
}

/// State shared by the tasks, the librdkafka callbacks and the health endpoint.
struct Shared {
    health: Mutex<Health>,
    delivered: AtomicU64,
}

impl Shared {
    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn up(&self) {
        let mut h = self.health();
        h.connected = true;
        h.ever_connected = true;
    }

    fn down(&self, error: impl std::fmt::Display) {
        let mut h = self.health();
        h.connected = false;
        h.last_error = Some(error.to_string());
    }
}

/// The running sink. Cheap to share; [`KafkaSink::status`] is what health shows.
pub struct KafkaSink {
    cfg: KafkaConfig,
    store: DynStore,
    shared: Arc<Shared>,
    /// Tells the relay that the outbox has something new.
    bus: Arc<Bus>,
    cancel: CancellationToken,
    /// Until when the tasks may keep flushing once cancelled.
    deadline: Mutex<Option<tokio::time::Instant>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl KafkaSink {
    /// Starts the tasks; never waits for the broker. Cancelling `cancel` (or calling
    /// [`KafkaSink::shutdown`]) stops them. `bus` must have been created as relayed,
    /// so that it leaves the outbox to this sink.
    pub fn start(
        cfg: KafkaConfig,
        bus: Arc<Bus>,
        store: DynStore,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let sink = Arc::new(Self {
            cfg,
            store,
            shared: Arc::new(Shared {
                health: Mutex::new(Health::default()),
                delivered: AtomicU64::new(0),
            }),
            bus,
            cancel,
            deadline: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
        });
        let mut tasks = Vec::new();
        match sink.clients() {
            Ok((producer, admin)) => {
                let (topic_tx, topic_ready) = watch::channel(false);
                tasks.push(tokio::spawn(sink.clone().ensure_topic(
                    admin,
                    producer.clone(),
                    topic_tx,
                )));
                tasks.push(tokio::spawn(sink.clone().relay(producer, topic_ready)));
            }
            Err(e) => {
                // A configuration librdkafka refuses: events still go to the outbox.
                tracing::error!(error = %e, "Kafka client not created; events stay in the outbox");
                sink.shared.down(format!("creating the Kafka client: {e}"));
            }
        }
        tracing::info!(
            brokers = %sink.cfg.brokers,
            topic = %sink.cfg.topic,
            "Kafka sink started"
        );
        *lock(&sink.tasks) = tasks;
        sink
    }

    /// The sink's health; `backlog` asks the store.
    pub async fn status(&self) -> KafkaStatus {
        let backlog = self.store.outbox_len().await.ok();
        let h = self.shared.health();
        let stalled = h.in_flight_since.is_some_and(|t| t.elapsed() > STALL);
        let state = if !h.ever_connected && h.last_error.is_none() {
            "connecting"
        } else if h.connected && !stalled {
            "up"
        } else {
            "down"
        };
        let last_error = match h.in_flight_since {
            Some(t) if stalled => Some(format!(
                "no acknowledgement from the broker for {} s",
                t.elapsed().as_secs()
            )),
            _ => h.last_error.clone(),
        };
        KafkaStatus {
            enabled: true,
            state,
            topic: Some(self.cfg.topic.clone()),
            topic_ready: h.topic_ready,
            backlog,
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            last_error,
            last_delivery_at: h.last_delivery_at,
        }
    }

    /// Stops the sink: what the bus already handed over goes to the outbox, and the
    /// relay sends what it can until `within` has passed. Undelivered events stay in
    /// the outbox for the next start.
    pub async fn shutdown(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        *lock(&self.deadline) = Some(deadline);
        self.cancel.cancel();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        // The tasks watch the same deadline; the margin covers dropping the producer.
        let all = join_all(tasks);
        if tokio::time::timeout_at(deadline + Duration::from_secs(2), all)
            .await
            .is_err()
        {
            tracing::warn!("Kafka sink did not stop in time");
        }
        match self.store.outbox_len().await {
            Ok(0) => tracing::info!("Kafka sink stopped; outbox empty"),
            Ok(n) => tracing::info!(backlog = n, "Kafka sink stopped; events wait in the outbox"),
            Err(e) => tracing::warn!(error = %e, "Kafka sink stopped; outbox unreadable"),
        }
    }

    /// When the tasks must give up flushing: `None` while running.
    fn flush_deadline(&self) -> Option<tokio::time::Instant> {
        if !self.cancel.is_cancelled() {
            return None;
        }
        Some(
            *lock(&self.deadline)
                .get_or_insert_with(|| tokio::time::Instant::now() + DEFAULT_GRACE),
        )
    }

    /// Runs `fut` to the end while the sink runs; once it is stopping, only until the
    /// flush deadline (`None` if that came first).
    async fn bounded<F: Future>(&self, fut: F) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        if !self.cancel.is_cancelled() {
            tokio::select! {
                out = &mut fut => return Some(out),
                _ = self.cancel.cancelled() => {}
            }
        }
        let deadline = self.flush_deadline().expect("cancelled");
        tokio::time::timeout_at(deadline, fut).await.ok()
    }

    /// Sleeps `d`, or less when the sink stops. False when stopping.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.cancel.cancelled() => false,
        }
    }
}

#[async_trait::async_trait]
impl super::SinkHealth for KafkaSink {
    async fn status(&self) -> KafkaStatus {
        KafkaSink::status(self).await
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Exponential backoff with a cap and ±25 % jitter.
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next: min,
        }
    }

    fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        d.mul_f64(rand::random_range(0.75..=1.25)).min(self.max)
    }

    fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests;
