//! End-to-end downloads from real peers on loopback, checked byte for byte.

use serde_json::json;

use crate::support::app::{TestApp, assert_same_tree, SLOW};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_download_from_a_librqbit_seeder_matches_the_source() {
    let content = Content::standard("magnet-content");
    let (torrent, hash) = content.make_torrent(256 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn().await;

    let added = app.add_magnet(&app.admin_token, &magnet_with_peer(&hash, seeder.addr), json!({})).await;
    assert_eq!(added["infoHash"], hash);

    let done = app.wait_complete(&app.admin_token, &hash, SLOW).await;
    assert_eq!(done["name"], "magnet-content");
    assert_eq!(done["files"].as_array().map(|f| f.len()), Some(3));
    assert_eq!(done["pieces"]["have"], done["pieces"]["total"]);
    assert_same_tree(&content.root(), &app.downloads().join("magnet-content"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torrent_file_upload_downloads_from_the_given_peer() {
    let content = Content::standard("upload-content");
    let (torrent, hash) = content.make_torrent(512 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn().await;

    let (status, added) = app.upload(&app.admin_token, &torrent, &[("peers", &seeder.addr.to_string())]).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["infoHash"], hash);
    assert_eq!(added["totalBytes"], 21 * 1024 * 1024 + 12_345 + 777 + 4_321);

    app.wait_complete(&app.admin_token, &hash, SLOW).await;
    assert_same_tree(&content.root(), &app.downloads().join("upload-content"));
}
