//! GraphQL at `/graphql` against the real server: the REST token, the same visibility
//! as REST (a user sees only their own torrents and themselves; an administrator sees
//! all), catalog search with entries' files and live swarm, the depth and complexity
//! limits, and the playground served with its own files.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::catalog::torrent_of;
use crate::support::app::TestApp;
use crate::support::tools::percent_encode;

async fn gql(app: &TestApp, token: Option<&str>, query: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/graphql",
        token,
        Some(json!({ "query": query })),
    )
    .await
}

fn hashes(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|t| t["infoHash"].as_str().expect("infoHash").to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn users_see_only_their_own_torrents_and_themselves() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let (ha, hb) = ("a".repeat(40), "b".repeat(40));
    for (token, hash) in [(&alice, &ha), (&bob, &hb)] {
        let magnet = format!("magnet:?xt=urn:btih:{hash}&dn={hash}");
        app.add_magnet(token, &magnet, json!({"paused": true}))
            .await;
    }

    let q = "{ me { username } torrents { infoHash state owner { username } } users { username }
        statistics { totalTorrents tracker { uploaded downloaded } } }";
    let (status, a) = gql(&app, Some(&alice), q).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert!(a["errors"].is_null(), "{a}");
    let d = &a["data"];
    assert_eq!(d["me"]["username"], "alice");
    assert_eq!(
        hashes(&d["torrents"]),
        vec![ha.clone()],
        "alice sees hers only: {d}"
    );
    assert_eq!(d["torrents"][0]["owner"]["username"], "alice");
    assert_eq!(
        d["users"],
        json!([{"username": "alice"}]),
        "a user lists only themselves"
    );
    assert_eq!(d["statistics"]["totalTorrents"], 1);
    assert_eq!(
        d["statistics"]["tracker"],
        json!({"uploaded": 0, "downloaded": 0})
    );

    // Another user's torrent by hash is null, as REST's 404.
    let (_, other) = gql(
        &app,
        Some(&alice),
        &format!("{{ torrent(infoHash: \"{hb}\") {{ name }} }}"),
    )
    .await;
    assert_eq!(other["data"]["torrent"], Value::Null, "{other}");
    let (_, mine) = gql(
        &app,
        Some(&bob),
        &format!("{{ torrent(infoHash: \"{hb}\") {{ infoHash paused }} }}"),
    )
    .await;
    assert_eq!(
        mine["data"]["torrent"],
        json!({"infoHash": hb, "paused": true}),
        "{mine}"
    );
    let (_, bad) = gql(&app, Some(&bob), "{ torrent(infoHash: \"../x\") { name } }").await;
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("40 hexadecimal"),
        "{bad}"
    );

    // The administrator sees everyone and everything.
    let (_, admin) = gql(
        &app,
        Some(&app.admin_token),
        "{ torrents { infoHash } users { username torrents { infoHash } } }",
    )
    .await;
    assert_eq!(
        hashes(&admin["data"]["torrents"]),
        vec![ha.clone(), hb.clone()],
        "{admin}"
    );
    let users = admin["data"]["users"].as_array().expect("users");
    assert_eq!(users.len(), 3, "admin, alice and bob: {admin}");
    let bobs = users.iter().find(|u| u["username"] == "bob").expect("bob");
    assert_eq!(hashes(&bobs["torrents"]), vec![hb]);
    // A user asking for someone else by id gets null.
    let alice_id = app.user_id(&alice).await;
    let (_, peek) = gql(
        &app,
        Some(&bob),
        &format!("{{ user(id: \"{alice_id}\") {{ username }} }}"),
    )
    .await;
    assert_eq!(peek["data"]["user"], Value::Null, "{peek}");
}

#[tokio::test]
async fn the_catalog_is_searched_with_files_comments_and_live_swarm() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let mut hash_of = std::collections::HashMap::new();
    for (title, files, desc) in [
        (
            "Ubuntu Server",
            &["ubuntu/server.iso"][..],
            "the server image",
        ),
        (
            "Server Tools",
            &["tools/a.bin", "tools/b.bin"][..],
            "tools for ubuntu",
        ),
        (
            "Debian Netinst",
            &["debian/netinst.iso"][..],
            "small installer",
        ),
    ] {
        let (torrent, hash) = torrent_of(title, files);
        let (status, body) = app
            .publish(&alice, &torrent, &[("title", title), ("description", desc)])
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        hash_of.insert(title, hash);
    }

    // An exact title ranks first; files are read for listed entries when asked for.
    let q = r#"{ catalogSearch(query: "ubuntu server") {
        total entries { title fileCount files { path length } uploader { username } } } }"#;
    let (status, body) = gql(&app, Some(&alice), q).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let found = &body["data"]["catalogSearch"];
    let titles: Vec<&str> = found["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles.first(), Some(&"Ubuntu Server"), "{found}");
    assert!(
        titles.contains(&"Server Tools"),
        "matched by its description: {found}"
    );
    assert!(!titles.contains(&"Debian Netinst"), "{found}");
    assert_eq!(found["total"], titles.len());
    let first = &found["entries"][0];
    assert_eq!(
        first["files"],
        json!([{"path": "ubuntu/server.iso", "length": 1000}])
    );
    assert_eq!(first["uploader"]["username"], "alice");
    // Another user sees the uploader's name, never their account's totals or torrents.
    let bob = app.new_user("bob").await;
    let (_, peek) = gql(
        &app,
        Some(&bob),
        "{ catalog { entries { uploader { username trackerStats { uploaded } } } } }",
    )
    .await;
    let msg = peek["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("trackerStats"),
        "not a field of an uploader: {peek}"
    );

    // A file name is searched too; suggestions complete a title.
    let (_, by_file) = gql(
        &app,
        Some(&alice),
        r#"{ catalogSearch(query: "netinst.iso") { entries { title } } }"#,
    )
    .await;
    assert_eq!(
        by_file["data"]["catalogSearch"]["entries"][0]["title"], "Debian Netinst",
        "{by_file}"
    );
    let (_, sugg) = gql(&app, Some(&alice), r#"{ catalogSuggest(prefix: "deb") }"#).await;
    assert_eq!(
        sugg["data"]["catalogSuggest"],
        json!(["Debian Netinst"]),
        "{sugg}"
    );

    // The entry's swarm is the tracker's, live: one seeder announces.
    let hash = hex::decode(&hash_of["Ubuntu Server"]).expect("hex");
    let announce = format!(
        "{}/announce?info_hash={}&peer_id=-TE0001-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=0&compact=1&event=started",
        app.base,
        percent_encode(&hash)
    );
    let res = app.client.get(announce).send().await.expect("announce");
    assert_eq!(res.status(), StatusCode::OK);
    let reply = res.bytes().await.expect("reply");
    assert!(
        !reply.windows(7).any(|w| w == b"failure"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

    let id = first_id(&app, &alice, "Ubuntu Server").await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/catalog/{id}/comments"),
            Some(&alice),
            Some(json!({"body": "fast seed"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, entry) = gql(
        &app,
        Some(&alice),
        &format!(r#"{{ catalogEntry(id: "{id}") {{ infoHash swarm {{ seeders leechers completed }} comments {{ body authorName }} }} }}"#),
    )
    .await;
    let e = &entry["data"]["catalogEntry"];
    assert_eq!(e["infoHash"], hash_of["Ubuntu Server"].as_str(), "{entry}");
    assert_eq!(
        e["swarm"],
        json!({"seeders": 1, "leechers": 0, "completed": 0}),
        "{entry}"
    );
    assert_eq!(
        e["comments"],
        json!([{"body": "fast seed", "authorName": "alice"}])
    );

    // Paging and bad pages as in REST; an unknown id is null.
    let (_, page) = gql(
        &app,
        Some(&alice),
        "{ catalog(perPage: 2) { total perPage entries { title } } }",
    )
    .await;
    let p = &page["data"]["catalog"];
    assert_eq!(
        (p["total"].as_u64(), p["perPage"].as_u64()),
        (Some(3), Some(2)),
        "{page}"
    );
    assert_eq!(p["entries"].as_array().map(Vec::len), Some(2));
    let (_, bad) = gql(&app, Some(&alice), "{ catalog(perPage: 0) { total } }").await;
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("perPage"),
        "{bad}"
    );
    let (_, none) = gql(
        &app,
        Some(&alice),
        r#"{ catalogEntry(id: "nope") { title } }"#,
    )
    .await;
    assert_eq!(none["data"]["catalogEntry"], Value::Null, "{none}");
}

async fn first_id(app: &TestApp, token: &str, title: &str) -> String {
    let (_, body) = gql(app, Some(token), "{ catalog { entries { id title } } }").await;
    let entries = body["data"]["catalog"]["entries"]
        .as_array()
        .expect("entries")
        .clone();
    let entry = entries.iter().find(|e| e["title"] == title).expect(title);
    entry["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn the_token_and_the_limits_are_enforced() {
    let app = TestApp::spawn().await;
    let (status, body) = gql(&app, None, "{ me { id } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["code"].is_string(),
        "the REST error format: {body}"
    );
    let (status, _) = gql(&app, Some("not-a-token"), "{ me { id } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let token = app.admin_token.clone();
    let deep = format!(
        "{{ __schema {{ queryType {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(20),
        "} ".repeat(20)
    );
    let (status, body) = gql(&app, Some(&token), &deep).await;
    assert_eq!(status, StatusCode::OK);
    let msg = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("nested too deep"), "{body}");
    assert!(body["data"].is_null(), "nothing ran: {body}");

    let cycle = format!(
        "{{ {} id {} }}",
        "torrents { owner { ".repeat(4),
        "} } ".repeat(4)
    );
    let (_, body) = gql(&app, Some(&token), &cycle).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("complex"),
        "{body}"
    );

    let (_, body) = gql(&app, Some(&token), "{ nosuchfield }").await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nosuchfield"),
        "{body}"
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/graphql",
            Some(&token),
            Some(json!({"nope": 1})),
        )
        .await;
    // A body without a query is an empty document: GraphQL's own error, nothing run.
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["errors"][0]["message"].is_string() && body["data"].is_null(),
        "{body}"
    );
}

#[tokio::test]
async fn the_playground_is_served_with_its_own_files() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{}/graphql/playground", app.base))
        .send()
        .await
        .expect("playground");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    let mut srcs: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/graphiql/"))
        .collect();
    srcs.sort();
    srcs.dedup();
    assert!(srcs.len() >= 5, "scripts and styles of its own: {srcs:?}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere"
    );
    for src in srcs {
        let res = client
            .get(format!("{}{src}", app.base))
            .send()
            .await
            .expect(src);
        assert_eq!(res.status(), StatusCode::OK, "{src}");
        assert!(
            res.bytes().await.expect("body").len() > 100,
            "{src} is not empty"
        );
    }
    let (status, _) = app
        .call(Method::GET, "/graphiql/..%2Fapp.js", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
