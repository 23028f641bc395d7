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

pub mod tracker;
pub mod two_factor;

use uuid::Uuid;

mod catalog;
pub use catalog::{
    catalog_comments_and_delete, catalog_duplicate_hash_conflicts, catalog_insert_and_get,
    catalog_list_pages_newest_first,
};

use super::{
    Assignment, Commit, Consumed, MediaItem, MediaKind, Millis, OutboxRecord, Priority,
    RefreshToken, Role, Store, StoreError,
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

// --- checks ------------------------------------------------------------------------------

/// The backend answers a ping.
pub async fn ping(store: &dyn Store) {
    must("ping", store.ping().await);
}

/// A created user reads back identically by id and by name; unknown keys read as `None`.
pub async fn user_create_and_get(store: &dyn Store) {
    let mut user = user_with(unique("id"), unique("Name"), now());
    user.role = Role::Admin;
    must("create_user", store.create_user(&user).await);

    let by_id = must("user_by_id", store.user_by_id(&user.id).await);
    assert_eq!(
        by_id.as_ref(),
        Some(&user),
        "user_by_id must return the created user"
    );
    let by_name = must("user_by_name", store.user_by_name(&user.username).await);
    assert_eq!(
        by_name.as_ref(),
        Some(&user),
        "user_by_name must return the created user"
    );

    let missing = must("user_by_id", store.user_by_id(&unique("no-such-id")).await);
    assert_eq!(missing, None, "user_by_id of an unknown id must be None");
    let missing = must("user_by_name", store.user_by_name(&unique("nobody")).await);
    assert_eq!(
        missing, None,
        "user_by_name of an unknown name must be None"
    );
    let other_case = must(
        "user_by_name",
        store.user_by_name(&user.username.to_uppercase()).await,
    );
    assert_eq!(other_case, None, "user names must match case-sensitively");
}

/// A taken user name is a `Conflict` and leaves the first user alone; names differing
/// only in case are distinct.
pub async fn user_duplicate_name_conflicts(store: &dyn Store) {
    let first = new_user(store).await;
    let clash = user_with(unique("id"), first.username.clone(), now());
    must_conflict(
        "create_user with a taken name",
        store.create_user(&clash).await,
    );

    let kept = must("user_by_name", store.user_by_name(&first.username).await);
    assert_eq!(
        kept,
        Some(first.clone()),
        "a conflicting insert must not change the user"
    );
    let clash_by_id = must("user_by_id", store.user_by_id(&clash.id).await);
    assert_eq!(
        clash_by_id, None,
        "a conflicting insert must not create a user"
    );

    let upper = user_with(unique("id"), first.username.to_uppercase(), now());
    must(
        "create_user differing only in case",
        store.create_user(&upper).await,
    );
}

/// `list_users` is ordered by creation time, ties broken by id.
pub async fn user_list_order(store: &dyn Store) {
    let base = now();
    let id = unique("order");
    let users = [
        user_with(format!("{id}-c"), unique("c"), base + 2),
        user_with(format!("{id}-b"), unique("b"), base + 1),
        user_with(format!("{id}-a"), unique("a"), base),
        user_with(format!("{id}-b0"), unique("b0"), base + 1),
    ];
    for user in &users {
        must("create_user", store.create_user(user).await);
    }
    let listed: Vec<String> = must("list_users", store.list_users().await)
        .into_iter()
        .filter(|u| u.id.starts_with(&id))
        .map(|u| u.id)
        .collect();
    let expected: Vec<String> = ["a", "b", "b0", "c"]
        .iter()
        .map(|s| format!("{id}-{s}"))
        .collect();
    assert_eq!(
        listed, expected,
        "list_users must order by created_at, then id"
    );
}

/// `count_users` counts every user, including ones just created.
pub async fn user_count(store: &dyn Store) {
    let before = must("count_users", store.count_users().await);
    new_user(store).await;
    new_user(store).await;
    let after = must("count_users", store.count_users().await);
    assert!(
        after >= before + 2,
        "count_users must grow by at least 2 after creating 2 users ({before} -> {after})"
    );
}

/// The first consume of a token is `Fresh` (with the record as it was), the second
/// `Reused` (with the time of the first).
pub async fn refresh_token_consume_fresh_then_reused(store: &dyn Store) {
    let user = new_user(store).await;
    let token = new_token(store, &user, &unique("family")).await;
    let first_use = now();

    let first = must(
        "consume_refresh_token",
        store
            .consume_refresh_token(&token.token_hash, first_use)
            .await,
    );
    assert_eq!(
        first,
        Consumed::Fresh(token.clone()),
        "the first consume must be Fresh with the unspent record"
    );

    let second = must(
        "consume_refresh_token",
        store
            .consume_refresh_token(&token.token_hash, first_use + 5_000)
            .await,
    );
    let spent = RefreshToken {
        used_at: Some(first_use),
        ..token
    };
    assert_eq!(
        second,
        Consumed::Reused(spent),
        "a second consume must be Reused, keeping the first use time"
    );
}

/// Consuming a hash that was never inserted is `Unknown`.
pub async fn refresh_token_unknown(store: &dyn Store) {
    let found = must(
        "consume_refresh_token",
        store.consume_refresh_token(&random_hex(64), now()).await,
    );
    assert_eq!(
        found,
        Consumed::Unknown,
        "an unknown token hash must be Unknown"
    );
}

/// Inserting a token hash twice is a `Conflict` and leaves the first token alone.
pub async fn refresh_token_duplicate_conflicts(store: &dyn Store) {
    let user = new_user(store).await;
    let token = new_token(store, &user, &unique("family")).await;
    let clash = RefreshToken {
        family_id: unique("other-family"),
        revoked: true,
        ..token.clone()
    };
    must_conflict(
        "insert_refresh_token with a taken hash",
        store.insert_refresh_token(&clash).await,
    );
    let kept = must_consume_fresh(store, &token.token_hash).await;
    assert_eq!(
        kept, token,
        "a conflicting insert must not change the token"
    );
}

/// Revoking a family revokes exactly its tokens and counts only the changed ones.
pub async fn refresh_token_family_revoke(store: &dyn Store) {
    let user = new_user(store).await;
    let family = unique("family");
    let a = new_token(store, &user, &family).await;
    let b = new_token(store, &user, &family).await;
    let other = new_token(store, &user, &unique("family")).await;

    let revoked = must(
        "revoke_token_family",
        store.revoke_token_family(&family).await,
    );
    assert_eq!(
        revoked, 2,
        "revoke_token_family must report the 2 revoked tokens"
    );
    let again = must(
        "revoke_token_family",
        store.revoke_token_family(&family).await,
    );
    assert_eq!(
        again, 0,
        "revoking an already revoked family changes nothing"
    );

    for token in [&a, &b] {
        let seen = must_consume_fresh(store, &token.token_hash).await;
        assert!(
            seen.revoked,
            "every token of the revoked family must be revoked"
        );
    }
    let seen = must_consume_fresh(store, &other.token_hash).await;
    assert!(!seen.revoked, "tokens of other families must stay valid");
}

/// Revoking a user's tokens covers all their families and no one else's tokens.
pub async fn refresh_token_user_revoke(store: &dyn Store) {
    let user = new_user(store).await;
    let bystander = new_user(store).await;
    let a = new_token(store, &user, &unique("family")).await;
    let b = new_token(store, &user, &unique("family")).await;
    let other = new_token(store, &bystander, &unique("family")).await;

    let revoked = must(
        "revoke_user_tokens",
        store.revoke_user_tokens(&user.id).await,
    );
    assert_eq!(
        revoked, 2,
        "revoke_user_tokens must report the user's 2 tokens"
    );
    let again = must(
        "revoke_user_tokens",
        store.revoke_user_tokens(&user.id).await,
    );
    assert_eq!(again, 0, "revoking already revoked tokens changes nothing");

    for token in [&a, &b] {
        let seen = must_consume_fresh(store, &token.token_hash).await;
        assert!(seen.revoked, "every token of the user must be revoked");
    }
    let seen = must_consume_fresh(store, &other.token_hash).await;
    assert!(!seen.revoked, "other users' tokens must stay valid");
}

/// Purging deletes tokens that expired strictly before `now` and keeps the rest.
pub async fn refresh_token_purge_expired(store: &dyn Store, traits: Traits) {
    // Early-1970 times: no real token is affected by purging at `cutoff`.
    let cutoff: Millis = 2_000_000;
    let user = new_user(store).await;
    let family = unique("family");
    let expired = token_for(&user, &family, cutoff - 1);
    let boundary = token_for(&user, &family, cutoff);
    let live = token_for(&user, &family, now() + 3_600_000);
    for token in [&expired, &boundary, &live] {
        must(
            "insert_refresh_token",
            store.insert_refresh_token(token).await,
        );
    }

    let purged = must(
        "purge_expired_tokens",
        store.purge_expired_tokens(cutoff).await,
    );
    assert!(
        purged >= 1,
        "purge_expired_tokens must count the expired token"
    );

    let gone = must(
        "consume_refresh_token",
        store
            .consume_refresh_token(&expired.token_hash, now())
            .await,
    );
    assert_eq!(gone, Consumed::Unknown, "an expired token must be purged");
    for token in [&boundary, &live] {
        if traits.expires_tokens_by_clock && token.expires_at < now() {
            // Expired by the clock already: the backend may have deleted it itself.
            let seen = store.consume_refresh_token(&token.token_hash, now()).await;
            let seen = must("consume_refresh_token", seen);
            assert!(
                matches!(seen, Consumed::Unknown) || seen == Consumed::Fresh(token.clone()),
                "a token the clock expired is either gone or kept whole: {seen:?}"
            );
            continue;
        }
        let kept = must_consume_fresh(store, &token.token_hash).await;
        assert_eq!(
            &kept, token,
            "tokens expiring at or after `now` must be kept"
        );
    }
}

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
    use super::{FileStamp, ResumeRecord};
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

// --- media library -----------------------------------------------------------------------

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
