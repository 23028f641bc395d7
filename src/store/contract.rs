//! The backend contract: behaviour every [`Store`] implementation must show.
//!
//! This module owns the executable definition of the [`Store`] semantics. Each check is
//! a `pub async fn(&dyn Store)` that panics with a message naming the broken rule;
//! [`run_all`] runs them all in order. A backend's tests call [`run_all`] on a fresh
//! store (see the SQLite backend's tests).
//!
//! Every check makes its own users, token hashes, info hashes and library item ids
//! with random suffixes and only looks at its own records (a library listing is a
//! fresh user's), so the suite also runs against a shared database
//! that already holds data (for example one MongoDB server used by several test runs).
//! Backends may enforce that referenced users exist, so checks create every user they
//! reference. The one exception to isolation is [`refresh_token_purge_expired`]: purging
//! is global by nature, so it only uses expiry times in early 1970 that no real token
//! has, and two runs of that check racing on one database may see each other's purges.
//!
//! The event checks commit seqs just above [`Store::event_seq_mark`] and take the next
//! ones when another writer got there first, so they work on a shared database too;
//! they only look at their own outbox records (others' may come first in
//! `outbox_peek`) and remove them again before returning.

mod accounts;
mod media;
mod torrents;
pub mod tracker;
pub mod two_factor;

pub use accounts::*;
pub use media::*;
pub use torrents::*;

use uuid::Uuid;

mod catalog;
pub use catalog::{
    catalog_comments_and_delete, catalog_duplicate_hash_conflicts, catalog_insert_and_get,
    catalog_list_pages_newest_first,
};

use super::{
    Commit, Consumed, Millis, OutboxRecord, Priority, RefreshToken, Role, Store, StoreError,
};
use super::{InfoHash, StoreResult, TorrentRecord, User};

/// What a backend does beyond the contract that some checks must allow for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Traits {
    /// The backend deletes refresh tokens on its own once the clock passes their
    /// expiry (MongoDB's TTL index). The purge check's early-1970 tokens are then
    /// expired by the clock too, so its boundary token may be gone before the purge.
    pub expires_tokens_by_clock: bool,
}

/// Runs every check, in order. Panics at the first failure.
pub async fn run_all(store: &dyn Store) {
    run_all_with(store, Traits::default()).await
}

/// [`run_all`] for a backend with the given [`Traits`].
pub async fn run_all_with(store: &dyn Store, traits: Traits) {
    ping(store).await;
    user_create_and_get(store).await;
    user_duplicate_name_conflicts(store).await;
    user_list_order(store).await;
    user_count(store).await;
    refresh_token_consume_fresh_then_reused(store).await;
    refresh_token_unknown(store).await;
    refresh_token_duplicate_conflicts(store).await;
    refresh_token_family_revoke(store).await;
    refresh_token_user_revoke(store).await;
    refresh_token_purge_expired(store, traits).await;
    torrent_insert_and_get(store).await;
    torrent_duplicate_conflicts(store).await;
    torrent_save_replaces_every_field(store).await;
    torrent_save_inserts_absent(store).await;
    torrent_list_order(store).await;
    torrent_delete(store).await;
    commit_is_all_or_nothing(store).await;
    commit_saves_deletes_and_events_together(store).await;
    event_seq_mark_rises_and_is_never_reused(store).await;
    event_seq_concurrent_commits_never_share(store).await;
    outbox_commit_peek_remove(store).await;
    outbox_bad_seqs_conflict(store).await;
    outbox_remove_unknown(store).await;
    outbox_remove_through(store).await;
    resume_save_get_replace_delete(store).await;
    media_put_and_get(store).await;
    media_put_replaces_every_field(store).await;
    media_list_is_per_owner_oldest_first(store).await;
    media_delete(store).await;
    media_delete_show_deletes_its_episodes(store).await;
    tracker::passkey_insert_keeps_the_first(store).await;
    tracker::passkey_replace_retires_the_old(store).await;
    tracker::transfers_add_up_per_user(store).await;
    tracker::completions_add_up_per_torrent(store).await;
    two_factor::run_all(store).await;
    catalog_insert_and_get(store).await;
    catalog_duplicate_hash_conflicts(store).await;
    catalog_list_pages_newest_first(store).await;
    catalog_comments_and_delete(store).await;
}

// --- helpers -----------------------------------------------------------------------------

/// Unwraps a store result, panicking with the operation's name and the error.
fn must<T>(what: &str, result: StoreResult<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("store contract: {what} failed: {e}"),
    }
}

/// Asserts a store result is a `Conflict`.
fn must_conflict<T: std::fmt::Debug>(what: &str, result: StoreResult<T>) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("store contract: {what}: expected StoreError::Conflict, got {other:?}"),
    }
}

/// A random lower-case hex string of `len` characters (at most 64).
fn random_hex(len: usize) -> String {
    let hex = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    hex[..len].to_owned()
}

fn random_hash() -> InfoHash {
    hash(&random_hex(40))
}

fn hash(hex: &str) -> InfoHash {
    InfoHash::parse(hex).expect("40 hex digits")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", random_hex(16))
}

fn now() -> Millis {
    crate::now_millis()
}

fn user_with(id: String, username: String, created_at: Millis) -> User {
    User {
        id,
        username,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role: Role::User,
        created_at,
    }
}

/// Creates and returns a fresh user.
async fn new_user(store: &dyn Store) -> User {
    let user = user_with(unique("user-id"), unique("user"), now());
    must("create_user", store.create_user(&user).await);
    user
}

fn token_for(user: &User, family_id: &str, expires_at: Millis) -> RefreshToken {
    RefreshToken {
        token_hash: random_hex(64),
        user_id: user.id.clone(),
        family_id: family_id.to_owned(),
        created_at: now(),
        expires_at,
        used_at: None,
        revoked: false,
    }
}

/// Inserts and returns a fresh token for `user`, valid for an hour.
async fn new_token(store: &dyn Store, user: &User, family_id: &str) -> RefreshToken {
    let token = token_for(user, family_id, now() + 3_600_000);
    must(
        "insert_refresh_token",
        store.insert_refresh_token(&token).await,
    );
    token
}

/// A torrent with every optional field empty.
fn bare_torrent(owner: &User, info_hash: InfoHash, added_at: Millis) -> TorrentRecord {
    TorrentRecord::new(info_hash, owner.id.clone(), added_at)
}

/// A torrent with every field set, totals beyond 32 bits and bytes that are not UTF-8.
fn full_torrent(owner: &User, info_hash: InfoHash, added_at: Millis) -> TorrentRecord {
    TorrentRecord {
        name: Some("Ubuntu 24.04 — desktop ✓".to_owned()),
        magnet: Some(format!("magnet:?xt=urn:btih:{info_hash}&dn=ubuntu")),
        torrent_bytes: Some(bytes::Bytes::from_static(&[b'd', 0x00, 0xff, 0x80, b'e'])),
        initial_peers: vec!["10.0.0.1:6881".to_owned(), "[::1]:51413".to_owned()],
        priority: Priority::High,
        paused: true,
        completed_at: Some(added_at + 60_000),
        seeding_stopped_at: Some(added_at + 120_000),
        total_bytes: 5 << 40,
        downloaded_bytes: (5 << 40) + 7,
        uploaded_bytes: 3 << 41,
        error: Some("tracker said no".to_owned()),
        announced_pieces: vec![0xff, 0x00, 0b1000_0001],
        save_dir: "users/someone".to_owned(),
        options: crate::store::TorrentOptions {
            category: Some("Films — 4K".to_owned()),
            tags: vec!["a b".to_owned(), "ünïcode".to_owned()],
            ratio_limit: crate::store::ShareLimit::Limit(1.5),
            seeding_time_limit: crate::store::ShareLimit::Unlimited,
            download_limit: u32::MAX,
            upload_limit: 1,
            skipped_files: vec![0, 7],
            queue_rank: Some(-3),
            force_start: true,
            stream_only: true,
        },
        ..bare_torrent(owner, info_hash, added_at)
    }
}

async fn must_get_torrent(store: &dyn Store, info_hash: &InfoHash) -> TorrentRecord {
    match must("torrent", store.torrent(info_hash).await) {
        Some(t) => t,
        None => panic!("store contract: torrent {info_hash} is missing"),
    }
}

/// Consumes a token that must exist and be unspent; returns the record.
async fn must_consume_fresh(store: &dyn Store, token_hash: &str) -> RefreshToken {
    match must(
        "consume_refresh_token",
        store.consume_refresh_token(token_hash, now()).await,
    ) {
        Consumed::Fresh(t) => t,
        other => {
            panic!("store contract: consume of an unspent token: expected Fresh, got {other:?}")
        }
    }
}

/// Commits `count` events with the next free seqs (with `with`'s records), taking the
/// next ones again when another writer committed in between; returns the seqs.
async fn commit_fresh(store: &dyn Store, count: u64, with: Commit) -> Vec<OutboxRecord> {
    for _ in 0..100 {
        let mark = must("event_seq_mark", store.event_seq_mark().await);
        let events: Vec<OutboxRecord> = (mark + 1..=mark + count).map(outbox_record).collect();
        let commit = Commit {
            events: events.clone(),
            ..with.clone()
        };
        match store.commit(&commit).await {
            Ok(_) => return events,
            // Someone else took these seqs: try the next ones.
            Err(StoreError::Conflict(_)) if commit.insert.is_empty() => continue,
            Err(e) => panic!("store contract: commit failed: {e}"),
        }
    }
    panic!("store contract: no commit succeeded in 100 tries");
}

fn seqs_of(events: &[OutboxRecord]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn events_only(events: Vec<OutboxRecord>) -> Commit {
    Commit {
        events,
        ..Commit::default()
    }
}

/// An outbox record for `seq` with a key, a payload that is not UTF-8 and a time that
/// all depend on `seq`, so a mixed-up read shows.
fn outbox_record(seq: u64) -> OutboxRecord {
    OutboxRecord {
        seq,
        key: if seq.is_multiple_of(2) {
            String::new()
        } else {
            format!("{}—{seq}", random_hex(40))
        },
        payload: [
            b"{\"seq\":".as_slice(),
            &seq.to_be_bytes(),
            &[0xff, 0x00, b'}'],
        ]
        .concat(),
        created_at: now() + i64::try_from(seq % 1000).unwrap_or(0),
    }
}

/// The outbox's records whose seq is in `seqs`, in the order `outbox_peek` gave them.
///
/// Peeks the whole outbox (others' events may precede these) and checks on the way
/// that it comes lowest seq first.
async fn peek_own(store: &dyn Store, seqs: &[u64]) -> Vec<OutboxRecord> {
    let len = must("outbox_len", store.outbox_len().await);
    // Slack for records appended concurrently by others between the two calls.
    let limit = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .saturating_add(seqs.len())
        .saturating_add(1024);
    let all = must("outbox_peek", store.outbox_peek(limit).await);
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "outbox_peek must return strictly ascending seqs"
    );
    assert!(
        all.len() <= limit,
        "outbox_peek must return at most `limit` records"
    );
    all.into_iter().filter(|r| seqs.contains(&r.seq)).collect()
}
