//! The relay: sends the outbox's oldest events, waits for every acknowledgement, and
//! removes only the acknowledged prefix, in `seq` order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rdkafka::producer::FutureRecord;
use tokio::sync::watch;

use super::broker::Producer;
use super::{BATCH, Backoff, IDLE_PROBE, KafkaSink, MAX_BACKOFF};
use crate::store::OutboxRecord;

impl KafkaSink {
    pub(super) async fn relay(
        self: Arc<Self>,
        producer: Producer,
        mut topic_ready: watch::Receiver<bool>,
    ) {
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
                metrics::counter!("torrentedge_kafka_delivered_total")
                    .increment(acked.len() as u64);
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
                    metrics::counter!("torrentedge_kafka_relay_errors_total").increment(1);
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
}
