//! The torrent catalog through the REST API: uploads, full-text search, suggestions,
//! pages, comments and their permissions, and the search index rebuilt from the store
//! after it was lost. Downloads and adding to one's downloads: `catalog_download`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::support::app::TestApp;
use crate::support::bencode::{B, bytes, dict, info_multi, info_single};

/// A `.torrent` of a multi-file torrent named `name` with the given file names, and its
/// info hash. `announce-list` is set, so a download must drop it.
pub(crate) fn torrent_of(name: &str, files: &[&str]) -> (Vec<u8>, String) {
    let parts: Vec<Vec<&str>> = files.iter().map(|f| f.split('/').collect()).collect();
    let list: Vec<(&[&str], u64)> = parts.iter().map(|p| (p.as_slice(), 1000)).collect();
    let info = info_multi(Some(name), &list);
    let hash = hex::encode(Sha1::digest(info.encode()));
    let file = dict([
        ("info", info),
        ("announce", bytes("http://tracker.invalid/announce")),
        (
            "announce-list",
            B::List(vec![B::List(vec![bytes("udp://other.invalid:1")])]),
        ),
        ("comment", bytes("kept as it was")),
    ]);
    (file.encode(), hash)
}

/// Uploads and expects 201; returns the entry's id.
async fn publish(
    app: &TestApp,
    token: &str,
    name: &str,
    files: &[&str],
    fields: &[(&str, &str)],
) -> String {
    let (torrent, _) = torrent_of(name, files);
    let (status, body) = app.publish(token, &torrent, fields).await;
    assert_eq!(status, StatusCode::CREATED, "upload {name}: {body}");
    body["id"].as_str().expect("id").to_owned()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.call(Method::GET, path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

fn titles(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["title"].as_str().expect("title").to_owned())
        .collect()
}

async fn search(app: &TestApp, q: &str) -> Vec<String> {
    let path = format!("/api/catalog/search?q={}", urlencode(q));
    titles(&get(app, &app.admin_token, &path).await)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_searched_suggested_and_paged() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let fields = |t: &'static str, d: &'static str| {
        vec![
            ("title", t),
            ("description", d),
            ("category", "Software"),
            ("tags", "linux, ISO"),
        ]
    };
    publish(
        &app,
        &alice,
        "ubuntu-server",
        &["ubuntu-24.04-live-server-amd64.iso"],
        &fields("Ubuntu Server Ubuntu LTS", "ubuntu for servers"),
    )
    .await;
    publish(
        &app,
        &alice,
        "ubuntu-desktop",
        &["desktop.iso"],
        &fields("Ubuntu Desktop", "the ubuntu desktop"),
    )
    .await;
    publish(
        &app,
        &alice,
        "ubuntu",
        &["image/disk.img"],
        &fields("Ubuntu", "plain"),
    )
    .await;
    let (film, film_hash) = torrent_of(
        "Sintel.2010",
        &["Sintel.2010.720p.mkv", "Subs/sintel_en.srt"],
    );
    let (status, entry) = app
        .publish(
            &alice,
            &film,
            &[
                ("description", "A Durian open movie"),
                ("category", "movies"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    assert_eq!(
        entry["title"], "Sintel.2010",
        "the title defaults to the torrent's name"
    );
    assert_eq!(entry["infoHash"], film_hash.as_str());
    assert_eq!(
        entry["files"][0]["path"], "Sintel.2010/Sintel.2010.720p.mkv",
        "{entry}"
    );
    assert_eq!(entry["totalBytes"], 2000);

    let (status, dup) = app
        .publish(&app.admin_token, &film, &[("title", "again")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{dup}");
    assert_eq!(
        dup["id"], entry["id"],
        "the conflict names the entry: {dup}"
    );
    for (bad, fields) in [
        (b"not a torrent".to_vec(), vec![]),
        (torrent_of("x", &["a"]).0, vec![("title", "x".repeat(201))]),
        (
            torrent_of("y", &["a"]).0,
            vec![(
                "tags",
                (0..30)
                    .map(|i| format!("t{i}"))
                    .collect::<Vec<_>>()
                    .join(","),
            )],
        ),
    ] {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v): &(&str, String)| (*k, v.as_str()))
            .collect();
        let (status, body) = app.publish(&alice, &bad, &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    let unsafe_info = info_single("../escape", 10);
    let (status, body) = app
        .publish(&alice, &dict([("info", unsafe_info)]).encode(), &[])
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unsafe names are refused: {body}"
    );

    assert_eq!(
        search(&app, "durian").await,
        ["Sintel.2010"],
        "by description"
    );
    assert_eq!(search(&app, "720p").await, ["Sintel.2010"], "by file name");
    assert_eq!(search(&app, "sintel_en").await, ["Sintel.2010"]);
    assert_eq!(
        search(&app, "desktop").await,
        ["Ubuntu Desktop"],
        "by title"
    );
    let ranked = search(&app, "ubuntu").await;
    assert_eq!(ranked.len(), 3, "{ranked:?}");
    assert_eq!(
        ranked[0], "Ubuntu",
        "an exact title ranks first: {ranked:?}"
    );
    assert_eq!(search(&app, "Ubuntu  DESKTOP").await[0], "Ubuntu Desktop");
    assert_eq!(search(&app, "linux").await.len(), 3, "by tag");

    let s = get(&app, &alice, "/api/catalog/suggest?q=ubu").await;
    let suggestions = s["suggestions"].as_array().expect("suggestions");
    assert_eq!(suggestions.len(), 3, "{s}");
    assert_eq!(suggestions[0], "Ubuntu", "{s}");
    let s = get(&app, &alice, "/api/catalog/suggest?q=ubuntu%20des").await;
    assert_eq!(s["suggestions"], json!(["Ubuntu Desktop"]));

    let first = get(&app, &alice, "/api/catalog?perPage=3").await;
    assert_eq!(
        (first["total"].as_u64(), first["page"].as_u64()),
        (Some(4), Some(1)),
        "{first}"
    );
    assert_eq!(
        titles(&first),
        ["Sintel.2010", "Ubuntu", "Ubuntu Desktop"],
        "newest first"
    );
    assert!(
        first["entries"][0]["files"].is_null(),
        "listings leave files out"
    );
    assert_eq!(first["entries"][0]["fileCount"], 2);
    let second = get(&app, &alice, "/api/catalog?perPage=3&page=2").await;
    assert_eq!(titles(&second), ["Ubuntu Server Ubuntu LTS"]);
    let movies = get(&app, &alice, "/api/catalog?category=Movies").await;
    assert_eq!(
        titles(&movies),
        ["Sintel.2010"],
        "categories compare in lower case"
    );
    let paged = get(
        &app,
        &alice,
        "/api/catalog/search?q=ubuntu&perPage=2&page=2",
    )
    .await;
    assert_eq!(
        (paged["total"].as_u64(), titles(&paged).len()),
        (Some(3), 1),
        "{paged}"
    );
    let (status, _) = app
        .call(Method::GET, "/api/catalog?perPage=1000", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.call(Method::GET, "/api/catalog", None, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the catalog needs a sign-in"
    );

    let id = entry["id"].as_str().expect("id");
    let details = get(&app, &alice, &format!("/api/catalog/{id}")).await;
    assert_eq!(details["uploaderName"], "alice");
    assert_eq!(details["files"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        details["swarm"],
        json!({"seeders": 0, "leechers": 0, "completed": 0})
    );
}

async fn status_of(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> StatusCode {
    app.call(method, path, Some(token), body).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_and_entries_are_deleted_by_their_authors_or_admins() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let id = publish(&app, &alice, "alices", &["a.txt"], &[]).await;
    let comments = format!("/api/catalog/{id}/comments");
    let post = |token: &str, body: &str| {
        let token = token.to_owned();
        let body = json!({ "body": body });
        let path = comments.clone();
        let app = &app;
        async move {
            let (status, c) = app
                .call(Method::POST, &path, Some(&token), Some(body))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{c}");
            c["id"].as_str().expect("comment id").to_owned()
        }
    };
    let bobs = post(&bob, "from bob").await;
    let alices = post(&alice, "from alice").await;
    let other = post(&bob, "bob again").await;
    let (status, _) = app
        .call(
            Method::POST,
            &comments,
            Some(&bob),
            Some(json!({"body": "  "})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an empty comment is refused"
    );
    let listed = get(&app, &alice, &comments).await;
    let bodies: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["body"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        bodies,
        ["from bob", "from alice", "bob again"],
        "oldest first"
    );
    assert_eq!(listed[0]["authorName"], "bob");
    let at = |c: &str| format!("{comments}/{c}");
    assert_eq!(
        status_of(&app, &alice, Method::DELETE, &at(&bobs), None).await,
        StatusCode::FORBIDDEN,
        "not the author"
    );
    assert_eq!(
        status_of(&app, &bob, Method::DELETE, &at(&alices), None).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of(&app, &bob, Method::DELETE, &at(&bobs), None).await,
        StatusCode::NO_CONTENT,
        "the author"
    );
    assert_eq!(
        status_of(&app, &bob, Method::DELETE, &at(&bobs), None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(&app, &app.admin_token, Method::DELETE, &at(&alices), None).await,
        StatusCode::NO_CONTENT,
        "an admin"
    );
    assert_eq!(
        get(&app, &bob, &comments).await.as_array().map(Vec::len),
        Some(1)
    );

    let entry = format!("/api/catalog/{id}");
    assert_eq!(
        status_of(&app, &bob, Method::DELETE, &entry, None).await,
        StatusCode::FORBIDDEN,
        "not the uploader"
    );
    let bobs_entry = publish(&app, &bob, "bobs", &["b.txt"], &[]).await;
    assert_eq!(
        status_of(
            &app,
            &bob,
            Method::DELETE,
            &format!("/api/catalog/{bobs_entry}"),
            None
        )
        .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status_of(&app, &app.admin_token, Method::DELETE, &entry, None).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status_of(&app, &bob, Method::GET, &entry, None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(&app, &bob, Method::GET, &comments, None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(&app, &bob, Method::DELETE, &at(&other), None).await,
        StatusCode::NOT_FOUND,
        "comments went with the entry"
    );
    assert!(
        search(&app, "alices").await.is_empty(),
        "a deleted entry leaves the index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_from_the_store_when_its_folder_is_gone() {
    let app = TestApp::spawn().await;
    publish(
        &app,
        &app.admin_token,
        "kept",
        &["rebuilt-file.bin"],
        &[("title", "Survivor")],
    )
    .await;
    publish(
        &app,
        &app.admin_token,
        "kept2",
        &["other.bin"],
        &[("title", "Second")],
    )
    .await;
    assert_eq!(search(&app, "survivor").await, ["Survivor"]);
    let dir = app.stop().await;
    let index = dir.path().join("data").join("catalog-index");
    assert!(index.is_dir(), "the index lives in DATA_DIR/catalog-index");
    std::fs::remove_dir_all(&index).expect("remove the index");
    let app = TestApp::spawn_in(dir, &[]).await;
    assert_eq!(
        search(&app, "survivor").await,
        ["Survivor"],
        "rebuilt at start"
    );
    assert_eq!(search(&app, "rebuilt").await, ["Survivor"]);
    let dir = app.stop().await;
    // A broken index is rebuilt too.
    std::fs::write(index.join("meta.json"), b"garbage").expect("break the index");
    let app = TestApp::spawn_in(dir, &[]).await;
    assert_eq!(search(&app, "second").await, ["Second"]);
}
