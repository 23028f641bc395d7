//! The contract of the tracker's accounts (passkeys and transfer totals) and its
//! completed-download counts.

use super::{must, must_conflict, new_user, random_hash, random_hex};
use crate::InfoHash;
use crate::store::Store;

pub async fn passkey_insert_keeps_the_first(store: &dyn Store) {
    let user = new_user(store).await;
    assert_eq!(must("passkey_of", store.passkey_of(&user.id).await), None);
    let (first, second) = (random_hex(32), random_hex(32));
    must(
        "insert_passkey",
        store.insert_passkey(&user.id, &first).await,
    );
    must(
        "insert_passkey again",
        store.insert_passkey(&user.id, &second).await,
    );
    let kept = must("passkey_of", store.passkey_of(&user.id).await);
    assert_eq!(
        kept.as_deref(),
        Some(first.as_str()),
        "the first passkey must win"
    );
    let owner = must("user_of_passkey", store.user_of_passkey(&first).await);
    assert_eq!(owner.as_deref(), Some(user.id.as_str()));
    let nobody = must("user_of_passkey", store.user_of_passkey(&second).await);
    assert_eq!(nobody, None, "a passkey that lost must name nobody");
    let other = new_user(store).await;
    must_conflict(
        "another user's passkey",
        store.insert_passkey(&other.id, &first).await,
    );
    must_conflict(
        "another user's passkey",
        store.replace_passkey(&other.id, &first).await,
    );
}

pub async fn passkey_replace_retires_the_old(store: &dyn Store) {
    let user = new_user(store).await;
    let (old, new) = (random_hex(32), random_hex(32));
    must(
        "replace_passkey (none before)",
        store.replace_passkey(&user.id, &old).await,
    );
    must(
        "replace_passkey",
        store.replace_passkey(&user.id, &new).await,
    );
    assert_eq!(
        must("user_of_passkey old", store.user_of_passkey(&old).await),
        None
    );
    let owner = must("user_of_passkey new", store.user_of_passkey(&new).await);
    assert_eq!(owner.as_deref(), Some(user.id.as_str()));
}

pub async fn transfers_add_up_per_user(store: &dyn Store) {
    let (a, b) = (new_user(store).await, new_user(store).await);
    assert_eq!(
        must("transfer_totals", store.transfer_totals(&a.id).await),
        (0, 0)
    );
    must("add_transfer", store.add_transfer(&a.id, 100, 7).await);
    must("add_transfer", store.add_transfer(&a.id, 1 << 40, 0).await);
    must("add_transfer", store.add_transfer(&b.id, 1, 2).await);
    // A passkey and totals live side by side.
    must(
        "insert_passkey",
        store.insert_passkey(&a.id, &random_hex(32)).await,
    );
    must("add_transfer", store.add_transfer(&a.id, 0, 3).await);
    let totals = must("transfer_totals", store.transfer_totals(&a.id).await);
    assert_eq!(totals, ((1 << 40) + 100, 10));
    assert_eq!(
        must("transfer_totals", store.transfer_totals(&b.id).await),
        (1, 2)
    );
    assert!(must("passkey_of", store.passkey_of(&a.id).await).is_some());
}

pub async fn completions_add_up_per_torrent(store: &dyn Store) {
    let (a, b, untouched) = (random_hash(), random_hash(), random_hash());
    let before = must("completions", store.completions().await);
    must(
        "add_completions",
        store.add_completions(&[(a, 2), (b, 1)]).await,
    );
    must("add_completions", store.add_completions(&[(a, 3)]).await);
    must(
        "add_completions (nothing)",
        store.add_completions(&[]).await,
    );
    let after = must("completions", store.completions().await);
    let of = |h: &InfoHash| after.iter().find(|(x, _)| x == h).map(|(_, n)| *n);
    assert_eq!(of(&a), Some(5), "counts add up: {after:?}");
    assert_eq!(of(&b), Some(1));
    assert_eq!(
        of(&untouched),
        None,
        "a torrent never counted is not listed"
    );
    assert_eq!(
        after.len(),
        before.len() + 2,
        "one row per torrent, whatever the number of additions"
    );
    must("clear_completions", store.clear_completions(&a).await);
    must(
        "clear_completions (none)",
        store.clear_completions(&untouched).await,
    );
    let cleared = must("completions", store.completions().await);
    assert!(cleared.iter().all(|(h, _)| *h != a), "{cleared:?}");
    assert!(cleared.contains(&(b, 1)), "only that torrent's count goes");
    must("add_completions", store.add_completions(&[(a, 1)]).await);
    let again = must("completions", store.completions().await);
    assert!(again.contains(&(a, 1)), "counted afresh: {again:?}");
}
