//! The Socket.IO gateway, tested with the official client: `socket.io-client` under
//! Node (tests/js/client.mjs), driven over stdio, against the real server downloading
//! from a real local swarm.
//!
//! Node and `tests/js/node_modules` are required (scripts/test.sh installs both); a
//! missing one fails the tests with a message saying what to run, never skips them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::support::app::{SLOW, TestApp};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};

/// How long one expected event may take to arrive (not a download: those use SLOW).
const SHORT: Duration = Duration::from_secs(20);
/// Slow enough that a download takes a few seconds and many progress ticks.
const DOWNLOAD_LIMIT: &str = "2097152";

/// One `node client.mjs` process: every line it prints is kept, in order.
struct Client {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Value>,
    stderr: Arc<Mutex<String>>,
    /// Everything received so far, in arrival order.
    seen: Vec<Value>,
}

impl Client {
    async fn connect(app: &TestApp, name: &str, auth: Value) -> Self {
        Self::connect_via(app, name, auth, "websocket").await
    }

    async fn connect_via(app: &TestApp, name: &str, auth: Value, transport: &str) -> Self {
        let script = client_script();
        let mut child = Command::new("node")
            .arg(&script)
            .arg(&app.base)
            .arg(auth.to_string())
            .arg(transport)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting node {script:?}: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn(async move {
            let mut out = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = out.next_line().await {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_buf = stderr.clone();
        let child_err = child.stderr.take().expect("piped stderr");
        tokio::spawn(async move {
            let mut err = BufReader::new(child_err).lines();
            while let Ok(Some(line)) = err.next_line().await {
                let mut buf = err_buf.lock().unwrap_or_else(|p| p.into_inner());
                buf.push_str(&line);
                buf.push('\n');
            }
        });
        let stdin = child.stdin.take();
        let mut me = Self {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        };
        let connected = me.wait_event("connect", SHORT).await;
        assert_eq!(connected["data"]["transport"], transport, "{name}");
        me
    }

    /// The first event named `event` received so far, or the next one to arrive.
    async fn wait_event(&mut self, event: &str, timeout: Duration) -> Value {
        self.wait_until(event, timeout, |v| v["event"] == event)
            .await
    }

    /// Waits until an event satisfying `pred` arrives (or has arrived: earlier events
    /// are searched first) and returns it.
    async fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = |seen: &[Value]| seen.iter().any(&pred);
        self.wait_seen(what, timeout, found).await;
        self.seen.iter().find(|v| pred(v)).cloned().expect("found")
    }

    /// Waits until everything received so far satisfies `done`.
    async fn wait_seen(&mut self, what: &str, timeout: Duration, done: impl Fn(&[Value]) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(v)) => self.seen.push(v),
                Ok(None) => self.fail(&format!("client exited while waiting for {what}")),
                Err(_) => self.fail(&format!("timed out after {timeout:?} waiting for {what}")),
            }
        }
    }

    fn fail(&self, why: &str) -> ! {
        let events: Vec<String> = self.seen.iter().map(|v| v.to_string()).collect();
        panic!(
            "{} ({}): {why}\nreceived:\n{}\nnode stderr:\n{}",
            self.name,
            self.child.id().map_or("exited".into(), |p| p.to_string()),
            events.join("\n"),
            self.stderr.lock().unwrap_or_else(|p| p.into_inner())
        )
    }

    async fn command(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("client running");
        let line = format!("{cmd}\n");
        stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the client");
        stdin.flush().await.expect("flush to the client");
    }

    async fn emit_with_ack(&mut self, event: &str, data: Value) -> Value {
        self.command(json!({ "emit": event, "data": data, "ack": true }))
            .await;
        let ack = self
            .wait_until(&format!("the ack of {event}"), SHORT, |v| {
                v["event"] == "ack" && v["data"]["emit"] == event
            })
            .await;
        // Later waits for the next ack of the same event must not find this one.
        self.seen.retain(|v| v != &ack);
        ack["data"]["response"].clone()
    }

    /// Disconnects, waits for the process to exit and returns everything it received.
    async fn quit(mut self) -> Vec<Value> {
        self.command(json!({ "quit": true })).await;
        let status = tokio::time::timeout(SHORT, self.child.wait())
            .await
            .expect("client exits after quit")
            .expect("client status");
        assert!(
            status.success(),
            "{}: client exited with {status}",
            self.name
        );
        while let Some(v) = self.lines.recv().await {
            self.seen.push(v);
        }
        self.seen
    }

    /// The server events received so far (not connect, ack or the like).
    fn server_events(&self) -> Vec<Value> {
        server_events(&self.seen)
    }
}

/// Bus events only: those that carry a `seq` and an `id`.
fn server_events(seen: &[Value]) -> Vec<Value> {
    seen.iter()
        .filter(|v| v["data"]["seq"].is_u64() && v["data"]["id"].is_string())
        .cloned()
        .collect()
}

fn about<'a>(events: &'a [Value], hash: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|v| v["data"]["infoHash"] == hash)
        .collect()
}

/// The client script, after checking Node and the client library are there.
fn client_script() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is required for the Socket.IO tests (Node.js >= 18): run scripts/test.sh, \
         or install nodejs and npm ({node:?})"
    );
    assert!(
        dir.join("node_modules/socket.io-client/package.json")
            .is_file(),
        "socket.io-client is missing: run `npm ci --prefix tests/js` (scripts/test.sh does)"
    );
    dir.join("client.mjs")
}

/// A seeded torrent of about 9 MiB in 256 KiB pieces, and the server to fetch it.
struct Swarm {
    _content: Content,
    seeder: Seeder,
    hash: String,
    app: TestApp,
}

impl Swarm {
    async fn start(name: &str, vars: &[(&str, &str)]) -> Self {
        let content = Content::random(name, &[6 * 1024 * 1024 + 4_321, 3 * 1024 * 1024 + 99]);
        let (torrent, hash) = content.make_torrent(256 * 1024, vec![]).await;
        let seeder = Seeder::start(&torrent, content.dir.path()).await;
        let app = TestApp::spawn_with(vars).await;
        Self {
            _content: content,
            seeder,
            hash,
            app,
        }
    }

    async fn add(&self, token: &str) {
        let magnet = magnet_with_peer(&self.hash, self.seeder.addr);
        self.app.add_magnet(token, &magnet, json!({})).await;
    }
}

async fn authenticated(client: &mut Client) -> Value {
    client.wait_event("authenticated", SHORT).await["data"].clone()
}

fn is_event(name: &'static str, hash: &str) -> impl Fn(&Value) -> bool {
    let hash = hash.to_owned();
    move |v| v["event"] == name && v["data"]["infoHash"] == hash.as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_sees_a_download_live_and_nobody_else_sees_it() {
    let swarm = Swarm::start("sio-live", &[("DOWNLOAD_LIMIT", DOWNLOAD_LIMIT)]).await;
    let (app, hash) = (&swarm.app, swarm.hash.as_str());
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;

    // The owner follows the torrent from the handshake, before it exists.
    let auth = json!({ "token": alice, "subscriptions": [hash] });
    let mut owner = Client::connect(app, "owner", auth).await;
    let me = authenticated(&mut owner).await;
    assert_eq!(me["role"], "user");
    assert!(me["seq"].is_u64(), "{me}");
    let alice_id = me["userId"].as_str().expect("userId").to_owned();
    // Polling once, so both transports are covered.
    let mut other = Client::connect_via(app, "bob", json!({ "token": bob }), "polling").await;
    authenticated(&mut other).await;
    let mut anon = Client::connect(app, "anonymous", json!({})).await;
    let err = anon.wait_event("error", SHORT).await;
    assert_eq!(err["data"]["code"], "unauthorized", "{err}");

    swarm.add(&alice).await;
    let reply = other
        .emit_with_ack("subscribe:torrent", json!({ "infoHash": hash }))
        .await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");
    let err = other.wait_event("error", SHORT).await;
    assert_eq!(err["data"]["code"], "not_found", "{err}");
    let reply = anon
        .emit_with_ack("subscribe:torrent", json!({ "infoHash": hash }))
        .await;
    assert_eq!(reply["error"]["code"], "unauthorized", "{reply}");

    // Subscribing again answers with the current state at once.
    let reply = owner
        .emit_with_ack("subscribe:torrent", json!({ "infoHash": hash }))
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let snapshot = owner.wait_event("torrent:snapshot", SHORT).await;
    assert_eq!(snapshot["data"]["infoHash"], hash);
    assert!(snapshot["data"]["seq"].is_u64(), "{snapshot}");

    owner
        .wait_until("torrent:seeding", SLOW, is_event("torrent:seeding", hash))
        .await;
    check_download_events(&owner.server_events(), hash, &alice_id);

    // A barrier: bob's own torrent. His events arrive in seq order, so once he has it,
    // every event about alice's torrent has been through his filter.
    let own = format!("magnet:?xt=urn:btih:{}", "b".repeat(40));
    app.add_magnet(&bob, &own, json!({})).await;
    other
        .wait_until(
            "bob's own torrent:added",
            SHORT,
            is_event("torrent:added", &"b".repeat(40)),
        )
        .await;
    let leaked = about(&other.server_events(), hash).len();
    assert_eq!(leaked, 0, "bob received alice's events: {:?}", other.seen);
    let anon_seen: Vec<Value> = anon.quit().await;
    assert!(
        server_events(&anon_seen).is_empty()
            && !anon_seen.iter().any(|v| v["event"] == "authenticated"),
        "an unauthenticated client received events: {anon_seen:?}"
    );
}

/// The owner's events: envelopes complete, seq increasing, progress up to 100 %, every
/// piece announced, then complete and seeding.
fn check_download_events(events: &[Value], hash: &str, owner_id: &str) {
    let seqs: Vec<u64> = events
        .iter()
        .map(|v| v["data"]["seq"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq not increasing: {seqs:?}"
    );
    let mine = about(events, hash);
    for e in &mine {
        let d = &e["data"];
        assert_eq!(d["type"], e["event"], "{e}");
        assert!(d["id"].is_string() && d["ts"].is_i64(), "{e}");
        assert_eq!(d["userId"], owner_id, "{e}");
    }
    let names: Vec<&str> = mine.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(names.first(), Some(&"torrent:added"), "{names:?}");
    let position = |n: &str| names.iter().position(|x| *x == n);
    let (complete, seeding) = (position("torrent:complete"), position("torrent:seeding"));
    assert!(complete.is_some() && complete < seeding, "{names:?}");

    let pct: Vec<f64> = mine
        .iter()
        .filter(|e| e["event"] == "torrent:progress")
        .filter_map(|e| e["data"]["percentage"].as_f64())
        .collect();
    assert!(
        pct.windows(2).all(|w| w[0] <= w[1]),
        "progress went back: {pct:?}"
    );
    assert_eq!(pct.last(), Some(&100.0), "{pct:?}");
    let rises = pct.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(
        rises >= 2,
        "progress should rise over several ticks: {pct:?}"
    );

    check_pieces(&mine);
}

/// The `torrent:piece` events announce every piece, each exactly once.
fn check_pieces(events: &[&Value]) {
    let pieces: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "torrent:piece")
        .map(|e| &e["data"])
        .collect();
    assert!(!pieces.is_empty(), "no torrent:piece events");
    let total = pieces[0]["total"].as_u64().expect("total");
    let mut count: HashMap<u64, usize> = HashMap::new();
    for p in &pieces {
        assert_eq!(p["total"], total, "{p}");
        for i in p["indexes"].as_array().expect("indexes") {
            *count.entry(i.as_u64().expect("index")).or_default() += 1;
        }
    }
    let missing: Vec<u64> = (0..total).filter(|i| !count.contains_key(i)).collect();
    assert!(missing.is_empty(), "pieces never announced: {missing:?}");
    let twice: Vec<u64> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(i, _)| *i)
        .collect();
    assert!(
        twice.is_empty(),
        "pieces announced more than once: {twice:?}"
    );
    assert!(count.keys().all(|i| *i < total), "{count:?}");
    let have = pieces.last().and_then(|p| p["have"].as_u64());
    assert_eq!(have, Some(total));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reconnecting_with_its_last_seq_misses_nothing() {
    let swarm = Swarm::start("sio-resume", &[("DOWNLOAD_LIMIT", DOWNLOAD_LIMIT)]).await;
    let (app, hash) = (&swarm.app, swarm.hash.as_str());
    let alice = app.new_user("alice").await;
    let auth = json!({ "token": alice, "subscriptions": [hash] });
    let mut watcher = Client::connect(app, "watcher", auth.clone()).await;
    authenticated(&mut watcher).await;
    let mut first = Client::connect(app, "first", auth).await;
    authenticated(&mut first).await;

    swarm.add(&alice).await;
    wait_progress(&mut first, hash, 3).await;
    let first_seen = server_events(&first.quit().await);
    let last_seq = first_seen
        .iter()
        .filter_map(|v| v["data"]["seq"].as_u64())
        .max()
        .expect("events before the disconnect");
    // Let the download move on while nobody listens, so there is something to replay.
    watcher
        .wait_until("progress after the disconnect", SLOW, |v| {
            v["event"] == "torrent:progress" && v["data"]["seq"].as_u64() > Some(last_seq + 1)
        })
        .await;

    let auth = json!({ "token": alice, "lastSeq": last_seq, "subscriptions": [hash] });
    let mut second = Client::connect(app, "second", auth).await;
    authenticated(&mut second).await;
    let done = second
        .wait_until("torrent:seeding", SLOW, is_event("torrent:seeding", hash))
        .await;
    let end = done["data"]["seq"].as_u64().expect("seq");
    watcher
        .wait_until("torrent:seeding", SLOW, is_event("torrent:seeding", hash))
        .await;
    assert!(
        !second.seen.iter().any(|v| v["event"] == "resync"),
        "{:?}",
        second.seen
    );

    let upto = |events: Vec<Value>| -> Vec<Value> {
        events
            .into_iter()
            .filter(|v| v["data"]["seq"].as_u64() <= Some(end))
            .collect()
    };
    let expected = upto(watcher.server_events());
    let second_seen = upto(second.server_events());
    assert!(
        second_seen
            .iter()
            .all(|v| v["data"]["seq"].as_u64() > Some(last_seq)),
        "the second run repeated old events"
    );
    let ids = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter_map(|v| v["data"]["id"].as_str().map(str::to_owned))
            .collect()
    };
    let mut got = ids(&first_seen);
    got.extend(ids(&second_seen));
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "an event arrived twice");
    let want: BTreeSet<String> = ids(&expected).into_iter().collect();
    let got: BTreeSet<String> = got.into_iter().collect();
    assert!(
        !about(&expected, hash).is_empty() && want == got,
        "missing: {:?}\nunexpected: {:?}",
        want.difference(&got).collect::<Vec<_>>(),
        got.difference(&want).collect::<Vec<_>>()
    );
}

/// Waits until `client` has `n` progress events about `hash`.
async fn wait_progress(client: &mut Client, hash: &str, n: usize) {
    let enough = |seen: &[Value]| {
        let progress = about(seen, hash);
        progress
            .iter()
            .filter(|v| v["event"] == "torrent:progress")
            .count()
            >= n
    };
    client
        .wait_seen(&format!("{n} progress events"), SLOW, enough)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_too_far_behind_is_told_to_resync() {
    let app = TestApp::spawn_with(&[("EVENT_BUFFER", "5")]).await;
    let alice = app.new_user("alice").await;
    let mut first = Client::connect(&app, "first", json!({ "token": alice })).await;
    authenticated(&mut first).await;
    // A magnet nobody seeds: its events come from the API calls alone.
    let hash = "c".repeat(40);
    app.add_magnet(&alice, &format!("magnet:?xt=urn:btih:{hash}"), json!({}))
        .await;
    let added = first
        .wait_until("torrent:added", SHORT, is_event("torrent:added", &hash))
        .await;
    let last_seq = added["data"]["seq"].as_u64().expect("seq");
    first.quit().await;

    for action in ["pause", "resume", "pause", "resume"] {
        let path = format!("/api/torrents/{hash}/{action}");
        let (status, body) = app.call(Method::POST, &path, Some(&alice), None).await;
        assert!(status.is_success(), "{action}: {status} {body}");
    }
    assert!(
        app.bus.last_seq() > last_seq + 5,
        "more events than the buffer holds"
    );

    let auth = json!({ "token": alice, "lastSeq": last_seq });
    let mut second = Client::connect(&app, "second", auth).await;
    authenticated(&mut second).await;
    let resync = second.wait_event("resync", SHORT).await;
    assert_eq!(resync["data"]["reason"], "gap", "{resync}");
    assert!(
        resync["data"]["seq"].as_u64() >= Some(last_seq + 5),
        "{resync}"
    );
    assert!(server_events(&second.seen).is_empty(), "{:?}", second.seen);

    // And the live stream goes on.
    let path = format!("/api/torrents/{hash}/pause");
    app.call(Method::POST, &path, Some(&alice), None).await;
    second
        .wait_until("torrent:paused", SHORT, is_event("torrent:paused", &hash))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_authenticates_after_connecting_until_its_token_expires() {
    let app = TestApp::spawn_with(&[("ACCESS_TOKEN_TTL", "4")]).await;
    let alice = app.new_user("alice").await;
    let mut client = Client::connect(&app, "late", json!({})).await;
    let err = client.wait_event("error", SHORT).await;
    assert_eq!(err["data"]["code"], "unauthorized", "{err}");

    let reply = client
        .emit_with_ack("authenticate", json!({ "token": "not-a-token" }))
        .await;
    assert_eq!(reply["error"]["code"], "unauthorized", "{reply}");
    let reply = client
        .emit_with_ack("authenticate", json!({ "token": alice }))
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    authenticated(&mut client).await;
    let hash = "d".repeat(40);
    app.add_magnet(&alice, &format!("magnet:?xt=urn:btih:{hash}"), json!({}))
        .await;
    client
        .wait_until("torrent:added", SHORT, is_event("torrent:added", &hash))
        .await;

    let expired = |v: &Value| {
        v["event"] == "error"
            && v["data"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("token expired"))
    };
    client
        .wait_until("the token to expire", SHORT, expired)
        .await;
    let reply = client
        .emit_with_ack("subscribe:torrent", json!({ "infoHash": hash }))
        .await;
    assert_eq!(reply["error"]["code"], "unauthorized", "{reply}");

    // Shutting down with a socket open disconnects it and still stops cleanly.
    app.stop().await;
    client.wait_event("disconnect", SHORT).await;
}
