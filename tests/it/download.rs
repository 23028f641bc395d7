//! End-to-end downloads from real peers on loopback, checked byte for byte.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use crate::support::app::{SLOW, TestApp, assert_same_tree};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};
use crate::support::tools::{Aria2Seeder, Opentracker};
use crate::support::wait_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_download_from_a_librqbit_seeder_matches_the_source() {
    let content = Content::standard("magnet-content");
    let (torrent, hash) = content.make_torrent(256 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn().await;

    let added = app
        .add_magnet(
            &app.admin_token,
            &magnet_with_peer(&hash, seeder.addr),
            json!({}),
        )
        .await;
    assert_eq!(added["infoHash"], hash);

    let done = app.wait_complete(&app.admin_token, &hash, SLOW).await;
    assert_eq!(done["name"], "magnet-content");
    assert_eq!(done["files"].as_array().map(|f| f.len()), Some(3));
    assert_eq!(done["pieces"]["have"], done["pieces"]["total"]);
    assert_same_tree(
        &content.root(),
        &app.admin_downloads().join("magnet-content"),
    );

    // What a page draws from the details: every piece set in the bitfield, and the
    // files end to end from offset 0.
    let total = done["pieces"]["total"].as_u64().expect("total") as usize;
    let bits = base64::engine::general_purpose::STANDARD
        .decode(done["pieces"]["bitfield"].as_str().expect("bitfield"))
        .expect("base64");
    assert_eq!(bits.len(), total.div_ceil(8));
    let set = (0..total).filter(|i| bits[i / 8] & (0x80 >> (i % 8)) != 0);
    assert_eq!(set.count(), total, "every verified piece is set");
    let mut offset = 0;
    for f in done["files"].as_array().expect("files") {
        assert_eq!(f["offset"], offset, "{f}");
        offset += f["length"].as_u64().expect("length");
    }
    assert_eq!(done["totalBytes"], offset);
    let (_, stats) = app
        .call(
            reqwest::Method::GET,
            "/api/statistics",
            Some(&app.admin_token),
            None,
        )
        .await;
    let (free, size) = (&stats["disk"]["freeBytes"], &stats["disk"]["totalBytes"]);
    assert!(
        free.as_u64() > Some(0) && size.as_u64() >= free.as_u64(),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torrent_file_upload_downloads_from_the_given_peer() {
    let content = Content::standard("upload-content");
    let (torrent, hash) = content.make_torrent(512 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn().await;

    let (status, added) = app
        .upload(
            &app.admin_token,
            &torrent,
            &[("peers", &seeder.addr.to_string())],
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["infoHash"], hash);
    assert_eq!(added["totalBytes"], 21 * 1024 * 1024 + 12_345 + 777 + 4_321);

    app.wait_complete(&app.admin_token, &hash, SLOW).await;
    assert_same_tree(
        &content.root(),
        &app.admin_downloads().join("upload-content"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2_seeder_found_through_opentracker_by_magnet() {
    let content = Content::standard("aria2-content");
    let tracker = Opentracker::start(&[]).await;
    let (torrent, hash) = content
        .make_torrent(256 * 1024, vec![tracker.announce_url()])
        .await;
    tracker.add_hash(&hash).await;
    let torrent_path = content.dir.path().join("aria2.torrent");
    std::fs::write(&torrent_path, &torrent).expect("write torrent");
    let seeder = Aria2Seeder::start(&torrent_path, content.dir.path()).await;
    // The seeder is announced before the server asks, so the only way the server can
    // find it is the tracker (no peer is given, DHT and local discovery are off).
    wait_for(
        "aria2 to announce to the tracker",
        Duration::from_secs(30),
        || async {
            tracker
                .peers(&hash)
                .await
                .ok()
                .filter(|p| p.contains(&seeder.peer_addr()))
        },
    )
    .await;

    let app = TestApp::spawn().await;
    let magnet = format!(
        "magnet:?xt=urn:btih:{hash}&dn=aria2-content&tr={}",
        url_encode(&tracker.announce_url())
    );
    app.add_magnet(&app.admin_token, &magnet, json!({})).await;
    let done = tokio::time::timeout(SLOW, app.wait_complete(&app.admin_token, &hash, SLOW))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "aria2c log:\n{}\ntracker log:\n{}",
                seeder.log(),
                tracker.log()
            )
        });
    assert_eq!(done["trackers"][0], tracker.announce_url());
    assert_same_tree(
        &content.root(),
        &app.admin_downloads().join("aria2-content"),
    );
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
