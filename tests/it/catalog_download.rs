//! The catalog's torrents leaving it: a download announcing to this server with the
//! info dictionary kept byte for byte, and one call adding it to the caller's downloads.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sha1::{Digest, Sha1};

use crate::catalog::torrent_of;
use crate::support::app::TestApp;

/// The top-level values of a bencoded dictionary, as raw byte ranges of `buf`.
fn top_level(buf: &[u8]) -> Vec<(Vec<u8>, std::ops::Range<usize>)> {
    fn end(buf: &[u8], mut i: usize) -> usize {
        match buf[i] {
            b'i' => buf[i..].iter().position(|&b| b == b'e').expect("int end") + i + 1,
            b'l' | b'd' => {
                i += 1;
                while buf[i] != b'e' {
                    i = end(buf, i);
                }
                i + 1
            }
            _ => {
                let colon = buf[i..].iter().position(|&b| b == b':').expect("colon") + i;
                let len: usize = std::str::from_utf8(&buf[i..colon])
                    .expect("len")
                    .parse()
                    .expect("len");
                colon + 1 + len
            }
        }
    }
    assert_eq!(buf[0], b'd');
    let (mut i, mut out) = (1, Vec::new());
    while buf[i] != b'e' {
        let k_end = end(buf, i);
        let colon = buf[i..].iter().position(|&b| b == b':').expect("colon") + i;
        let key = buf[colon + 1..k_end].to_vec();
        let v_end = end(buf, k_end);
        out.push((key, k_end..v_end));
        i = v_end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_keeps_the_info_hash_and_announces_here() {
    let app = TestApp::spawn().await;
    let (torrent, hash) = torrent_of("Some \"Name\"/../x", &["a.bin"]);
    let (status, body) = app
        .publish(
            &app.admin_token,
            &torrent,
            &[("title", "Big Buck Bunny / \"1080p\"")],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the torrent's name holds a separator: {body}"
    );
    let (torrent, hash2) = torrent_of("bunny", &["a.bin", "b/c.bin"]);
    assert_ne!(hash, hash2);
    let (status, entry) = app
        .publish(
            &app.admin_token,
            &torrent,
            &[("title", "Big Buck Bunny / \"1080p\"")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let id = entry["id"].as_str().expect("id");
    let resp = app
        .client
        .get(format!("{}/api/catalog/{id}/download", app.base))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), StatusCode::OK);
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/x-bittorrent");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"Big Buck Bunny _ _1080p.torrent\""
    );
    let file = resp.bytes().await.expect("body").to_vec();
    let values = top_level(&file);
    let value = |k: &str| {
        values
            .iter()
            .find(|(key, _)| key == k.as_bytes())
            .map(|(_, r)| file[r.clone()].to_vec())
    };
    let info = value("info").expect("info");
    assert_eq!(
        hex::encode(Sha1::digest(&info)),
        hash2,
        "the info dictionary is kept byte for byte"
    );
    let announce = format!("http://{}/announce", app.addr);
    assert_eq!(
        value("announce"),
        Some(format!("{}:{announce}", announce.len()).into_bytes())
    );
    assert_eq!(value("announce-list"), None, "announce-list is dropped");
    assert_eq!(
        value("comment"),
        Some(b"14:kept as it was".to_vec()),
        "the rest is kept"
    );
    let keys: Vec<&Vec<u8>> = values.iter().map(|(k, _)| k).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "keys stay in bencode's order");
    let (status, _) = app
        .call(
            Method::GET,
            "/api/catalog/nope/download",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_to_my_downloads_creates_the_torrent_for_the_caller() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let (torrent, hash) = torrent_of("shared-thing", &["one.bin", "two.bin"]);
    let (status, entry) = app.publish(&alice, &torrent, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let id = entry["id"].as_str().expect("id");
    assert!(app.list(&bob).await.is_empty());
    let path = format!("/api/catalog/{id}/add");
    let body = json!({"paused": true, "priority": "high"});
    let (status, view) = app.call(Method::POST, &path, Some(&bob), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["infoHash"], hash.as_str(), "{view}");
    let bobs = app.list(&bob).await;
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(bobs[0]["infoHash"], hash.as_str());
    assert_eq!(bobs[0]["priority"], "high");
    assert_eq!(
        bobs[0]["ownerId"],
        app.user_id(&bob).await.as_str(),
        "{bobs:?}"
    );
    assert!(app.list(&alice).await.is_empty(), "only the caller gets it");
    let details = app.torrent(&bob, &hash).await;
    let trackers = details["trackers"].to_string();
    assert!(
        trackers.contains(&format!("{}/announce", app.addr)),
        "announces here: {trackers}"
    );
    let (status, _) = app
        .call(Method::POST, &path, Some(&bob), Some(json!({"bogus": 1})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .call(Method::POST, "/api/catalog/none/add", Some(&bob), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// One HTTP announce of a seeder (`left=0`) for `hash`; the bencoded answer as text.
async fn announce(app: &TestApp, url: &str, hash: &str) -> String {
    let raw = hex::decode(hash).expect("hex");
    let escaped: String = raw.iter().map(|b| format!("%{b:02X}")).collect();
    let query = format!(
        "info_hash={escaped}&peer_id=-TE0001-catalogtest1&port=6881&uploaded=0&downloaded=0&left=0&event=started&compact=1"
    );
    let resp = app
        .client
        .get(format!("{url}?{query}"))
        .send()
        .await
        .expect("announce");
    String::from_utf8_lossy(&resp.bytes().await.expect("body")).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracker_serves_catalog_torrents_and_their_swarm_shows_in_details() {
    // Catalog mode (the default): only the catalog's torrents are tracked.
    let app = TestApp::spawn().await;
    let (torrent, hash) = torrent_of("tracked", &["a.bin"]);
    let announce_url = format!("{}/announce", app.base);
    let refused = announce(&app, &announce_url, &hash).await;
    assert!(
        refused.contains("failure reason"),
        "not in the catalog yet: {refused}"
    );
    let (status, entry) = app.publish(&app.admin_token, &torrent, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let id = entry["id"].as_str().expect("id");
    let answer = announce(&app, &announce_url, &hash).await;
    assert!(
        !answer.contains("failure reason"),
        "published: tracked: {answer}"
    );
    let (_, details) = app
        .call(
            Method::GET,
            &format!("/api/catalog/{id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(
        details["swarm"],
        json!({"seeders": 1, "leechers": 0, "completed": 0}),
        "{details}"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/catalog/{id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refused = announce(&app, &announce_url, &hash).await;
    assert!(
        refused.contains("failure reason"),
        "deleted: no longer tracked: {refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_tracker_puts_the_callers_passkey_in_the_download() {
    let app = TestApp::spawn_with(&[("TRACKER_MODE", "private")]).await;
    let bob = app.new_user("bob").await;
    let (torrent, _) = torrent_of("private-one", &["a.bin"]);
    let (status, entry) = app.publish(&app.admin_token, &torrent, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let id = entry["id"].as_str().expect("id");
    let (_, me) = app
        .call(Method::GET, "/api/tracker/me", Some(&bob), None)
        .await;
    let passkey = me["passkey"]
        .as_str()
        .unwrap_or_else(|| panic!("passkey in {me}"))
        .to_owned();
    let resp = app
        .client
        .get(format!("{}/api/catalog/{id}/download", app.base))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("download");
    let file = resp.bytes().await.expect("body");
    let announce = format!("http://{}/announce/{passkey}", app.addr);
    let wanted = format!("8:announce{}:{announce}", announce.len());
    assert!(
        String::from_utf8_lossy(&file).contains(&wanted),
        "bob's passkey URL: {}",
        String::from_utf8_lossy(&file)
    );
}
