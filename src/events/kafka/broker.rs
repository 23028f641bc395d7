//! The broker client: librdkafka's producer and admin client with their callbacks,
//! the topic task (find or create the topic, with backoff), and the metadata probe
//! that notices an outage while the outbox is idle.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::watch;

use super::{Backoff, KafkaSink, MAX_BACKOFF, REQUEST_TIMEOUT, Shared};

/// The librdkafka callbacks: logs through `tracing`, global errors into the health.
pub(super) struct SinkContext {
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

pub(super) type Producer = FutureProducer<SinkContext>;

impl KafkaSink {
    pub(super) fn clients(&self) -> Result<(Producer, AdminClient<SinkContext>), KafkaError> {
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

    pub(super) async fn ensure_topic(
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

    /// Asks the broker for the topic's metadata, to notice an outage while idle.
    pub(super) async fn probe(&self, producer: &Producer) {
        match self.topic_partitions(producer).await {
            Ok(_) => self.shared.up(),
            Err(e) => self.shared.down(e),
        }
    }

    /// How many partitions the broker says the topic has (0: unknown topic).
    pub(super) async fn topic_partitions(&self, producer: &Producer) -> Result<usize, String> {
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
