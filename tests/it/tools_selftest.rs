//! Tests of the external-program harness itself (`support::tools`), so that a
//! failing integration test can be blamed on the server rather than on a tracker
//! or seeder that never came up.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

use rand::RngCore as _;
use sha1::{Digest as _, Sha1};

use crate::support::tools::*;

/// Writes a few files of random bytes under `root/payload`, with sizes that do not
/// line up with the 32 KiB pieces so that pieces span file boundaries.
fn random_payload(root: &Path) -> std::path::PathBuf {
    let payload = root.join("payload");
    fs::create_dir_all(payload.join("sub")).unwrap();
    for (name, len) in [("a.bin", 100_000), ("b.bin", 33_333), ("sub/c.bin", 7)] {
        let mut bytes = vec![0u8; len];
        rand::rng().fill_bytes(&mut bytes);
        fs::write(payload.join(name), bytes).unwrap();
    }
    payload
}

#[test]
fn require_tool_finds_the_installed_programs() {
    for tool in ["opentracker", "aria2c", "mktorrent"] {
        let path = require_tool(tool);
        assert!(path.is_absolute() && path.ends_with(tool), "{path:?}");
    }
}

#[test]
#[should_panic(expected = "./scripts/test.sh")]
fn require_tool_panics_with_the_remedy() {
    require_tool("torrentedge-no-such-program");
}

#[test]
fn free_port_is_free_for_tcp_and_udp_and_not_reused() {
    let a = free_port();
    let b = free_port();
    assert_ne!(a, b);
    TcpListener::bind((Ipv4Addr::LOCALHOST, a)).expect("tcp");
    UdpSocket::bind((Ipv4Addr::LOCALHOST, a)).expect("udp");
}

#[test]
fn info_hash_covers_exactly_the_info_dict() {
    // `info` deliberately not last and containing nested containers, so a skipper
    // that stops early or runs to the end of the file gives a different hash.
    let info = b"d5:filesld6:lengthi3e4:pathl1:aeee4:name1:x12:piece lengthi32768e6:pieces0:e";
    let mut torrent = b"d8:announce3:abc4:info".to_vec();
    torrent.extend_from_slice(info);
    torrent.extend_from_slice(b"7:comment2:hie");
    assert_eq!(info_hash_of(&torrent), hex::encode(Sha1::digest(info)));
    assert_eq!(bencode_dict_get(&torrent, b"comment"), Some(&b"2:hi"[..]));
    assert_eq!(bencode_dict_get(&torrent, b"missing"), None);
}

#[test]
fn info_hash_agrees_with_aria2() {
    let tmp = tempfile::tempdir().unwrap();
    let payload = random_payload(tmp.path());
    let torrent = tmp.path().join("x.torrent");
    let ours = mktorrent("http://127.0.0.1:1/announce", &payload, &torrent);

    // aria2c -S only reads the file and prints its metadata, no network.
    let out = std::process::Command::new(require_tool("aria2c"))
        .arg("--no-conf=true")
        .arg("-S")
        .arg(&torrent)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let theirs = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Info Hash: "))
        .unwrap_or_else(|| panic!("no info hash in aria2c -S output:\n{stdout}"));
    assert_eq!(ours, theirs.trim());
}

#[test]
fn percent_encode_and_compact_peers() {
    assert_eq!(percent_encode(b"aZ9-._~ /\x00\xff"), "aZ9-._~%20%2F%00%FF");
    let peers = decode_compact_peers(&[127, 0, 0, 1, 0x1a, 0xe1, 10, 1, 2, 3, 0, 80]);
    assert_eq!(
        peers,
        [
            "127.0.0.1:6881".parse::<SocketAddr>().unwrap(),
            "10.1.2.3:80".parse().unwrap()
        ]
    );
}

#[tokio::test]
async fn opentracker_refuses_unlisted_hashes_until_added() {
    let tracker = Opentracker::start(&[]).await;
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let refused = tracker.peers(hash).await.unwrap_err();
    assert!(refused.contains("not authorized"), "{refused}");

    tracker.add_hash(hash).await;
    let peers = tracker.peers(hash).await.unwrap();
    // The harness's own announce must not show up, nor linger in the swarm.
    assert_eq!(peers, [], "{}", tracker.log());
    assert_eq!(tracker.peers(hash).await.unwrap(), []);
}

#[tokio::test]
async fn aria2_seeder_is_listed_by_opentracker() {
    let tmp = tempfile::tempdir().unwrap();
    let content_dir = tmp.path().join("content");
    let payload = random_payload(&content_dir);

    // The info hash does not depend on the announce URL, so a first torrent gives
    // the hash to whitelist before the tracker (and thus its port) exists.
    let hash = mktorrent(
        "http://127.0.0.1:1/announce",
        &payload,
        &tmp.path().join("placeholder.torrent"),
    );
    let tracker = Opentracker::start(std::slice::from_ref(&hash)).await;
    let torrent = tmp.path().join("x.torrent");
    assert_eq!(mktorrent(&tracker.announce_url(), &payload, &torrent), hash);

    let seeder = Aria2Seeder::start(&torrent, &content_dir).await;
    let peers = wait_until(
        "opentracker to list the aria2 seeder",
        Duration::from_secs(30),
        || async {
            let peers = tracker.peers(&hash).await?;
            if peers.contains(&seeder.peer_addr()) {
                Ok(peers)
            } else {
                Err(format!("peers so far: {peers:?}"))
            }
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}\naria2c output:\n{}\nopentracker output:\n{}",
            seeder.log(),
            tracker.log()
        )
    });
    assert_eq!(
        peers,
        [SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            seeder.peer_addr().port()
        ))]
    );
    assert!(
        seeder.log().contains("listening on TCP port"),
        "{}",
        seeder.log()
    );
}

#[tokio::test]
#[should_panic(expected = "aria2c exited early")]
async fn aria2_seeder_start_fails_fast_with_its_output() {
    let tmp = tempfile::tempdir().unwrap();
    let torrent = tmp.path().join("broken.torrent");
    fs::write(&torrent, b"this is not bencode").unwrap();
    Aria2Seeder::start(&torrent, tmp.path()).await;
}
