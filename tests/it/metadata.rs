//! The metadata API: a magnet whose only source is a local seeder resolves to what the
//! `.torrent` says without writing a payload byte; answers come from the shared cache,
//! then from disk after a restart (with Redis and without); concurrent requests share
//! one lookup; a magnet nobody serves times out.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{TestApp, walk};
use crate::support::redis::Redis;
use crate::support::swarm::{Content, Seeder, magnet_with_peer};
use crate::support::tools::info_hash_of;

/// Asks for a magnet's metadata; returns the status, where the answer came from, and
/// the body.
async fn resolve(app: &TestApp, magnet: &str) -> (StatusCode, String, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/metadata", app.base))
        .bearer_auth(&app.admin_token)
        .json(&json!({ "magnet_uri": magnet }))
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let source = resp
        .headers()
        .get("x-metadata-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, source, body)
}

async fn lookups(app: &TestApp) -> u64 {
    let (status, v) = app.call(Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["stats"]["metadata_lookups_total"]
        .as_u64()
        .expect("count")
}

/// What the `.torrent` says of its files: path below the name, size, offset.
fn files_of(torrent: &[u8]) -> Vec<Value> {
    let info = torrentedge::engine::source::inspect_torrent(torrent).expect("valid torrent");
    let sub = info.sub_folder.clone().expect("a folder torrent");
    let mut offset = 0;
    info.files
        .iter()
        .map(|(p, size)| {
            let path = p
                .strip_prefix(&sub)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            let f = json!({"path": path, "size": size, "offset": offset});
            offset += size;
            f
        })
        .collect()
}

async fn metadata_from_a_seeder(redis: Option<&Redis>) {
    let content = Content::random("meta-content", &[300_001, 200_003, 100_005]);
    let (torrent, hash) = content.make_torrent(32 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let magnet = magnet_with_peer(&hash, seeder.addr);
    let url = redis.map(Redis::url);
    let mut vars = vec![
        ("ENABLE_DOWNLOADS", "true"),
        ("DOWNLOAD_BASE_URL", "http://127.0.0.1:9"),
    ];
    if let Some(u) = &url {
        vars.push(("REDIS_URL", u.as_str()));
        vars.push(("REDIS_KEY_PREFIX", "first:"));
    }
    let app = TestApp::spawn_with(&vars).await;

    let (status, source, m) = resolve(&app, &magnet).await;
    assert_eq!((status, source.as_str()), (StatusCode::OK, "lookup"), "{m}");
    assert_eq!(m["info_hash"], hash);
    assert_eq!(m["name"], "meta-content");
    assert_eq!(m["size"], 600_009);
    assert_eq!(m["piece_length"], 32 * 1024);
    assert_eq!(m["piece_count"], 600_009_u64.div_ceil(32 * 1024));
    assert_eq!(m["files"], json!(files_of(&torrent)), "{m}");
    assert_eq!(
        m["created_by"],
        Value::Null,
        "not in the info dictionary peers send"
    );
    assert_eq!(
        m["download_url"],
        format!("http://127.0.0.1:9/download/{hash}")
    );
    assert!(
        walk(&app.downloads()).is_empty(),
        "no payload byte is written"
    );

    let (_, source, again) = resolve(&app, &magnet).await;
    assert_eq!((source.as_str(), &again), ("cache", &m));
    assert_eq!(lookups(&app).await, 1);
    let resp = app
        .client
        .get(format!("{}/download/{hash}", app.base))
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-bittorrent");
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.contains(&format!("{hash}.torrent")),
        "{disposition}"
    );
    let bytes = resp.bytes().await.expect("body");
    assert_eq!(info_hash_of(&bytes), hash);

    // A restart with an empty shared cache answers from disk, without a lookup.
    let dir = app.stop().await;
    drop(seeder);
    let mut vars = vec![("ENABLE_DOWNLOADS", "true")];
    if let Some(u) = &url {
        vars.push(("REDIS_URL", u.as_str()));
        vars.push(("REDIS_KEY_PREFIX", "second:"));
    }
    let app = TestApp::spawn_in(dir, &vars).await;
    let (status, source, after) = resolve(&app, &magnet).await;
    assert_eq!(
        (status, source.as_str()),
        (StatusCode::OK, "disk"),
        "{after}"
    );
    assert_eq!(after["files"], m["files"]);
    assert_eq!(after["download_url"], format!("/download/{hash}"));
    let (_, source, _) = resolve(&app, &magnet).await;
    assert_eq!(
        source, "cache",
        "the disk answer went into the shared cache"
    );
    assert_eq!(lookups(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_comes_from_a_seeder_then_the_cache_then_the_disk() {
    metadata_from_a_seeder(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_with_redis_as_the_shared_cache() {
    let redis = Redis::start().await;
    metadata_from_a_seeder(Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_requests_share_one_lookup() {
    let content = Content::random("shared-lookup", &[200_000, 100_000]);
    let (torrent, hash) = content.make_torrent(16 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let magnet = magnet_with_peer(&hash, seeder.addr);
    let app = TestApp::spawn().await;
    let answers = futures::future::join_all((0..20).map(|_| resolve(&app, &magnet))).await;
    for (status, _, m) in &answers {
        assert_eq!(*status, StatusCode::OK, "{m}");
        assert_eq!(m["info_hash"], hash);
    }
    assert_eq!(lookups(&app).await, 1, "one lookup for twenty requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_unreachable_magnets() {
    let app = TestApp::spawn_with(&[("METADATA_TIMEOUT", "2")]).await;
    let (status, _, v) = resolve(&app, "magnet:?xt=urn:btih:1234").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid_magnet");
    let (status, _, v) =
        resolve(&app, &format!("magnet:?xt=urn:btmh:1220{}", "a".repeat(64))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a v2-only magnet: {v}");
    let nobody = format!("magnet:?xt=urn:btih:{}", "d1".repeat(20));
    let started = Instant::now();
    let (status, _, v) = resolve(&app, &nobody).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
    assert_eq!(v["error"]["code"], "timeout");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited METADATA_TIMEOUT"
    );
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/download/{}", "d1".repeat(20)),
            None,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "downloads are off by default"
    );
    let (status, _) = app
        .client
        .post(format!("{}/api/v1/metadata", app.base))
        .json(&json!({ "magnet_uri": nobody }))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .expect("sent");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token is needed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_torrent_file_gives_its_creator_and_date() {
    let content = Content::random("made-by-mktorrent", &[50_000, 60_000]);
    let out = content.dir.path().join("x.torrent");
    let hash =
        crate::support::tools::mktorrent("http://127.0.0.1:1/announce", &content.root(), &out);
    let torrent = std::fs::read(&out).expect("torrent");
    let app = TestApp::spawn().await;
    let (status, added) = app
        .upload(&app.admin_token, &torrent, &[("paused", "true")])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let (status, source, m) = resolve(&app, &format!("magnet:?xt=urn:btih:{hash}")).await;
    assert_eq!((status, source.as_str()), (StatusCode::OK, "lookup"), "{m}");
    assert!(
        m["created_by"]
            .as_str()
            .is_some_and(|c| c.starts_with("mktorrent")),
        "{m}"
    );
    assert!(m["created_at"].as_i64() > Some(1_600_000_000), "{m}");
    assert_eq!(m["trackers"], json!(["http://127.0.0.1:1/announce"]));
    assert_eq!(m["files"], json!(files_of(&torrent)));
    assert_eq!(m["download_url"], Value::Null, "downloads are off");
}
