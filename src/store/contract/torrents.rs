//! Torrents in the contract: records read back whole, atomic commits of records and
//! events, the event sequence, the outbox and fast-resume records.

use super::{
    bare_torrent, commit_fresh, events_only, full_torrent, hash, must, must_conflict,
    must_get_torrent, new_user, now, outbox_record, peek_own, random_hash, random_hex, seqs_of,
    unique,
};
use crate::store::{Commit, OutboxRecord, Priority, Store, TorrentRecord};

/// An inserted torrent reads back identically; an unknown hash reads as `None`.
pub async fn torrent_insert_and_get(store: &dyn Store) {
    let owner = new_user(store).await;
    for torrent in [
        full_torrent(&owner, random_hash(), now()),
        bare_torrent(&owner, random_hash(), now()),
    ] {
        must("insert_torrent", store.insert_torrent(&torrent).await);
        let read = must_get_torrent(store, &torrent.info_hash).await;
        assert_eq!(read, torrent, "torrent must read back exactly as inserted");
    }
    let missing = must("torrent", store.torrent(&random_hash()).await);
    assert_eq!(missing, None, "an unknown info hash must be None");
}

/// Inserting an info hash twice is a `Conflict` and leaves the first record alone.
pub async fn torrent_duplicate_conflicts(store: &dyn Store) {
    let owner = new_user(store).await;
    let first = bare_torrent(&owner, random_hash(), now());
    must("insert_torrent", store.insert_torrent(&first).await);
    let clash = full_torrent(&owner, first.info_hash, now() + 1);
    must_conflict(
        "insert_torrent with a taken info hash",
        store.insert_torrent(&clash).await,
    );
    let kept = must_get_torrent(store, &first.info_hash).await;
    assert_eq!(
        kept, first,
        "a conflicting insert must not change the torrent"
    );
}

/// `save_torrent` replaces every field, both filling empty ones and clearing set ones.
pub async fn torrent_save_replaces_every_field(store: &dyn Store) {
    let owner = new_user(store).await;
    let new_owner = new_user(store).await;
    let hash = random_hash();
    let added = now();
    let bare = bare_torrent(&owner, hash, added);
    must("insert_torrent", store.insert_torrent(&bare).await);

    let full = full_torrent(&new_owner, hash, added + 10);
    must("save_torrent", store.save_torrent(&full).await);
    let read = must_get_torrent(store, &hash).await;
    assert_eq!(read, full, "save_torrent must set every field");

    let cleared = TorrentRecord {
        priority: Priority::Low,
        total_bytes: 1,
        ..bare_torrent(&owner, hash, added + 20)
    };
    must("save_torrent", store.save_torrent(&cleared).await);
    let read = must_get_torrent(store, &hash).await;
    assert_eq!(read, cleared, "save_torrent must clear fields set before");
}

/// `save_torrent` of an absent torrent inserts it.
pub async fn torrent_save_inserts_absent(store: &dyn Store) {
    let owner = new_user(store).await;
    let torrent = full_torrent(&owner, random_hash(), now());
    must("save_torrent", store.save_torrent(&torrent).await);
    let read = must_get_torrent(store, &torrent.info_hash).await;
    assert_eq!(read, torrent, "save_torrent must insert an absent torrent");
}

/// `list_torrents` is ordered by `added_at`, ties broken by info hash.
pub async fn torrent_list_order(store: &dyn Store) {
    let owner = new_user(store).await;
    let prefix = random_hex(39);
    let base = now();
    let torrents = [
        bare_torrent(&owner, hash(&format!("{prefix}0")), base + 2),
        bare_torrent(&owner, hash(&format!("{prefix}2")), base + 1),
        bare_torrent(&owner, hash(&format!("{prefix}3")), base),
        bare_torrent(&owner, hash(&format!("{prefix}1")), base + 1),
    ];
    for torrent in &torrents {
        must("insert_torrent", store.insert_torrent(torrent).await);
    }
    let listed: Vec<String> = must("list_torrents", store.list_torrents().await)
        .into_iter()
        .map(|t| t.info_hash.to_string())
        .filter(|h| h.starts_with(&prefix))
        .collect();
    let expected: Vec<String> = ["3", "1", "2", "0"]
        .iter()
        .map(|s| format!("{prefix}{s}"))
        .collect();
    assert_eq!(
        listed, expected,
        "list_torrents must order by added_at, then info hash"
    );
}

/// Deleting reports whether the torrent existed, and really removes it.
pub async fn torrent_delete(store: &dyn Store) {
    let owner = new_user(store).await;
    let torrent = full_torrent(&owner, random_hash(), now());
    must("insert_torrent", store.insert_torrent(&torrent).await);

    let existed = must(
        "delete_torrent",
        store.delete_torrent(&torrent.info_hash).await,
    );
    assert!(existed, "deleting an existing torrent must return true");
    let read = must("torrent", store.torrent(&torrent.info_hash).await);
    assert_eq!(read, None, "a deleted torrent must be gone");
    let existed = must(
        "delete_torrent",
        store.delete_torrent(&torrent.info_hash).await,
    );
    assert!(!existed, "deleting an absent torrent must return false");
}

/// A commit whose events are refused writes none of its records, and one whose insert
/// conflicts writes none of its events: a change and its event are never apart.
pub async fn commit_is_all_or_nothing(store: &dyn Store) {
    let owner = new_user(store).await;
    let fresh = bare_torrent(&owner, random_hash(), now());
    let mark = must("event_seq_mark", store.event_seq_mark().await);
    let stale = Commit {
        insert: vec![fresh.clone()],
        events: vec![outbox_record(mark)],
        ..Commit::default()
    };
    must_conflict(
        "commit with an event seq not above the mark",
        store.commit(&stale).await,
    );
    let read = must("torrent", store.torrent(&fresh.info_hash).await);
    assert_eq!(read, None, "a refused commit must not insert its torrent");

    must("insert_torrent", store.insert_torrent(&fresh).await);
    let mark = must("event_seq_mark", store.event_seq_mark().await);
    let clash = Commit {
        insert: vec![fresh.clone()],
        events: vec![outbox_record(mark + 1)],
        ..Commit::default()
    };
    must_conflict(
        "commit inserting a taken info hash",
        store.commit(&clash).await,
    );
    assert!(
        peek_own(store, &[mark + 1]).await.is_empty(),
        "a refused commit must not store its events"
    );
    // The refused commit did not take its seq: it is still free unless another
    // writer of a shared database took it since (then the mark moved on).
    let retry = store
        .commit(&events_only(vec![outbox_record(mark + 1)]))
        .await;
    let moved = must("event_seq_mark", store.event_seq_mark().await) > mark + 1;
    assert!(
        retry.is_ok() || moved,
        "a refused commit must not use up its seq: {retry:?}"
    );
    must("outbox_remove", store.outbox_remove(&[mark + 1]).await);
}

/// Saves, deletes and events of one commit all land; deletes count what existed.
pub async fn commit_saves_deletes_and_events_together(store: &dyn Store) {
    let owner = new_user(store).await;
    let (kept, gone) = (
        bare_torrent(&owner, random_hash(), now()),
        bare_torrent(&owner, random_hash(), now()),
    );
    must("insert_torrent", store.insert_torrent(&gone).await);
    let changed = TorrentRecord {
        paused: true,
        announced_pieces: vec![0x80],
        ..kept.clone()
    };
    let commit = Commit {
        save: vec![changed.clone()],
        delete: vec![
            gone.info_hash,
            bare_torrent(&owner, random_hash(), now()).info_hash,
        ],
        ..Commit::default()
    };
    let events = commit_fresh(store, 2, commit).await;
    assert_eq!(
        must("torrent", store.torrent(&kept.info_hash).await),
        Some(changed)
    );
    assert_eq!(must("torrent", store.torrent(&gone.info_hash).await), None);
    assert_eq!(peek_own(store, &seqs_of(&events)).await, events);
    must(
        "outbox_remove",
        store.outbox_remove(&seqs_of(&events)).await,
    );
    let deleted = must(
        "commit",
        store
            .commit(&Commit {
                delete: vec![kept.info_hash, kept.info_hash],
                ..Commit::default()
            })
            .await,
    );
    assert_eq!(
        deleted, 1,
        "commit must count the deleted torrents that existed"
    );
}

/// The mark rises to the last seq committed; a seq at or below it is refused, also
/// after its event left the outbox.
pub async fn event_seq_mark_rises_and_is_never_reused(store: &dyn Store) {
    let events = commit_fresh(store, 3, Commit::default()).await;
    let last = events[2].seq;
    let mark = must("event_seq_mark", store.event_seq_mark().await);
    assert!(
        mark >= last,
        "the mark {mark} must reach the last seq committed, {last}"
    );
    must(
        "outbox_remove",
        store.outbox_remove(&seqs_of(&events)).await,
    );
    for seq in [events[0].seq, last] {
        must_conflict(
            "commit of a seq that was committed and relayed",
            store.commit(&events_only(vec![outbox_record(seq)])).await,
        );
    }
    assert!(
        peek_own(store, &seqs_of(&events)).await.is_empty(),
        "refused seqs must not come back"
    );
}

/// Commits racing from several tasks never store one seq twice.
pub async fn event_seq_concurrent_commits_never_share(store: &dyn Store) {
    async fn worker(store: &dyn Store, task: u64) -> Vec<u64> {
        let mut seqs = Vec::new();
        for round in 0..20 {
            let count = 1 + (task * 7 + round) % 5;
            seqs.extend(seqs_of(
                &commit_fresh(store, count, Commit::default()).await,
            ));
        }
        seqs
    }
    let (a, b, c, d) = tokio::join!(
        worker(store, 0),
        worker(store, 1),
        worker(store, 2),
        worker(store, 3)
    );
    let mut all = [a, b, c, d].concat();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "concurrent commits stored one seq twice");
    must("outbox_remove", store.outbox_remove(&all).await);
}

/// Committed events peek back exactly, lowest seq first; `outbox_len` counts them;
/// removing reports how many existed and really removes.
pub async fn outbox_commit_peek_remove(store: &dyn Store) {
    let mut records = commit_fresh(store, 3, Commit::default()).await;
    records.extend(commit_fresh(store, 2, Commit::default()).await);
    let seqs = seqs_of(&records);

    must("commit of nothing", store.commit(&Commit::default()).await);
    assert_eq!(
        peek_own(store, &seqs).await,
        records,
        "outbox_peek must return the committed events exactly, lowest seq first"
    );
    let len = must("outbox_len", store.outbox_len().await);
    assert!(
        len >= 5,
        "outbox_len must count the 5 events just committed, got {len}"
    );
    let empty = must("outbox_peek", store.outbox_peek(0).await);
    assert!(empty.is_empty(), "outbox_peek(0) must return nothing");
    let oldest = must("outbox_peek", store.outbox_peek(1).await);
    assert!(
        oldest.len() == 1 && oldest[0].seq <= seqs[0],
        "outbox_peek(1) must return the single oldest event, got {oldest:?}"
    );

    let unknown = seqs[4] + 1_000_000;
    let removed = must(
        "outbox_remove",
        store
            .outbox_remove(&[seqs[1], seqs[3], unknown, seqs[1]])
            .await,
    );
    assert_eq!(
        removed, 2,
        "outbox_remove must count only the events that existed, each once"
    );
    assert_eq!(
        peek_own(store, &seqs).await,
        vec![records[0].clone(), records[2].clone(), records[4].clone()],
        "outbox_remove must remove exactly the given events"
    );
    let removed = must("outbox_remove", store.outbox_remove(&seqs).await);
    assert_eq!(
        removed, 3,
        "outbox_remove must count the 3 remaining events"
    );
    assert!(
        peek_own(store, &seqs).await.is_empty(),
        "removed events must be gone"
    );
}

/// A seq not above the mark, one twice in a commit, or seqs out of order are a
/// `Conflict` that stores nothing of that commit and leaves the existing event alone.
pub async fn outbox_bad_seqs_conflict(store: &dyn Store) {
    let existing = commit_fresh(store, 1, Commit::default()).await.remove(0);
    let next = existing.seq + 1;
    let clash = OutboxRecord {
        key: unique("other-key"),
        payload: b"{\"other\":true}".to_vec(),
        ..existing.clone()
    };
    let bad = [
        ("a seq that exists", vec![clash, outbox_record(next)]),
        (
            "a seq twice",
            vec![outbox_record(next), outbox_record(next)],
        ),
        (
            "seqs out of order",
            vec![outbox_record(next + 1), outbox_record(next)],
        ),
    ];
    for (what, events) in bad {
        must_conflict(
            &format!("commit with {what}"),
            store.commit(&events_only(events)).await,
        );
    }
    assert_eq!(
        peek_own(store, &[existing.seq, next, next + 1]).await,
        vec![existing.clone()],
        "a conflicting commit must store nothing and keep the existing event"
    );
    must("outbox_remove", store.outbox_remove(&[existing.seq]).await);
}

/// Removing seqs that were never committed (or nothing at all) removes nothing.
pub async fn outbox_remove_unknown(store: &dyn Store) {
    let mark = must("event_seq_mark", store.event_seq_mark().await);
    let seqs: Vec<u64> = (mark + 1_000_000..mark + 1_000_003).collect();
    let removed = must("outbox_remove", store.outbox_remove(&seqs).await);
    assert_eq!(removed, 0, "removing never-committed seqs must return 0");
    let removed = must("outbox_remove", store.outbox_remove(&[]).await);
    assert_eq!(removed, 0, "removing nothing must return 0");
}

/// `outbox_remove_through` removes every event at or below a seq and keeps the rest.
pub async fn outbox_remove_through(store: &dyn Store) {
    let events = commit_fresh(store, 4, Commit::default()).await;
    let seqs = seqs_of(&events);
    let removed = must(
        "outbox_remove_through",
        store.outbox_remove_through(seqs[1]).await,
    );
    assert!(
        removed >= 2,
        "outbox_remove_through must count what it removed, got {removed}"
    );
    assert_eq!(
        peek_own(store, &seqs).await,
        events[2..].to_vec(),
        "only the newer events stay"
    );
    must("outbox_remove", store.outbox_remove(&seqs).await);
}

/// A resume record reads back as written, a save replaces it whole, and deleting it
/// says whether it existed; records of other torrents are untouched.
pub async fn resume_save_get_replace_delete(store: &dyn Store) {
    use crate::store::{FileStamp, ResumeRecord};
    let (a, b) = (random_hash(), random_hash());
    assert_eq!(must("resume", store.resume(&a).await), None);
    let first = ResumeRecord {
        info_hash: a,
        bitfield: vec![0xff, 0x00, 0b1010_0000],
        files: vec![
            FileStamp {
                path: "dir/one.bin".into(),
                size: Some(5 << 33),
                mtime_ns: Some(1_764_000_000_123_456_789),
            },
            FileStamp {
                path: "two.bin".into(),
                size: None,
                mtime_ns: None,
            },
        ],
        saved_at: now(),
    };
    must("save_resume", store.save_resume(&first).await);
    let other = ResumeRecord {
        info_hash: b,
        bitfield: vec![1],
        files: Vec::new(),
        ..first.clone()
    };
    must("save_resume", store.save_resume(&other).await);
    assert_eq!(must("resume", store.resume(&a).await), Some(first.clone()));
    let second = ResumeRecord {
        bitfield: vec![0x0f],
        files: first.files[..1].to_vec(),
        saved_at: first.saved_at + 1,
        ..first
    };
    must("save_resume", store.save_resume(&second).await);
    assert_eq!(must("resume", store.resume(&a).await), Some(second));
    assert!(must("delete_resume", store.delete_resume(&a).await));
    assert!(!must("delete_resume", store.delete_resume(&a).await));
    assert_eq!(must("resume", store.resume(&a).await), None);
    assert_eq!(must("resume", store.resume(&b).await), Some(other));
}
