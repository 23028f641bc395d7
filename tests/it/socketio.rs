//! The Socket.IO gateway, tested with the official client: `socket.io-client` under
//! Node (tests/js/client.mjs), driven over stdio, against the real server downloading
//! from a real local swarm.
//!
//! Node and `tests/js/node_modules` are required (scripts/test.sh installs both); a
//! missing one fails the tests with a message saying what to run, never skips them.

use std::collections::{BTreeSet, HashMap, HashSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::{SLOW, TestApp};
use crate::support::sio::{Client, SHORT, server_events};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};

/// Slow enough that a download takes a few seconds and many progress ticks.
const DOWNLOAD_LIMIT: &str = "2097152";

fn about<'a>(events: &'a [Value], hash: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|v| v["data"]["infoHash"] == hash)
        .collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_stops_the_sockets_of_that_token() {
    let app = TestApp::spawn().await;
    app.new_user("alice").await;
    let (access, refresh) = app.login_pair("alice", "alice-password-123").await;
    let mut client = Client::connect(&app, "signed-out", json!({ "token": access })).await;
    authenticated(&mut client).await;
    let first = "e".repeat(40);
    app.add_magnet(&access, &format!("magnet:?xt=urn:btih:{first}"), json!({}))
        .await;
    client
        .wait_until("torrent:added", SHORT, is_event("torrent:added", &first))
        .await;

    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/logout",
            Some(&access),
            Some(json!({ "refreshToken": refresh })),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT, "{body}");
    let revoked = |v: &Value| {
        v["event"] == "error"
            && v["data"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("token revoked"))
    };
    client.wait_until("the revocation", SHORT, revoked).await;
    let reply = client
        .emit_with_ack("subscribe:torrent", json!({ "infoHash": first }))
        .await;
    assert_eq!(reply["error"]["code"], "unauthorized", "{reply}");

    // Nothing more reaches it: alice's next torrent (added with a new login) is not sent.
    let again = app.login("alice", "alice-password-123").await;
    let mut other = Client::connect(&app, "signed-in", json!({ "token": again })).await;
    authenticated(&mut other).await;
    let second = "f".repeat(40);
    app.add_magnet(&again, &format!("magnet:?xt=urn:btih:{second}"), json!({}))
        .await;
    other
        .wait_until("torrent:added", SHORT, is_event("torrent:added", &second))
        .await;
    let seen = client.quit().await;
    assert!(
        !seen.iter().any(is_event("torrent:added", &second)),
        "the signed-out socket got an event after its revocation: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batching_client_gets_the_same_events_in_arrays() {
    let swarm = Swarm::start("sio-batch", &[("DOWNLOAD_LIMIT", DOWNLOAD_LIMIT)]).await;
    let (app, hash) = (&swarm.app, swarm.hash.as_str());
    let alice = app.new_user("alice").await;
    let auth = json!({ "token": alice, "subscriptions": [hash] });
    let mut plain = Client::connect(app, "plain", auth).await;
    authenticated(&mut plain).await;
    let auth = json!({ "token": alice, "subscriptions": [hash], "batch": true });
    let mut batched = Client::connect(app, "batched", auth).await;
    authenticated(&mut batched).await;

    swarm.add(&alice).await;
    let done = plain
        .wait_until("torrent:seeding", SLOW, is_event("torrent:seeding", hash))
        .await;
    let end = done["data"]["seq"].as_u64().expect("seq");
    // The envelopes of every `events` array, in the order they came.
    let flat = |seen: &[Value]| -> Vec<Value> {
        seen.iter()
            .filter(|v| v["event"] == "events")
            .flat_map(|v| v["data"].as_array().cloned().expect("an array"))
            .collect()
    };
    batched
        .wait_seen("torrent:seeding in a batch", SLOW, |seen| {
            flat(seen).iter().any(|e| e["seq"].as_u64() >= Some(end))
        })
        .await;
    assert!(
        !batched
            .seen
            .iter()
            .any(|v| v["event"] == "torrent:progress" || v["event"] == "torrent:seeding"),
        "a batching client got an event on its own"
    );
    let upto = |events: Vec<Value>| -> Vec<(u64, String, String)> {
        events
            .iter()
            .filter(|e| e["seq"].as_u64() <= Some(end))
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (e["seq"].as_u64().unwrap_or(0), s("id"), s("type"))
            })
            .collect()
    };
    let singles = upto(
        plain
            .server_events()
            .into_iter()
            .map(|v| v["data"].clone())
            .collect(),
    );
    let batches = upto(flat(&batched.seen));
    assert!(singles.len() > 3, "too few events to compare: {singles:?}");
    assert_eq!(batches, singles, "the same events, in the same order");
}
