//! The crash campaign: the shipped binary downloads several torrents from real local
//! seeders (rate-limited, so kills land mid-download) with Kafka attached, while a
//! driver adds, pauses, resumes, re-prioritises and removes torrents and records what
//! the server acknowledged. The server is killed with SIGKILL at random moments and
//! restarted on the same `DATA_DIR`, again and again. After each restart every
//! acknowledged change must hold; at the end every torrent's data must equal its
//! source, and the events read from Kafka must have no `seq` gap, no `seq` reused with
//! other content, an event for every acknowledged change and each piece announced
//! once per time the torrent was added.
//!
//! It runs on the embedded store and on MongoDB (nx-27017, which outlives the kills).
//! The suite runs a few kills (`CRASH_KILLS`, default 3 and 2);
//! `scripts/crash-campaign.sh [COUNT] [sqlite|mongodb]` runs the full campaign on a
//! release build.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use torrentedge::events::Envelope;

use crate::support::app::{ADMIN_PASSWORD, assert_same_tree};
use crate::support::mongo::Mongo;
use crate::support::process::Running;
use crate::support::swarm::{Content, Seeder};
use crate::support::tansu::Tansu;

const TORRENTS: usize = 4;

/// What the driver knows of one torrent: what the server acknowledged, and whether a
/// request about it was cut short by a kill (then either outcome is right).
#[derive(Debug, Clone, Default)]
struct Expect {
    present: bool,
    paused: bool,
    priority: String,
    unsure: bool,
}

struct Swarm {
    content: Content,
    torrent: Vec<u8>,
    hash: String,
    seeder: Seeder,
}

#[derive(Default)]
struct Tally {
    /// Acknowledged changes, as (info hash, event type that must exist).
    acked: Vec<(String, &'static str)>,
    violations: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    async fn upload(&self, s: &Swarm, priority: &str, paused: bool) -> Result<StatusCode, String> {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(s.torrent.clone()).file_name("x.torrent"),
            )
            .text("peers", s.seeder.addr.to_string())
            .text("priority", priority.to_owned())
            .text("paused", paused.to_string());
        let resp = self
            .http
            .post(format!("{}/api/torrents", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(resp.status())
    }
}

async fn start(dir: &std::path::Path, brokers: &str, mongo: Option<&Mongo>) -> (Running, Client) {
    let uri = mongo.map(|m| m.uri("crash"));
    let mut vars = vec![
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("KAFKA_BROKERS", brokers),
        ("DOWNLOAD_LIMIT", "3145728"),
        ("MAX_CONCURRENT_TORRENTS", "2"),
        ("ENGINE_TICK_MS", "100"),
        ("ALLOW_PRIVATE_TRACKERS", "true"),
        ("RUST_LOG", "warn,torrentedge=info"),
    ];
    if let Some(uri) = &uri {
        vars.push(("MONGODB_URI", uri));
    }
    let mut server = Running::start(dir, &vars);
    let base = format!("http://{}", server.addr().await);
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login sent");
    let body: Value = login.json().await.expect("login body");
    let token = body["accessToken"]
        .as_str()
        .expect("access token")
        .to_owned();
    (server, Client { http, base, token })
}

/// One random operation on a random torrent, recorded in `model` as it is answered.
async fn one_op(c: &Client, swarms: &[Swarm], model: &Mutex<Vec<Expect>>, tally: &Mutex<Tally>) {
    let (i, op) = {
        let mut rng = rand::rng();
        let i = rng.random_range(0..swarms.len());
        let present = model.lock().unwrap()[i].present;
        let op = if present { rng.random_range(1..6) } else { 0 };
        (i, op)
    };
    let s = &swarms[i];
    let hash = &s.hash;
    model.lock().unwrap()[i].unsure = true;
    let prio = ["high", "normal", "low"][rand::rng().random_range(0..3)];
    let (start_paused, delete) = (rand::rng().random_bool(0.3), rand::rng().random_bool(0.5));
    let result = match op {
        0 => c
            .upload(s, prio, start_paused)
            .await
            .map(|st| (st, Value::Null)),
        1 => {
            c.call(Method::POST, &format!("/api/torrents/{hash}/pause"), None)
                .await
        }
        2 | 3 => {
            c.call(Method::POST, &format!("/api/torrents/{hash}/resume"), None)
                .await
        }
        4 => {
            let body = Some(json!({ "priority": prio }));
            c.call(Method::PUT, &format!("/api/torrents/{hash}/priority"), body)
                .await
        }
        _ => {
            c.call(
                Method::DELETE,
                &format!("/api/torrents/{hash}?deleteFiles={delete}"),
                None,
            )
            .await
        }
    };
    // Cut short by the kill: the outcome is unknown, and stays `unsure`.
    let Ok((status, _)) = result else { return };
    let mut m = model.lock().unwrap();
    let e = &mut m[i];
    e.unsure = false;
    if !status.is_success() {
        return; // refused: nothing changed
    }
    let kind = match op {
        0 => {
            *e = Expect {
                present: true,
                paused: start_paused,
                priority: prio.to_owned(),
                unsure: false,
            };
            "torrent:added"
        }
        1 => {
            e.paused = true;
            "torrent:paused"
        }
        2 | 3 => {
            e.paused = false;
            "torrent:resumed"
        }
        4 => {
            e.priority = prio.to_owned();
            "torrent:priority"
        }
        _ => {
            e.present = false;
            "torrent:removed"
        }
    };
    tally.lock().unwrap().acked.push((hash.clone(), kind));
}

/// After a restart: every acknowledged change holds. Torrents with a request cut short
/// take whatever the server says.
async fn check(
    c: &Client,
    swarms: &[Swarm],
    model: &Mutex<Vec<Expect>>,
    tally: &Mutex<Tally>,
    round: usize,
) {
    let (status, list) = c
        .call(Method::GET, "/api/torrents", None)
        .await
        .expect("list");
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed: HashMap<&str, &Value> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|t| (t["infoHash"].as_str().unwrap_or(""), t))
        .collect();
    let mut m = model.lock().unwrap();
    for (s, e) in swarms.iter().zip(m.iter_mut()) {
        let got = listed.get(s.hash.as_str());
        let paused = got.map(|t| t["paused"] == true);
        let priority = got.and_then(|t| t["priority"].as_str()).map(str::to_owned);
        if e.unsure {
            // Either outcome is right; go on from what the server says.
            *e = Expect {
                present: got.is_some(),
                paused: paused.unwrap_or(false),
                priority: priority.unwrap_or_default(),
                unsure: false,
            };
            continue;
        }
        let problem = match got {
            None if e.present => Some("an acknowledged torrent is missing".to_owned()),
            Some(_) if !e.present => Some("a removed torrent is back".to_owned()),
            Some(_) if paused != Some(e.paused) => Some(format!("paused should be {}", e.paused)),
            Some(_) if priority.as_deref() != Some(e.priority.as_str()) => Some(format!(
                "priority should be {}, is {priority:?}",
                e.priority
            )),
            _ => None,
        };
        if let Some(p) = problem {
            tally
                .lock()
                .unwrap()
                .violations
                .push(format!("restart {round}: {}: {p}", s.hash));
        }
    }
}

/// Every event in the topic, read from the beginning until `last` was seen.
async fn read_topic(brokers: &str) -> Vec<Envelope> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "crash-campaign")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&["torrent-events"]).expect("subscribe");
    let mut out = Vec::new();
    // Until the topic stays quiet: the server was stopped, nothing more will come.
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(10), consumer.recv()).await {
        if let Ok(e) = serde_json::from_slice::<Envelope>(m.payload().unwrap_or_default()) {
            out.push(e);
        }
    }
    out
}

/// The Kafka rules of the campaign; returns the violations.
fn check_events(events: &[Envelope], acked: &[(String, &'static str)]) -> Vec<String> {
    let mut v = Vec::new();
    let mut by_seq: BTreeMap<u64, &Envelope> = BTreeMap::new();
    for e in events {
        if let Some(prev) = by_seq.insert(e.seq, e)
            && prev.id != e.id
        {
            v.push(format!(
                "seq {} reused: {} and {}",
                e.seq, prev.kind, e.kind
            ));
        }
    }
    let seqs: Vec<u64> = by_seq.keys().copied().collect();
    if let (Some(&first), Some(&last)) = (seqs.first(), seqs.last())
        && (first != 1 || last - first + 1 != seqs.len() as u64)
    {
        let missing: Vec<u64> = (1..=last)
            .filter(|s| !by_seq.contains_key(s))
            .take(10)
            .collect();
        v.push(format!(
            "seq gaps: {} events for 1..={last}, first missing {missing:?}",
            seqs.len()
        ));
    }
    let mut have: HashMap<(String, String), usize> = HashMap::new();
    for e in by_seq.values() {
        *have
            .entry((e.info_hash.clone().unwrap_or_default(), e.kind.clone()))
            .or_default() += 1;
    }
    let mut need: HashMap<(String, String), usize> = HashMap::new();
    for (hash, kind) in acked {
        *need.entry((hash.clone(), kind.to_string())).or_default() += 1;
    }
    for (key, n) in need {
        let got = have.get(&key).copied().unwrap_or(0);
        if got < n {
            v.push(format!(
                "{} {} acknowledged {n} times, {got} events",
                key.0, key.1
            ));
        }
    }
    // Each piece once per time the torrent was added.
    let mut pieces: HashMap<String, BTreeSet<u64>> = HashMap::new();
    for e in by_seq.values() {
        let hash = e.info_hash.clone().unwrap_or_default();
        match e.kind.as_str() {
            "torrent:added" => {
                pieces.remove(&hash);
            }
            "torrent:piece" => {
                let seen = pieces.entry(hash.clone()).or_default();
                for i in e.data["indexes"].as_array().into_iter().flatten() {
                    if !seen.insert(i.as_u64().unwrap_or(u64::MAX)) {
                        v.push(format!("{hash}: piece {i} announced twice (seq {})", e.seq));
                    }
                }
            }
            _ => {}
        }
    }
    v
}

fn kills(default: usize) -> usize {
    std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_campaign() {
    campaign(kills(3), None).await;
}

/// The same campaign on the MongoDB store (nx-27017, which outlives every kill).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_campaign_mongodb() {
    let mongo = Mongo::start().await;
    campaign(kills(2), Some(&mongo)).await;
}

async fn campaign(kills: usize, mongo: Option<&Mongo>) {
    let broker = Tansu::start().await;
    let brokers = broker.brokers();
    let mut swarms = Vec::new();
    for i in 0..TORRENTS {
        let content = Content::random(
            &format!("crash-{i}"),
            &[3 * 1024 * 1024 + 7 * i, 512 * 1024 + 13],
        );
        let (torrent, hash) = content.make_torrent(32 * 1024, vec![]).await;
        let seeder = Seeder::start(&torrent, content.dir.path()).await;
        swarms.push(Swarm {
            content,
            torrent,
            hash,
            seeder,
        });
    }
    let swarms = Arc::new(swarms);
    let model = Arc::new(Mutex::new(vec![Expect::default(); TORRENTS]));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let dir = tempfile::tempdir().expect("tempdir");

    for round in 0..kills {
        let (server, client) = start(dir.path(), &brokers, mongo).await;
        check(&client, &swarms, &model, &tally, round).await;
        let client = Arc::new(client);
        let driver = {
            let (c, s, m, t) = (client.clone(), swarms.clone(), model.clone(), tally.clone());
            tokio::spawn(async move {
                loop {
                    one_op(&c, &s, &m, &t).await;
                }
            })
        };
        // A random moment: mid-request, mid-download, mid-write.
        let wait = rand::rng().random_range(200..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill().await;
        driver.abort();
        let _ = driver.await;
    }

    // The last run: every acknowledged torrent resumes and completes, byte for byte.
    let (mut server, client) = start(dir.path(), &brokers, mongo).await;
    check(&client, &swarms, &model, &tally, kills).await;
    let present: Vec<usize> = model
        .lock()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, e)| e.present)
        .map(|(i, _)| i)
        .collect();
    for &i in &present {
        let hash = &swarms[i].hash;
        let (status, v) = client
            .call(Method::POST, &format!("/api/torrents/{hash}/resume"), None)
            .await
            .expect("resume");
        assert!(status.is_success(), "{v}");
        tally
            .lock()
            .unwrap()
            .acked
            .push((hash.clone(), "torrent:resumed"));
    }
    let (status, me) = client
        .call(Method::GET, "/api/users/me", None)
        .await
        .expect("me");
    assert_eq!(status, StatusCode::OK);
    let folder = dir
        .path()
        .join("downloads/users")
        .join(me["id"].as_str().expect("id"));
    for &i in &present {
        let s = &swarms[i];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        loop {
            let t = client
                .call(Method::GET, &format!("/api/torrents/{}", s.hash), None)
                .await
                .map(|(_, t)| t)
                .unwrap_or_default();
            if t["completedAt"].is_number() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                // Everything needed to tell why: the torrent as the server sees it, the
                // others' states, and what the server logged.
                let (_, all) = client
                    .call(Method::GET, "/api/torrents", None)
                    .await
                    .unwrap_or_default();
                let states: Vec<_> = all
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        (
                            t["infoHash"].clone(),
                            t["state"].clone(),
                            t["percentage"].clone(),
                        )
                    })
                    .collect();
                let log = server.log().join("\n");
                panic!(
                    "torrent {} did not complete in 300 s: {t}\nall: {states:?}\nlog:\n{log}",
                    s.hash
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_same_tree(&s.content.root(), &folder.join(&s.content.name));
    }
    // A clean stop: the relay hands Kafka what the outbox still holds.
    server.terminate().await;

    let events = read_topic(&brokers).await;
    let mut tally = Arc::try_unwrap(tally)
        .ok()
        .expect("one owner")
        .into_inner()
        .unwrap();
    let kafka_problems = check_events(&events, &tally.acked);
    tally.violations.extend(kafka_problems);
    let distinct: BTreeSet<u64> = events.iter().map(|e| e.seq).collect();
    let store = if mongo.is_some() { "mongodb" } else { "sqlite" };
    println!(
        "crash-campaign: store={store} kills={kills} torrents={TORRENTS} acknowledged={} events={} violations={}",
        tally.acked.len(),
        distinct.len(),
        tally.violations.len()
    );
    assert!(
        tally.violations.is_empty(),
        "violations:\n{}",
        tally.violations.join("\n")
    );
    assert!(
        !distinct.is_empty(),
        "no event reached Kafka: the campaign proves nothing"
    );
}
