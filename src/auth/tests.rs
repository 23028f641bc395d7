//! Tests of [`Auth`] as a whole: accounts, login, rotation, logout, throttling, bootstrap.
//!
//! The flows that depend on store semantics (rotation, reuse, logout, bootstrap, name
//! conflicts) run against both the in-memory fake and the real SQLite store.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use super::test_store::MemStore;
use super::*;
use crate::config::Secret;
use crate::store::{SqliteStore, Store};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
const PASSWORD: &str = "correct horse battery";

fn config() -> AuthConfig {
    AuthConfig {
        jwt_secret: Some(Secret::new("t".repeat(48))),
        admin_password: None,
        allow_registration: false,
        access_ttl: Duration::from_secs(900),
        refresh_ttl: Duration::from_secs(3600),
        login_max_failures: 3,
        login_window: Duration::from_secs(600),
        login_ban: Duration::from_secs(600),
        login_account_max_failures: 20,
        login_account_window: Duration::from_secs(600),
        login_concurrency: 2,
    }
}

/// The stores the flows run against: the in-memory fake and the real SQLite store.
fn backends() -> Vec<DynStore> {
    let sqlite = SqliteStore::open_in_memory().unwrap();
    vec![MemStore::shared().1, Arc::new(sqlite)]
}

async fn auth_on(cfg: AuthConfig, store: DynStore) -> (Auth, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let auth = Auth::new(&cfg, dir.path(), store).await.unwrap();
    (auth, dir)
}

async fn alice_on(store: DynStore) -> (Auth, tempfile::TempDir) {
    let fixture = auth_on(config(), store).await;
    let alice = fixture.0.create_user("alice", PASSWORD, Role::User).await;
    alice.unwrap();
    fixture
}

/// Alice on the fake store, for tests that look inside the store.
async fn alice_on_mem() -> (Auth, Arc<MemStore>, tempfile::TempDir) {
    let (mem, store) = MemStore::shared();
    let (auth, dir) = alice_on(store).await;
    (auth, mem, dir)
}

fn is_invalid_token<T>(r: &Result<T, AuthError>) -> bool {
    matches!(r, Err(AuthError::InvalidToken))
}

#[tokio::test]
async fn login_issues_a_working_pair() {
    let (auth, mem, _dir) = alice_on_mem().await;
    let pair = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.expires_in, 900);
    let claims = auth.verify_access(&pair.access_token).await.unwrap();
    assert_eq!(claims.username, "alice");
    assert_eq!(claims.role, Role::User);
    assert_eq!(claims.typ, "access");
    assert_eq!(claims.exp - claims.iat, 900);

    let stored = mem.tokens();
    assert_eq!(stored.len(), 1);
    let hash = tokens::hash_refresh_token(&pair.refresh_token);
    assert_eq!(stored[0].token_hash, hash);
    assert_eq!(stored[0].user_id, claims.sub);
    assert_eq!(stored[0].expires_at - stored[0].created_at, 3_600_000);
    assert!(is_invalid_token(
        &auth.verify_access(&pair.refresh_token).await
    ));

    let json = serde_json::to_value(&pair).unwrap();
    for key in ["accessToken", "refreshToken", "tokenType", "expiresIn"] {
        assert!(json.get(key).is_some(), "{key}");
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    for store in backends() {
        let (auth, _dir) = alice_on(store).await;
        let wrong = auth.login("alice", "not the password", CLIENT).await;
        let unknown = auth.login("mallory", PASSWORD, CLIENT).await;
        let (wrong, unknown) = (wrong.unwrap_err(), unknown.unwrap_err());
        assert!(matches!(wrong, AuthError::InvalidCredentials));
        assert!(matches!(unknown, AuthError::InvalidCredentials));
        assert_eq!(wrong.to_string(), unknown.to_string());
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_kills_the_family() {
    for store in backends() {
        let (auth, _dir) = alice_on(store).await;
        let first = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
        let second = auth.refresh(&first.refresh_token).await.unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_ne!(second.access_token, first.access_token);
        let claims = auth.verify_access(&second.access_token).await.unwrap();
        assert_eq!(claims.username, "alice");

        // Replaying the spent token fails and revokes the family, including `second`.
        assert!(is_invalid_token(&auth.refresh(&first.refresh_token).await));
        assert!(is_invalid_token(&auth.refresh(&second.refresh_token).await));
    }
}

#[tokio::test]
async fn rotation_chain_stays_in_one_family() {
    let (auth, mem, _dir) = alice_on_mem().await;
    let mut pair = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
    for _ in 0..3 {
        pair = auth.refresh(&pair.refresh_token).await.unwrap();
    }
    let families: std::collections::HashSet<_> =
        mem.tokens().into_iter().map(|t| t.family_id).collect();
    assert_eq!(families.len(), 1);
}

#[tokio::test]
async fn unknown_expired_or_orphaned_refresh_tokens_fail() {
    let (auth, mem, _dir) = alice_on_mem().await;
    assert!(is_invalid_token(&auth.refresh("nonsense").await));
    assert!(is_invalid_token(&auth.refresh("").await));

    let now = crate::now_millis();
    let plant = |token: &str, user_id: &str, expires_at: i64| RefreshToken {
        token_hash: tokens::hash_refresh_token(token),
        user_id: user_id.into(),
        family_id: uuid::Uuid::new_v4().to_string(),
        created_at: now - 10_000,
        expires_at,
        used_at: None,
        revoked: false,
    };
    let alice = mem.user_by_name("alice").await.unwrap().unwrap();
    let expired = plant("expired", &alice.id, now - 1);
    mem.insert_refresh_token(&expired).await.unwrap();
    // The fake has no foreign keys, so it can hold a token of a deleted user.
    let orphan = plant("orphan", "no-such-user", now + 60_000);
    mem.insert_refresh_token(&orphan).await.unwrap();
    assert!(is_invalid_token(&auth.refresh("expired").await));
    assert!(is_invalid_token(&auth.refresh("orphan").await));
}

#[tokio::test]
async fn logout_revokes_its_family_only_and_is_idempotent() {
    for store in backends() {
        let (auth, _dir) = alice_on(store).await;
        let pair = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
        let other = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
        let rotated = auth.refresh(&pair.refresh_token).await.unwrap();
        auth.logout(&rotated.refresh_token, None).await.unwrap();
        assert!(is_invalid_token(
            &auth.refresh(&rotated.refresh_token).await
        ));
        auth.logout(&rotated.refresh_token, None).await.unwrap();
        auth.logout("never-issued", None).await.unwrap();
        // The other login (another family) still works.
        auth.refresh(&other.refresh_token).await.unwrap();
    }
}

#[tokio::test]
async fn logout_with_the_access_token_revokes_that_token_only() {
    let (auth, _dir) = alice_on(backends().remove(0)).await;
    let pair = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
    let other = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
    let claims = auth.verify_access(&pair.access_token).await.unwrap();
    auth.logout(&pair.refresh_token, Some(&claims))
        .await
        .unwrap();
    assert!(is_invalid_token(
        &auth.verify_access(&pair.access_token).await
    ));
    auth.verify_access(&other.access_token).await.unwrap();
}

#[tokio::test]
async fn throttles_after_max_failures_even_with_the_right_password() {
    let (auth, _mem, _dir) = alice_on_mem().await;
    for _ in 0..3 {
        let err = auth.login("alice", "wrong password", CLIENT).await;
        assert!(matches!(err, Err(AuthError::InvalidCredentials)));
    }
    match auth.login("alice", PASSWORD, CLIENT).await {
        Err(AuthError::Throttled { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(1));
            assert!(retry_after <= Duration::from_secs(600));
        }
        other => panic!("expected Throttled, got {:?}", other.map(|_| ())),
    }
    // Another client is not affected.
    let elsewhere = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    auth.login("alice", PASSWORD, elsewhere).await.unwrap();
}

#[tokio::test]
async fn successful_login_clears_failures() {
    let (auth, _mem, _dir) = alice_on_mem().await;
    for _round in 0..2 {
        for _ in 0..2 {
            assert!(auth.login("alice", "wrong password", CLIENT).await.is_err());
        }
        auth.login("alice", PASSWORD, CLIENT).await.unwrap();
    }
}

#[tokio::test]
async fn short_window_lets_the_client_back_in() {
    let mut cfg = config();
    cfg.login_max_failures = 1;
    cfg.login_window = Duration::from_millis(300);
    // One failure bans the address; the ban is what the client waits out.
    cfg.login_ban = Duration::from_millis(300);
    let (auth, _dir) = auth_on(cfg, MemStore::shared().1).await;
    auth.create_user("alice", PASSWORD, Role::User)
        .await
        .unwrap();
    assert!(auth.login("alice", "wrong password", CLIENT).await.is_err());
    let throttled_at = std::time::Instant::now();
    let throttled = auth.login("alice", PASSWORD, CLIENT).await;
    assert!(matches!(throttled, Err(AuthError::Throttled { .. })));
    // On the real clock: the client gets back in once the ban has passed, not before.
    let deadline = throttled_at + Duration::from_secs(5);
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        match auth.login("alice", PASSWORD, CLIENT).await {
            Ok(_) => break,
            Err(AuthError::Throttled { .. }) if std::time::Instant::now() < deadline => {
                poll.tick().await;
            }
            Err(e) => panic!("still refused after the window: {e}"),
        }
    }
    assert!(
        throttled_at.elapsed() >= Duration::from_millis(250),
        "let back in too early"
    );
}

/// Regression: a successful login used to clear every failure counted for its address,
/// so guesses at one account interleaved with logins to one's own were never throttled.
#[tokio::test]
async fn own_logins_do_not_reset_guesses_at_another_account() {
    let (auth, _mem, _dir) = alice_on_mem().await;
    auth.create_user("mallory", "mallory password", Role::User)
        .await
        .unwrap();
    for round in 0..3 {
        let guess = auth.login("alice", "a guess at it", CLIENT).await;
        assert!(matches!(guess, Err(AuthError::InvalidCredentials)));
        if round < 2 {
            auth.login("mallory", "mallory password", CLIENT)
                .await
                .unwrap();
        }
    }
    // The third guess got the address banned.
    match auth.login("mallory", "mallory password", CLIENT).await {
        Err(AuthError::Throttled { retry_after }) => {
            assert_eq!(retry_after, Duration::from_secs(600), "the whole ban");
        }
        other => panic!("expected Throttled, got {:?}", other.map(|_| ())),
    }
    // Alice, from her own address, is not locked out by it.
    let home = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    auth.login("alice", PASSWORD, home).await.unwrap();
}

#[tokio::test]
async fn bootstrap_uses_the_configured_password_once() {
    for store in backends() {
        let mut cfg = config();
        cfg.admin_password = Some(Secret::new("admin-password-1"));
        let (auth, _dir) = auth_on(cfg, store.clone()).await;
        assert_eq!(auth.bootstrap_admin().await.unwrap(), None);
        assert_eq!(auth.bootstrap_admin().await.unwrap(), None);
        assert_eq!(store.count_users().await.unwrap(), 1);
        let admin = store.user_by_name(ADMIN_USERNAME).await.unwrap().unwrap();
        assert_eq!(admin.role, Role::Admin);
        let pair = auth.login(ADMIN_USERNAME, "admin-password-1", CLIENT).await;
        let claims = auth
            .verify_access(&pair.unwrap().access_token)
            .await
            .unwrap();
        assert_eq!(claims.role, Role::Admin);
    }
}

#[tokio::test]
async fn bootstrap_generates_a_password_when_none_is_configured() {
    for store in backends() {
        let (auth, _dir) = auth_on(config(), store.clone()).await;
        let generated = auth.bootstrap_admin().await.unwrap();
        let generated = generated.expect("a generated password");
        assert_eq!(generated.len(), password::GENERATED_PASSWORD_CHARS);
        assert_eq!(auth.bootstrap_admin().await.unwrap(), None);
        assert_eq!(store.count_users().await.unwrap(), 1);
        auth.login(ADMIN_USERNAME, &generated, CLIENT)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn bootstrap_does_nothing_when_users_exist() {
    let (auth, mem, _dir) = alice_on_mem().await;
    assert_eq!(auth.bootstrap_admin().await.unwrap(), None);
    assert!(mem.user_by_name(ADMIN_USERNAME).await.unwrap().is_none());
}

#[tokio::test]
async fn registration_is_closed_unless_allowed() {
    let (closed, _dir) = auth_on(config(), MemStore::shared().1).await;
    let refused = closed.register("bob", PASSWORD).await;
    assert!(matches!(refused, Err(AuthError::RegistrationClosed)));

    for store in backends() {
        let mut cfg = config();
        cfg.allow_registration = true;
        let (auth, _dir) = auth_on(cfg, store).await;
        let bob = auth.register("bob", PASSWORD).await.unwrap();
        assert_eq!(bob.role, Role::User);
        assert!(bob.password_hash.starts_with("$argon2id$"));
        let again = auth.register("bob", PASSWORD).await;
        assert!(matches!(again, Err(AuthError::UsernameTaken)));
        auth.login("bob", PASSWORD, CLIENT).await.unwrap();
    }
}

#[tokio::test]
async fn account_rules_are_enforced() {
    let (auth, _dir) = auth_on(config(), MemStore::shared().1).await;
    let too_long = "x".repeat(33);
    for bad in ["ab", "has space", "ünïcode", "semi;colon", &too_long, ""] {
        let err = auth.create_user(bad, PASSWORD, Role::User).await;
        assert!(matches!(err, Err(AuthError::InvalidUsername(_))), "{bad:?}");
    }
    let longest = "x".repeat(32);
    for good in ["abc", "A.b-c_9", &longest] {
        auth.create_user(good, PASSWORD, Role::User).await.unwrap();
    }
    let short = auth.create_user("shorty", "1234567", Role::User).await;
    assert!(matches!(short, Err(AuthError::WeakPassword(_))));
    let long = auth
        .create_user("longy", &"p".repeat(257), Role::User)
        .await;
    assert!(matches!(long, Err(AuthError::WeakPassword(_))));
}

#[tokio::test]
async fn secret_file_is_shared_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.jwt_secret = None;
    let store = MemStore::shared().1;
    let first = Auth::new(&cfg, dir.path(), store.clone()).await.unwrap();
    first
        .create_user("alice", PASSWORD, Role::User)
        .await
        .unwrap();
    let pair = first.login("alice", PASSWORD, CLIENT).await.unwrap();

    let second = Auth::new(&cfg, dir.path(), store.clone()).await.unwrap();
    let claims = second.verify_access(&pair.access_token).await.unwrap();
    assert_eq!(claims.username, "alice");

    // A different configured secret does not accept the old tokens.
    let third = Auth::new(&config(), dir.path(), store).await.unwrap();
    assert!(is_invalid_token(
        &third.verify_access(&pair.access_token).await
    ));
}

#[tokio::test]
async fn short_secret_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(secret::SECRET_FILE), b"too short").unwrap();
    let mut cfg = config();
    cfg.jwt_secret = None;
    let refused = Auth::new(&cfg, dir.path(), MemStore::shared().1).await;
    assert!(matches!(refused, Err(AuthError::Secret(_))));
}

#[tokio::test]
async fn debug_output_leaks_no_secret() {
    let mut cfg = config();
    cfg.admin_password = Some(Secret::new("admin-password-1"));
    let (auth, _dir) = auth_on(cfg, MemStore::shared().1).await;
    let dbg = format!("{auth:?}");
    assert!(!dbg.contains("tttt"));
    assert!(!dbg.contains("admin-password-1"));

    auth.create_user("alice", PASSWORD, Role::User)
        .await
        .unwrap();
    let pair = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
    let dbg = format!("{pair:?}");
    assert!(!dbg.contains(&pair.refresh_token));
    assert!(!dbg.contains(&pair.access_token));
}

#[tokio::test]
async fn reset_password_replaces_it_and_revokes_refresh_tokens() {
    for store in backends() {
        let (auth, _dir) = alice_on(store.clone()).await;
        let before = auth.login("alice", PASSWORD, CLIENT).await.unwrap();
        let reset = reset_password(&*store, "alice").await.unwrap();
        assert_eq!(reset.revoked_tokens, 1);
        assert_eq!(reset.password.len(), password::GENERATED_PASSWORD_CHARS);
        assert!(reset.password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(!format!("{reset:?}").contains(&reset.password));

        let old = auth.login("alice", PASSWORD, CLIENT).await;
        assert!(matches!(old, Err(AuthError::InvalidCredentials)));
        assert!(is_invalid_token(&auth.refresh(&before.refresh_token).await));
        let after = auth.login("alice", &reset.password, CLIENT).await.unwrap();
        auth.refresh(&after.refresh_token).await.unwrap();

        let again = reset_password(&*store, "alice").await.unwrap();
        assert_ne!(again.password, reset.password);
    }
}

#[tokio::test]
async fn reset_password_of_an_unknown_user_changes_nothing() {
    for store in backends() {
        let (auth, _dir) = alice_on(store.clone()).await;
        let err = reset_password(&*store, "mallory").await.unwrap_err();
        assert!(matches!(&err, ResetError::UnknownUser(name) if name == "mallory"));
        assert_eq!(err.to_string(), "no user named \"mallory\"");
        auth.login("alice", PASSWORD, CLIENT).await.unwrap();
        assert_eq!(store.count_users().await.unwrap(), 1);
    }
}

#[tokio::test]
async fn reset_password_in_refuses_a_data_dir_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let vars = [("DATA_DIR".to_owned(), data_dir.display().to_string())];
    let config = crate::config::Config::from_vars(vars).unwrap();
    let err = reset_password_in(&config, ADMIN_USERNAME)
        .await
        .unwrap_err();
    assert!(matches!(err, ResetError::NoDatabase(_)), "{err}");
    assert!(!data_dir.exists(), "nothing is created in the wrong place");
}

/// A user created straight in the store (no `Auth`, so no purge runs yet).
async fn plain_user(store: &DynStore) -> User {
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        username: "alice".into(),
        password_hash: password::DUMMY_HASH.into(),
        role: Role::User,
        created_at: crate::now_millis(),
    };
    store.create_user(&user).await.unwrap();
    user
}

/// Stores a refresh token row for `token` expiring at `expires_at`.
async fn plant_token(store: &DynStore, user: &User, token: &str, expires_at: i64) {
    let row = RefreshToken {
        token_hash: tokens::hash_refresh_token(token),
        user_id: user.id.clone(),
        family_id: uuid::Uuid::new_v4().to_string(),
        created_at: expires_at - 60_000,
        expires_at,
        used_at: None,
        revoked: false,
    };
    store.insert_refresh_token(&row).await.unwrap();
}

/// Whether the row of `token` is still stored. (Looking marks it spent: harmless here.)
async fn token_row_exists(store: &DynStore, token: &str) -> bool {
    let hash = tokens::hash_refresh_token(token);
    let found = store
        .consume_refresh_token(&hash, crate::now_millis())
        .await;
    !matches!(found.unwrap(), Consumed::Unknown)
}

/// Polls until the row of `token` is gone; panics after 10 s.
async fn wait_until_purged(store: &DynStore, token: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    while token_row_exists(store, token).await {
        assert!(
            std::time::Instant::now() < deadline,
            "{token} was never purged"
        );
        poll.tick().await;
    }
}

#[tokio::test]
async fn expired_refresh_tokens_are_purged_when_auth_starts() {
    for store in backends() {
        let user = plain_user(&store).await;
        let now = crate::now_millis();
        plant_token(&store, &user, "expired", now - 1).await;
        plant_token(&store, &user, "live", now + 3_600_000).await;
        let (_auth, _dir) = auth_on(config(), store.clone()).await;
        wait_until_purged(&store, "expired").await;
        assert!(token_row_exists(&store, "live").await);
    }
}

#[tokio::test]
async fn the_purge_repeats_until_cancelled() {
    for store in backends() {
        let user = plain_user(&store).await;
        let cancel = tokio_util::sync::CancellationToken::new();
        let every = Duration::from_millis(20);
        let task = tokio::spawn(purge::run(store.clone(), every, cancel.clone()));
        for round in 0..3 {
            let token = format!("expired-{round}");
            plant_token(&store, &user, &token, crate::now_millis() - 1).await;
            wait_until_purged(&store, &token).await;
        }
        cancel.cancel();
        task.await.expect("the purge task ends when cancelled");
    }
}

mod two_factor;
