//! Fault cases against librdkafka's in-process mock cluster (the integration suite
//! runs the sink against a real broker, tansu).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;

use rdkafka::config::ClientConfig;
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

async fn start(brokers: String, timeout: Duration, store: DynStore) -> (Arc<Bus>, Arc<KafkaSink>) {
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
