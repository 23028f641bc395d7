//! The built-in tracker with real BitTorrent clients that meet only through it.
//!
//! Every torrent here is private (`mktorrent -p`) and every client runs with DHT, PeX
//! and local discovery off on 127.0.0.1, so the tracker is the only way one client
//! learns of another: a finished download proves the tracker brought them together.
//! aria2c seeds, qbittorrent-nox and transmission-cli download; the downloads are
//! compared byte for byte with the source and the tracker's own counts (scrape, the
//! UDP counters, private-mode totals) are checked against what the clients did.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::app::{SLOW, TestApp, assert_same_tree};
use crate::support::qbittorrent::Qbittorrent;
use crate::support::swarm::Content;
use crate::support::tools::{
    Aria2Seeder, bencode_bytes, bencode_dict_get, free_port, mktorrent_with, percent_encode,
    wait_until,
};
use crate::support::transmission::Transmission;

/// 256 KiB pieces (`mktorrent -l 18`): the content below spans 17 of them.
const PIECE_LOG2: &str = "18";
const PIECE: u64 = 1 << 18;

/// About 4.3 MiB in two files with odd sizes, so the last piece is a short one and a
/// piece straddles the two files.
fn content(name: &str) -> Content {
    Content::random(name, &[3 * 1024 * 1024 + 12_345, 1024 * 1024 + 777])
}

fn size_of(content: &Content) -> u64 {
    crate::support::app::walk(&content.root())
        .iter()
        .map(|f| std::fs::metadata(f).expect("stat content").len())
        .sum()
}

/// A private torrent of `content` with 256 KiB pieces announcing to `announce`, written
/// next to the content; returns its path and info hash.
fn private_torrent(content: &Content, announce: &str, file: &str) -> (std::path::PathBuf, String) {
    let path = content.dir.path().join(file);
    let hash = mktorrent_with(announce, &content.root(), &path, &["-p", "-l", PIECE_LOG2]);
    (path, hash)
}

/// A swarm as `GET /scrape` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scrape {
    complete: u64,
    incomplete: u64,
    downloaded: u64,
}

async fn scrape(app: &TestApp, info_hash: &str) -> Scrape {
    let raw = hex::decode(info_hash).expect("hex info hash");
    let url = format!("{}/scrape?info_hash={}", app.base, percent_encode(&raw));
    let body = app
        .client
        .get(&url)
        .send()
        .await
        .expect("scrape sent")
        .bytes()
        .await
        .expect("scrape body");
    let files = bencode_dict_get(&body, b"files")
        .unwrap_or_else(|| panic!("no `files` in {}", String::from_utf8_lossy(&body)));
    let file = bencode_dict_get(files, &raw).expect("the scraped hash in `files`");
    let int = |key: &[u8]| -> u64 {
        let raw = bencode_dict_get(file, key).expect("a scrape count");
        std::str::from_utf8(&raw[1..raw.len() - 1])
            .expect("ascii")
            .parse()
            .expect("a bencoded integer")
    };
    Scrape {
        complete: int(b"complete"),
        incomplete: int(b"incomplete"),
        downloaded: int(b"downloaded"),
    }
}

/// Waits until the scrape satisfies `done`, and returns it.
async fn wait_scrape(
    app: &TestApp,
    info_hash: &str,
    what: &str,
    done: impl Fn(&Scrape) -> bool,
    logs: impl Fn() -> String,
) -> Scrape {
    let got = wait_until(what, SLOW, || async {
        let s = scrape(app, info_hash).await;
        if done(&s) {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    got.unwrap_or_else(|e| panic!("{e}\n{}", logs()))
}

/// aria2c seeding with the tracker as its only source of peers: it re-announces every
/// second (the harness's default), so it learns of a new leecher within a second and,
/// for transmission-cli, connects out to it.
async fn aria2_seed(torrent: &Path, content: &Content, extra: &[&str]) -> Aria2Seeder {
    Aria2Seeder::start_with(torrent, content.dir.path(), extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_swarm_through_the_http_tracker() {
    // `min interval` 1 s: aria2c announces every second, which is not abuse here.
    let app = TestApp::spawn_with(&[("TRACKER_MODE", "open"), ("TRACKER_MIN_INTERVAL", "1")]).await;
    let content = content("http-swarm");
    let announce = format!("{}/announce", app.base);
    let (torrent, hash) = private_torrent(&content, &announce, "http-swarm.torrent");

    let seeder = aria2_seed(&torrent, &content, &[]).await;
    wait_scrape(
        &app,
        &hash,
        "aria2c to announce as a seeder",
        |s| s.complete == 1,
        || seeder.log(),
    )
    .await;

    let qbt = Qbittorrent::start().await;
    let mut transmission = Transmission::start(&torrent).await;
    qbt.add(&torrent).await;

    let done = qbt.wait_complete(&hash, SLOW).await;
    assert_same_tree(&content.root(), &qbt.save_path().join("http-swarm"));
    assert_eq!(done["size"].as_u64(), Some(size_of(&content)), "{done}");
    transmission.wait_same_as(&content.root(), SLOW).await;

    // Both downloaders send `event=completed` (with `left=0`) when they finish and stay
    // in the swarm as seeders; aria2c started complete, so it never sends one that
    // counts. Once both completions are in, the swarm is three seeders, no leecher.
    let logs = || {
        format!(
            "{}\n{}\n--- aria2c ---\n{}",
            qbt.log(),
            transmission.log(),
            seeder.log()
        )
    };
    let s = wait_scrape(&app, &hash, "both completions", |s| s.downloaded >= 2, logs).await;
    assert_eq!(
        s,
        Scrape {
            complete: 3,
            incomplete: 0,
            downloaded: 2
        },
        "scrape once both downloads completed\n{}",
        logs()
    );

    // A client stopped gracefully says so (`event=stopped`) and leaves the swarm; the
    // completions stay counted. qbittorrent-nox announces `stopped` on SIGTERM;
    // transmission-cli 3.00 does not (it exits without a last announce), so it is the
    // one that stays in the swarm here.
    qbt.stop().await;
    let s = wait_scrape(
        &app,
        &hash,
        "qbittorrent's stopped announce",
        |s| s.complete < 3,
        || format!("{}\n--- aria2c ---\n{}", transmission.log(), seeder.log()),
    )
    .await;
    assert_eq!(
        s,
        Scrape {
            complete: 2,
            incomplete: 0,
            downloaded: 2
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_meet_through_the_udp_tracker() {
    let udp_port = free_port();
    let app = TestApp::spawn_with(&[
        ("TRACKER_MODE", "open"),
        ("TRACKER_MIN_INTERVAL", "1"),
        ("TRACKER_UDP_PORT", &udp_port.to_string()),
        ("TRACKER_UDP_HOST", "127.0.0.1"),
    ])
    .await;
    let content = content("udp-swarm");
    let announce = format!("udp://127.0.0.1:{udp_port}/announce");
    let (torrent, hash) = private_torrent(&content, &announce, "udp-swarm.torrent");
    const UDP_OK: &str = r#"torrentedge_tracker_announces_total{protocol="udp",result="ok"}"#;
    let udp_before = app.metric(UDP_OK).await;

    // aria2c announces to UDP trackers only with its DHT on (its UDP tracker client
    // shares the DHT's socket). An empty routing table and no bootstrap node keep the
    // DHT silent, and the torrent is private, so aria2c does not look for it there.
    let dht = tempfile::tempdir().expect("tempdir for aria2's DHT");
    let dht_file = dht.path().join("dht.dat");
    let seeder = aria2_seed(
        &torrent,
        &content,
        &[
            "--enable-dht=true",
            &format!("--dht-listen-port={}", free_port()),
            &format!("--dht-file-path={}", dht_file.display()),
        ],
    )
    .await;
    wait_scrape(
        &app,
        &hash,
        "aria2c to announce over UDP",
        |s| s.complete == 1,
        || seeder.log(),
    )
    .await;

    let qbt = Qbittorrent::start().await;
    qbt.add(&torrent).await;
    qbt.wait_complete(&hash, SLOW).await;
    assert_same_tree(&content.root(), &qbt.save_path().join("udp-swarm"));

    let logs = || format!("{}\n--- aria2c ---\n{}", qbt.log(), seeder.log());
    let s = wait_scrape(
        &app,
        &hash,
        "qbittorrent's completion",
        |s| s.downloaded >= 1,
        logs,
    )
    .await;
    assert_eq!(
        s,
        Scrape {
            complete: 2,
            incomplete: 0,
            downloaded: 1
        },
        "{}",
        logs()
    );
    // Both clients' announces (at least started + completed for qBittorrent, started
    // for aria2c) came over UDP; the torrent names no HTTP tracker, so no HTTP announce
    // was counted for them. (The counters are process-wide: other tests in this binary
    // may announce over HTTP meanwhile, so the HTTP counter says nothing here.)
    let udp_after = app.metric(UDP_OK).await;
    assert!(
        udp_after >= udp_before + 3.0,
        "UDP announces counted: {udp_before} before, {udp_after} after\n{}",
        logs()
    );
}

/// One HTTP announce by hand (the harness as a peer on port 1, where nothing listens),
/// returning the bencoded answer's `failure reason`, if any.
async fn raw_announce(app: &TestApp, path: &str, info_hash: &str, event: &str) -> Option<String> {
    let raw = hex::decode(info_hash).expect("hex info hash");
    let url = format!(
        "{}{path}?info_hash={}&peer_id=-TE0001-harnessprobe&port=1&uploaded=0&downloaded=0\
         &left=1&compact=1&event={event}",
        app.base,
        percent_encode(&raw)
    );
    let resp = app.client.get(&url).send().await.expect("announce sent");
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "announces are answered 200, refusals too"
    );
    let body = resp.bytes().await.expect("announce body");
    assert_eq!(
        body.first(),
        Some(&b'd'),
        "{}",
        String::from_utf8_lossy(&body)
    );
    bencode_dict_get(&body, b"failure reason")
        .map(|r| String::from_utf8_lossy(bencode_bytes(r)).into_owned())
}

/// The caller's `GET /api/tracker/me`.
async fn tracker_me(app: &TestApp, token: &str) -> Value {
    let (status, me) = app
        .call(Method::GET, "/api/tracker/me", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me
}

fn stat(me: &Value, key: &str) -> u64 {
    me["stats"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("stats.{key} in {me}"))
}

/// Publishes a .torrent to the catalog, which is what lets the tracker track it in
/// `catalog` and `private` modes.
async fn publish(app: &TestApp, token: &str, torrent: &[u8], title: &str) -> Value {
    let (status, entry) = app.publish(token, torrent, &[("title", title)]).await;
    assert_eq!(status, StatusCode::CREATED, "POST /api/catalog: {entry}");
    entry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_mode_accounts_each_users_transfer_by_passkey() {
    let app =
        TestApp::spawn_with(&[("TRACKER_MODE", "private"), ("TRACKER_MIN_INTERVAL", "1")]).await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let (me_a, me_b) = (tracker_me(&app, &alice).await, tracker_me(&app, &bob).await);
    let key_b = me_b["passkey"].as_str().expect("bob's passkey").to_owned();
    let path_a = me_a["announcePath"]
        .as_str()
        .expect("announcePath")
        .to_owned();
    let path_b = me_b["announcePath"]
        .as_str()
        .expect("announcePath")
        .to_owned();
    assert_eq!(path_b, format!("/announce/{key_b}"), "{me_b}");
    assert_ne!(path_a, path_b, "each user has a passkey of their own");

    // One torrent per user, each announcing with its user's passkey; the announce URL
    // is outside the info dictionary, so both are the same swarm.
    let content = content("private-swarm");
    let (torrent_a, hash) =
        private_torrent(&content, &format!("{}{path_a}", app.base), "a.torrent");
    let (torrent_b, hash_b) =
        private_torrent(&content, &format!("{}{path_b}", app.base), "b.torrent");
    assert_eq!(
        hash, hash_b,
        "per-user torrents of the same content share the info hash"
    );

    // Not in the catalog yet: refused even with a good passkey.
    let refused = raw_announce(&app, &path_a, &hash, "stopped").await;
    assert!(
        refused
            .as_deref()
            .is_some_and(|r| r.contains("not registered")),
        "{refused:?}"
    );
    let entry = publish(
        &app,
        &alice,
        &std::fs::read(&torrent_a).expect("read"),
        "private swarm",
    )
    .await;
    assert_eq!(entry["infoHash"], hash.as_str(), "{entry}");
    // The catalog hands Bob a .torrent that announces with his passkey, same swarm.
    let id = entry["id"].as_str().expect("catalog id");
    let resp = app
        .client
        .get(format!("{}/api/catalog/{id}/download", app.base))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("download sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let downloaded = resp.bytes().await.expect("torrent");
    let url = bencode_dict_get(&downloaded, b"announce").expect("announce");
    let url = String::from_utf8_lossy(bencode_bytes(url)).into_owned();
    assert!(url.ends_with(&path_b), "{url}");
    assert_eq!(crate::support::tools::info_hash_of(&downloaded), hash);

    // In the catalog now: a good passkey is accepted, a wrong or missing one is not.
    assert_eq!(raw_announce(&app, &path_a, &hash, "stopped").await, None);
    let wrong = format!("/announce/{}", "0".repeat(32));
    let refused = raw_announce(&app, &wrong, &hash, "started").await;
    assert_eq!(refused.as_deref(), Some("unknown passkey"));
    let refused = raw_announce(&app, "/announce", &hash, "started").await;
    assert!(
        refused.as_deref().is_some_and(|r| r.contains("passkey")),
        "{refused:?}"
    );

    let seeder = aria2_seed(&torrent_a, &content, &[]).await;
    let qbt = Qbittorrent::start().await;
    qbt.add(&torrent_b).await;
    qbt.wait_complete(&hash, SLOW).await;
    assert_same_tree(&content.root(), &qbt.save_path().join("private-swarm"));

    // Stopped gracefully, each client sends `event=stopped` with its final counters;
    // once neither user has a client in the swarm, those have been accounted.
    let seeder_log = seeder.log();
    let qbt_log = qbt.log();
    qbt.stop().await;
    seeder.stop().await;
    let logs = || format!("{qbt_log}\n--- aria2c ---\n{seeder_log}");
    let (a, b) = wait_until(
        "both clients' stopped announces",
        Duration::from_secs(60),
        || async {
            let (a, b) = (tracker_me(&app, &alice).await, tracker_me(&app, &bob).await);
            let active = |m: &Value| stat(m, "seeding") + stat(m, "leeching");
            if active(&a) + active(&b) == 0 {
                Ok((a, b))
            } else {
                Err(format!("{a}\n{b}"))
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", logs()));

    // What Alice's aria2c uploaded is what Bob's qBittorrent downloaded: the content,
    // give or take a piece (a client may count a piece it fetched twice, or one it
    // sent that failed a check, or not count one it had not finished announcing).
    let size = size_of(&content);
    let near = |got: u64| got.abs_diff(size) <= PIECE;
    assert!(
        near(stat(&a, "uploaded")),
        "alice uploaded ≈ {size}: {a}\n{}",
        logs()
    );
    assert!(
        near(stat(&b, "downloaded")),
        "bob downloaded ≈ {size}: {b}\n{}",
        logs()
    );
    assert_eq!(
        stat(&a, "downloaded"),
        0,
        "the seeder downloaded nothing: {a}"
    );
    assert!(
        stat(&b, "uploaded") <= PIECE,
        "bob's only peer was a seeder: {b}"
    );
}
