//! Accounts in the contract: users (unique names, listing order, counts) and refresh
//! tokens (single use, reuse detection, revocation by family and by user, purging).

use super::{
    Traits, must, must_conflict, must_consume_fresh, new_token, new_user, now, random_hex,
    token_for, unique, user_with,
};
use crate::store::{Consumed, Millis, RefreshToken, Role, Store};

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
