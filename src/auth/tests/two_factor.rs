//! Two-factor login through [`Auth`]: what a login needs once it is on, codes and
//! recovery codes working once, the edges without a code taking app passwords only,
//! and wrong codes counting in the limiter.

use super::*;

fn step_now() -> u64 {
    (crate::now_millis() / 1000) as u64 / totp::STEP_SECS
}

/// Turns on two-factor login for alice with a code of the current step; returns her
/// secret, the confirming step and her recovery codes.
async fn alice_with_2fa(auth: &Auth, store: &DynStore) -> (Vec<u8>, u64, Vec<String>) {
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    let enrollment = auth.begin_two_factor(&alice.id).await.unwrap();
    let secret = store.two_factor(&alice.id).await.unwrap().unwrap().secret;
    assert_eq!(
        totp_rs::Secret::try_from_base32(&enrollment.secret)
            .unwrap()
            .as_bytes(),
        &secret[..]
    );
    let step = step_now();
    let code = totp::code_at(&secret, step).unwrap();
    let recovery = auth.confirm_two_factor(&alice.id, &code).await.unwrap();
    (secret, step, recovery)
}

fn code(secret: &[u8], step: u64) -> SecondFactor {
    SecondFactor::Code(totp::code_at(secret, step).unwrap())
}

#[tokio::test]
async fn a_login_needs_a_second_factor_and_each_works_once() {
    for store in backends() {
        let (auth, _dir) = alice_on(store.clone()).await;
        let (secret, step, recovery) = alice_with_2fa(&auth, &store).await;
        let login = |f: Option<SecondFactor>| {
            let auth = &auth;
            async move { auth.login_with("alice", PASSWORD, f.as_ref(), CLIENT).await }
        };
        assert!(matches!(
            login(None).await,
            Err(AuthError::TwoFactorRequired)
        ));
        let next = code(&secret, step + 1);
        let wrong_pw = auth.login_with("alice", "nope nope", Some(&next), CLIENT);
        assert!(matches!(wrong_pw.await, Err(AuthError::InvalidCredentials)));
        // The confirming step is spent; the next one works once.
        let spent = login(Some(code(&secret, step))).await;
        assert!(matches!(spent, Err(AuthError::InvalidTwoFactorCode)));
        login(Some(code(&secret, step + 1))).await.unwrap();
        let again = login(Some(code(&secret, step + 1))).await;
        assert!(matches!(again, Err(AuthError::InvalidTwoFactorCode)));

        let rc = |c: &str| SecondFactor::RecoveryCode(c.to_owned());
        login(Some(rc(&recovery[0]))).await.unwrap();
        let reused = login(Some(rc(&recovery[0]))).await;
        assert!(matches!(reused, Err(AuthError::InvalidTwoFactorCode)));
        let id = store.user_by_name("alice").await.unwrap().unwrap().id;
        let status = auth.two_factor_status(&id).await.unwrap();
        assert_eq!((status.enabled, status.recovery_codes_left), (true, 9));
    }
}

#[tokio::test]
async fn edges_without_a_code_take_app_passwords_only() {
    // App passwords live in the settings, which only the real store keeps.
    let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
    let (auth, _dir) = alice_on(store.clone()).await;
    let id = store.user_by_name("alice").await.unwrap().unwrap().id;
    let (_, app_password) = auth.create_app_password(&id, "sonarr").await.unwrap();
    alice_with_2fa(&auth, &store).await;
    let qbt = auth.authenticate("alice", PASSWORD, CLIENT).await;
    assert!(matches!(qbt, Err(AuthError::TwoFactorRequired)));
    let dav = auth.authenticate_app("alice", PASSWORD, CLIENT).await;
    assert!(matches!(dav, Err(AuthError::TwoFactorRequired)));
    let user = auth
        .authenticate_app("alice", &app_password, CLIENT)
        .await
        .unwrap();
    assert_eq!(user.id, id);
    let not_a_login = auth.login("alice", &app_password, CLIENT).await;
    assert!(matches!(not_a_login, Err(AuthError::InvalidCredentials)));
}

#[tokio::test]
async fn wrong_codes_are_failed_logins_and_a_missing_one_is_not() {
    let (mem, store) = MemStore::shared();
    drop(mem);
    let (auth, _dir) = alice_on(store.clone()).await;
    let (secret, step, _) = alice_with_2fa(&auth, &store).await;
    for _ in 0..5 {
        let asked = auth.login("alice", PASSWORD, CLIENT).await;
        assert!(matches!(asked, Err(AuthError::TwoFactorRequired)));
    }
    let valid: Vec<String> = (step - 1..=step + 2)
        .map(|s| totp::code_at(&secret, s).unwrap())
        .collect();
    let wrong = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .unwrap();
    for _ in 0..3 {
        let f = SecondFactor::Code(wrong.clone());
        let refused = auth.login_with("alice", PASSWORD, Some(&f), CLIENT).await;
        assert!(matches!(refused, Err(AuthError::InvalidTwoFactorCode)));
    }
    let right = code(&secret, step + 1);
    let banned = auth
        .login_with("alice", PASSWORD, Some(&right), CLIENT)
        .await;
    assert!(matches!(banned, Err(AuthError::Throttled { .. })));
}

#[tokio::test]
async fn setup_states_are_refused_in_words() {
    let (mem, store) = MemStore::shared();
    drop(mem);
    let (auth, _dir) = alice_on(store.clone()).await;
    let id = store.user_by_name("alice").await.unwrap().unwrap().id;
    let early = auth.confirm_two_factor(&id, "123456").await;
    assert!(matches!(early, Err(AuthError::TwoFactorNotPending)));
    let malformed = auth.confirm_two_factor(&id, "12 34").await;
    assert!(matches!(
        malformed,
        Err(AuthError::MalformedTwoFactorCode(_))
    ));
    let (secret, step, _) = alice_with_2fa(&auth, &store).await;
    assert!(matches!(
        auth.begin_two_factor(&id).await,
        Err(AuthError::TwoFactorAlreadyEnabled)
    ));
    let next = code(&secret, step + 1);
    let off = auth.disable_two_factor(&id, "wrong password", &next, CLIENT);
    assert!(matches!(off.await, Err(AuthError::InvalidCredentials)));
    auth.disable_two_factor(&id, PASSWORD, &next, CLIENT)
        .await
        .unwrap();
    let status = auth.two_factor_status(&id).await.unwrap();
    assert_eq!(
        status,
        TwoFactorStatus {
            enabled: false,
            pending: false,
            recovery_codes_left: 0
        }
    );
    auth.login("alice", PASSWORD, CLIENT).await.unwrap();
}

#[test]
fn a_request_carries_at_most_one_well_formed_factor() {
    let parse = |c: Option<&str>, r: Option<&str>| SecondFactor::from_request(c, r);
    assert!(matches!(parse(None, Some(" ")), Ok(None)));
    assert!(
        matches!(parse(Some("123 456"), None), Ok(Some(SecondFactor::Code(c))) if c == "123456")
    );
    assert!(matches!(
        parse(None, Some("ABCDE-FGHJK")),
        Ok(Some(SecondFactor::RecoveryCode(c))) if c == "abcdefghjk"
    ));
    for (c, r) in [
        (Some("12345"), None),
        (None, Some("short")),
        (Some("123456"), Some("abcde-fghjk")),
    ] {
        assert!(
            matches!(parse(c, r), Err(AuthError::MalformedTwoFactorCode(_))),
            "{c:?} {r:?}"
        );
    }
}
