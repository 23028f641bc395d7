//! The whole server on the MongoDB store (nx-27017 on 127.0.0.1): torrents added by
//! magnet and by file download byte-identical from real local seeders, come back in
//! their state after a restart, and the documents read back with the driver hold what
//! they should (argon2id hashes, never a password; torrents with owner and state).

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use reqwest::Method;
use serde_json::json;

use crate::support::app::{ADMIN_PASSWORD, SLOW, TestApp, assert_same_tree};
use crate::support::mongo::{Mongo, uri_on};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};
use crate::support::tools::free_port;
use crate::support::wait_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_on_mongodb_and_keeps_its_state_there() {
    let mongo = Mongo::start().await;
    let uri = mongo.uri("torrentedge_it");
    let vars = [("MONGODB_URI", uri.as_str())];

    let by_magnet = Content::random("mongo-magnet", &[3 * 1024 * 1024 + 11, 700_001]);
    let (magnet_torrent, magnet_hash) = by_magnet.make_torrent(256 * 1024, vec![]).await;
    let magnet_seeder = Seeder::start(&magnet_torrent, by_magnet.dir.path()).await;
    let by_file = Content::random("mongo-file", &[2 * 1024 * 1024 + 5, 123_457]);
    let (file_torrent, file_hash) = by_file.make_torrent(256 * 1024, vec![]).await;
    let file_seeder = Seeder::start(&file_torrent, by_file.dir.path()).await;

    let app = TestApp::spawn_with(&vars).await;
    let token = app.admin_token.clone();
    let magnet = magnet_with_peer(&magnet_hash, magnet_seeder.addr);
    let added = app.add_magnet(&token, &magnet, json!({})).await;
    assert_eq!(added["infoHash"], magnet_hash);
    let peers = file_seeder.addr.to_string();
    let (status, added) = app
        .upload(&token, &file_torrent, &[("peers", &peers)])
        .await;
    assert_eq!(status, 201, "{added}");

    app.wait_complete(&token, &magnet_hash, SLOW).await;
    app.wait_complete(&token, &file_hash, SLOW).await;
    let downloads = app.admin_downloads();
    assert_same_tree(&by_magnet.root(), &downloads.join("mongo-magnet"));
    assert_same_tree(&by_file.root(), &downloads.join("mongo-file"));

    let path = |h: &str, what: &str| format!("/api/torrents/{h}/{what}");
    let (s, v) = app
        .call(Method::POST, &path(&file_hash, "pause"), Some(&token), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let low = Some(json!({ "priority": "low" }));
    let (s, v) = app
        .call(
            Method::PUT,
            &path(&magnet_hash, "priority"),
            Some(&token),
            low,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let admin_id = app.admin_id.clone();
    let dir = app.stop().await;
    assert!(
        !dir.path()
            .join("data")
            .join(torrentedge::config::DATABASE_FILE)
            .exists(),
        "with MONGODB_URI nothing goes to the embedded database"
    );

    // What the server wrote, read with the driver.
    let db = mongo.client().await.database("torrentedge_it");
    let users: Vec<Document> = db
        .collection::<Document>("users")
        .find(doc! {})
        .await
        .expect("find users")
        .try_collect()
        .await
        .expect("read users");
    let admin = users
        .iter()
        .find(|u| u.get_str("username") == Ok("admin"))
        .expect("the admin's document");
    assert_eq!(admin.get_str("_id").unwrap(), admin_id);
    assert!(
        admin
            .get_str("passwordHash")
            .unwrap()
            .starts_with("$argon2id$"),
        "{admin}"
    );
    for u in &users {
        assert!(
            !u.to_string().contains(ADMIN_PASSWORD),
            "a password in plain text: {u}"
        );
    }
    let torrents = db.collection::<Document>("torrents");
    for (hash, paused, priority) in [(&file_hash, true, "normal"), (&magnet_hash, false, "low")] {
        let t = torrents
            .find_one(doc! { "_id": hash.as_str() })
            .await
            .expect("find a torrent")
            .unwrap_or_else(|| panic!("torrent {hash} is stored"));
        assert_eq!(t.get_str("ownerId").unwrap(), admin_id, "{hash}");
        assert_eq!(t.get_str("priority").unwrap(), priority, "{hash}");
        let stored_paused = matches!(t.get("paused"), Some(b) if b.as_bool() == Some(true) || b.as_i32() == Some(1));
        assert_eq!(stored_paused, paused, "{t}");
        assert!(
            !matches!(t.get("completedAt"), None | Some(mongodb::bson::Bson::Null)),
            "{hash}"
        );
    }
    assert!(
        db.collection::<Document>("outbox")
            .count_documents(doc! {})
            .await
            .expect("count events")
            > 0,
        "the events are in the outbox (no Kafka here, the ring's worth stays)"
    );

    // A restart on the same database: everything back, in its state.
    let app = TestApp::spawn_in(dir, &vars).await;
    let token = app.admin_token.clone();
    let list = app.list(&token).await;
    assert_eq!(list.len(), 2, "{list:#?}");
    let file = app.torrent(&token, &file_hash).await;
    assert_eq!(
        (file["state"].as_str(), file["paused"].as_bool()),
        (Some("paused"), Some(true))
    );
    let magnet = app.torrent(&token, &magnet_hash).await;
    assert_eq!(magnet["priority"], "low");
    assert_eq!(magnet["percentage"], 100.0, "{magnet}");
    assert_same_tree(
        &by_magnet.root(),
        &app.admin_downloads().join("mongo-magnet"),
    );
}

/// Started before MongoDB is there: the port answers at once (alive, not ready, 503
/// `starting` for the API), and once MongoDB comes up the server finishes starting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_says_503_until_mongodb_answers() {
    let (mongo_port, http_port) = (free_port(), free_port());
    let uri = uri_on(mongo_port, "late");
    let port = http_port.to_string();
    let starting = tokio::spawn(async move {
        TestApp::spawn_with(&[("MONGODB_URI", uri.as_str()), ("PORT", port.as_str())]).await
    });
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{http_port}");
    let get = |path: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move { http.get(format!("{base}{path}")).send().await.ok() }
    };
    let ready = wait_for("the port to answer", SLOW, || get("/api/health/ready")).await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("JSON");
    assert_eq!(body["status"], "starting");
    assert_eq!(get("/api/health/live").await.expect("live").status(), 200);
    let login = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 503);
    let body: serde_json::Value = login.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "starting", "{body}");

    let _mongo = Mongo::start_on(mongo_port).await;
    let app = starting.await.expect("the server finished starting");
    assert_eq!(get("/api/health/ready").await.expect("ready").status(), 200);
    assert_eq!(app.list(&app.admin_token).await.len(), 0);
}
