//! The native endpoints for what users change on torrents (categories, tags, limits,
//! queue moves, force start) and the qBittorrent API paths the client tests do not
//! take: save paths, bans, preferences, sorting, category and tag removal in
//! `sync/maindata`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{ADMIN_PASSWORD, TestApp};

fn magnet(i: u8) -> (String, String) {
    let hash = format!("{i:02x}").repeat(20);
    (format!("magnet:?xt=urn:btih:{hash}&dn=t{i}"), hash)
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, Some(&app.admin_token), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_tags_limits_and_queue_moves_through_the_native_api() {
    let app = TestApp::spawn_with(&[("MAX_CONCURRENT_TORRENTS", "1")]).await;
    let mut hashes = Vec::new();
    for i in 1..=3 {
        let (m, h) = magnet(i);
        app.add_magnet(&app.admin_token, &m, json!({})).await;
        hashes.push(h);
    }
    let path = |h: &str, rest: &str| format!("/api/torrents/{h}{rest}");

    // A category must exist before a torrent is filed under it.
    let (status, v) = call(
        &app,
        Method::PATCH,
        &path(&hashes[0], "/options"),
        Some(json!({"category": "tv"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/categories",
        Some(json!({"name": "tv", "savePath": "../escape"})),
    )
    .await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("unsafe_path")),
        "{v}"
    );
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/categories",
        Some(json!({"name": "tv", "savePath": "shows"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let body = json!({
        "category": "tv",
        "tags": ["hd", "new"],
        "ratioLimit": {"limit": 2.5},
        "seedingTimeLimit": "unlimited",
        "downloadLimit": 100_000,
    });
    let (status, d) = call(
        &app,
        Method::PATCH,
        &path(&hashes[0], "/options"),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["category"], "tv");
    assert_eq!(d["tags"], json!(["hd", "new"]));
    assert_eq!(d["options"]["ratioLimit"], json!({"limit": 2.5}));
    assert_eq!(d["options"]["seedingTimeLimit"], "unlimited");
    assert_eq!(d["options"]["downloadLimit"], 100_000);
    let (_, cats) = call(&app, Method::GET, "/api/categories", None).await;
    assert_eq!(cats, json!({"tv": "shows"}));
    let (_, tags) = call(&app, Method::GET, "/api/tags", None).await;
    assert_eq!(tags, json!(["hd", "new"]));

    // Queue: one slot; the last added moves to the top and takes it.
    let queued = |v: &Value| v["queuePosition"].clone();
    let (status, v) = call(
        &app,
        Method::POST,
        &path(&hashes[2], "/queue"),
        Some(json!({"move": "top"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    crate::support::wait_for(
        "the moved torrent to take the slot",
        crate::support::app::SLOW,
        || async {
            let first = app.torrent(&app.admin_token, &hashes[0]).await;
            let last = app.torrent(&app.admin_token, &hashes[2]).await;
            (last["state"] != "queued" && queued(&first) == json!(1)).then_some(())
        },
    )
    .await;
    let (status, v) = call(
        &app,
        Method::POST,
        &path(&hashes[2], "/queue"),
        Some(json!({"move": "sideways"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // Force start: downloads without a slot.
    let (_, v) = call(
        &app,
        Method::PATCH,
        &path(&hashes[1], "/options"),
        Some(json!({"forceStart": true})),
    )
    .await;
    assert_eq!(v["options"]["forceStart"], true, "{v}");
    assert_ne!(v["state"], "queued", "{v}");

    // Removing the category and a tag takes them off the torrent.
    let (status, _) = call(&app, Method::DELETE, "/api/categories/tv", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, Method::DELETE, "/api/tags/hd", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let t = app.torrent(&app.admin_token, &hashes[0]).await;
    assert_eq!(
        (&t["category"], &t["tags"]),
        (&Value::Null, &json!(["new"])),
        "{t}"
    );
    // Unknown fields and torrents are refused.
    let (status, _) = call(
        &app,
        Method::PATCH,
        &path(&hashes[0], "/options"),
        Some(json!({"colour": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &app,
        Method::PATCH,
        &path(&"ee".repeat(20), "/options"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn qbt(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let resp = app
        .client
        .post(format!("{}/api/v2/{path}", app.base))
        .bearer_auth(&app.admin_token)
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qbittorrent_save_paths_preferences_sorting_and_removals() {
    let app = TestApp::spawn().await;
    let (m1, h1) = magnet(0x31);
    let (m2, h2) = magnet(0x32);
    // A save path outside the user's folder is refused; one inside is used.
    let (status, body) = qbt(&app, "torrents/add", &[("urls", &m1), ("savepath", "/etc")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let inside = app.admin_downloads().join("inbox");
    let (_, body) = qbt(
        &app,
        "torrents/add",
        &[("urls", &m1), ("savepath", &inside.to_string_lossy())],
    )
    .await;
    assert_eq!(body, "Ok.");
    let (_, body) = qbt(&app, "torrents/add", &[("urls", &m2), ("tags", "z,y")]).await;
    assert_eq!(body, "Ok.");
    let (_, info) = qbt(&app, "torrents/info", &[("hashes", &h1)]).await;
    assert_eq!(
        parse(&info)[0]["save_path"],
        inside.to_string_lossy().as_ref()
    );

    // Sorting, reversing and paging.
    let names = |body: &str| -> Vec<String> {
        parse(body)
            .as_array()
            .expect("list")
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, body) = qbt(
        &app,
        "torrents/info",
        &[("sort", "name"), ("reverse", "True")],
    )
    .await;
    assert_eq!(names(&body), ["t50", "t49"]);
    let (_, body) = qbt(
        &app,
        "torrents/info",
        &[("sort", "name"), ("limit", "1"), ("offset", "1")],
    )
    .await;
    assert_eq!(names(&body), ["t50"]);
    let (status, _) = qbt(&app, "torrents/info", &[("sort", "bogus")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Preferences map onto the server's settings.
    let prefs = json!({"max_active_downloads": 7, "dl_limit": 123_456, "max_ratio_enabled": true, "max_ratio": 1.5});
    let (status, body) = qbt(&app, "app/setPreferences", &[("json", &prefs.to_string())]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Ok."));
    let (_, settings) = call(&app, Method::GET, "/api/settings", None).await;
    assert_eq!(settings["maxConcurrentTorrents"], 7, "{settings}");
    assert_eq!(settings["downloadLimit"], 123_456);
    assert_eq!(settings["seedRatioLimit"], 1.5);
    let (_, p) = qbt(&app, "app/preferences", &[]).await;
    let p = parse(&p);
    assert_eq!(
        (&p["max_active_downloads"], &p["max_ratio"]),
        (&json!(7), &json!(1.5))
    );
    let (_, t) = qbt(&app, "transfer/info", &[]).await;
    assert_eq!(parse(&t)["dl_rate_limit"], 123_456);

    // Category and tag removals show in sync/maindata.
    qbt(&app, "torrents/createCategory", &[("category", "old")]).await;
    let (_, full) = qbt(&app, "sync/maindata", &[("rid", "0")]).await;
    let full = parse(&full);
    assert!(
        full["categories"]["old"].is_object() && full["tags"] == json!(["y", "z"]),
        "{full}"
    );
    let rid = full["rid"].to_string();
    let (status, _) = qbt(
        &app,
        "torrents/editCategory",
        &[("category", "nope"), ("savePath", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    qbt(&app, "torrents/removeCategories", &[("categories", "old")]).await;
    qbt(&app, "torrents/deleteTags", &[("tags", "z")]).await;
    let (_, delta) = qbt(&app, "sync/maindata", &[("rid", &rid)]).await;
    let delta = parse(&delta);
    assert_eq!(delta["categories_removed"], json!(["old"]), "{delta}");
    assert_eq!(delta["tags_removed"], json!(["z"]), "{delta}");
    assert_eq!(delta["torrents"][&h2]["tags"], "y", "{delta}");
    assert!(delta.get("full_update").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qbittorrent_logins_share_the_ban() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_BAN_SECONDS", "900")]).await;
    let login = |pw: &'static str| {
        let body = format!("username=admin&password={pw}");
        app.client
            .post(format!("{}/api/v2/auth/login", app.base))
            .header(reqwest::header::CONTENT_TYPE, FORM)
            .body(body)
            .send()
    };
    for _ in 0..3 {
        let resp = login("wrong").await.expect("sent");
        assert_eq!(resp.text().await.expect("body"), "Fails.");
    }
    let resp = login(ADMIN_PASSWORD).await.expect("sent");
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "banned, as qBittorrent answers"
    );
    // The native login counts the same failures.
    let (status, _) = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
