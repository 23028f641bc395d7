//! MongoDB frozen (SIGSTOP) for 30 s in the middle of a download: the API answers
//! (from memory, or 503 `store_unavailable` for a write) instead of hanging, the
//! engine keeps downloading, and after SIGCONT every acknowledged change is stored and
//! no refused one is: not even the refused write the frozen server ran once it woke.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{SLOW, TestApp, assert_same_tree};
use crate::support::mongo::Mongo;
use crate::support::swarm::{Content, Seeder};
use crate::support::wait_for;

const FROZEN: Duration = Duration::from_secs(30);

async fn completed(app: &TestApp, token: &str, hash: &str) -> u64 {
    app.torrent(token, hash).await["completedBytes"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_mongodb_degrades_and_loses_nothing() {
    let mongo = Mongo::start().await;
    let uri = mongo.uri("outage");
    // About 40 s of download at 1 MiB/s: it runs through the whole freeze.
    let vars = [("MONGODB_URI", uri.as_str()), ("DOWNLOAD_LIMIT", "1048576")];
    let content = Content::random("outage", &[30 * 1024 * 1024 + 17, 9 * 1024 * 1024 + 3]);
    let (torrent, hash) = content.make_torrent(256 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn_with(&vars).await;
    let token = app.admin_token.clone();
    let peers = seeder.addr.to_string();
    let (status, added) = app.upload(&token, &torrent, &[("peers", &peers)]).await;
    assert_eq!(status, 201, "{added}");
    wait_for("the download to start", SLOW, || async {
        (completed(&app, &token, &hash).await > 0).then_some(())
    })
    .await;

    mongo.freeze();
    let frozen_at = tokio::time::Instant::now();
    let before = completed(&app, &token, &hash).await;
    // Reads come from memory.
    let (s, list) = app
        .call(Method::GET, "/api/torrents", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    // Writes are refused, with the reason, instead of hanging.
    let pause = format!("/api/torrents/{hash}/pause");
    let (s, v) = app.call(Method::POST, &pause, Some(&token), None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "store_unavailable", "{v}");
    let priority = format!("/api/torrents/{hash}/priority");
    let low = Some(json!({ "priority": "low" }));
    let (s, v) = app.call(Method::PUT, &priority, Some(&token), low).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("store_unavailable")),
        "{v}"
    );
    // The engine downloads on.
    wait_for(
        "bytes to arrive while MongoDB is frozen",
        FROZEN,
        || async { (completed(&app, &token, &hash).await > before).then_some(()) },
    )
    .await;
    tokio::time::sleep_until(frozen_at + FROZEN).await;
    mongo.thaw();

    // Healed: a write goes through again, and it is acknowledged.
    let high = json!({ "priority": "high" });
    let v: Value = wait_for("writes to work again", SLOW, || async {
        let (s, v) = app
            .call(Method::PUT, &priority, Some(&token), Some(high.clone()))
            .await;
        (s == StatusCode::OK).then_some(v)
    })
    .await;
    assert_eq!(v["priority"], "high");
    let done = app.wait_complete(&token, &hash, SLOW).await;
    assert_eq!(
        done["paused"], false,
        "the refused pause was not applied: {done}"
    );
    assert_same_tree(&content.root(), &app.admin_downloads().join("outage"));

    // What was stored: the acknowledged change and the completion; no refused change.
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &vars).await;
    let t = app.torrent(&app.admin_token, &hash).await;
    assert_eq!(t["priority"], "high", "{t}");
    assert_eq!(t["paused"], false, "{t}");
    assert!(t["completedAt"].is_number(), "{t}");
    assert_eq!(t["percentage"], 100.0, "{t}");
}
