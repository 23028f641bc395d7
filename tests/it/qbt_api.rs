//! The qBittorrent WebUI API: driven by the real `qbittorrent-api` Python client, and
//! by the calls Sonarr makes, replayed as raw HTTP.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use serde_json::Value;

use crate::support::app::{ADMIN_PASSWORD, SLOW, TestApp, assert_same_tree};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};
use crate::support::tools::require_tool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qbittorrent_api_python_client_drives_a_download() {
    let python = require_tool("python3");
    let content = Content::standard("magnet-content");
    let (torrent, hash) = content.make_torrent(256 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let unseeded = Content::random("unseeded", &[40_000, 70_000]);
    let (file_torrent, file_hash) = unseeded.make_torrent(16 * 1024, vec![]).await;
    let app = TestApp::spawn().await;
    let torrent_path = app.dir.path().join("unseeded.torrent");
    std::fs::write(&torrent_path, &file_torrent).expect("write torrent");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/qbt_client.py");
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .env("QBT_URL", &app.base)
        .env("QBT_USER", "admin")
        .env("QBT_PASS", ADMIN_PASSWORD)
        .env("MAGNET", magnet_with_peer(&hash, seeder.addr))
        .env("MAGNET_HASH", &hash)
        .env("TORRENT_FILE", &torrent_path)
        .env("TORRENT_HASH", &file_hash)
        .output();
    let out = tokio::time::timeout(SLOW + Duration::from_secs(60), out)
        .await
        .expect("the client finished in time")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed:\n{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("summary ({e}): {stdout}"));
    // The category's folder, inside the user's own; the bytes equal the source.
    let tv = app.admin_downloads().join("tv");
    assert_eq!(
        summary["save_path"],
        tv.to_string_lossy().as_ref(),
        "{summary}"
    );
    assert_same_tree(&content.root(), &tv.join("magnet-content"));
    assert!(!tv.join("unseeded").exists());
}

const FORM: &str = "application/x-www-form-urlencoded";

fn encode(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// One raw qBittorrent API call with the session cookie; returns status and body.
async fn qbt(
    app: &TestApp,
    sid: Option<&str>,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut req = app
        .client
        .post(format!("{}/api/v2/{path}", app.base))
        .header(CONTENT_TYPE, FORM)
        .body(encode(form));
    if let Some(sid) = sid {
        req = req.header(COOKIE, format!("SID={sid}"));
    }
    let resp = req.send().await.expect("sent");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calls_sonarr_makes_work_as_with_qbittorrent() {
    let app = TestApp::spawn().await;
    // Sonarr tells API v2 by the 403 of an unauthenticated version request.
    let (status, _) = qbt(&app, None, "app/webapiVersion", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = qbt(
        &app,
        None,
        "auth/login",
        &[("username", "admin"), ("password", "wrong")],
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Fails."));
    let sid = login_sid(&app).await;
    let sid = Some(sid.as_str());

    let (status, v) = qbt(&app, sid, "app/webapiVersion", &[]).await;
    assert_eq!((status, v.as_str()), (StatusCode::OK, "2.9.3"));
    let (_, prefs) = qbt(&app, sid, "app/preferences", &[]).await;
    let prefs = json(&prefs);
    assert_eq!(
        prefs["save_path"],
        app.admin_downloads().to_string_lossy().as_ref()
    );
    assert_eq!(prefs["queueing_enabled"], true);
    let (_, cats) = qbt(&app, sid, "torrents/categories", &[]).await;
    assert_eq!(json(&cats), serde_json::json!({}));
    let (status, _) = qbt(
        &app,
        sid,
        "torrents/createCategory",
        &[("category", "sonarr"), ("savePath", "")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = qbt(
        &app,
        sid,
        "torrents/createCategory",
        &[("category", "sonarr")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    // A magnet nobody seeds: it must show in info and properties right after the add.
    let hash = "c0ffee".repeat(6) + "c0ff";
    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=Show.S01E01");
    let (_, added) = qbt(
        &app,
        sid,
        "torrents/add",
        &[("urls", &magnet), ("category", "sonarr")],
    )
    .await;
    assert_eq!(added, "Ok.");
    let (status, props) = qbt(&app, sid, "torrents/properties", &[("hash", &hash)]).await;
    assert_eq!(status, StatusCode::OK, "{props}");
    let props = json(&props);
    assert_eq!(props["hash"], hash);
    assert_eq!(
        props["piece_size"], -1,
        "metadata is not known yet: {props}"
    );
    let (_, info) = qbt(&app, sid, "torrents/info", &[("category", "sonarr")]).await;
    let info = json(&info);
    assert_eq!(info[0]["hash"], hash, "{info}");
    assert_eq!(info[0]["state"], "metaDL", "{info}");
    assert_eq!(info[0]["name"], "Show.S01E01");
    assert_eq!(info[0]["eta"], 8_640_000);
    let (_, none) = qbt(&app, sid, "torrents/info", &[("category", "other")]).await;
    assert_eq!(json(&none), serde_json::json!([]));

    let limits = [
        ("hashes", hash.as_str()),
        ("ratioLimit", "1.5"),
        ("seedingTimeLimit", "120"),
    ];
    let (status, _) = qbt(&app, sid, "torrents/setShareLimits", &limits).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = qbt(&app, sid, "torrents/topPrio", &[("hashes", &hash)]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, info) = qbt(&app, sid, "torrents/info", &[("hashes", &hash)]).await;
    let t = &json(&info)[0];
    assert_eq!(
        (t["ratio_limit"].as_f64(), t["seeding_time_limit"].as_i64()),
        (Some(1.5), Some(120))
    );
    assert_eq!(t["priority"], 1);
    // The native API tells the same story.
    let native = app.torrent(&app.admin_token, &hash).await;
    assert_eq!(native["category"], "sonarr");
    assert_eq!(native["priority"], "high", "top of the queue: {native}");

    let (status, _) = qbt(
        &app,
        sid,
        "torrents/delete",
        &[("hashes", &hash), ("deleteFiles", "true")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, info) = qbt(&app, sid, "torrents/info", &[]).await;
    assert_eq!(json(&info), serde_json::json!([]));
    let (status, _) = qbt(&app, sid, "torrents/properties", &[("hash", &hash)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_tokens_and_cross_site_requests() {
    let app = TestApp::spawn().await;
    // A native access token works as a session does.
    let resp = app
        .client
        .get(format!("{}/api/v2/app/version", app.base))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    // Another site's page cannot use the cookie: its Origin does not name the host.
    let resp = app
        .client
        .post(format!("{}/api/v2/auth/login", app.base))
        .header(ORIGIN, "http://evil.example")
        .header(CONTENT_TYPE, FORM)
        .body(encode(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ]))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Each user sees only their own torrents.
    let other = app.new_user("sonarr2").await;
    let hash = "ab".repeat(20);
    app.add_magnet(
        &app.admin_token,
        &format!("magnet:?xt=urn:btih:{hash}"),
        serde_json::json!({}),
    )
    .await;
    let resp = app
        .client
        .get(format!("{}/api/v2/torrents/info", app.base))
        .bearer_auth(&other)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.text().await.expect("body"), "[]");
    let resp = app
        .client
        .post(format!("{}/api/v2/torrents/delete", app.base))
        .bearer_auth(&other)
        .header(CONTENT_TYPE, FORM)
        .body(encode(&[
            ("hashes", hash.as_str()),
            ("deleteFiles", "false"),
        ]))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        app.list(&app.admin_token).await.len(),
        1,
        "another user's torrent stays"
    );
    // Logging out ends the session.
    let (_, _) = qbt(&app, None, "auth/logout", &[]).await;
}

/// Logs in through the qBittorrent API (checking the answer and the cookie's
/// attributes); returns the session id.
async fn login_sid(app: &TestApp) -> String {
    let resp = app
        .client
        .post(format!("{}/api/v2/auth/login", app.base))
        .header(CONTENT_TYPE, FORM)
        .body(encode(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ]))
        .send()
        .await
        .expect("login");
    let cookie = resp.headers()[SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(resp.text().await.expect("body"), "Ok.");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie
        .strip_prefix("SID=")
        .and_then(|c| c.split(';').next())
        .expect("SID cookie")
        .to_owned()
}

async fn info_of(app: &TestApp, sid: &str, hash: &str) -> Value {
    let (_, body) = qbt(app, Some(sid), "torrents/info", &[("hashes", hash)]).await;
    json(&body)[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_file_is_not_downloaded_and_a_recheck_finds_damage() {
    let content = Content::random("picky", &[300_000, 500_000, 200_000]);
    let (torrent, hash) = content.make_torrent(16 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn().await;
    let sid = login_sid(&app).await;
    // Added paused (natively: the qBittorrent API has no way to name a peer), so the
    // second file can be left out before anything downloads.
    let peer = seeder.addr.to_string();
    let (status, added) = app
        .upload(
            &app.admin_token,
            &torrent,
            &[("peers", &peer), ("paused", "true")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    crate::support::wait_for("the files", SLOW, || async {
        let (_, files) = qbt(&app, Some(&sid), "torrents/files", &[("hash", &hash)]).await;
        (json(&files).as_array().map(Vec::len) == Some(3)).then_some(())
    })
    .await;
    let (status, body) = qbt(
        &app,
        Some(&sid),
        "torrents/filePrio",
        &[("hash", &hash), ("id", "1"), ("priority", "0")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = qbt(
        &app,
        Some(&sid),
        "torrents/filePrio",
        &[("hash", &hash), ("id", "9"), ("priority", "0")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "an index out of range");
    let (_, files) = qbt(&app, Some(&sid), "torrents/files", &[("hash", &hash)]).await;
    let priorities: Vec<i64> = json(&files)
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, vec![1, 0, 1]);
    qbt(&app, Some(&sid), "torrents/resume", &[("hashes", &hash)]).await;
    let done = crate::support::wait_for("the wanted files", SLOW, || async {
        let t = info_of(&app, &sid, &hash).await;
        (t["progress"] == 1.0 && t["completion_on"].as_i64() > Some(0)).then_some(t)
    })
    .await;
    assert!(
        matches!(done["state"].as_str(), Some("uploading" | "stalledUP")),
        "{done}"
    );
    let root = app.admin_downloads().join("picky");
    let src = content.root();
    let same = |rel: &str| std::fs::read(root.join(rel)).ok() == std::fs::read(src.join(rel)).ok();
    // The torrent lists its files in its own order: index 1 is whichever came second.
    let names: Vec<String> = json(&files)
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let name = f["name"].as_str().expect("name");
            name.strip_prefix("picky/").expect("root folder").to_owned()
        })
        .collect();
    for (i, name) in names.iter().enumerate() {
        if i == 1 {
            assert!(!same(name), "the skipped file {name} was not downloaded");
        } else {
            assert!(same(name), "the wanted file {name} arrived whole");
        }
    }

    // Damage a wanted file on disk; a re-check finds it and fetches it again.
    let victim = root.join(&names[0]);
    let mut bytes = std::fs::read(&victim).expect("read");
    bytes[1000] ^= 0xff;
    std::fs::write(&victim, &bytes).expect("write");
    let (status, _) = qbt(&app, Some(&sid), "torrents/recheck", &[("hashes", &hash)]).await;
    assert_eq!(status, StatusCode::OK);
    crate::support::wait_for("the repaired file", SLOW, || async {
        let t = info_of(&app, &sid, &hash).await;
        (t["progress"] == 1.0 && same(&names[0])).then_some(())
    })
    .await;
}
