//! Core integrity: an acknowledged change is never undone by a stale write, a removal
//! either completes or leaves the torrent as it was, pieces are announced once across
//! restarts, and one user's torrent never touches another's files.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};
use torrentedge::engine::{HookPoint, Hooks};
use torrentedge::events::Envelope;

use crate::support::app::{SLOW, TestApp, assert_same_tree};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};
use crate::support::wait_for;

/// Holds the sampler at [`HookPoint::SamplerObserved`] once armed: `reached` fires
/// when it is held, `release` lets it go.
#[derive(Default)]
struct Gate {
    armed: std::sync::atomic::AtomicBool,
    reached: Notify,
    release: Notify,
}

impl Gate {
    fn hooks(self: &Arc<Self>) -> Hooks {
        let gate = self.clone();
        Hooks::new(move |point| {
            let gate = gate.clone();
            async move {
                let armed = gate.armed.swap(false, std::sync::atomic::Ordering::SeqCst);
                if point == HookPoint::SamplerObserved && armed {
                    gate.reached.notify_one();
                    gate.release.notified().await;
                }
            }
            .boxed()
        })
    }
}

async fn call_ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, v) = app.call(method, path, Some(&app.admin_token), body).await;
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// A pause, a priority change and a removal made while the sampler holds what it read
/// all survive the sampler's write and a restart: no stale copy undoes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_while_the_sampler_holds_a_sample_are_never_undone() {
    let limit = [("DOWNLOAD_LIMIT", "1048576")];
    let gate = Arc::new(Gate::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let app = TestApp::spawn_hooked(dir, &limit, gate.hooks()).await;
    let mut seeders = Vec::new();
    let mut hashes = Vec::new();
    for name in ["held-a", "held-b", "held-c"] {
        let content = Content::random(name, &[8 * 1024 * 1024 + 7, 1000]);
        let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
        let seeder = Seeder::start(&torrent, content.dir.path()).await;
        let peers = seeder.addr.to_string();
        let (status, v) = app
            .upload(&app.admin_token, &torrent, &[("peers", &peers)])
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        seeders.push((content, seeder));
        hashes.push(hash);
    }
    let token = app.admin_token.clone();
    for hash in &hashes {
        wait_for("data to flow", Duration::from_secs(60), || async {
            let t = app.torrent(&token, hash).await;
            (t["completedBytes"].as_u64().unwrap_or(0) > 0).then_some(())
        })
        .await;
    }
    gate.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    gate.reached.notified().await;
    // The sampler now holds what it read of all three. Each change either finishes
    // before the sampler writes (the old behaviour, then overwritten by its copy) or
    // waits for it; give each a moment, then let the sampler go.
    let (a, b, c) = (&hashes[0], &hashes[1], &hashes[2]);
    let changes = async {
        call_ok(
            &app,
            Method::POST,
            &format!("/api/torrents/{a}/pause"),
            None,
        )
        .await;
        let body = Some(json!({"priority": "low"}));
        call_ok(
            &app,
            Method::PUT,
            &format!("/api/torrents/{b}/priority"),
            body,
        )
        .await;
        call_ok(&app, Method::DELETE, &format!("/api/torrents/{c}"), None).await;
    };
    {
        let mut changes = std::pin::pin!(changes);
        if tokio::time::timeout(Duration::from_secs(2), &mut changes)
            .await
            .is_err()
        {
            gate.release.notify_one();
            changes.await;
        } else {
            gate.release.notify_one();
        }
    }
    // Let the sampler write again after the changes, then restart.
    let after = app.bus.last_seq();
    wait_for("another sample", Duration::from_secs(30), || async {
        (app.bus.last_seq() > after).then_some(())
    })
    .await;
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &limit).await;
    let list = app.list(&app.admin_token).await;
    let by_hash: BTreeMap<&str, &Value> = list
        .iter()
        .map(|t| (t["infoHash"].as_str().unwrap(), t))
        .collect();
    assert_eq!(by_hash.len(), 2, "the removed torrent came back: {list:#?}");
    assert_eq!(by_hash[a.as_str()]["state"], "paused", "{list:#?}");
    assert_eq!(by_hash[b.as_str()]["priority"], "low", "{list:#?}");
    assert!(!by_hash.contains_key(c.as_str()));
}

/// Every event the bus publishes from now on.
fn collect(
    app: &TestApp,
) -> (
    Arc<std::sync::Mutex<Vec<Envelope>>>,
    tokio::task::JoinHandle<()>,
) {
    collect_after(app, None)
}

/// [`collect`], starting with the events after `seq` that the bus still holds: a
/// restarted server runs (and announces) before a test can subscribe.
fn collect_after(
    app: &TestApp,
    seq: Option<u64>,
) -> (
    Arc<std::sync::Mutex<Vec<Envelope>>>,
    tokio::task::JoinHandle<()>,
) {
    let (earlier, mut rx) = match seq {
        None => (Vec::new(), app.bus.subscribe()),
        Some(seq) => match app.bus.resume_from(seq) {
            (torrentedge::events::Replay::Events(events), rx) => (events, rx),
            (torrentedge::events::Replay::Gap, _) => panic!("events after {seq} are gone"),
        },
    };
    // The bus keeps replayed events compact (their JSON whole, `data` empty).
    let earlier = earlier
        .iter()
        .map(|e| serde_json::from_str::<Envelope>(e.json().get()).expect("an envelope parses"));
    let out = Arc::new(std::sync::Mutex::new(earlier.collect::<Vec<_>>()));
    let events = out.clone();
    let task = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) => events.lock().unwrap().push((*e).clone()),
                Err(broadcast::error::RecvError::Lagged(n)) => panic!("collector lagged by {n}"),
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    (out, task)
}

fn of_kind<'a>(events: &'a [Envelope], kind: &str, hash: &str) -> Vec<&'a Envelope> {
    events
        .iter()
        .filter(|e| e.kind == kind && e.info_hash.as_deref() == Some(hash))
        .collect()
}

/// A removal whose files cannot be deleted, or whose store write fails, answers an
/// error and leaves the torrent, its files and its record as they were (also after a
/// restart), with no `torrent:removed` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_that_fails_leaves_the_torrent_as_it_was() {
    let app = TestApp::spawn().await;
    let token = app.admin_token.clone();
    let content = Content::random("kept-content", &[2 * 1024 * 1024 + 3, 777]);
    let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    app.add_magnet(&token, &magnet_with_peer(&hash, seeder.addr), json!({}))
        .await;
    app.wait_complete(&token, &hash, SLOW).await;
    let (events, collector) = collect(&app);
    let path = format!("/api/torrents/{hash}?deleteFiles=true");

    // The files cannot be moved aside: where the trash folder goes is a file.
    let trash = app.downloads().join(".torrentedge-trash");
    std::fs::write(&trash, b"in the way").expect("block the trash");
    let (status, v) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert_eq!(v["error"]["code"], "delete_files_failed", "{v}");
    assert_same_tree(&content.root(), &app.admin_downloads().join("kept-content"));
    let t = app.torrent(&token, &hash).await;
    assert_eq!(t["state"], "seeding", "the torrent runs on: {t}");
    std::fs::remove_file(&trash).expect("unblock");

    // The store cannot write: another connection holds the database's write lock.
    let db = app.dir.path().join("data/torrentedge.sqlite3");
    let blocker = rusqlite::Connection::open(&db).expect("open the database");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let (status, v) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "store_unavailable", "{v}");
    blocker.execute_batch("ROLLBACK").expect("release");
    drop(blocker);
    assert_same_tree(&content.root(), &app.admin_downloads().join("kept-content"));
    assert_eq!(app.torrent(&token, &hash).await["infoHash"], hash.as_str());
    assert!(of_kind(&events.lock().unwrap(), "torrent:removed", &hash).is_empty());
    collector.abort();

    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &[]).await;
    let token = app.admin_token.clone();
    let t = app.wait_complete(&token, &hash, SLOW).await;
    assert_eq!(t["infoHash"], hash.as_str(), "back after the restart");
    assert_same_tree(&content.root(), &app.admin_downloads().join("kept-content"));

    // With nothing in the way the same removal completes, files and all.
    let (status, v) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert!(!app.admin_downloads().join("kept-content").exists());
    assert!(!app.downloads().join(".torrentedge-trash").exists());
    drop(seeder);
}

/// Pieces announced before a restart are not announced again after it: across both
/// runs, every piece is announced exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_piece_is_announced_once_across_a_restart() {
    let content = Content::random("pieces-content", &[6 * 1024 * 1024 + 11, 1000]);
    let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let limit = [("DOWNLOAD_LIMIT", "2097152")];
    let app = TestApp::spawn_with(&limit).await;
    let (events, collector) = collect(&app);
    let peers = seeder.addr.to_string();
    let (status, v) = app
        .upload(&app.admin_token, &torrent, &[("peers", &peers)])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    wait_for("some pieces", Duration::from_secs(60), || async {
        let t = app.torrent(&app.admin_token, &hash).await;
        (t["percentage"].as_f64().unwrap_or(0.0) > 30.0).then_some(())
    })
    .await;
    // Mid-download, the details list the seeder among the connected peers.
    let t = app.torrent(&app.admin_token, &hash).await;
    let peers = t["peerList"].as_array().expect("peerList");
    let seeder_peer = peers
        .iter()
        .find(|p| p["address"] == seeder.addr.to_string());
    let seeder_peer = seeder_peer.unwrap_or_else(|| panic!("{} in {peers:?}", seeder.addr));
    assert!(
        seeder_peer["downloaded"].as_u64() > Some(0),
        "{seeder_peer}"
    );
    let dir = app.stop().await;
    collector.abort();
    let mut all = events.lock().unwrap().clone();
    let last = all
        .iter()
        .map(|e| e.seq)
        .max()
        .expect("events of the first run");

    let app = TestApp::spawn_in(dir, &[]).await;
    let (events, collector) = collect_after(&app, Some(last));
    app.wait_complete(&app.admin_token, &hash, SLOW).await;
    collector.abort();
    all.extend(events.lock().unwrap().iter().cloned());

    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for e in of_kind(&all, "torrent:piece", &hash) {
        for i in e.data["indexes"].as_array().expect("indexes") {
            *count.entry(i.as_u64().expect("index")).or_default() += 1;
        }
    }
    let total = (6u64 * 1024 * 1024 + 11 + 1000).div_ceil(64 * 1024);
    assert_eq!(count.len(), total as usize, "every piece announced");
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "announced more than once: {twice:?}");
    assert_same_tree(
        &content.root(),
        &app.admin_downloads().join("pieces-content"),
    );
}

/// Two users add torrents with the same file paths: each completes in their own
/// folder, byte for byte, and deleting one with its files leaves the other's intact.
/// One user adding a second torrent over the first's files is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_with_identical_paths_never_touch_each_others_files() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let mut kept = Vec::new();
    let mut added = Vec::new();
    for token in [&alice, &bob] {
        let content = Content::random("same-name", &[1024 * 1024 + 5, 4097]);
        let (torrent, hash) = content.make_torrent(32 * 1024, vec![]).await;
        let seeder = Seeder::start(&torrent, content.dir.path()).await;
        app.add_magnet(token, &magnet_with_peer(&hash, seeder.addr), json!({}))
            .await;
        added.push((token.to_string(), hash, content.root(), torrent));
        kept.push((content, seeder));
    }
    for (token, hash, root, _) in &added {
        app.wait_complete(token, hash, SLOW).await;
        let folder = app
            .user_downloads(&app.user_id(token).await)
            .join("same-name");
        assert_same_tree(root, &folder);
    }

    // Alice's second torrent would lay its files over her first one's.
    let clash = Content::random("same-name", &[333, 444]);
    let (torrent, _) = clash.make_torrent(32 * 1024, vec![]).await;
    let (status, v) = app.upload(&alice, &torrent, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "files_in_use", "{v}");

    let (token, hash, _, _) = &added[0];
    let path = format!("/api/torrents/{hash}?deleteFiles=true");
    let (status, v) = app.call(Method::DELETE, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let alice_folder = app
        .user_downloads(&app.user_id(&alice).await)
        .join("same-name");
    assert!(!alice_folder.exists(), "alice's files are gone");
    let (token, _, root, _) = &added[1];
    let bob_folder = app
        .user_downloads(&app.user_id(token).await)
        .join("same-name");
    assert_same_tree(root, &bob_folder);
}
