//! A restart mid-download keeps every torrent and does not fetch verified data again.

use std::time::Duration;

use serde_json::json;

use crate::support::app::{SLOW, TestApp, assert_same_tree};
use crate::support::swarm::{Content, Seeder};
use crate::support::wait_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_download_resumes_without_downloading_again() {
    let content = Content::random(
        "restart-content",
        &[
            10 * 1024 * 1024 + 333,
            8 * 1024 * 1024 + 99,
            6 * 1024 * 1024 + 5,
        ],
    );
    let (torrent, hash) = content.make_torrent(256 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let limit = [("DOWNLOAD_LIMIT", "6291456")];
    let app = TestApp::spawn_with(&limit).await;
    let token = app.admin_token.clone();
    let (status, v) = app
        .upload(
            &token,
            &torrent,
            &[("peers", &seeder.addr.to_string()), ("priority", "high")],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let parked = format!("{:040x}", 0x5eed);
    app.add_magnet(&token, &parked, json!({"paused": true, "priority": "low"}))
        .await;

    let before = wait_for(
        "a third of the torrent",
        Duration::from_secs(60),
        || async {
            let t = app.torrent(&token, &hash).await;
            let pct = t["percentage"].as_f64().unwrap_or(0.0);
            (33.0..90.0).contains(&pct).then_some(t)
        },
    )
    .await;
    let dir = app.stop().await;
    let total = before["totalBytes"].as_u64().expect("total");
    let had = before["completedBytes"].as_u64().expect("completed");

    let app = TestApp::spawn_in(dir, &limit).await;
    let token = app.admin_token.clone();
    let list = app.list(&token).await;
    assert_eq!(list.len(), 2, "{list:#?}");
    let parked_view = app.torrent(&token, &parked).await;
    assert_eq!(parked_view["state"], "paused");
    assert_eq!(parked_view["priority"], "low");
    let resumed = app.torrent(&token, &hash).await;
    assert_eq!(resumed["priority"], "high");

    let done = app.wait_complete(&token, &hash, SLOW).await;
    assert_same_tree(
        &content.root(),
        &app.admin_downloads().join("restart-content"),
    );
    let fetched = done["downloadedSession"]
        .as_u64()
        .expect("downloadedSession");
    let missing = total - had;
    let slack = 4 * 256 * 1024 + missing / 10;
    assert!(
        fetched <= missing + slack,
        "after restart fetched {fetched} bytes, but only {missing} were missing (had {had} of {total})"
    );
    assert!(
        fetched > 0,
        "nothing was fetched after the restart: the test proves nothing"
    );
    assert!(
        done["downloaded"].as_u64().unwrap_or(0) >= total,
        "lifetime total kept across restart: {done}"
    );
}
