//! Trackers from user input reach librqbit only when the tracker policy allows them.
//!
//! A canary tracker on 127.0.0.1 counts the announces it gets. Under the default policy
//! (`ALLOW_PRIVATE_TRACKERS=false`) a torrent naming it must never ask it: the test waits
//! until the torrent has run to completion from a seeder (so librqbit had every chance
//! to announce) and checks both that the canary heard nothing and that librqbit's own
//! tracker list for the torrent does not hold it. With the variable on, the canary is
//! asked. Link-local trackers are dropped either way. The details list each dropped
//! tracker with its reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::support::app::{SLOW, TestApp};
use crate::support::swarm::{Content, Seeder};
use crate::support::wait_for;

/// The cloud metadata address: never a tracker, whatever the policy.
const METADATA: &str = "http://169.254.169.254/latest/meta-data/announce";

/// An HTTP tracker on loopback that answers every announce with no peers and counts them.
struct Canary {
    addr: SocketAddr,
    announces: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Canary {
    async fn start() -> Self {
        let announces = Arc::new(AtomicUsize::new(0));
        let counter = announces.clone();
        let app = axum::Router::new().fallback(move |query: axum::extract::RawQuery| {
            let counter = counter.clone();
            async move {
                if query.0.is_some_and(|q| q.contains("info_hash=")) {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                b"d8:intervali1800e5:peers0:e".to_vec()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind canary");
        let addr = listener.local_addr().expect("canary addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("canary serves");
        });
        Self {
            addr,
            announces,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    fn announces(&self) -> usize {
        self.announces.load(Ordering::SeqCst)
    }

    async fn wait_asked(&self) {
        wait_for("the canary tracker to be asked", SLOW, || async {
            (self.announces() > 0).then_some(())
        })
        .await;
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Small content with a torrent naming `trackers`, and a seeder of it.
async fn seeded(name: &str, trackers: Vec<String>) -> (Content, Vec<u8>, String, Seeder) {
    let content = Content::random(name, &[300_000, 70_001]);
    let (torrent, hash) = content.make_torrent(16 * 1024, trackers).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    (content, torrent, hash, seeder)
}

fn strict_server() -> [(&'static str, &'static str); 1] {
    [("ALLOW_PRIVATE_TRACKERS", "false")]
}

/// The `droppedTrackers` entry for `url`, or a panic showing the details.
fn dropped<'a>(details: &'a Value, url: &str) -> &'a str {
    let list = details["droppedTrackers"].as_array();
    let found = list.and_then(|l| l.iter().find(|d| d["url"] == url));
    let found = found.unwrap_or_else(|| panic!("{url} not in droppedTrackers: {details}"));
    found["reason"].as_str().expect("a reason")
}

fn librqbit_trackers(details: &Value) -> Vec<String> {
    let list = details["trackers"].as_array().expect("trackers array");
    list.iter()
        .map(|t| t.as_str().expect("url").to_owned())
        .collect()
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torrent_file_tracker_on_loopback_is_never_asked_by_default() {
    let canary = Canary::start().await;
    let (_content, torrent, hash, seeder) =
        seeded("strict-file", vec![canary.url(), METADATA.to_owned()]).await;
    let app = TestApp::spawn_with(&strict_server()).await;

    let (status, added) = app
        .upload(
            &app.admin_token,
            &torrent,
            &[("peers", &seeder.addr.to_string())],
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        added["infoHash"], hash,
        "the info hash is the torrent's own"
    );
    let done = app.wait_complete(&app.admin_token, &hash, SLOW).await;

    assert_eq!(canary.announces(), 0, "the loopback tracker was asked");
    let given = librqbit_trackers(&done);
    assert!(!given.contains(&canary.url()), "librqbit got {given:?}");
    assert!(given.is_empty(), "librqbit got {given:?}");
    let why = dropped(&done, &canary.url());
    assert!(why.contains("loopback"), "{why}");
    assert!(why.contains("ALLOW_PRIVATE_TRACKERS=true"), "{why}");
    assert!(dropped(&done, METADATA).contains("never allowed"), "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torrent_file_tracker_on_loopback_is_asked_when_allowed() {
    let canary = Canary::start().await;
    let content = Content::random("lan-file", &[100_000]);
    let (torrent, hash) = content
        .make_torrent(16 * 1024, vec![METADATA.to_owned(), canary.url()])
        .await;
    let app = TestApp::spawn().await; // the harness allows private trackers

    let (status, added) = app.upload(&app.admin_token, &torrent, &[]).await;
    assert_eq!(status, 201, "{added}");
    canary.wait_asked().await;

    let details = app.torrent(&app.admin_token, &hash).await;
    assert_eq!(librqbit_trackers(&details), [canary.url()]);
    assert!(
        dropped(&details, METADATA).contains("link-local"),
        "{details}"
    );
    assert_eq!(
        details["droppedTrackers"].as_array().map(Vec::len),
        Some(1),
        "only the link-local tracker is dropped: {details}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_tracker_on_loopback_is_never_asked_by_default() {
    let canary = Canary::start().await;
    let (_content, _torrent, hash, seeder) = seeded("strict-magnet", vec![]).await;
    let app = TestApp::spawn_with(&strict_server()).await;

    let magnet = format!(
        "magnet:?xt=urn:btih:{hash}&tr={}&tr={}&x.pe={}",
        url_encode(&canary.url()),
        url_encode(METADATA),
        seeder.addr
    );
    app.add_magnet(&app.admin_token, &magnet, json!({})).await;
    // Metadata from the seeder, then the whole download: librqbit had the magnet and
    // the torrent running all along, and with them every chance to announce.
    let done = app.wait_complete(&app.admin_token, &hash, SLOW).await;

    assert_eq!(canary.announces(), 0, "the loopback tracker was asked");
    let given = librqbit_trackers(&done);
    assert!(given.is_empty(), "librqbit got {given:?}");
    assert!(
        dropped(&done, &canary.url()).contains("ALLOW_PRIVATE_TRACKERS=true"),
        "{done}"
    );
    assert!(dropped(&done, METADATA).contains("never allowed"), "{done}");
    let kept = done["magnetUri"].as_str().expect("magnet kept");
    assert!(
        kept.contains(&url_encode(&canary.url())),
        "the record keeps the magnet as given: {kept}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_tracker_on_loopback_is_asked_when_allowed() {
    let canary = Canary::start().await;
    let hash = hex::encode(rand::random::<[u8; 20]>());
    let app = TestApp::spawn().await; // the harness allows private trackers

    let magnet = format!(
        "magnet:?xt=urn:btih:{hash}&tr={}&tr={}",
        url_encode(METADATA),
        url_encode(&canary.url())
    );
    app.add_magnet(&app.admin_token, &magnet, json!({})).await;
    // No peer has it: the tracker is the only way librqbit can look for its metadata.
    canary.wait_asked().await;

    let details = app.torrent(&app.admin_token, &hash).await;
    assert_eq!(details["state"], "metadata", "{details}");
    assert!(
        dropped(&details, METADATA).contains("never allowed"),
        "{details}"
    );
    assert_eq!(
        details["droppedTrackers"].as_array().map(Vec::len),
        Some(1),
        "{details}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_schemes_are_dropped_and_the_torrent_still_works() {
    let app = TestApp::spawn().await;
    let hash = hex::encode(rand::random::<[u8; 20]>());
    let magnet = format!(
        "magnet:?xt=urn:btih:{hash}&tr={}&tr={}",
        url_encode("wss://tracker.example.org/announce"),
        url_encode("file:///etc/passwd")
    );
    app.add_magnet(&app.admin_token, &magnet, json!({})).await;
    let details = app.torrent(&app.admin_token, &hash).await;
    assert!(
        dropped(&details, "wss://tracker.example.org/announce").contains("scheme wss:"),
        "{details}"
    );
    assert!(dropped(&details, "file:///etc/passwd").contains("scheme file:"));
    assert_ne!(details["state"], "error", "{details}");
}
