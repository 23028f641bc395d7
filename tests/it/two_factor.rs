//! Two-factor login (TOTP) through the real HTTP API: setting it up, logging in with a
//! code or a recovery code, each accepted once, and the edges that cannot send a code
//! (qBittorrent API, WebDAV) taking app passwords only.
//!
//! Codes are computed here from the secret the server shows, with RFC 6238 written out
//! by hand (HMAC-SHA-1 of the step), not with the server's own code.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::TestApp;

const STEP: u64 = 30;

/// RFC 4648 base32 (no padding) to bytes.
fn base32(text: &str) -> Vec<u8> {
    let (mut out, mut bits, mut acc) = (Vec::new(), 0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {text}"),
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The 6-digit code of `secret` at time step `step` (RFC 4226 §5.3 truncation).
fn code(secret: &[u8], step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("any key length");
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let at = usize::from(h[19] & 0x0f);
    let value = u32::from_be_bytes([h[at] & 0x7f, h[at + 1], h[at + 2], h[at + 3]]);
    format!("{:06}", value % 1_000_000)
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The current step, once at least 10 s of it are left: the steps either side stay
/// valid for what a test does next (the server accepts one step of skew).
async fn early_step() -> u64 {
    loop {
        let now = unix_secs();
        if now % STEP <= 20 {
            return now / STEP;
        }
        tokio::time::sleep(Duration::from_secs(STEP - now % STEP)).await;
    }
}

/// A 6-digit code valid for none of the steps around `step`.
fn wrong_code(secret: &[u8], step: u64) -> String {
    let valid: Vec<String> = (step - 2..=step + 2).map(|s| code(secret, s)).collect();
    (0..)
        .map(|n| format!("{:06}", 111_111 * (n % 9) + n / 9))
        .find(|c| !valid.contains(c))
        .expect("some code is wrong")
}

async fn login(app: &TestApp, user: &str, password: &str, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"username": user, "password": password});
    body.as_object_mut()
        .expect("object")
        .extend(extra.as_object().expect("object").clone());
    app.call(Method::POST, "/api/auth/login", None, Some(body))
        .await
}

#[track_caller]
fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "status; body: {}", got.1);
    assert_eq!(got.1["error"]["code"], code, "body: {}", got.1);
}

/// A user with two-factor login enabled: (access token, password, secret, recovery
/// codes, the step the confirming code was for).
async fn user_with_2fa(app: &TestApp, name: &str) -> (String, String, Vec<u8>, Vec<String>, u64) {
    let token = app.new_user(name).await;
    let password = format!("{name}-password-123");
    let (status, enabled) = app
        .call(Method::POST, "/api/auth/2fa/enable", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    let secret = base32(enabled["secret"].as_str().expect("secret"));
    let step = early_step().await;
    let confirm = json!({"code": code(&secret, step - 1)});
    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/2fa/confirm",
            Some(&token),
            Some(confirm),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes = body["recoveryCodes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("text").to_owned())
        .collect();
    (token, password, secret, codes, step)
}

#[tokio::test]
async fn setting_up_two_factor_login_takes_a_code_of_the_pending_secret() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "50")]).await;
    let token = app.new_user("carol").await;
    let status = |t: &str| {
        let t = t.to_owned();
        let app = &app;
        async move { app.call(Method::GET, "/api/auth/2fa", Some(&t), None).await }
    };
    let off = json!({"enabled": false, "pending": false, "recoveryCodesLeft": 0});
    assert_eq!(status(&token).await, (StatusCode::OK, off));
    let early = json!({"code": "123456"});
    let got = app
        .call(
            Method::POST,
            "/api/auth/2fa/confirm",
            Some(&token),
            Some(early),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "two_factor_not_pending");
    let got = app.call(Method::GET, "/api/auth/2fa", None, None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");

    let enable = || app.call(Method::POST, "/api/auth/2fa/enable", Some(&token), None);
    let (s, first) = enable().await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let url = first["otpauthUrl"].as_str().expect("url");
    assert!(
        url.starts_with("otpauth://totp/TorrentEdge:carol?"),
        "{url}"
    );
    // SHA-1, 6 digits and 30 s are the URL format's defaults, so they may go unsaid.
    assert!(url.contains("issuer=TorrentEdge"), "{url}");
    assert!(
        url.contains(first["secret"].as_str().expect("secret")),
        "{url}"
    );
    let qr = first["qrCode"].as_str().expect("qr");
    assert!(qr.starts_with("data:image/png;base64,"), "{qr}");
    // Beginning again replaces the pending secret: the first one's codes no longer fit.
    let (_, second) = enable().await;
    assert_ne!(first["secret"], second["secret"]);
    let pending = json!({"enabled": false, "pending": true, "recoveryCodesLeft": 0});
    assert_eq!(status(&token).await.1, pending);
    let resp = app
        .client
        .get(format!("{}/api/auth/2fa/qr", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("qr");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "image/png");
    assert!(resp.bytes().await.expect("png").starts_with(b"\x89PNG"));
    // Pending guards nothing yet.
    let (s, _) = login(&app, "carol", "carol-password-123", json!({})).await;
    assert_eq!(s, StatusCode::OK);

    let old = base32(first["secret"].as_str().expect("secret"));
    let new = base32(second["secret"].as_str().expect("secret"));
    let step = early_step().await;
    let confirm = |c: String| {
        let body = json!({ "code": c });
        app.call(
            Method::POST,
            "/api/auth/2fa/confirm",
            Some(&token),
            Some(body),
        )
    };
    assert_error(
        &confirm("12ab".into()).await,
        StatusCode::BAD_REQUEST,
        "malformed_two_factor_code",
    );
    let stale = confirm(code(&old, step)).await;
    assert_error(&stale, StatusCode::FORBIDDEN, "invalid_two_factor_code");
    let (s, body) = confirm(code(&new, step)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let codes = body["recoveryCodes"].as_array().expect("codes");
    assert_eq!(codes.len(), 10, "{body}");
    let on = json!({"enabled": true, "pending": false, "recoveryCodesLeft": 10});
    assert_eq!(status(&token).await.1, on);
    assert_error(&enable().await, StatusCode::CONFLICT, "two_factor_enabled");
    assert_error(
        &confirm(code(&new, step + 1)).await,
        StatusCode::CONFLICT,
        "two_factor_enabled",
    );
}

#[tokio::test]
async fn a_login_needs_a_code_and_each_code_works_once() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "50")]).await;
    let (token, pw, secret, recovery, step) = user_with_2fa(&app, "dave").await;

    let got = login(&app, "dave", &pw, json!({})).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "two_factor_required");
    assert!(got.1["accessToken"].is_null(), "{}", got.1);
    // A wrong password is just that, code or not.
    let got = login(&app, "dave", "wrong-password-1", json!({})).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let with = |c: String| json!({ "code": c });
    let got = login(&app, "dave", "wrong-password-1", with(code(&secret, step))).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_credentials");

    // The confirming code's step is spent already; the next step's code works once.
    let got = login(&app, "dave", &pw, with(code(&secret, step - 1))).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_two_factor_code");
    let (s, pair) = login(
        &app,
        "dave",
        &pw,
        with(format!(" {} ", code(&secret, step))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{pair}");
    assert!(pair["accessToken"].is_string() && pair["refreshToken"].is_string());
    let again = login(&app, "dave", &pw, with(code(&secret, step))).await;
    assert_error(&again, StatusCode::UNAUTHORIZED, "invalid_two_factor_code");
    let wrong = login(&app, "dave", &pw, with(wrong_code(&secret, step))).await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "invalid_two_factor_code");
    let malformed = login(&app, "dave", &pw, with("12345".into())).await;
    assert_error(
        &malformed,
        StatusCode::BAD_REQUEST,
        "malformed_two_factor_code",
    );
    let both = json!({"code": code(&secret, step + 1), "recoveryCode": recovery[0]});
    let got = login(&app, "dave", &pw, both).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "malformed_two_factor_code");

    // A recovery code works once, however it is typed.
    let rc = |c: &str| json!({ "recoveryCode": c });
    let typed = recovery[0].to_uppercase();
    let (s, body) = login(&app, "dave", &pw, rc(&typed)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let got = login(&app, "dave", &pw, rc(&recovery[0])).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_two_factor_code");
    let (_, st) = app
        .call(Method::GET, "/api/auth/2fa", Some(&token), None)
        .await;
    assert_eq!(st["recoveryCodesLeft"], 9, "{st}");

    // New recovery codes need a factor and replace every old one.
    let regen = |body: Value| {
        app.call(
            Method::POST,
            "/api/auth/2fa/recovery-codes",
            Some(&token),
            Some(body),
        )
    };
    assert_error(
        &regen(json!({})).await,
        StatusCode::BAD_REQUEST,
        "malformed_two_factor_code",
    );
    let (s, fresh) = regen(rc(&recovery[1])).await;
    assert_eq!(s, StatusCode::OK, "{fresh}");
    let fresh = fresh["recoveryCodes"][0]
        .as_str()
        .expect("a new code")
        .to_owned();
    let got = login(&app, "dave", &pw, rc(&recovery[2])).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_two_factor_code");
    assert_eq!(login(&app, "dave", &pw, rc(&fresh)).await.0, StatusCode::OK);

    // Turning it off needs the password and a factor.
    let disable = |body: Value| {
        app.call(
            Method::POST,
            "/api/auth/2fa/disable",
            Some(&token),
            Some(body),
        )
    };
    let next = code(&secret, step + 1);
    let no_password = disable(json!({ "code": next })).await;
    assert_error(&no_password, StatusCode::BAD_REQUEST, "invalid_request");
    let no_code = disable(json!({ "password": pw })).await;
    assert_error(
        &no_code,
        StatusCode::BAD_REQUEST,
        "malformed_two_factor_code",
    );
    let bad_pw = disable(json!({"password": "wrong-password-1", "code": next})).await;
    assert_error(&bad_pw, StatusCode::FORBIDDEN, "invalid_credentials");
    let bad_code = json!({"password": pw, "code": wrong_code(&secret, step)});
    assert_error(
        &disable(bad_code).await,
        StatusCode::FORBIDDEN,
        "invalid_two_factor_code",
    );
    let (s, body) = disable(json!({"password": pw, "code": next})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let off = json!({"enabled": false, "pending": false, "recoveryCodesLeft": 0});
    assert_eq!(
        app.call(Method::GET, "/api/auth/2fa", Some(&token), None)
            .await
            .1,
        off
    );
    assert_eq!(login(&app, "dave", &pw, json!({})).await.0, StatusCode::OK);
    let got = disable(json!({"password": pw, "code": code(&secret, step + 1)})).await;
    assert_error(&got, StatusCode::CONFLICT, "two_factor_not_enabled");
}

#[tokio::test]
async fn racing_logins_with_one_code_let_one_in() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "50")]).await;
    let (_, pw, secret, _, step) = user_with_2fa(&app, "erin").await;
    let body = json!({ "code": code(&secret, step) });
    let racing = (0..4).map(|_| login(&app, "erin", &pw, body.clone()));
    let results = futures::future::join_all(racing).await;
    let ok = results.iter().filter(|r| r.0 == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    for r in results.iter().filter(|r| r.0 != StatusCode::OK) {
        // The others were refused: the code was spent (or, at worst, the hashing queue
        // was full); none got in.
        let code = r.1["error"]["code"].as_str().unwrap_or_default();
        assert!(
            ["invalid_two_factor_code", "server_busy"].contains(&code),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn wrong_codes_count_as_failed_logins_and_a_missing_one_does_not() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_BAN_SECONDS", "900")]).await;
    let (_, pw, secret, _, step) = user_with_2fa(&app, "frank").await;
    for _ in 0..5 {
        let got = login(&app, "frank", &pw, json!({})).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "two_factor_required");
    }
    let wrong = json!({ "code": wrong_code(&secret, step) });
    for _ in 0..3 {
        let got = login(&app, "frank", &pw, wrong.clone()).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_two_factor_code");
    }
    let right = json!({ "code": code(&secret, step) });
    let got = login(&app, "frank", &pw, right).await;
    assert_error(&got, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
}

/// qBittorrent API login (form-encoded); returns its text.
async fn qbt_login(app: &TestApp, user: &str, password: &str) -> String {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("username", user), ("password", password)])
        .finish();
    let resp = app
        .client
        .post(format!("{}/api/v2/auth/login", app.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("qbt login");
    resp.text().await.expect("text")
}

async fn propfind(app: &TestApp, user: &str, password: &str) -> StatusCode {
    app.client
        .request(
            Method::from_bytes(b"PROPFIND").expect("method"),
            format!("{}/dav/", app.base),
        )
        .basic_auth(user, Some(password))
        .header("depth", "0")
        .send()
        .await
        .expect("propfind")
        .status()
}

#[tokio::test]
async fn with_two_factor_on_other_edges_take_app_passwords_only() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "50")]).await;
    let token = app.new_user("grace").await;
    let pw = "grace-password-123";
    let (s, created) = app
        .call(
            Method::POST,
            "/api/app-passwords",
            Some(&token),
            Some(json!({"name": "sonarr"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let app_pw = created["password"]
        .as_str()
        .expect("app password")
        .to_owned();
    // Before: the account password works on both edges (WebDAV remembers it).
    assert_eq!(qbt_login(&app, "grace", pw).await, "Ok.");
    assert_eq!(propfind(&app, "grace", pw).await, StatusCode::MULTI_STATUS);

    let (s, enabled) = app
        .call(Method::POST, "/api/auth/2fa/enable", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{enabled}");
    let secret = base32(enabled["secret"].as_str().expect("secret"));
    let confirm = json!({"code": code(&secret, early_step().await)});
    let (s, body) = app
        .call(
            Method::POST,
            "/api/auth/2fa/confirm",
            Some(&token),
            Some(confirm),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // After: the account password is refused there (at once, also where it was
    // remembered); app passwords go on working, and an app password is no login.
    assert_eq!(qbt_login(&app, "grace", pw).await, "Fails.");
    assert_eq!(propfind(&app, "grace", pw).await, StatusCode::UNAUTHORIZED);
    assert_eq!(qbt_login(&app, "grace", &app_pw).await, "Ok.");
    assert_eq!(
        propfind(&app, "grace", &app_pw).await,
        StatusCode::MULTI_STATUS
    );
    let got = login(&app, "grace", &app_pw, json!({})).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_credentials");
}
