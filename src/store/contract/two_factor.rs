//! The two-factor checks of the store contract: a pending secret becomes active only
//! as itself, a time step and a recovery code are each accepted at most once (also
//! when calls race), and deleting takes the recovery codes along.

use futures::future::join_all;

use super::{Store, must, new_user, now, random_hex};

/// Checks run by [`super::run_all_with`], in order.
pub async fn run_all(store: &dyn Store) {
    two_factor_pending_then_enabled(store).await;
    two_factor_step_accepted_once(store).await;
    two_factor_racing_steps_accept_one(store).await;
    two_factor_recovery_code_spent_once(store).await;
    two_factor_delete(store).await;
}

fn digests(n: usize) -> Vec<String> {
    (0..n).map(|_| random_hex(64)).collect()
}

/// A user with two-factor login enabled at `step`, and its recovery code digests.
async fn enabled_user(store: &dyn Store, step: u64) -> (String, Vec<String>) {
    let user = new_user(store).await;
    let codes = digests(3);
    let secret = [9u8; 20];
    must(
        "set_pending_two_factor",
        store.set_pending_two_factor(&user.id, &secret, now()).await,
    );
    let on = store
        .enable_two_factor(&user.id, &secret, step, &codes, now())
        .await;
    assert!(must("enable_two_factor", on), "enabling a pending secret");
    (user.id, codes)
}

pub async fn two_factor_pending_then_enabled(store: &dyn Store) {
    let user = new_user(store).await;
    let id = user.id.as_str();
    assert!(must("two_factor", store.two_factor(id).await).is_none());
    let (first, second) = ([1u8; 20], [2u8; 20]);
    assert!(must(
        "pending",
        store.set_pending_two_factor(id, &first, 10).await
    ));
    let got = must("two_factor", store.two_factor(id).await).expect("pending record");
    assert_eq!(
        (got.user_id.as_str(), got.secret.as_slice(), got.enabled),
        (id, first.as_slice(), false)
    );
    assert_eq!((got.last_step, got.recovery_codes_left), (None, 0));
    assert_eq!((got.created_at, got.enabled_at), (10, None));

    // A new pending secret replaces the old one, which can no longer be enabled.
    assert!(must(
        "pending",
        store.set_pending_two_factor(id, &second, 11).await
    ));
    let codes = digests(3);
    let old = store.enable_two_factor(id, &first, 5, &codes, 12).await;
    assert!(
        !must("enable", old),
        "a replaced secret must not be enabled"
    );
    let pending = must("two_factor", store.two_factor(id).await).expect("record");
    assert_eq!(
        (pending.secret.as_slice(), pending.enabled),
        (second.as_slice(), false)
    );

    let on = store.enable_two_factor(id, &second, 5, &codes, 12).await;
    assert!(must("enable", on));
    let got = must("two_factor", store.two_factor(id).await).expect("record");
    assert_eq!(
        (got.enabled, got.last_step, got.enabled_at),
        (true, Some(5), Some(12))
    );
    assert_eq!(got.recovery_codes_left, 3);

    // Enabled: neither a new pending secret nor a second enable changes it.
    let again = store.set_pending_two_factor(id, &first, 13).await;
    assert!(!must("pending", again), "pending over an enabled secret");
    let twice = store
        .enable_two_factor(id, &second, 9, &digests(1), 14)
        .await;
    assert!(!must("enable", twice), "enabling twice");
    assert_eq!(must("two_factor", store.two_factor(id).await), Some(got));
}

pub async fn two_factor_step_accepted_once(store: &dyn Store) {
    let (id, _) = enabled_user(store, 100).await;
    let accept = |step| store.accept_two_factor_step(&id, step);
    assert!(
        !must("accept", accept(100).await),
        "the enabling step again"
    );
    assert!(!must("accept", accept(99).await), "an older step");
    assert!(must("accept", accept(101).await), "the next step");
    assert!(!must("accept", accept(101).await), "the same step twice");
    assert!(must("accept", accept(103).await), "a later step");
    assert!(!must("accept", accept(102).await), "a step below the last");
    let got = must("two_factor", store.two_factor(&id).await).expect("record");
    assert_eq!(got.last_step, Some(103));

    let pending = new_user(store).await;
    must(
        "pending",
        store
            .set_pending_two_factor(&pending.id, &[3; 20], now())
            .await,
    );
    let refused = store.accept_two_factor_step(&pending.id, 1).await;
    assert!(!must("accept", refused), "a pending secret accepts no step");
    let unknown = store.accept_two_factor_step(&random_hex(12), 1).await;
    assert!(!must("accept", unknown), "an unknown user accepts no step");
}

pub async fn two_factor_racing_steps_accept_one(store: &dyn Store) {
    let (id, _) = enabled_user(store, 100).await;
    let racing = (0..8).map(|_| store.accept_two_factor_step(&id, 200));
    let won = join_all(racing)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    assert_eq!(won, 1, "one step accepted by {won} racing calls");
}

pub async fn two_factor_recovery_code_spent_once(store: &dyn Store) {
    let (id, codes) = enabled_user(store, 1).await;
    let (other, other_codes) = enabled_user(store, 1).await;
    let spend = |user: &str, code: &str| {
        let (user, code) = (user.to_owned(), code.to_owned());
        async move {
            must(
                "use_recovery_code",
                store.use_recovery_code(&user, &code).await,
            )
        }
    };
    assert!(!spend(&other, &codes[0]).await, "another user's code");
    assert!(spend(&id, &codes[0]).await, "a fresh code");
    assert!(!spend(&id, &codes[0]).await, "a spent code");
    assert!(!spend(&id, &random_hex(64)).await, "an unknown code");
    let racing = join_all((0..8).map(|_| spend(&id, &codes[1]))).await;
    assert_eq!(
        racing.iter().filter(|won| **won).count(),
        1,
        "racing spends"
    );
    let left = must("two_factor", store.two_factor(&id).await).expect("record");
    assert_eq!(left.recovery_codes_left, 1);

    let fresh = digests(2);
    assert!(must(
        "replace",
        store.replace_recovery_codes(&id, &fresh).await
    ));
    assert!(!spend(&id, &codes[2]).await, "a replaced code");
    assert!(spend(&id, &fresh[1]).await, "a new code");
    assert!(
        spend(&other, &other_codes[0]).await,
        "the other user keeps theirs"
    );

    let pending = new_user(store).await;
    must(
        "pending",
        store
            .set_pending_two_factor(&pending.id, &[4; 20], now())
            .await,
    );
    let refused = store.replace_recovery_codes(&pending.id, &fresh).await;
    assert!(!must("replace", refused), "codes for a pending secret");
}

pub async fn two_factor_delete(store: &dyn Store) {
    let (id, codes) = enabled_user(store, 7).await;
    assert!(must("delete", store.delete_two_factor(&id).await));
    assert!(must("two_factor", store.two_factor(&id).await).is_none());
    assert!(
        !must("delete", store.delete_two_factor(&id).await),
        "deleting twice"
    );
    assert!(!must("use", store.use_recovery_code(&id, &codes[0]).await));

    // Enabled anew: the step starts over and the old codes stay gone.
    let secret = [5u8; 20];
    must(
        "pending",
        store.set_pending_two_factor(&id, &secret, now()).await,
    );
    let fresh = digests(1);
    assert!(must(
        "enable",
        store
            .enable_two_factor(&id, &secret, 3, &fresh, now())
            .await
    ));
    assert!(!must("use", store.use_recovery_code(&id, &codes[1]).await));
    assert!(must("accept", store.accept_two_factor_step(&id, 4).await));
}
