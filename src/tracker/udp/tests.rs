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
