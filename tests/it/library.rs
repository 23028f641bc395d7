//! The media library through the REST API: movies, shows and episodes assigned to
//! files of real torrents, seeded on loopback by a separate librqbit session and
//! added by magnet through the library.

use std::time::Duration;

use rand::RngCore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{TestApp, walk};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};

/// Content named `name` holding the given files (paths below it, sizes in bytes) of
/// random bytes.
fn content(name: &str, files: &[(&str, usize)]) -> Content {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::rng();
    for (path, size) in files {
        let path = dir.path().join(name).join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let mut buf = vec![0u8; *size];
        rng.fill_bytes(&mut buf);
        std::fs::write(&path, buf).expect("write content");
    }
    Content {
        dir,
        name: name.to_owned(),
    }
}

/// A seeded torrent: its seeder (kept alive), info hash and a magnet naming the seeder.
struct Seeded {
    _seeder: Seeder,
    _content: Content,
    hash: String,
    magnet: String,
}

async fn seed(name: &str, files: &[(&str, usize)]) -> Seeded {
    let content = content(name, files);
    let (torrent, hash) = content.make_torrent(16 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let magnet = magnet_with_peer(&hash, seeder.addr);
    Seeded {
        _seeder: seeder,
        _content: content,
        hash,
        magnet,
    }
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, Some(token), body).await
}

/// `POST path` with a JSON body.
async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, token, Method::POST, path, Some(body)).await
}

/// Asserts the status, with the body in the message; returns the body.
fn expect(what: &str, got: (StatusCode, Value), status: StatusCode) -> Value {
    assert_eq!(got.0, status, "{what}: {}", got.1);
    got.1
}

fn listed(app_list: &[Value], hash: &str) -> bool {
    app_list.iter().any(|t| t["infoHash"] == hash)
}

/// The file of the torrent's details with this path.
fn file_in<'a>(details: &'a Value, path: &str) -> &'a Value {
    details["files"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["path"] == path))
        .unwrap_or_else(|| panic!("no file {path:?} in {details}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_movie_takes_the_single_video_file_and_gives_its_torrent_back() {
    let first = seed(
        "Movie.2020",
        &[
            ("movie.nfo", 1_000),
            ("Movie.2020.1080p.mkv", 300_000 + 7),
            ("Subs/en.srt", 2_000),
        ],
    )
    .await;
    // Two files: a single-file torrent is laid out differently, and the seeder takes
    // its content from the folder layout.
    let second = seed(
        "Movie.2020.remux",
        &[("Movie.2020.2160p.MP4", 200_000 + 3), ("info.txt", 300)],
    )
    .await;
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let alice_id = app.user_id(&alice).await;

    for bad in [
        json!({"title": "  "}),
        json!({"title": "Old", "year": 1800}),
        json!({"year": 2000}),
    ] {
        let got = call(&app, &alice, Method::POST, "/api/movies", Some(bad.clone())).await;
        expect(&format!("create {bad}"), got, StatusCode::BAD_REQUEST);
    }
    let body = json!({"title": " Movie ", "year": 2020});
    let movie = expect(
        "create",
        call(&app, &alice, Method::POST, "/api/movies", Some(body)).await,
        StatusCode::CREATED,
    );
    assert_eq!(
        (
            &movie["kind"],
            &movie["title"],
            &movie["year"],
            &movie["ownerId"]
        ),
        (
            &json!("movie"),
            &json!("Movie"),
            &json!(2020),
            &json!(alice_id)
        ),
        "{movie}"
    );
    assert!(movie["assignment"].is_null(), "{movie}");
    let id = movie["id"].as_str().expect("id").to_owned();
    let at = |rest: &str| format!("/api/movies/{id}{rest}");

    // No filePath: the one video file among others, its index and size from the metadata.
    let assign = json!({"magnetURI": first.magnet, "resolution": "1080p", "source": "web"});
    let got = call(&app, &alice, Method::POST, &at("/assign"), Some(assign)).await;
    let assigned = expect("assign", got, StatusCode::OK);
    let a = &assigned["assignment"];
    let details = app.torrent(&alice, &first.hash).await;
    let file = file_in(&details, "Movie.2020.1080p.mkv");
    assert_eq!(a["infoHash"], first.hash, "{assigned}");
    assert_eq!(a["filePath"], "Movie.2020.1080p.mkv", "{assigned}");
    assert_eq!(
        (&a["fileIndex"], &a["size"]),
        (&file["index"], &json!(300_007))
    );
    assert_eq!(
        (&a["resolution"], &a["source"]),
        (&json!("1080p"), &json!("web"))
    );
    assert_eq!(details["ownerId"], alice_id, "added for the item's owner");
    // Played on demand: stream-only, and nothing downloaded until a player reads it.
    assert_eq!(
        (&details["streamOnly"], &details["idle"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(details["completedBytes"], 0, "{details}");

    // Someone else's movie is not there for them; an administrator sees it.
    for (method, path) in [
        (Method::GET, at("")),
        (Method::POST, at("/assign")),
        (Method::DELETE, at("/assign")),
        (Method::DELETE, at("")),
    ] {
        let body = (method == Method::POST).then(|| json!({"infoHash": first.hash}));
        let got = call(&app, &bob, method.clone(), &path, body).await;
        let v = expect(&format!("bob {method} {path}"), got, StatusCode::NOT_FOUND);
        assert_eq!(v["error"]["code"], "not_found", "{v}");
    }
    let theirs = expect(
        "bob's list",
        call(&app, &bob, Method::GET, "/api/movies", None).await,
        StatusCode::OK,
    );
    assert_eq!(theirs, json!([]));
    let all = expect(
        "admin's list",
        call(&app, &app.admin_token, Method::GET, "/api/movies", None).await,
        StatusCode::OK,
    );
    assert_eq!(all, json!([assigned]), "an administrator sees everyone's");

    // A path that is no file of the torrent: every file listed, the assignment kept.
    let bad = json!({"magnetUri": first.magnet, "filePath": "nope.mkv"});
    let got = call(&app, &alice, Method::POST, &at("/assign"), Some(bad)).await;
    let v = expect("a bad filePath", got, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["code"], "no_such_file", "{v}");
    let mut paths: Vec<&str> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["Movie.2020.1080p.mkv", "Subs/en.srt", "movie.nfo"],
        "{v}"
    );
    let kept = expect(
        "read",
        call(&app, &alice, Method::GET, &at(""), None).await,
        StatusCode::OK,
    );
    assert_eq!(kept, assigned);

    // Replacing the assignment gives back the torrent nothing uses any more.
    let got = post(
        &app,
        &alice,
        &at("/assign"),
        json!({"magnetURI": second.magnet}),
    )
    .await;
    let replaced = expect("replace", got, StatusCode::OK);
    assert_eq!(replaced["assignment"]["infoHash"], second.hash);
    assert_eq!(replaced["assignment"]["size"], 200_003);
    let torrents = app.list(&alice).await;
    assert!(
        !listed(&torrents, &first.hash),
        "the replaced torrent is removed"
    );
    assert!(listed(&torrents, &second.hash));

    // Unassigning may keep the torrent, or give it back.
    let got = call(
        &app,
        &alice,
        Method::DELETE,
        &at("/assign?keepTorrent=true"),
        None,
    )
    .await;
    let v = expect("unassign, keeping", got, StatusCode::OK);
    assert_eq!(
        (&v["torrentRemoved"], &v["item"]["assignment"]),
        (&json!(false), &Value::Null),
        "{v}"
    );
    assert!(listed(&app.list(&alice).await, &second.hash), "kept");
    let got = post(
        &app,
        &alice,
        &at("/assign"),
        json!({"infoHash": second.hash}),
    )
    .await;
    expect("assign by info hash", got, StatusCode::OK);
    let got = call(&app, &alice, Method::DELETE, &at("/assign"), None).await;
    let v = expect("unassign", got, StatusCode::OK);
    assert_eq!(v["torrentRemoved"], true, "{v}");
    assert!(
        !listed(&app.list(&app.admin_token).await, &second.hash),
        "removed"
    );
    let root = app.user_downloads(&alice_id);
    let left = if root.exists() {
        walk(&root)
    } else {
        Vec::new()
    };
    assert!(
        !left.iter().any(|p| p.to_string_lossy().contains("2160p")),
        "its files went with it: {left:?}"
    );

    let got = call(&app, &alice, Method::DELETE, &at(""), None).await;
    expect("delete", got, StatusCode::NO_CONTENT);
    let got = call(&app, &alice, Method::GET, &at(""), None).await;
    expect("deleted", got, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn episodes_choose_among_several_video_files_and_outlive_a_restart() {
    let pack = seed(
        "Show.S01",
        &[
            ("Show.S01E01.mkv", 200_000 + 1),
            ("Show.S01E02.mp4", 250_000 + 2),
            ("notes.txt", 500),
        ],
    )
    .await;
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let show = expect(
        "create show",
        post(
            &app,
            &alice,
            "/api/shows",
            json!({"title": "Show", "year": 2021}),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_eq!(show["kind"], "show");
    let show_id = show["id"].as_str().expect("id").to_owned();
    let eps = format!("/api/shows/{show_id}/episodes");
    let mut ids = Vec::new();
    for (season, episode) in [(1, 2), (1, 1), (0, 1)] {
        let body =
            json!({"season": season, "episode": episode, "title": format!("S{season}E{episode}")});
        let ep = expect(
            "add episode",
            call(&app, &alice, Method::POST, &eps, Some(body)).await,
            StatusCode::CREATED,
        );
        assert_eq!(
            (&ep["kind"], &ep["showId"]),
            (&json!("episode"), &json!(show_id))
        );
        ids.push(ep["id"].as_str().expect("id").to_owned());
    }
    let (e2, e1, special) = (&ids[0], &ids[1], &ids[2]);
    let dup = post(&app, &alice, &eps, json!({"season": 1, "episode": 1})).await;
    let v = expect("a duplicate episode", dup, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "duplicate_episode", "{v}");
    let zero = post(&app, &alice, &eps, json!({"season": 1, "episode": 0})).await;
    expect("episode 0", zero, StatusCode::BAD_REQUEST);

    // Two video files and no filePath: the candidates to choose from.
    let assign_e1 = format!("{eps}/{e1}/assign");
    let got = post(&app, &alice, &assign_e1, json!({"magnetURI": pack.magnet})).await;
    let v = expect("no filePath", got, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "ambiguous_file", "{v}");
    let candidates = v["candidates"].as_array().expect("candidates");
    let paths: Vec<&Value> = candidates.iter().map(|c| &c["path"]).collect();
    assert_eq!(
        paths,
        [&json!("Show.S01E01.mkv"), &json!("Show.S01E02.mp4")],
        "{v}"
    );
    let details = app.torrent(&alice, &pack.hash).await;
    for c in candidates {
        let f = file_in(&details, c["path"].as_str().expect("path"));
        assert_eq!(
            (&c["index"], &c["length"]),
            (&f["index"], &f["length"]),
            "{c}"
        );
    }
    let pick =
        |path: &str| json!({"magnetURI": pack.magnet, "filePath": path, "resolution": "720p"});
    let got = post(&app, &alice, &assign_e1, pick("Show.S01E01.mkv")).await;
    let one = expect("assign e1", got, StatusCode::OK);
    assert_eq!(one["assignment"]["size"], 200_001, "{one}");
    let got = post(
        &app,
        &alice,
        &format!("{eps}/{e2}/assign"),
        pick("Show.S01E02.mp4"),
    )
    .await;
    expect("assign e2", got, StatusCode::OK);
    let got = post(
        &app,
        &alice,
        &format!("/api/shows/{show_id}/assign"),
        pick("notes.txt"),
    )
    .await;
    expect("a show's own assign", got, StatusCode::NOT_FOUND);

    // Ending one episode's assignment keeps the torrent the other still uses.
    let got = call(&app, &alice, Method::DELETE, &assign_e1, None).await;
    let v = expect("unassign e1", got, StatusCode::OK);
    assert_eq!(v["torrentRemoved"], false, "{v}");
    assert!(listed(&app.list(&alice).await, &pack.hash));

    let before = expect(
        "show",
        call(
            &app,
            &alice,
            Method::GET,
            &format!("/api/shows/{show_id}"),
            None,
        )
        .await,
        StatusCode::OK,
    );
    let order: Vec<&Value> = before["episodes"]
        .as_array()
        .expect("episodes")
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(
        order,
        [&json!(special), &json!(e1), &json!(e2)],
        "season, then episode: {before}"
    );
    assert_eq!(
        before["episodes"][2]["assignment"]["filePath"],
        "Show.S01E02.mp4"
    );
    assert_eq!(before["title"], "Show");

    // Everything is in the store: a restarted server answers the same.
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &[]).await;
    let alice = app.login("alice", "alice-password-123").await;
    let after = expect(
        "show after restart",
        call(
            &app,
            &alice,
            Method::GET,
            &format!("/api/shows/{show_id}"),
            None,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(after, before);
    let listed_eps = expect(
        "episodes",
        call(&app, &alice, Method::GET, &eps, None).await,
        StatusCode::OK,
    );
    assert_eq!(listed_eps, before["episodes"]);
    let shows = expect(
        "shows",
        call(&app, &alice, Method::GET, "/api/shows", None).await,
        StatusCode::OK,
    );
    assert_eq!(shows, json!([show]));

    // Deleting the show deletes its episodes and gives back the torrent they used.
    let got = call(
        &app,
        &alice,
        Method::DELETE,
        &format!("/api/shows/{show_id}"),
        None,
    )
    .await;
    expect("delete show", got, StatusCode::NO_CONTENT);
    for path in [
        format!("/api/shows/{show_id}"),
        format!("{eps}/{e2}"),
        eps.clone(),
    ] {
        expect(
            &path,
            call(&app, &alice, Method::GET, &path, None).await,
            StatusCode::NOT_FOUND,
        );
    }
    assert!(
        !listed(&app.list(&app.admin_token).await, &pack.hash),
        "removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_nobody_seeds_times_out_and_bad_requests_are_refused() {
    let app = TestApp::spawn_with(&[("METADATA_TIMEOUT", "1")]).await;
    let token = app.admin_token.clone();
    let movie = expect(
        "create",
        post(&app, &token, "/api/movies", json!({"title": "Nothing"})).await,
        StatusCode::CREATED,
    );
    let assign = format!("/api/movies/{}/assign", movie["id"].as_str().expect("id"));
    let hash = "5a".repeat(20);
    let started = std::time::Instant::now();
    let got = post(
        &app,
        &token,
        &assign,
        json!({"magnetURI": format!("magnet:?xt=urn:btih:{hash}")}),
    )
    .await;
    let v = expect("no metadata", got, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(v["error"]["code"], "metadata_timeout", "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by METADATA_TIMEOUT"
    );
    assert!(
        listed(&app.list(&token).await, &hash),
        "the torrent stays, still looking"
    );

    let absent = post(&app, &token, &assign, json!({"infoHash": "6b".repeat(20)})).await;
    expect("an info hash no torrent has", absent, StatusCode::NOT_FOUND);
    for bad in [
        json!({}),
        json!({"magnetURI": "magnet:?xt=urn:btih:1", "infoHash": hash}),
        json!({"infoHash": "nope"}),
        json!({"magnetURI": "not a magnet"}),
        json!({"magnetURI": format!("magnet:?xt=urn:btih:{hash}"), "source": "x".repeat(65)}),
        json!({"magnetURI": format!("magnet:?xt=urn:btih:{hash}"), "color": "red"}),
    ] {
        let got = call(&app, &token, Method::POST, &assign, Some(bad.clone())).await;
        expect(&format!("assign {bad}"), got, StatusCode::BAD_REQUEST);
    }
    // A movie is not a show, nor a show a movie.
    let show = expect(
        "create show",
        post(&app, &token, "/api/shows", json!({"title": "Show"})).await,
        StatusCode::CREATED,
    );
    let show_id = show["id"].as_str().expect("id");
    expect(
        "a show as a movie",
        call(
            &app,
            &token,
            Method::GET,
            &format!("/api/movies/{show_id}"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    );
    let movie_id = movie["id"].as_str().expect("id");
    expect(
        "a movie as a show",
        call(
            &app,
            &token,
            Method::GET,
            &format!("/api/shows/{movie_id}"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    );
    let got = post(
        &app,
        &token,
        &format!("/api/shows/{movie_id}/episodes"),
        json!({"season": 1, "episode": 1}),
    )
    .await;
    expect("an episode of a movie", got, StatusCode::NOT_FOUND);
}
