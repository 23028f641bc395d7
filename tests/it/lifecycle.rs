//! A torrent's life past the first download: adding by URL, seeding to another peer
//! until the seeding policy stops it, runtime limits, and removal with or without files.

use std::time::Duration;

use axum::routing::get;
use reqwest::Method;
use serde_json::json;

use crate::support::app::{SLOW, TestApp, assert_same_tree};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};
use crate::support::wait_for;

/// Serves `torrent` at `/x.torrent`, a redirect to it, and an oversized body.
async fn serve_torrent(torrent: Vec<u8>) -> std::net::SocketAddr {
    let big = vec![b'd'; 2 * 1024 * 1024];
    let router = axum::Router::new()
        .route("/x.torrent", get(move || async move { torrent }))
        .route(
            "/moved",
            get(|| async { axum::response::Redirect::temporary("/x.torrent") }),
        )
        .route("/big.torrent", get(move || async move { big }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_by_url_retries_transient_failures_with_backoff() {
    let content = Content::random("flaky-content", &[40_000, 30_000]);
    let (torrent, hash) = content.make_torrent(16 * 1024, vec![]).await;
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    // Two 503s, then the file; and a 404 that is never retried.
    let router = axum::Router::new().route(
        "/flaky.torrent",
        get(move || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let torrent = torrent.clone();
            async move {
                use axum::response::IntoResponse;
                if n < 2 {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
                } else {
                    torrent.into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let web = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = TestApp::spawn_with(&[
        ("ALLOW_PRIVATE_URLS", "true"),
        ("RETRY_BASE_DELAY_MS", "50"),
    ])
    .await;
    let (status, v) = app
        .call(
            Method::POST,
            "/api/torrents",
            Some(&app.admin_token),
            Some(json!({"url": format!("http://{web}/flaky.torrent")})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{v}");
    assert_eq!(v["infoHash"], hash);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 3);
    let (status, v) = app
        .call(
            Method::POST,
            "/api/torrents",
            Some(&app.admin_token),
            Some(json!({"url": format!("http://{web}/missing.torrent")})),
        )
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::BAD_REQUEST,
        "a 404 is not retried: {v}"
    );
    assert_eq!(v["error"]["code"], "invalid_url", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_by_url_follows_redirects_and_enforces_the_size_cap() {
    let content = Content::random("url-content", &[3 * 1024 * 1024 + 7, 1024 * 1024 + 3]);
    let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let web = serve_torrent(torrent).await;
    let app = TestApp::spawn_with(&[
        ("ALLOW_PRIVATE_URLS", "true"),
        ("TORRENT_URL_MAX_BYTES", "1048576"),
    ])
    .await;
    let token = app.admin_token.clone();

    let (status, v) = app
        .call(
            Method::POST,
            "/api/torrents",
            Some(&token),
            Some(json!({"url": format!("http://{web}/big.torrent")})),
        )
        .await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["error"]["code"], "too_large");

    let (status, v) = app
        .call(
            Method::POST,
            "/api/torrents",
            Some(&token),
            Some(json!({"url": format!("http://{web}/moved"), "peers": [seeder.addr.to_string()]})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["infoHash"], hash);
    app.wait_complete(&token, &hash, SLOW).await;
    assert_same_tree(&content.root(), &app.admin_downloads().join("url-content"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_seeds_to_a_leecher_and_stops_at_the_ratio_limit() {
    let content = Content::random(
        "seeded-content",
        &[4 * 1024 * 1024 + 11, 2 * 1024 * 1024 + 5],
    );
    let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
    let app = TestApp::spawn_with(&[("SEED_RATIO_LIMIT", "1.0")]).await;
    // The data is already in place: the server verifies it and seeds at once.
    copy_tree(
        &content.root(),
        &app.admin_downloads().join("seeded-content"),
    );
    let (status, v) = app.upload(&app.admin_token, &torrent, &[]).await;
    assert_eq!(status, 201, "{v}");
    let seeding = wait_for("the server to seed", Duration::from_secs(30), || async {
        let t = app.torrent(&app.admin_token, &hash).await;
        (t["state"] == "seeding").then_some(t)
    })
    .await;
    assert_eq!(
        seeding["downloaded"], 0,
        "nothing is downloaded when the data is on disk"
    );

    // A separate client downloads everything from the server.
    let leech_dir = tempfile::tempdir().expect("tempdir");
    let leecher = Seeder::leech(&torrent, leech_dir.path(), app.peer_addr).await;
    assert_same_tree(&content.root(), &leech_dir.path().join("seeded-content"));
    drop(leecher);

    let stopped = wait_for(
        "the ratio limit to stop seeding",
        Duration::from_secs(30),
        || async {
            let t = app.torrent(&app.admin_token, &hash).await;
            (t["state"] == "completed").then_some(t)
        },
    )
    .await;
    assert!(stopped["ratio"].as_f64().unwrap_or(0.0) >= 1.0, "{stopped}");
    assert!(
        stopped["uploaded"].as_u64().unwrap_or(0)
            >= stopped["totalBytes"].as_u64().unwrap_or(u64::MAX)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_stops_after_the_time_limit() {
    let content = Content::random("timed-content", &[1024 * 1024 + 1, 77]);
    let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
    // 0.02 minutes = 1.2 s of seeding.
    let app = TestApp::spawn_with(&[("SEED_TIME_LIMIT", "0.02")]).await;
    copy_tree(
        &content.root(),
        &app.admin_downloads().join("timed-content"),
    );
    app.upload(&app.admin_token, &torrent, &[]).await;
    let t = wait_for("seeding to stop", Duration::from_secs(30), || async {
        let t = app.torrent(&app.admin_token, &hash).await;
        (t["state"] == "completed").then_some(t)
    })
    .await;
    assert!(t["completedAt"].is_number(), "{t}");
    // Resuming seeds again until the policy applies again.
    let (status, v) = app
        .call(
            Method::POST,
            &format!("/api/torrents/{hash}/resume"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "seeding", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_change_at_runtime_and_only_admins_may_change_them() {
    let app = TestApp::spawn_with(&[("DOWNLOAD_LIMIT", "1000000")]).await;
    let (status, v) = app
        .call(Method::GET, "/api/settings", Some(&app.admin_token), None)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["downloadLimit"], 1_000_000);
    assert_eq!(v["uploadLimit"], 0);
    assert_eq!(v["maxConcurrentTorrents"], 3);

    let (status, v) = app
        .call(
            Method::PUT,
            "/api/settings",
            Some(&app.admin_token),
            Some(json!({"uploadLimit": 65536, "maxConcurrentTorrents": 5})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["downloadLimit"], 1_000_000);
    assert_eq!(v["uploadLimit"], 65_536);
    assert_eq!(v["maxConcurrentTorrents"], 5);

    let user = app.new_user("limited").await;
    let (status, v) = app
        .call(
            Method::PUT,
            "/api/settings",
            Some(&user),
            Some(json!({"downloadLimit": 0})),
        )
        .await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = app
        .call(
            Method::PUT,
            "/api/settings",
            Some(&app.admin_token),
            Some(json!({"maxConcurrentTorrents": 0})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let (_, v) = app
        .call(Method::GET, "/api/settings", Some(&user), None)
        .await;
    assert_eq!(
        v["downloadLimit"], 1_000_000,
        "a refused change changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_keeps_or_deletes_files_as_asked() {
    let app = TestApp::spawn().await;
    let token = app.admin_token.clone();
    let mut kept = Vec::new();
    for (name, delete) in [("keep-me", false), ("delete-me", true)] {
        let content = Content::random(name, &[2 * 1024 * 1024 + 9, 333]);
        let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
        let seeder = Seeder::start(&torrent, content.dir.path()).await;
        app.add_magnet(&token, &magnet_with_peer(&hash, seeder.addr), json!({}))
            .await;
        app.wait_complete(&token, &hash, SLOW).await;
        let path = app.admin_downloads().join(name);
        assert!(path.join("file-0.bin").exists());

        let (status, v) = app
            .call(
                Method::DELETE,
                &format!("/api/torrents/{hash}?deleteFiles={delete}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 204, "{v}");
        let (status, _) = app
            .call(
                Method::GET,
                &format!("/api/torrents/{hash}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 404);
        assert_eq!(
            path.join("file-0.bin").exists(),
            !delete,
            "{name}: files kept = {}",
            !delete
        );
        kept.push((content, seeder));
    }
    assert!(app.list(&token).await.is_empty());
}

fn copy_tree(src: &std::path::Path, dst: &std::path::Path) {
    for file in crate::support::app::walk(src) {
        let target = dst.join(file.strip_prefix(src).expect("below src"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &target).expect("copy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_details_then_pause_and_resume_mid_download() {
    let content = Content::random(
        "paused-content",
        &[6 * 1024 * 1024 + 1, 2 * 1024 * 1024 + 2],
    );
    let (torrent, hash) = content.make_torrent(128 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn_with(&[("DOWNLOAD_LIMIT", "2097152")]).await;
    let token = app.admin_token.clone();
    app.add_magnet(&token, &magnet_with_peer(&hash, seeder.addr), json!({}))
        .await;

    let live = wait_for("live transfer figures", Duration::from_secs(30), || async {
        let t = app.torrent(&token, &hash).await;
        let moving = t["state"] == "downloading"
            && t["downloadSpeed"].as_u64().unwrap_or(0) > 0
            && t["peers"]["connected"].as_u64().unwrap_or(0) >= 1
            && t["eta"].is_number()
            && t["pieces"]["have"].as_u64().unwrap_or(0) > 0;
        moving.then_some(t)
    })
    .await;
    assert_eq!(live["pieces"]["total"], 64 + 1, "{live}");
    assert_eq!(live["pieces"]["length"], 128 * 1024);
    let files = live["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["length"], 6 * 1024 * 1024 + 1);
    let pct = live["percentage"].as_f64().expect("percentage");
    assert!(pct > 0.0 && pct < 100.0, "{live}");

    let (status, v) = app
        .call(
            Method::POST,
            &format!("/api/torrents/{hash}/pause"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "paused");
    let paused = wait_for("the transfer to stop", Duration::from_secs(10), || async {
        let t = app.torrent(&token, &hash).await;
        (t["downloadSpeed"] == 0 && t["peers"]["connected"] == 0).then_some(t)
    })
    .await;
    assert_eq!(paused["state"], "paused");
    assert!(paused["completedAt"].is_null());

    let (status, v) = app
        .call(
            Method::POST,
            &format!("/api/torrents/{hash}/resume"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    app.wait_complete(&token, &hash, SLOW).await;
    assert_same_tree(
        &content.root(),
        &app.admin_downloads().join("paused-content"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_changed_at_runtime_survive_a_restart() {
    let env = [("DOWNLOAD_LIMIT", "1000000")];
    let app = TestApp::spawn_with(&env).await;
    let (status, v) = app
        .call(
            Method::PUT,
            "/api/settings",
            Some(&app.admin_token),
            Some(json!({"downloadLimit": 2_000_000, "maxConcurrentTorrents": 7})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &env).await;
    let (status, v) = app
        .call(Method::GET, "/api/settings", Some(&app.admin_token), None)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["downloadLimit"], 2_000_000,
        "the saved value, over the environment's"
    );
    assert_eq!(v["maxConcurrentTorrents"], 7);
    assert_eq!(v["uploadLimit"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_seeding_disabled_a_completed_torrent_stops() {
    let content = Content::random("no-seed", &[300_000, 200_000]);
    let (torrent, hash) = content.make_torrent(16 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn_with(&[("SEEDING_ENABLED", "false")]).await;
    app.add_magnet(
        &app.admin_token,
        &magnet_with_peer(&hash, seeder.addr),
        json!({}),
    )
    .await;
    app.wait_complete(&app.admin_token, &hash, SLOW).await;
    let stopped = wait_for("the torrent to stop", SLOW, || async {
        let v = app.torrent(&app.admin_token, &hash).await;
        (v["state"] == "completed").then_some(v)
    })
    .await;
    assert_eq!(stopped["uploadSpeed"], 0, "{stopped}");
    assert_same_tree(&content.root(), &app.admin_downloads().join("no-seed"));
}
