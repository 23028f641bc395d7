use super::*;

fn enc(b: &[u8]) -> String {
    percent_encoding::percent_encode(b, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn query(extra: &str) -> String {
    format!(
        "info_hash={}&peer_id={}&port=6881&uploaded=1&downloaded=2&left=3{extra}",
        enc(&[0xff; 20]),
        enc(b"-TE0001-abcdefghijkl")
    )
}

#[test]
fn parses_a_full_announce_with_binary_fields() {
    let q = parse_announce(&query("&event=started&numwant=10&compact=1")).unwrap();
    assert_eq!(q.info_hash.as_bytes(), &[0xff; 20]);
    assert_eq!(&q.peer_id, b"-TE0001-abcdefghijkl");
    assert_eq!((q.port, q.uploaded, q.downloaded, q.left), (6881, 1, 2, 3));
    assert_eq!(q.event, Event::Started);
    assert_eq!(q.numwant, Some(10));
}

#[test]
fn refuses_malformed_announces_with_a_reason() {
    let short = format!(
        "info_hash={}&peer_id=x&port=1&uploaded=0&downloaded=0&left=0",
        enc(&[1; 19])
    );
    let cases = [
        ("", "missing"),
        (&short as &str, "invalid info_hash"),
        (&query("&event=bogus"), "invalid event"),
        (&query("").replace("port=6881", "port=0"), "invalid port"),
        (
            &query("").replace("port=6881", "port=70000"),
            "invalid port",
        ),
        (&query("").replace("left=3", "left=-1"), "invalid left"),
        (&query("").replace("&uploaded=1", ""), "missing uploaded"),
        (
            &format!("{}&info_hash={}", query(""), enc(&[2; 20])),
            "one info_hash",
        ),
    ];
    for (q, want) in cases {
        let err = parse_announce(q).expect_err(q);
        assert!(err.0.contains(want), "{q}: {err:?}");
    }
    // A numwant that is not a number takes the default.
    assert_eq!(parse_announce(&query("&numwant=-1")).unwrap().numwant, None);
}

/// Regression: `%` without two hex digits was kept as it was, so a 20-character value
/// holding one passed as some other info hash than the client meant.
#[test]
fn invalid_percent_encoding_is_refused() {
    let hash = format!("%zz{}", "a".repeat(17));
    let bad = query("").replace(&enc(&[0xff; 20]), &hash);
    let err = parse_announce(&bad).unwrap_err();
    assert_eq!(err.0, "invalid percent-encoding in info_hash");
    for tail in ["%", "%4", "%+f"] {
        let err = parse_announce(&query(&format!("&key={tail}"))).unwrap_err();
        assert!(err.0.contains("percent-encoding"), "{tail}: {err:?}");
    }
    assert!(parse_scrape(&format!("info_hash={hash}")).is_err());
    // `%25` is the escape of `%` itself.
    assert!(parse_announce(&query("&key=%25")).is_ok());
}

#[test]
fn scrape_takes_one_to_a_hundred_hashes() {
    let q = format!("info_hash={}&info_hash={}", enc(&[1; 20]), enc(&[2; 20]));
    assert_eq!(parse_scrape(&q).unwrap().len(), 2);
    assert!(parse_scrape("").is_err());
    let many: Vec<String> = (0..=MAX_SCRAPE_HASHES)
        .map(|i| format!("info_hash={}", enc(&[i as u8; 20])))
        .collect();
    assert!(parse_scrape(&many.join("&")).is_err());
}

#[test]
fn answers_are_canonical_bencode() {
    let a = Answer {
        counts: SwarmCounts {
            seeders: 2,
            leechers: 1,
            completed: 5,
        },
        peers: vec![
            "127.0.0.1:6881".parse().unwrap(),
            "[::1]:6882".parse().unwrap(),
        ],
        interval: std::time::Duration::from_secs(1800),
        min_interval: std::time::Duration::from_secs(900),
        warning: Some("w".into()),
    };
    let body = announce_body(&a);
    let mut want = b"d8:completei2e10:downloadedi5e10:incompletei1e8:intervali1800e12:min intervali900e5:peers6:".to_vec();
    want.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1]);
    want.extend_from_slice(b"6:peers618:");
    want.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    want.extend_from_slice(&[0x1a, 0xe2]);
    want.extend_from_slice(b"15:warning message1:we");
    assert_eq!(body, want);
    assert_eq!(failure(&Refusal("no".into())), b"d14:failure reason2:noe");
    let h = InfoHash::from_bytes([b'a'; 20]);
    let scrape = scrape_body(&[(h, a.counts)]);
    assert_eq!(
        scrape,
        b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei2e10:downloadedi5e10:incompletei1eeee"
    );
}
