//! The media library in the contract: movies, shows and episodes per owner, with
//! their torrent assignments.

use uuid::Uuid;

use super::{must, new_user, now, random_hash, random_hex, unique};
use crate::InfoHash;
use crate::store::{Assignment, MediaItem, MediaKind, Millis, Store, User};

fn movie(owner: &User, created_at: Millis) -> MediaItem {
    MediaItem {
        id: Uuid::new_v4().to_string(),
        owner_id: owner.id.clone(),
        kind: MediaKind::Movie,
        title: "Amélie — le fabuleux destin ✓".to_owned(),
        year: Some(2001),
        show_id: None,
        season: None,
        episode: None,
        assignment: None,
        created_at,
    }
}

fn show(owner: &User, created_at: Millis) -> MediaItem {
    MediaItem {
        kind: MediaKind::Show,
        title: "The Wire".to_owned(),
        year: Some(2002),
        ..movie(owner, created_at)
    }
}

fn episode_of(show: &MediaItem, season: u32, episode: u32) -> MediaItem {
    MediaItem {
        id: Uuid::new_v4().to_string(),
        owner_id: show.owner_id.clone(),
        kind: MediaKind::Episode,
        title: String::new(),
        year: None,
        show_id: Some(show.id.clone()),
        season: Some(season),
        episode: Some(episode),
        assignment: None,
        created_at: show.created_at + i64::from(season * 100 + episode),
    }
}

/// An assignment with every field set, a size beyond 32 bits and a non-ASCII path.
fn full_assignment(info_hash: InfoHash) -> Assignment {
    Assignment {
        info_hash,
        file_index: 3,
        file_path: "Season 1/Épisode 01 — pilot.mkv".to_owned(),
        size: (5 << 33) + 17,
        resolution: Some("2160p".to_owned()),
        source: Some("bluray".to_owned()),
        assigned_at: now(),
    }
}

async fn must_get_media(store: &dyn Store, id: &str) -> MediaItem {
    match must("media", store.media(id).await) {
        Some(m) => m,
        None => panic!("store contract: library item {id} is missing"),
    }
}

/// Movies, shows and episodes, with and without an assignment, read back as written;
/// an unknown id reads as `None`.
pub async fn media_put_and_get(store: &dyn Store) {
    let owner = new_user(store).await;
    let plain = movie(&owner, now());
    let assigned = MediaItem {
        assignment: Some(full_assignment(random_hash())),
        year: None,
        ..movie(&owner, now())
    };
    let the_show = show(&owner, now());
    let special = MediaItem {
        title: "Christmas special".to_owned(),
        assignment: Some(Assignment {
            resolution: None,
            source: None,
            file_index: 0,
            ..full_assignment(random_hash())
        }),
        ..episode_of(&the_show, 0, u32::MAX)
    };
    for item in [&plain, &assigned, &the_show, &special] {
        must("put_media", store.put_media(item).await);
    }
    for item in [&plain, &assigned, &the_show, &special] {
        let read = must_get_media(store, &item.id).await;
        assert_eq!(&read, item, "media must return the item as put");
    }
    let missing = must("media", store.media(&unique("no-such-item")).await);
    assert_eq!(missing, None, "media of an unknown id must be None");
}

/// `put_media` of a known id replaces every field: it sets empty ones, clears set
/// ones (the assignment too), and replacing a show keeps its episodes.
pub async fn media_put_replaces_every_field(store: &dyn Store) {
    let owner = new_user(store).await;
    let first = movie(&owner, now());
    must("put_media", store.put_media(&first).await);
    let assigned = MediaItem {
        title: "Renamed".to_owned(),
        year: Some(1870),
        assignment: Some(full_assignment(random_hash())),
        created_at: first.created_at + 5,
        ..first.clone()
    };
    must("put_media", store.put_media(&assigned).await);
    assert_eq!(must_get_media(store, &first.id).await, assigned);
    let reassigned = MediaItem {
        assignment: Some(Assignment {
            file_path: "other.mp4".to_owned(),
            resolution: None,
            ..full_assignment(random_hash())
        }),
        ..assigned.clone()
    };
    must("put_media", store.put_media(&reassigned).await);
    assert_eq!(must_get_media(store, &first.id).await, reassigned);
    let cleared = MediaItem {
        year: None,
        assignment: None,
        ..assigned
    };
    must("put_media", store.put_media(&cleared).await);
    assert_eq!(
        must_get_media(store, &first.id).await,
        cleared,
        "put_media must clear what the new item leaves empty"
    );

    let the_show = show(&owner, now());
    let ep = episode_of(&the_show, 1, 1);
    must("put_media", store.put_media(&the_show).await);
    must("put_media", store.put_media(&ep).await);
    let renamed = MediaItem {
        title: "Renamed show".to_owned(),
        ..the_show.clone()
    };
    must("put_media", store.put_media(&renamed).await);
    assert_eq!(must_get_media(store, &the_show.id).await, renamed);
    assert_eq!(
        must_get_media(store, &ep.id).await,
        ep,
        "replacing a show must keep its episodes"
    );
}

/// `list_media` holds exactly one owner's items, oldest first, ties broken by id.
pub async fn media_list_is_per_owner_oldest_first(store: &dyn Store) {
    let owner = new_user(store).await;
    let other = new_user(store).await;
    let base = now();
    let prefix = random_hex(8);
    let with_id = |mut m: MediaItem, suffix: &str| {
        m.id = format!("{prefix}-{suffix}");
        m
    };
    let the_show = with_id(show(&owner, base + 1), "b");
    let items = [
        with_id(movie(&owner, base + 2), "c"),
        with_id(movie(&owner, base + 1), "b0"),
        the_show.clone(),
        with_id(movie(&owner, base), "z"),
        with_id(episode_of(&the_show, 1, 2), "e"),
    ];
    for item in &items {
        must("put_media", store.put_media(item).await);
    }
    must("put_media", store.put_media(&movie(&other, base - 1)).await);
    let listed = must("list_media", store.list_media(&owner.id).await);
    let ids: Vec<String> = listed.iter().map(|m| m.id.clone()).collect();
    let expected: Vec<String> = ["z", "b", "b0", "c", "e"]
        .iter()
        .map(|s| format!("{prefix}-{s}"))
        .collect();
    assert_eq!(
        ids, expected,
        "list_media must hold the owner's items only, by created_at, then id"
    );
    let episode = listed.last().expect("five items");
    assert_eq!(episode, &items[4], "list_media must return whole items");
    let nobody = must("list_media", store.list_media(&unique("nobody")).await);
    assert!(nobody.is_empty(), "an owner without items lists nothing");
}

/// Deleting reports whether the item existed, and really removes it (and nothing else).
pub async fn media_delete(store: &dyn Store) {
    let owner = new_user(store).await;
    let (gone, kept) = (movie(&owner, now()), movie(&owner, now()));
    for item in [&gone, &kept] {
        must("put_media", store.put_media(item).await);
    }
    assert!(
        must("delete_media", store.delete_media(&gone.id).await),
        "deleting an existing item must return true"
    );
    assert_eq!(must("media", store.media(&gone.id).await), None);
    assert!(
        !must("delete_media", store.delete_media(&gone.id).await),
        "deleting an absent item must return false"
    );
    assert_eq!(must_get_media(store, &kept.id).await, kept);
    let listed = must("list_media", store.list_media(&owner.id).await);
    assert_eq!(listed, vec![kept], "a deleted item must leave the list");
}

/// Deleting a show deletes its episodes; other shows' episodes and deleting a single
/// episode leave the rest alone.
pub async fn media_delete_show_deletes_its_episodes(store: &dyn Store) {
    let owner = new_user(store).await;
    let (doomed, other) = (show(&owner, now()), show(&owner, now()));
    let doomed_eps = [episode_of(&doomed, 1, 1), episode_of(&doomed, 2, 5)];
    let other_eps = [episode_of(&other, 1, 1), episode_of(&other, 1, 2)];
    for item in [&doomed, &other]
        .into_iter()
        .chain(&doomed_eps)
        .chain(&other_eps)
    {
        must("put_media", store.put_media(item).await);
    }
    assert!(must(
        "delete_media",
        store.delete_media(&other_eps[0].id).await
    ));
    assert_eq!(must_get_media(store, &other.id).await, other);
    assert!(must("delete_media", store.delete_media(&doomed.id).await));
    for ep in &doomed_eps {
        let read = must("media", store.media(&ep.id).await);
        assert_eq!(read, None, "deleting a show must delete its episodes");
    }
    let listed = must("list_media", store.list_media(&owner.id).await);
    assert_eq!(
        listed,
        vec![other.clone(), other_eps[1].clone()],
        "only the other show and its remaining episode stay"
    );
}
