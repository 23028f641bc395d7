//! WebDAV with a real client: `rclone` lists the user's tree with real sizes while the
//! torrent is still downloading, reads ranges byte-identical with the source, and is
//! refused with a wrong password or a revoked app password.

use std::path::Path;

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::support::app::{ADMIN_PASSWORD, TestApp};
use crate::support::swarm::Content;
use crate::support::tools::{Aria2Seeder, require_tool};

/// Runs rclone against the server's `/dav` as `user` with `password`.
pub fn rclone(app: &TestApp, user: &str, password: &str, args: &[&str]) -> std::process::Output {
    let rclone = require_tool("rclone");
    let obscured = std::process::Command::new(&rclone)
        .args(["obscure", password])
        .output()
        .expect("rclone obscure");
    let obscured = String::from_utf8(obscured.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::process::Command::new(&rclone)
        .args(args)
        .args(["--config", config.path().to_str().unwrap()])
        .args(["--low-level-retries", "1", "--retries", "1"])
        .env("RCLONE_CONFIG_TE_TYPE", "webdav")
        .env("RCLONE_CONFIG_TE_URL", format!("{}/dav", app.base))
        .env("RCLONE_CONFIG_TE_VENDOR", "other")
        .env("RCLONE_CONFIG_TE_USER", user)
        .env("RCLONE_CONFIG_TE_PASS", obscured)
        .output()
        .expect("run rclone")
}

/// `rclone lsjson -R` of the whole tree: path → (size, is a folder).
pub fn listing(app: &TestApp, user: &str, password: &str) -> Vec<(String, i64, bool)> {
    let out = rclone(app, user, password, &["lsjson", "-R", "te:"]);
    assert!(
        out.status.success(),
        "rclone lsjson: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("lsjson JSON");
    let mut all: Vec<(String, i64, bool)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["Path"].as_str().unwrap().to_owned(),
                e["Size"].as_i64().unwrap(),
                e["IsDir"].as_bool().unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

pub fn cat(app: &TestApp, user: &str, password: &str, path: &str, at: u64, n: u64) -> Vec<u8> {
    let (at, n) = (at.to_string(), n.to_string());
    let remote = format!("te:{path}");
    let out = rclone(
        app,
        user,
        password,
        &["cat", "--offset", &at, "--count", &n, &remote],
    );
    assert!(
        out.status.success(),
        "rclone cat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn size(p: &Path) -> i64 {
    std::fs::metadata(p).unwrap().len() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn rclone_lists_and_reads_torrents_while_they_download() {
    let content = Content::random("show", &[2 * 1024 * 1024 + 5, 1024 * 1024 + 9]);
    let (torrent, hash) = content.make_torrent(32 * 1024, Vec::new()).await;
    let torrent_path = content.dir.path().join("show.torrent");
    std::fs::write(&torrent_path, &torrent).unwrap();
    let seeder = Aria2Seeder::start_with(
        &torrent_path,
        content.dir.path(),
        &["--max-upload-limit=100K"],
    )
    .await;
    let app = TestApp::spawn_with(&[("IDLE_TIMEOUT", "2")]).await;
    let token = app.admin_token.clone();
    let peer = seeder.peer_addr().to_string();
    let (status, v) = app
        .upload(
            &token,
            &torrent,
            &[
                ("peers", &peer),
                ("streamOnly", "true"),
                ("startPaused", "true"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    // A movie and an episode of the library play files of it.
    let post = |path: String, body: Value| {
        let (app, token) = (&app, &token);
        async move {
            let (status, v) = app.call(Method::POST, &path, Some(token), Some(body)).await;
            assert!(status.is_success(), "POST {path}: {status} {v}");
            v
        }
    };
    let movie = post("/api/movies".into(), json!({"title": "Heat", "year": 1995})).await;
    let assign = json!({"infoHash": hash, "filePath": "file-0.bin"});
    post(
        format!("/api/movies/{}/assign", movie["id"].as_str().unwrap()),
        assign,
    )
    .await;
    let show = post(
        "/api/shows".into(),
        json!({"title": "The Wire", "year": 2002}),
    )
    .await;
    let show_id = show["id"].as_str().unwrap().to_owned();
    let episode = post(
        format!("/api/shows/{show_id}/episodes"),
        json!({"season": 1, "episode": 2, "title": "The Detail"}),
    )
    .await;
    let assign = json!({"infoHash": hash, "filePath": "sub/file-1.bin"});
    let at = format!(
        "/api/shows/{show_id}/episodes/{}/assign",
        episode["id"].as_str().unwrap()
    );
    post(at, assign).await;

    // The user's own password works; so does an app password.
    let tree = listing(&app, "admin", ADMIN_PASSWORD);
    let root = content.root();
    let want = vec![
        ("Movies".to_owned(), 0, true),
        ("Movies/Heat (1995)".to_owned(), 0, true),
        (
            "Movies/Heat (1995)/Heat (1995).bin".to_owned(),
            size(&root.join("file-0.bin")),
            false,
        ),
        ("TV Shows".to_owned(), 0, true),
        ("TV Shows/The Wire".to_owned(), 0, true),
        ("TV Shows/The Wire/Season 01".to_owned(), 0, true),
        (
            "TV Shows/The Wire/Season 01/The Wire - S01E02.bin".to_owned(),
            size(&root.join("sub/file-1.bin")),
            false,
        ),
        ("Torrents".to_owned(), 0, true),
        ("Torrents/show".to_owned(), 0, true),
        (
            "Torrents/show/file-0.bin".to_owned(),
            size(&root.join("file-0.bin")),
            false,
        ),
        ("Torrents/show/sub".to_owned(), 0, true),
        (
            "Torrents/show/sub/file-1.bin".to_owned(),
            size(&root.join("sub/file-1.bin")),
            false,
        ),
    ];
    let got: Vec<(String, i64, bool)> = tree
        .into_iter()
        .map(|(p, s, d)| (p, if d { 0 } else { s }, d))
        .collect();
    assert_eq!(
        got, want,
        "the tree, with real sizes before a byte is downloaded"
    );
    let v = app.torrent(&token, &hash).await;
    assert_eq!(v["completedBytes"], 0, "listing downloads nothing: {v}");

    let (status, created) = app
        .call(
            Method::POST,
            "/api/app-passwords",
            Some(&token),
            Some(json!({"name": "Infuse"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let app_password = created["password"].as_str().unwrap().to_owned();
    let source = std::fs::read(root.join("sub/file-1.bin")).unwrap();
    let at = 700_000u64;
    let bytes = cat(
        &app,
        "admin",
        &app_password,
        "Torrents/show/sub/file-1.bin",
        at,
        50_000,
    );
    assert!(
        bytes == source[at as usize..at as usize + 50_000],
        "bytes differ from the source"
    );
    let movie_source = std::fs::read(root.join("file-0.bin")).unwrap();
    let path = "Movies/Heat (1995)/Heat (1995).bin";
    let bytes = cat(&app, "admin", &app_password, path, 1_500_000, 20_000);
    assert!(
        bytes == movie_source[1_500_000..1_520_000],
        "the movie's bytes differ"
    );
    let v = app.torrent(&token, &hash).await;
    assert!(
        v["percentage"].as_f64().unwrap() < 100.0,
        "read while downloading: {v}"
    );

    // Refused: a wrong password (rclone fails; the server asks for Basic credentials).
    let out = rclone(&app, "admin", "not-the-password", &["lsjson", "te:"]);
    assert!(!out.status.success(), "a wrong password is refused");
    let resp = reqwest::Client::new()
        .request(
            Method::from_bytes(b"PROPFIND").unwrap(),
            format!("{}/dav/", app.base),
        )
        .basic_auth("admin", Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // A revoked app password, at once.
    let id = created["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/app-passwords/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let out = rclone(&app, "admin", &app_password, &["lsjson", "te:"]);
    assert!(!out.status.success(), "a revoked app password is refused");
    // Another user sees none of it.
    let other = app.new_user("guest").await;
    let (status, list) = app
        .call(Method::GET, "/api/app-passwords", Some(&other), None)
        .await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let theirs = listing(&app, "guest", "guest-password-123");
    assert!(
        theirs.iter().all(|(p, _, _)| !p.starts_with("Torrents/")),
        "another user's torrents are not in a user's tree: {theirs:?}"
    );

    // Throttled like logins: failures from one address ban it, right password or not
    // (the revocation above made WebDAV forget the admin's remembered credentials).
    let propfind = |password: &'static str| {
        let url = format!("{}/dav/", app.base);
        async move {
            reqwest::Client::new()
                .request(Method::from_bytes(b"PROPFIND").unwrap(), url)
                .basic_auth("admin", Some(password))
                .header("depth", "0")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let mut banned = false;
    for _ in 0..10 {
        if propfind("still-not-the-password").await == StatusCode::TOO_MANY_REQUESTS {
            banned = true;
            break;
        }
    }
    assert!(banned, "repeated wrong passwords are throttled");
    assert_eq!(
        propfind(ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    drop(seeder);
}
