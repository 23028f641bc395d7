use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use super::*;

fn hash(n: u8) -> InfoHash {
    InfoHash::from_bytes([n; 20])
}

fn peer(n: u8, left: u64, event: Event) -> PeerAnnounce {
    PeerAnnounce {
        info_hash: hash(1),
        peer_id: [n; 20],
        addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, n), 6881)),
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: 50,
        same_family_only: false,
        user: None,
    }
}

#[test]
fn a_single_family_answer_fills_numwant_from_that_family() {
    let s = Swarms::default();
    let now = Instant::now();
    // Ten IPv4 peers, then two IPv6 ones.
    for n in 1..=10 {
        s.announce(&peer(n, 100, Event::Started), now);
    }
    let v6 = |n: u8| {
        let mut a = peer(n, 100, Event::Started);
        a.addr = SocketAddr::new(
            Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(n)).into(),
            6881,
        );
        a
    };
    s.announce(&v6(11), now);
    for _ in 0..20 {
        let mut me = v6(12);
        me.numwant = 1;
        me.same_family_only = true;
        let a = s.announce(&me, now);
        assert_eq!(
            a.peers.len(),
            1,
            "the one other IPv6 peer, wherever the pick starts"
        );
        assert!(a.peers[0].is_ipv6(), "{:?}", a.peers);
        let mut v4 = peer(1, 100, Event::Started);
        v4.numwant = 10;
        v4.same_family_only = true;
        let a = s.announce(&v4, now);
        assert_eq!(a.peers.len(), 9, "the other IPv4 peers only");
        assert!(a.peers.iter().all(SocketAddr::is_ipv4));
    }
    // Both families when the answer can carry both (HTTP: `peers` and `peers6`).
    let mut both = peer(1, 100, Event::Started);
    both.numwant = 50;
    assert_eq!(s.announce(&both, now).peers.len(), 11);
}

#[test]
fn counts_seeders_leechers_and_completions() {
    let s = Swarms::default();
    let now = Instant::now();
    s.announce(&peer(1, 0, Event::Started), now);
    s.announce(&peer(2, 100, Event::Started), now);
    let a = s.announce(&peer(3, 100, Event::Started), now);
    assert_eq!(
        a.counts,
        SwarmCounts {
            seeders: 1,
            leechers: 2,
            completed: 0
        }
    );
    assert_eq!(a.peers.len(), 2, "the announcer is not given itself");
    let done = s.announce(&peer(2, 0, Event::Completed), now);
    assert_eq!(
        done.counts,
        SwarmCounts {
            seeders: 2,
            leechers: 1,
            completed: 1
        }
    );
    // A second `completed` from a peer already seeding is not a second download.
    let again = s.announce(&peer(2, 0, Event::Completed), now);
    assert_eq!(again.counts.completed, 1);
    let gone = s.announce(&peer(3, 100, Event::Stopped), now);
    assert_eq!(
        gone.counts,
        SwarmCounts {
            seeders: 2,
            leechers: 0,
            completed: 1
        }
    );
    assert!(gone.peers.is_empty(), "a stopping peer is given no peers");
}

#[test]
fn seeders_are_given_leechers_only() {
    let s = Swarms::default();
    let now = Instant::now();
    for n in 1..=5 {
        s.announce(&peer(n, 0, Event::Started), now);
    }
    s.announce(&peer(9, 10, Event::Started), now);
    let a = s.announce(&peer(1, 0, Event::None), now);
    assert_eq!(a.peers, vec![peer(9, 0, Event::None).addr]);
}

#[test]
fn numwant_bounds_the_answer_and_answers_spread() {
    let s = Swarms::default();
    let now = Instant::now();
    for n in 1..=100 {
        s.announce(&peer(n, 10, Event::Started), now);
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let mut p = peer(200, 10, Event::None);
        p.numwant = 5;
        let a = s.announce(&p, now);
        assert_eq!(a.peers.len(), 5);
        seen.extend(a.peers);
    }
    assert!(
        seen.len() > 20,
        "answers start at random places: saw {}",
        seen.len()
    );
}

#[test]
fn deltas_follow_the_counters() {
    let s = Swarms::default();
    let now = Instant::now();
    let mut p = peer(1, 10, Event::Started);
    p.uploaded = 5;
    assert_eq!(s.announce(&p, now).uploaded_delta, 5);
    p.event = Event::None;
    p.uploaded = 105;
    p.downloaded = 40;
    let a = s.announce(&p, now);
    assert_eq!((a.uploaded_delta, a.downloaded_delta), (100, 40));
    // The client restarted its session: counters start from zero again.
    p.uploaded = 7;
    assert_eq!(s.announce(&p, now).uploaded_delta, 7);
    // Final totals come with `stopped`.
    p.event = Event::Stopped;
    p.uploaded = 10;
    assert_eq!(s.announce(&p, now).uploaded_delta, 3);
    // Unknown and not `started`: its counters may have been counted already.
    let mut q = peer(2, 10, Event::None);
    q.uploaded = 1000;
    assert_eq!(s.announce(&q, now).uploaded_delta, 0);
}

#[test]
fn sweep_forgets_silent_peers_and_keeps_completions_when_asked() {
    let s = Swarms::default();
    let t0 = Instant::now();
    s.announce(&peer(1, 0, Event::Completed), t0);
    let t1 = t0 + Duration::from_secs(60);
    s.announce(&peer(2, 10, Event::Started), t1);
    assert_eq!(s.sweep(t0 + Duration::from_secs(30), true), (1, 0, 1));
    let c = s.counts(&hash(1));
    assert_eq!(
        c,
        SwarmCounts {
            seeders: 0,
            leechers: 1,
            completed: 1
        }
    );
    assert_eq!(s.sweep(t1 + Duration::from_secs(1), true), (1, 0, 0));
    assert_eq!(s.counts(&hash(1)).completed, 1);
    assert_eq!(s.sweep(t1 + Duration::from_secs(1), false), (0, 0, 0));
    assert_eq!(s.counts(&hash(1)), SwarmCounts::default());
}

#[test]
fn mapped_addresses_are_ipv4_and_users_are_tracked() {
    let mapped = SocketAddr::new(IpAddr::V6(Ipv4Addr::new(127, 0, 0, 9).to_ipv6_mapped()), 1);
    assert!(canonical(mapped).is_ipv4());
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1);
    assert_eq!(canonical(v6), v6);
    let s = Swarms::default();
    let now = Instant::now();
    let mut p = peer(1, 0, Event::Started);
    p.user = Some("alice".into());
    s.announce(&p, now);
    let mut q = peer(2, 10, Event::Started);
    q.info_hash = hash(2);
    q.user = Some("alice".into());
    s.announce(&q, now);
    assert_eq!(s.user_activity("alice"), (1, 1));
    assert_eq!(s.user_activity("bob"), (0, 0));
}
