use super::*;

#[test]
fn connection_ids_are_per_address_and_checked() {
    let ids = ConnectionIds::new();
    let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
    let id = ids.issue(a);
    assert!(ids.valid(id, a));
    assert!(
        !ids.valid(id, b),
        "an id is bound to the address it was issued to"
    );
    assert!(!ids.valid(id ^ 1, a));
    let now = ConnectionIds::epoch_now();
    assert!(
        ids.valid(ids.id_at(now - 1, a), a),
        "last minute's id still works"
    );
    assert!(
        !ids.valid(ids.id_at(now - 2, a), a),
        "an id two minutes old has expired"
    );
    assert_ne!(
        ConnectionIds::new().issue(a),
        id,
        "each start has its own secret"
    );
}

#[test]
fn url_data_carries_the_passkey() {
    let key = "0123456789abcdef0123456789abcdef";
    let path = format!("/announce/{key}");
    let (first, rest) = path.as_bytes().split_at(10);
    let mut opts = vec![1, 2, first.len() as u8];
    opts.extend_from_slice(first);
    opts.extend_from_slice(&[2, rest.len() as u8]);
    opts.extend_from_slice(rest);
    opts.push(0);
    opts.extend_from_slice(b"ignored");
    assert_eq!(passkey_of(&url_data(&opts)).as_deref(), Some(key));
    assert_eq!(passkey_of(b"/announce"), None);
    // A length beyond the packet is cut at its end, never read past it.
    assert_eq!(url_data(&[2, 200, b'/', b'a']), b"/a");
    assert_eq!(url_data(&[2]), b"");
}

fn open_tracker() -> Arc<Tracker> {
    let cfg = crate::config::TrackerConfig {
        mode: crate::config::TrackerMode::Open,
        interval: std::time::Duration::from_secs(60),
        min_interval: std::time::Duration::from_secs(30),
        default_numwant: 50,
        max_numwant: 200,
        udp: Vec::new(),
    };
    let store = crate::store::SqliteStore::open_in_memory().expect("in-memory store");
    Tracker::new(cfg, Arc::new(store))
}

fn announce_packet(conn: u64, port: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(98);
    p.extend_from_slice(&conn.to_be_bytes());
    p.extend_from_slice(&ANNOUNCE.to_be_bytes());
    p.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    p.extend_from_slice(&[9; 20]); // info hash
    p.extend_from_slice(&[8; 20]); // peer id
    p.extend_from_slice(&[0; 24]); // downloaded, left, uploaded
    p.extend_from_slice(&2u32.to_be_bytes()); // started
    p.extend_from_slice(&[0; 8]); // ip, key
    p.extend_from_slice(&(-1i32).to_be_bytes()); // numwant: default
    p.extend_from_slice(&port.to_be_bytes());
    p
}

fn error_text(answer: &[u8]) -> &str {
    assert_eq!(u32_at(answer, 0), ERROR, "{answer:?}");
    assert_eq!(u32_at(answer, 4), 0x0102_0304, "transaction id echoed");
    std::str::from_utf8(&answer[8..]).expect("a text message")
}

#[tokio::test]
async fn an_expired_connection_id_gets_an_error_packet() {
    let t = open_tracker();
    let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let old = t.ids.id_at(ConnectionIds::epoch_now() - 2, from);
    let answer = handle(&t, &announce_packet(old, 6881), from).await.unwrap();
    assert_eq!(error_text(&answer), "connection id expired or invalid");
    let fresh = t.ids.issue(from);
    let answer = handle(&t, &announce_packet(fresh, 6881), from)
        .await
        .unwrap();
    assert_eq!(u32_at(&answer, 0), ANNOUNCE, "a current id is served");
}

/// Regression: an announce with port 0 was stored and handed out as a peer nobody can
/// reach (HTTP refused it; UDP did not).
#[tokio::test]
async fn an_announce_with_port_zero_is_refused() {
    let t = open_tracker();
    let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let id = t.ids.issue(from);
    let answer = handle(&t, &announce_packet(id, 0), from).await.unwrap();
    assert_eq!(error_text(&answer), "invalid port: 0");
    assert_eq!(t.counts(&InfoHash::from_bytes([9; 20])).leechers, 0);
}
