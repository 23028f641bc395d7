//! The Kafka sink against a real broker (tansu on loopback) and a real consumer group:
//! a download's every event arrives, keyed by info hash and in order, and a broker
//! outage of more than 30 s loses nothing and never slows the API.
//!
//! What the server emitted is read straight from its bus (a durable subscription), so
//! the comparison does not depend on Socket.IO.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use torrentedge::events::Envelope;

use crate::support::app::{SLOW, TestApp};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};
use crate::support::tansu::Tansu;
use crate::support::wait_for;

const TOPIC: &str = "torrent-events";

/// One message as the consumer group got it.
#[derive(Clone, Debug)]
struct Received {
    key: String,
    partition: i32,
    event: Envelope,
}

/// A consumer group member reading the topic from the beginning and committing what
/// it read, in the background.
struct GroupConsumer {
    seen: Arc<Mutex<Vec<Result<Received, String>>>>,
    task: JoinHandle<()>,
}

impl GroupConsumer {
    fn start(brokers: &str, group: &str) -> Self {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[TOPIC]).expect("subscribe");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                match consumer.recv().await {
                    Ok(m) => {
                        let key = String::from_utf8_lossy(m.key().unwrap_or_default());
                        let value = m.payload().unwrap_or_default();
                        match serde_json::from_slice::<Envelope>(value) {
                            Ok(event) => out.lock().unwrap().push(Ok(Received {
                                key: key.into_owned(),
                                partition: m.partition(),
                                event,
                            })),
                            Err(e) => out.lock().unwrap().push(Err(format!(
                                "a value that is no event envelope ({e}): {}",
                                String::from_utf8_lossy(value)
                            ))),
                        }
                        // Fails while the broker is away; a later commit covers it.
                        let _ = consumer.commit_message(&m, CommitMode::Async);
                    }
                    // Broker gone for a while: librdkafka reconnects by itself.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { seen, task }
    }

    /// What arrived so far; panics on a message that is not an event.
    fn received(&self) -> Vec<Received> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|r| r.clone().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every event the bus emits from now on, collected in the background.
struct Emitted {
    events: Arc<Mutex<Vec<Envelope>>>,
    task: JoinHandle<()>,
}

impl Emitted {
    fn start(app: &TestApp) -> Self {
        // Published only once durable, so this sees exactly what the outbox holds.
        let mut rx = app.bus.subscribe();
        let events = Arc::new(Mutex::new(Vec::new()));
        let out = events.clone();
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) => out.lock().unwrap().push((*e).clone()),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        panic!("the test's collector fell {n} events behind the bus")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Self { events, task }
    }

    fn snapshot(&self) -> Vec<Envelope> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for Emitted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `kafka` of `/api/health/ready`, which must answer 200 whatever the broker does. The
/// Kafka details are for administrators.
async fn kafka_health(app: &TestApp) -> Value {
    let admin = Some(app.admin_token.as_str());
    let (status, body) = app
        .call(Method::GET, "/api/health/ready", admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "ready: {body}");
    assert_eq!(body["kafka"]["enabled"], true, "{body}");
    body["kafka"].clone()
}

async fn backlog(app: &TestApp) -> u64 {
    let k = kafka_health(app).await;
    k["backlog"]
        .as_u64()
        .unwrap_or_else(|| panic!("backlog: {k}"))
}

async fn spawn_with_kafka(broker: &Tansu, download_limit: &str) -> TestApp {
    let brokers = broker.brokers();
    let app = TestApp::spawn_with(&[
        ("KAFKA_BROKERS", brokers.as_str()),
        ("KAFKA_TOPIC", TOPIC),
        ("DOWNLOAD_LIMIT", download_limit),
    ])
    .await;
    // The sink creates the topic (tansu creates none on first use); a consumer that
    // subscribed to a missing topic would not look again for minutes.
    wait_for(
        "the sink to create its topic",
        Duration::from_secs(30),
        || async {
            let k = kafka_health(&app).await;
            (k["topicReady"] == true).then_some(())
        },
    )
    .await;
    app
}

/// Checks what the consumer got against what the server emitted and returns how many
/// duplicates there were. After dropping duplicates by `id`:
/// - the key is the info hash ("" for server-wide events);
/// - each key's events are in strictly increasing `seq` order;
/// - the seqs across the whole topic are exactly 1..=last, the server's whole life
///   (a fresh data directory starts at 1): no gap, nothing lost;
/// - every event the bus emitted is there, identical.
fn check_against_bus(received: &[Received], emitted: &[Envelope], last_seq: u64) -> usize {
    let mut by_id: HashMap<&str, &Envelope> = HashMap::new();
    let mut per_key: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut partitions: HashMap<&str, i32> = HashMap::new();
    for r in received {
        let e = &r.event;
        assert_eq!(r.key, e.info_hash.clone().unwrap_or_default(), "key: {e:?}");
        let p = *partitions.entry(r.key.as_str()).or_insert(r.partition);
        assert_eq!(p, r.partition, "key {:?} in two partitions", r.key);
        match by_id.get(e.id.as_str()) {
            Some(first) => assert_eq!(*first, e, "a duplicate differs from the original"),
            None => {
                by_id.insert(e.id.as_str(), e);
                per_key.entry(r.key.as_str()).or_default().push(e.seq);
            }
        }
    }
    for (key, seqs) in &per_key {
        if let Some(w) = seqs.windows(2).find(|w| w[0] >= w[1]) {
            panic!("key {key:?}: seq {} arrived before {}", w[0], w[1]);
        }
    }
    let got: BTreeSet<u64> = by_id.values().map(|e| e.seq).collect();
    assert_eq!(got.len(), by_id.len(), "two events share a seq");
    let missing: Vec<u64> = (1..=last_seq).filter(|s| !got.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "{} of {last_seq} events never reached the consumer, first {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert_eq!(
        got.last(),
        Some(&last_seq),
        "events the server never emitted"
    );
    let by_seq: HashMap<u64, &Envelope> = by_id.values().map(|e| (e.seq, *e)).collect();
    // Compared as JSON objects: the bus's envelope may carry a field twice (a payload
    // field named like an envelope field); the Kafka value carries it once.
    for e in emitted {
        let got = by_seq.get(&e.seq).map(|g| serde_json::to_value(g).unwrap());
        assert_eq!(
            got,
            Some(serde_json::to_value(e).unwrap()),
            "seq {} differs from the bus",
            e.seq
        );
    }
    received.len() - by_id.len()
}

/// Waits until the consumer has read an event of `kind` for the torrent `hash`.
async fn wait_for_kind(consumer: &GroupConsumer, hash: &str, kind: &str) {
    wait_for(
        &format!("{kind} in the topic"),
        Duration::from_secs(30),
        || async {
            of_torrent(&consumer.received(), hash)
                .iter()
                .any(|e| e.kind == kind)
                .then_some(())
        },
    )
    .await;
}

/// The consumer's events of one torrent, duplicates dropped, in arrival order.
fn of_torrent(received: &[Received], hash: &str) -> Vec<Envelope> {
    let mut ids = BTreeSet::new();
    received
        .iter()
        .filter(|r| r.key == hash && ids.insert(r.event.id.clone()))
        .map(|r| r.event.clone())
        .collect()
}

/// Stops the server (the sink flushes on the way out) and waits until the consumer
/// holds every event the server ever emitted; returns them and the last seq.
async fn stop_and_collect(
    app: TestApp,
    consumer: &GroupConsumer,
    emitted: &Emitted,
) -> (Vec<Received>, Vec<Envelope>, u64) {
    let bus = app.bus.clone();
    let _dir = app.stop().await;
    let last = bus.last_seq();
    let received = wait_for(
        "the consumer to receive every event",
        Duration::from_secs(60),
        || async {
            let r = consumer.received();
            let seqs: BTreeSet<u64> = r.iter().map(|r| r.event.seq).collect();
            (seqs.len() as u64 >= last && seqs.last() == Some(&last)).then_some(r)
        },
    )
    .await;
    // Emitted events reach the collector asynchronously: wait until it has the last.
    let all = wait_for(
        "the bus collector to hold every event",
        Duration::from_secs(10),
        || async {
            let all = emitted.snapshot();
            (all.last().map(|e| e.seq) == Some(last)).then_some(all)
        },
    )
    .await;
    (received, all, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_reaches_a_consumer_group_complete_and_in_order() {
    let broker = Tansu::start().await;
    let content = Content::random("kafka-content", &[3 * 1024 * 1024 + 5, 1024 * 1024 + 7]);
    let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    // 4 MiB at 2 MiB/s: a couple of seconds of progress and piece events.
    let app = spawn_with_kafka(&broker, "2097152").await;
    let emitted = Emitted::start(&app);
    let consumer = GroupConsumer::start(&broker.brokers(), "it-download");

    app.add_magnet(
        &app.admin_token,
        &magnet_with_peer(&hash, seeder.addr),
        json!({}),
    )
    .await;
    app.wait_complete(&app.admin_token, &hash, SLOW).await;
    wait_for_kind(&consumer, &hash, "torrent:seeding").await;
    let k = kafka_health(&app).await;
    assert_eq!(k["state"], "up", "{k}");
    assert!(k["delivered"].as_u64() > Some(0), "{k}");

    let (received, emitted, last) = stop_and_collect(app, &consumer, &emitted).await;
    let duplicates = check_against_bus(&received, &emitted, last);
    assert_eq!(
        duplicates, 0,
        "the idempotent producer never duplicates without a fault"
    );

    let mine = of_torrent(&received, &hash);
    let from_bus: Vec<u64> = emitted
        .iter()
        .filter(|e| e.info_hash.as_deref() == Some(hash.as_str()))
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        mine.iter().map(|e| e.seq).collect::<Vec<_>>(),
        from_bus,
        "the torrent's events, in the server's order"
    );
    let kinds: Vec<&str> = mine.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"torrent:added"), "{kinds:?}");
    for k in [
        "torrent:metadata",
        "torrent:piece",
        "torrent:progress",
        "torrent:complete",
    ] {
        assert!(kinds.contains(&k), "no {k} in {kinds:?}");
    }
    assert!(
        received
            .iter()
            .any(|r| r.event.kind == "queue:updated" && r.key.is_empty()),
        "server-wide events go under the empty key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_35_second_broker_outage_loses_nothing_and_never_slows_the_api() {
    let broker = Tansu::start().await;
    let content = Content::random("kafka-outage", &[7 * 1024 * 1024 + 3, 5 * 1024 * 1024 + 9]);
    let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    // 12 MiB at 256 KiB/s: about 48 s, so the download runs through the whole outage.
    let app = spawn_with_kafka(&broker, "262144").await;
    let emitted = Emitted::start(&app);
    let consumer = GroupConsumer::start(&broker.brokers(), "it-outage");
    let token = app.admin_token.clone();

    app.add_magnet(&token, &magnet_with_peer(&hash, seeder.addr), json!({}))
        .await;
    wait_for_kind(&consumer, &hash, "torrent:piece").await;

    broker.freeze();
    let frozen_at = Instant::now();
    let before = app.torrent(&token, &hash).await;
    assert!(
        before["completedAt"].is_null(),
        "the download must still run during the outage: {before}"
    );
    let mut slowest = Duration::ZERO;
    let mut backlogs = Vec::new();
    let mut reported_down = None;
    // Sample the API once a second for the whole outage: the outage's length is the
    // point of the test, so this is a sampling cadence, not a wait for a condition.
    let mut sample = tokio::time::interval(Duration::from_secs(1));
    while frozen_at.elapsed() < Duration::from_secs(35) {
        let t = Instant::now();
        let list = app.list(&token).await;
        // How long the API takes is reported, not asserted: timing belongs in the
        // benchmarks. That it answers, and correctly, throughout the outage is the point.
        assert_eq!(list.len(), 1);
        slowest = slowest.max(t.elapsed());
        let t = Instant::now();
        let k = kafka_health(&app).await;
        slowest = slowest.max(t.elapsed());
        if k["state"] == "down" {
            reported_down.get_or_insert_with(|| (frozen_at.elapsed(), k.clone()));
            backlogs.push(k["backlog"].as_u64().expect("backlog"));
        }
        sample.tick().await;
    }
    let (down_after, down) = reported_down.expect("health never reported Kafka down");
    assert!(down["lastError"].is_string(), "{down}");
    let (first, peak) = (backlogs[0], *backlogs.last().expect("samples"));
    assert!(
        peak > first && first > 0,
        "the backlog must grow while the broker is away: {backlogs:?}"
    );
    let during = of_torrent(&consumer.received(), &hash).len();

    broker.thaw();
    let thawed_at = Instant::now();
    let pending = backlog(&app).await;
    wait_for(
        "the outbox to drain after the outage",
        Duration::from_secs(90),
        || async {
            let k = kafka_health(&app).await;
            (k["backlog"] == 0 && k["state"] == "up").then_some(())
        },
    )
    .await;
    let drained_in = thawed_at.elapsed();
    println!(
        "kafka outage: API slowest {slowest:?}; reported down after {down_after:?}; \
         backlog {first} -> {peak}; {pending} events drained in {drained_in:?} after thaw"
    );
    app.wait_complete(&token, &hash, SLOW).await;
    wait_for_kind(&consumer, &hash, "torrent:seeding").await;

    let (received, emitted, last) = stop_and_collect(app, &consumer, &emitted).await;
    let duplicates = check_against_bus(&received, &emitted, last);
    let mine = of_torrent(&received, &hash);
    assert!(
        mine.len() > during,
        "events of the outage arrived afterwards"
    );
    assert_eq!(mine.first().map(|e| e.kind.as_str()), Some("torrent:added"));
    assert!(mine.iter().any(|e| e.kind == "torrent:complete"));
    println!(
        "kafka outage: {} events, {duplicates} duplicates dropped by id",
        received.len() - duplicates
    );
    drop(broker);
}
