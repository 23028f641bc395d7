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
//! Shutdown ([`KafkaSink::shutdown`]) relays what it can within a short bound; the rest
//! stays in the outbox and is sent at the next start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::join_all;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Bus;
use crate::config::KafkaConfig;
use crate::store::{DynStore, Millis, OutboxRecord};

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
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// The librdkafka callbacks: logs through `tracing`, global errors into the health.
struct SinkContext {
    shared: Arc<Shared>,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac} {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac} {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac} {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", %error, reason, "client error");
        // Connection-level trouble: the next produce round or probe decides whether the
        // broker is really gone; losing every broker is certain enough to say so now.
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.shared.down(format!("{error}: {reason}"));
        } else {
            self.shared.health().last_error = Some(format!("{error}: {reason}"));
        }
    }
}

type Producer = FutureProducer<SinkContext>;

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

    fn clients(&self) -> Result<(Producer, AdminClient<SinkContext>), KafkaError> {
        let timeout_ms = self.cfg.message_timeout.as_millis().to_string();
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", &self.cfg.brokers)
            .set("client.id", &self.cfg.client_id);
        let producer = base
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", &timeout_ms)
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            // Java's partitioner: the same key lands in the same partition as with
            // Kafka's own clients, and the empty key (server-wide events) in one.
            .set("partitioner", "murmur2_random")
            // Only the topic task creates the topic, with the configured partitions.
            .set("allow.auto.create.topics", "false")
            .create_with_context(self.context())?;
        let admin = base.create_with_context(self.context())?;
        Ok((producer, admin))
    }

    fn context(&self) -> SinkContext {
        SinkContext {
            shared: self.shared.clone(),
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

    // --- topic ---------------------------------------------------------------------------

    async fn ensure_topic(
        self: Arc<Self>,
        admin: AdminClient<SinkContext>,
        producer: Producer,
        ready: watch::Sender<bool>,
    ) {
        let mut backoff = Backoff::new(Duration::from_millis(250), MAX_BACKOFF);
        let opts = AdminOptions::new()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .operation_timeout(Some(REQUEST_TIMEOUT));
        let topic = NewTopic::new(
            &self.cfg.topic,
            self.cfg.partitions,
            TopicReplication::Fixed(self.cfg.replication_factor),
        );
        loop {
            // Look first: an existing topic needs no admin rights, and every later
            // start finds it this way.
            let found = tokio::select! {
                r = self.topic_partitions(&producer) => r,
                _ = self.cancel.cancelled() => return,
            };
            let outcome = match found {
                Ok(n) if n > 0 => Ok("exists"),
                _ => tokio::select! {
                    r = self.create_topic(&admin, &topic, &opts) => r,
                    _ = self.cancel.cancelled() => return,
                },
            };
            match outcome {
                Ok(how) => {
                    tracing::info!(topic = %self.cfg.topic, how, "Kafka topic ready");
                    self.shared.health().topic_ready = true;
                    self.shared.up();
                    let _ = ready.send(true);
                    return;
                }
                Err(e) => {
                    let wait = backoff.next();
                    tracing::warn!(error = %e, retry_in = ?wait, "Kafka topic not ready");
                    self.shared.down(e);
                    if !self.pause(wait).await {
                        return;
                    }
                }
            }
        }
    }

    async fn create_topic(
        &self,
        admin: &AdminClient<SinkContext>,
        topic: &NewTopic<'_>,
        opts: &AdminOptions,
    ) -> Result<&'static str, String> {
        let name = &self.cfg.topic;
        let results = admin
            .create_topics([topic], opts)
            .await
            .map_err(|e| format!("creating topic {name}: {e}"))?;
        match results.into_iter().next() {
            Some(Ok(_)) => Ok("created"),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok("exists"),
            Some(Err((_, code))) => Err(format!("creating topic {name}: {code}")),
            None => Err(format!("creating topic {name}: the broker gave no result")),
        }
    }

    // --- relay ---------------------------------------------------------------------------

    async fn relay(self: Arc<Self>, producer: Producer, mut topic_ready: watch::Receiver<bool>) {
        // Producing to a topic that does not exist only times out (no auto-creation).
        let ready = tokio::select! {
            r = topic_ready.wait_for(|r| *r) => r.is_ok(),
            _ = self.cancel.cancelled() => false,
        };
        if ready {
            self.relay_loop(&producer).await;
        }
        // Dropping the producer purges what it still holds (bounded by librdkafka to
        // about half a second): off the async threads.
        let _ = tokio::task::spawn_blocking(move || drop(producer)).await;
    }

    async fn relay_loop(&self, producer: &Producer) {
        let mut backoff = Backoff::new(Duration::from_millis(200), MAX_BACKOFF);
        let mut idle_since = Instant::now();
        loop {
            if let Some(deadline) = self.flush_deadline()
                && tokio::time::Instant::now() >= deadline
            {
                return;
            }
            let batch = match self.bounded(self.store.outbox_peek(BATCH)).await {
                None => return,
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "reading the Kafka outbox");
                    if !self.cancel.is_cancelled() {
                        self.pause(backoff.next()).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                if self.cancel.is_cancelled() {
                    return;
                }
                let wait = IDLE_PROBE.saturating_sub(idle_since.elapsed());
                tokio::select! {
                    _ = self.bus.committed().notified() => {}
                    _ = self.cancel.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {
                        // A probe of a silent broker takes its full timeout.
                        tokio::select! {
                            _ = self.probe(producer) => {}
                            _ = self.cancel.cancelled() => {}
                        }
                        idle_since = Instant::now();
                    }
                }
                continue;
            }
            let (acked, error) = self.produce(producer, &batch).await;
            if !acked.is_empty() {
                self.remove(&acked).await;
                let mut h = self.shared.health();
                h.last_delivery_at = Some(crate::now_millis());
                drop(h);
                self.shared
                    .delivered
                    .fetch_add(acked.len() as u64, Ordering::Relaxed);
            }
            idle_since = Instant::now();
            match error {
                None => {
                    backoff.reset();
                    self.shared.up();
                }
                Some(e) => {
                    let wait = backoff.next();
                    tracing::warn!(
                        error = %e,
                        delivered = acked.len(),
                        pending = batch.len() - acked.len(),
                        retry_in = ?wait,
                        "relaying events to Kafka"
                    );
                    self.shared.down(e);
                    if self.cancel.is_cancelled() {
                        // Stopping: the broker is not taking events; they wait for the
                        // next start.
                        return;
                    }
                    self.pause(wait).await;
                }
            }
        }
    }

    /// Sends `batch` and waits for every acknowledgement. Returns the seqs of the
    /// acknowledged prefix (in seq order, up to the first failure) and the first error.
    async fn produce(
        &self,
        producer: &Producer,
        batch: &[OutboxRecord],
    ) -> (Vec<u64>, Option<String>) {
        let mut pending = Vec::with_capacity(batch.len());
        let mut error = None;
        for r in batch {
            let record = FutureRecord::to(&self.cfg.topic)
                .key(r.key.as_bytes())
                .payload(&r.payload[..])
                .timestamp(r.created_at);
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => {
                    // The producer's queue is full: send the rest next round.
                    error = Some(format!("queueing seq {}: {e}", r.seq));
                    break;
                }
            }
        }
        self.shared.health().in_flight_since = Some(Instant::now());
        // All of them, even after a failure: a resend must not overtake a message the
        // producer still holds.
        let results = self.bounded(join_all(pending)).await;
        self.shared.health().in_flight_since = None;
        let Some(results) = results else {
            // Stopping and out of time: nothing counts as acknowledged, so these are
            // sent again at the next start (duplicates the consumer drops by `id`).
            return (
                Vec::new(),
                Some("stopped before the broker acknowledged".into()),
            );
        };
        let mut acked = Vec::with_capacity(results.len());
        for (r, result) in batch.iter().zip(results) {
            match result {
                Ok(Ok(_)) => acked.push(r.seq),
                Ok(Err((e, _))) => {
                    error = Some(format!("delivering seq {}: {e}", r.seq));
                    break;
                }
                Err(_) => {
                    error = Some(format!("delivering seq {}: producer gone", r.seq));
                    break;
                }
            }
        }
        (acked, error)
    }

    /// Removes relayed events from the outbox. On a store error they stay and are sent
    /// again (duplicates, never losses).
    async fn remove(&self, seqs: &[u64]) {
        for attempt in 0..3 {
            match self.store.outbox_remove(seqs).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "removing relayed events from the outbox");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
    }

    /// Asks the broker for the topic's metadata, to notice an outage while idle.
    async fn probe(&self, producer: &Producer) {
        match self.topic_partitions(producer).await {
            Ok(_) => self.shared.up(),
            Err(e) => self.shared.down(e),
        }
    }

    /// How many partitions the broker says the topic has (0: unknown topic).
    async fn topic_partitions(&self, producer: &Producer) -> Result<usize, String> {
        let p = producer.clone();
        let topic = self.cfg.topic.clone();
        let fetched = tokio::task::spawn_blocking(move || {
            let metadata = p.client().fetch_metadata(Some(&topic), REQUEST_TIMEOUT)?;
            Ok::<_, KafkaError>(
                metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map_or(0, |t| t.partitions().len()),
            )
        })
        .await;
        match fetched {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(format!("broker metadata: {e}")),
            Err(e) => Err(format!("metadata task: {e}")),
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
mod tests {
    //! Fault cases against librdkafka's in-process mock cluster (the integration suite
    //! runs the sink against a real broker, tansu).

    use std::collections::{BTreeMap, HashSet};
    use std::future::Future;

    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::mocking::MockCluster;
    use rdkafka::{Message, Offset, TopicPartitionList};

    use super::*;
    use crate::InfoHash;
    use crate::events::payload::Failure;
    use crate::events::{Draft, Envelope, Event};
    use crate::store::SqliteStore;

    const TOPIC: &str = "torrent-events";

    fn config(brokers: String, message_timeout: Duration) -> KafkaConfig {
        KafkaConfig {
            brokers,
            topic: TOPIC.into(),
            partitions: 3,
            replication_factor: 1,
            client_id: "torrentedge-test".into(),
            message_timeout,
        }
    }

    fn mock() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
        let mock = MockCluster::new(1).expect("mock cluster");
        mock.create_topic(TOPIC, 3, 1).expect("mock topic");
        mock
    }

    async fn start(
        brokers: String,
        timeout: Duration,
        store: DynStore,
    ) -> (Arc<Bus>, Arc<KafkaSink>) {
        let bus = Bus::new(store.clone(), 16, true).await.expect("bus");
        let sink = KafkaSink::start(
            config(brokers, timeout),
            bus.clone(),
            store,
            CancellationToken::new(),
        );
        (bus, sink)
    }

    fn store() -> DynStore {
        Arc::new(SqliteStore::open_in_memory().expect("store"))
    }

    /// `n` events spread over three torrents and the server-wide key.
    async fn emit(bus: &Arc<Bus>, n: usize) {
        for i in 0..n {
            let message = i.to_string();
            let draft = match [0xaa, 0xbb, 0xcc].get(i % 4) {
                Some(b) => {
                    let hash = InfoHash::from_bytes([*b; 20]);
                    Draft::torrent(&hash, "u", Event::Error(Failure { message }))
                }
                None => Draft::global(Event::Error(Failure { message })),
            };
            bus.emit(vec![draft]).await.expect("commit");
        }
    }

    async fn wait<F, Fut>(what: &str, timeout: Duration, mut check: F) -> KafkaStatus
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<KafkaStatus>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = check().await {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn drained(sink: &KafkaSink, delivered: u64) -> KafkaStatus {
        wait("the outbox to drain", Duration::from_secs(60), || async {
            let s = sink.status().await;
            (s.backlog == Some(0) && s.delivered >= delivered).then_some(s)
        })
        .await
    }

    /// Everything in the topic, read from the beginning: (key, envelope) per message.
    async fn read_topic(brokers: String, expect: usize) -> Vec<(String, Envelope)> {
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("group.id", "reader")
                .set("enable.auto.commit", "false")
                .create()
                .expect("consumer");
            let mut tpl = TopicPartitionList::new();
            for p in 0..3 {
                tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
                    .expect("partition");
            }
            consumer.assign(&tpl).expect("assign");
            let mut out = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while out.len() < expect && Instant::now() < deadline {
                if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                    let m = m.expect("message");
                    let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
                    let e: Envelope =
                        serde_json::from_slice(m.payload().expect("payload")).expect("an envelope");
                    out.push((key, e));
                }
            }
            // Anything beyond `expect` would be duplicates: give them a moment to show.
            let quiet = Instant::now() + Duration::from_millis(500);
            while Instant::now() < quiet {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    let e: Envelope = serde_json::from_slice(m.payload().unwrap()).unwrap();
                    let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
                    out.push((key, e));
                }
            }
            out
        })
        .await
        .expect("reader")
    }

    /// Checks every seq in `seqs` arrived, keyed by info hash, and that after dropping
    /// duplicates by `id` each key's events are in seq order. Returns the duplicates.
    fn check_complete_and_ordered(
        got: &[(String, Envelope)],
        seqs: std::ops::RangeInclusive<u64>,
    ) -> usize {
        let mut seen = HashSet::new();
        let mut per_key: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (key, e) in got {
            assert_eq!(
                key.as_str(),
                e.info_hash.as_deref().unwrap_or(""),
                "key = info hash"
            );
            if seen.insert(e.id.clone()) {
                per_key.entry(key).or_default().push(e.seq);
            }
        }
        for (key, list) in &per_key {
            assert!(
                list.windows(2).all(|w| w[0] < w[1]),
                "key {key:?} out of order: {list:?}"
            );
        }
        let mut all: Vec<u64> = per_key.values().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            seqs.collect::<Vec<_>>(),
            "every event exactly once after dedup"
        );
        got.len() - seen.len()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relays_every_event_keyed_and_in_order() {
        let mock = mock();
        let (bus, sink) = start(mock.bootstrap_servers(), Duration::from_secs(30), store()).await;
        emit(&bus, 1000).await;
        let status = drained(&sink, 1000).await;
        assert_eq!(status.state, "up", "{status:?}");
        assert!(status.topic_ready && status.last_delivery_at.is_some());
        let got = read_topic(mock.bootstrap_servers(), 1000).await;
        let dups = check_complete_and_ordered(&got, 1..=1000);
        assert_eq!(dups, 0, "no resend without a fault");
        sink.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broker_outage_keeps_events_in_the_outbox_until_it_is_back() {
        let mock = mock();
        let (bus, sink) = start(mock.bootstrap_servers(), Duration::from_secs(30), store()).await;
        emit(&bus, 10).await;
        drained(&sink, 10).await;

        mock.broker_down(1).expect("down");
        emit(&bus, 200).await;
        let down = wait(
            "the sink to report the outage",
            Duration::from_secs(30),
            || async {
                let s = sink.status().await;
                (s.state == "down").then_some(s)
            },
        )
        .await;
        assert!(down.backlog.unwrap_or(0) > 0, "{down:?}");
        assert!(down.last_error.is_some(), "{down:?}");

        mock.broker_up(1).expect("up");
        let up = drained(&sink, 210).await;
        assert_eq!(up.state, "up", "{up:?}");
        let got = read_topic(mock.bootstrap_servers(), 210).await;
        check_complete_and_ordered(&got, 1..=210);
        sink.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn timed_out_batches_are_sent_again_without_loss() {
        let mock = mock();
        // Messages give up after 1 s: the relay sees failures, backs off and resends.
        let (bus, sink) = start(mock.bootstrap_servers(), Duration::from_secs(1), store()).await;
        emit(&bus, 5).await;
        drained(&sink, 5).await;
        mock.broker_down(1).expect("down");
        emit(&bus, 100).await;
        wait("a failed delivery", Duration::from_secs(30), || async {
            let s = sink.status().await;
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("delivering"))
                .then_some(s)
        })
        .await;
        assert_eq!(sink.status().await.delivered, 5);
        mock.broker_up(1).expect("up");
        drained(&sink, 105).await;
        let got = read_topic(mock.bootstrap_servers(), 105).await;
        check_complete_and_ordered(&got, 1..=105);
        sink.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn undelivered_events_wait_in_the_outbox_for_the_next_start() {
        let mock = mock();
        mock.broker_down(1).expect("down");
        let store = store();
        let (bus, sink) = start(
            mock.bootstrap_servers(),
            Duration::from_secs(30),
            store.clone(),
        )
        .await;
        emit(&bus, 40).await;
        let started = Instant::now();
        sink.shutdown(Duration::from_secs(1)).await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "shutdown is bounded"
        );
        assert_eq!(
            store.outbox_len().await.unwrap(),
            40,
            "kept for the next start"
        );
        let first = bus.last_seq() - 39;

        mock.broker_up(1).expect("up");
        let (_bus, sink) = start(
            mock.bootstrap_servers(),
            Duration::from_secs(30),
            store.clone(),
        )
        .await;
        drained(&sink, 40).await;
        let got = read_topic(mock.bootstrap_servers(), 40).await;
        check_complete_and_ordered(&got, first..=first + 39);
        sink.shutdown(Duration::from_secs(2)).await;
    }

    /// Prints the relay's rate through the in-process mock (SQLite outbox in memory).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn throughput_through_the_mock_cluster() {
        let mock = mock();
        let (bus, sink) = start(mock.bootstrap_servers(), Duration::from_secs(30), store()).await;
        emit(&bus, 1).await;
        drained(&sink, 1).await;
        const N: usize = 20_000;
        let t = Instant::now();
        emit(&bus, N).await;
        drained(&sink, N as u64 + 1).await;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "kafka relay: {N} events in {secs:.2} s = {:.0} events/s",
            N as f64 / secs
        );
        sink.shutdown(Duration::from_secs(2)).await;
    }
}
