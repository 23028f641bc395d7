//! The list query over 1,000 torrents.

use super::*;
use crate::InfoHash;
use crate::view::PeerCounts;

fn view(i: usize) -> TorrentView {
    let states = TorrentState::ALL;
    let priorities = [Priority::High, Priority::Normal, Priority::Low];
    let mut hash = [0u8; 20];
    hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
    TorrentView {
        info_hash: InfoHash::from_bytes(hash),
        // Every seventh has no name yet; the rest are not in the order they were added.
        name: (!i.is_multiple_of(7)).then(|| format!("Torrent {:04}", (i * 389) % 1000)),
        state: states[i % states.len()],
        priority: priorities[i % 3],
        paused: false,
        queue_position: i.is_multiple_of(4).then_some(i / 4 + 1),
        percentage: (i % 101) as f64,
        total_bytes: ((i * 7919) % 1000) as u64 * 1024,
        completed_bytes: 0,
        downloaded: 0,
        uploaded: 0,
        download_speed: (i % 13) as u64,
        upload_speed: (i % 5) as u64,
        eta: i.is_multiple_of(3).then_some(i as u64),
        ratio: (i % 10) as f64 / 10.0,
        peers: PeerCounts::default(),
        // Pairs share an instant, so ties fall to the hash.
        added_at: (i / 2) as i64,
        completed_at: None,
        owner_id: "u".into(),
        error: None,
        category: None,
        tags: Vec::new(),
        stream_only: false,
        idle: false,
        streams: 0,
    }
}

fn library() -> Vec<TorrentView> {
    // Shuffled, so no test passes by keeping the input order.
    let mut all: Vec<TorrentView> = (0..1000).map(view).collect();
    all.sort_by_key(|v| {
        (
            v.info_hash.to_string().chars().rev().collect::<String>(),
            v.added_at,
        )
    });
    all
}

fn hashes(page: &Page) -> Vec<InfoHash> {
    page.torrents.iter().map(|v| v.info_hash).collect()
}

#[test]
fn the_default_is_everything_oldest_first() {
    let page = select(library(), &ListQuery::default());
    assert_eq!(page.total, 1000);
    let expected: Vec<InfoHash> = (0..1000).map(|i| view(i).info_hash).collect();
    assert_eq!(hashes(&page), expected);
}

#[test]
fn a_state_filter_keeps_exactly_those_states() {
    let q = ListQuery {
        states: vec![TorrentState::Paused, TorrentState::Error],
        ..Default::default()
    };
    let page = select(library(), &q);
    let want = (0..1000)
        .filter(|i| matches!(view(*i).state, TorrentState::Paused | TorrentState::Error))
        .count();
    assert_eq!((page.total, page.torrents.len()), (want, want));
    assert!(page.torrents.iter().all(|v| q.states.contains(&v.state)));
}

#[test]
fn pages_cover_the_sorted_list_once_for_every_key() {
    let lib = library();
    for key in SortKey::NAMES {
        for descending in [false, true] {
            let q = ListQuery {
                sort: SortKey::parse(key).unwrap(),
                descending,
                ..Default::default()
            };
            let whole = hashes(&select(lib.clone(), &q));
            let mut paged = Vec::new();
            for offset in (0..1000).step_by(97) {
                let page = select(
                    lib.clone(),
                    &ListQuery {
                        offset,
                        limit: Some(97),
                        ..q.clone()
                    },
                );
                assert_eq!(page.total, 1000);
                assert!(page.torrents.len() <= 97);
                paged.extend(hashes(&page));
            }
            assert_eq!(paged, whole, "sort={key} descending={descending}");
        }
    }
}

#[test]
fn sorts_follow_their_key() {
    let by = |key: &str, descending: bool| {
        let q = ListQuery {
            sort: SortKey::parse(key).unwrap(),
            descending,
            ..Default::default()
        };
        select(library(), &q).torrents
    };
    let names: Vec<Option<String>> = by("name", false).into_iter().map(|v| v.name).collect();
    let named = names.iter().take_while(|n| n.is_some()).count();
    assert!(names[named..].iter().all(Option::is_none), "unnamed last");
    assert!(names[..named].windows(2).all(|w| w[0] <= w[1]));
    let sizes: Vec<u64> = by("size", true).iter().map(|v| v.total_bytes).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
    let priorities: Vec<Priority> = by("priority", false).iter().map(|v| v.priority).collect();
    assert_eq!(priorities[0], Priority::High);
    assert_eq!(priorities[999], Priority::Low);
    let queue: Vec<Option<usize>> = by("queue", false)
        .iter()
        .map(|v| v.queue_position)
        .collect();
    assert_eq!(queue[0], Some(1));
    assert_eq!(queue[999], None);
}

#[test]
fn an_offset_past_the_end_is_an_empty_page() {
    let q = ListQuery {
        offset: 5000,
        limit: Some(10),
        ..Default::default()
    };
    let page = select(library(), &q);
    assert_eq!((page.total, page.torrents.len()), (1000, 0));
    assert_eq!(SortKey::parse("nope"), None);
}
