use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::store::{SqliteStore, Store};

fn config(mode: TrackerMode) -> TrackerConfig {
    TrackerConfig {
        mode,
        interval: Duration::from_secs(60),
        min_interval: Duration::from_secs(30),
        default_numwant: 50,
        max_numwant: 200,
        udp: Vec::new(),
    }
}

fn request(n: u8, passkey: Option<&str>) -> Request {
    Request {
        protocol: Protocol::Http,
        info_hash: InfoHash::from_bytes([7; 20]),
        peer_id: [n; 20],
        addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6000 + u16::from(n))),
        uploaded: 0,
        downloaded: 0,
        left: 10,
        event: Event::Started,
        numwant: None,
        passkey: passkey.map(str::to_owned),
    }
}

async fn store_with_user(id: &str) -> DynStore {
    let store = SqliteStore::open_in_memory().unwrap();
    let user = crate::store::User {
        id: id.into(),
        username: id.into(),
        password_hash: "x".into(),
        role: crate::store::Role::User,
        created_at: 0,
    };
    store.create_user(&user).await.unwrap();
    Arc::new(store)
}

#[tokio::test]
async fn catalog_mode_tracks_only_allowed_hashes() {
    let t = Tracker::new(config(TrackerMode::Catalog), store_with_user("u").await);
    let err = t.announce(request(1, None)).await.unwrap_err();
    assert!(err.0.contains("not registered"), "{err:?}");
    t.allow(InfoHash::from_bytes([7; 20]));
    let a = t.announce(request(1, None)).await.unwrap();
    assert_eq!(a.counts.leechers, 1);
    t.disallow(&InfoHash::from_bytes([7; 20]));
    assert!(t.announce(request(1, None)).await.is_err());
    assert_eq!(
        t.counts(&InfoHash::from_bytes([7; 20])),
        SwarmCounts::default()
    );
}

#[tokio::test]
async fn numwant_is_capped_with_a_warning_and_fast_reannounce_is_warned() {
    let t = Tracker::new(config(TrackerMode::Open), store_with_user("u").await);
    let mut r = request(1, None);
    r.numwant = Some(1_000_000);
    let a = t.announce(r.clone()).await.unwrap();
    assert!(a.warning.unwrap().contains("capped at 200"));
    r.numwant = None;
    r.event = Event::None;
    let b = t.announce(r).await.unwrap();
    assert!(b.warning.unwrap().contains("too often"));
}

#[tokio::test]
async fn private_mode_needs_a_known_passkey_and_accounts_transfers() {
    let t = Tracker::new(config(TrackerMode::Private), store_with_user("alice").await);
    t.allow(InfoHash::from_bytes([7; 20]));
    let none = t.announce(request(1, None)).await.unwrap_err();
    assert!(none.0.contains("passkey"), "{none:?}");
    let bad = t
        .announce(request(1, Some("0123456789abcdef0123456789abcdef")))
        .await;
    assert_eq!(bad.unwrap_err().0, "unknown passkey");
    let junk = t.announce(request(1, Some("../../etc"))).await;
    assert_eq!(junk.unwrap_err().0, "unknown passkey");

    let key = t.passkey("alice").await.unwrap();
    assert_eq!(t.passkey("alice").await.unwrap(), key, "made once");
    t.announce(request(1, Some(&key))).await.unwrap();
    let mut r = request(1, Some(&key));
    r.event = Event::Stopped;
    r.uploaded = 3000;
    r.downloaded = 1000;
    t.announce(r).await.unwrap();
    let stats = t.user_stats("alice").await.unwrap();
    assert_eq!(
        (stats.uploaded, stats.downloaded, stats.ratio),
        (3000, 1000, Some(3.0))
    );
    t.flush().await;
    assert_eq!(
        t.store.transfer_totals("alice").await.unwrap(),
        (3000, 1000)
    );
    assert_eq!(
        t.user_stats("alice").await.unwrap().uploaded,
        3000,
        "not counted twice"
    );

    let fresh = t.reset_passkey("alice").await.unwrap();
    assert_ne!(fresh, key);
    assert_eq!(
        t.announce(request(1, Some(&key))).await.unwrap_err().0,
        "unknown passkey"
    );
    t.announce(request(1, Some(&fresh))).await.unwrap();
    let url = t.announce_url("http://h:1/", "alice").await.unwrap();
    assert_eq!(url, format!("http://h:1/announce/{fresh}"));
}

#[tokio::test]
async fn completed_counts_survive_a_restart_in_catalog_mode_only() {
    let store = store_with_user("u").await;
    let hash = InfoHash::from_bytes([7; 20]);
    let finish = |n: u8| {
        let mut r = request(n, None);
        r.left = 0;
        r.event = Event::Completed;
        r
    };
    let t = Tracker::new(config(TrackerMode::Catalog), store.clone());
    t.allow(hash);
    t.announce(finish(1)).await.unwrap();
    t.announce(finish(2)).await.unwrap();
    t.flush().await;
    t.announce(finish(3)).await.unwrap();
    t.flush().await;
    assert_eq!(store.completions().await.unwrap(), vec![(hash, 3)]);

    // A new tracker on the same store: the count is back, and grows from there.
    let again = Tracker::new(config(TrackerMode::Catalog), store.clone());
    again.allow(hash);
    again.restore_completions().await.unwrap();
    assert_eq!(again.counts(&hash).completed, 3);
    assert_eq!(again.announce(finish(4)).await.unwrap().counts.completed, 4);
    again.flush().await;
    assert_eq!(store.completions().await.unwrap(), vec![(hash, 4)]);

    // Open mode writes none: any hash may be announced there.
    let open = Tracker::new(config(TrackerMode::Open), store.clone());
    let mut other = finish(5);
    other.info_hash = InfoHash::from_bytes([9; 20]);
    open.announce(other).await.unwrap();
    open.flush().await;
    assert_eq!(store.completions().await.unwrap(), vec![(hash, 4)]);
}
