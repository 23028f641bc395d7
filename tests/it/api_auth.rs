//! Authentication and authorization through the real HTTP API.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{ADMIN_PASSWORD, TestApp};
use crate::support::wait_for;

const SECRET: &str = "integration-test-jwt-secret-0123456789-abcdef";

/// Asserts a JSON error response: status and `error.code`, and a non-empty message.
#[track_caller]
fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "status; body: {body}");
    assert_eq!(body["error"]["code"], code, "error code; body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message; body: {body}"
    );
}

/// One request with a raw `Authorization` header (or none); returns status, JSON body, headers.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, HeaderMap) {
    let mut req = app.client.request(method, format!("{}{path}", app.base));
    if let Some(a) = authorization {
        req = req.header(AUTHORIZATION, a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v, headers)
}

/// POST /api/auth/login; returns status, JSON body and headers.
async fn login_raw(app: &TestApp, user: &str, password: &str) -> (StatusCode, Value, HeaderMap) {
    let body = json!({"username": user, "password": password});
    raw(app, Method::POST, "/api/auth/login", None, Some(body)).await
}

/// The `Retry-After` header, in whole seconds.
#[track_caller]
fn retry_after(headers: &HeaderMap) -> u64 {
    headers
        .get(RETRY_AFTER)
        .expect("Retry-After header")
        .to_str()
        .expect("ascii")
        .parse::<u64>()
        .expect("Retry-After in whole seconds")
}

/// GET `path` with `Authorization: Bearer token`; returns status and body.
async fn get_as(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let (s, v, _) = raw(
        app,
        Method::GET,
        path,
        Some(&format!("Bearer {token}")),
        None,
    )
    .await;
    (s, v)
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/auth/refresh",
        None,
        Some(json!({"refreshToken": token})),
    )
    .await
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn random_hash() -> String {
    hex::encode(rand::random::<[u8; 20]>())
}

async fn me(app: &TestApp, token: &str) -> Value {
    let (status, v) = get_as(app, "/api/users/me", token).await;
    assert_eq!(status, StatusCode::OK, "me: {v}");
    v
}

async fn usernames(app: &TestApp) -> Vec<String> {
    let (status, v) = get_as(app, "/api/users", &app.admin_token).await;
    assert_eq!(status, StatusCode::OK, "users: {v}");
    let mut names: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_malformed_authorization_is_401_json() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token.clone();
    let paths = [
        "/api/torrents",
        "/api/statistics",
        "/api/users/me",
        "/api/users",
        "/api/settings",
    ];
    for path in paths {
        // The control: the same request with a good token succeeds.
        let (status, body) = get_as(&app, path, &admin).await;
        assert_eq!(status, StatusCode::OK, "{path} with a valid token: {body}");

        let (status, body, _) = raw(&app, Method::GET, path, None, None).await;
        assert_error(&(status, body), StatusCode::UNAUTHORIZED, "unauthorized");

        let malformed = [
            String::new(),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            "Bearer    ".to_owned(),
            "Basic YWRtaW46dGVzdC1hZG1pbi1wYXNzd29yZC0x".to_owned(),
            "Token abc".to_owned(),
            admin.clone(),
            format!("Basic {admin}"),
            format!("Bearer{admin}"),
            "Bearer not.a.jwt".to_owned(),
            "Bearer a.b.c".to_owned(),
        ];
        for header in &malformed {
            let (status, body, _) = raw(&app, Method::GET, path, Some(header), None).await;
            assert_error(&(status, body), StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }
    // Writes are refused as well, and change nothing.
    let (status, body, _) = raw(
        &app,
        Method::POST,
        "/api/torrents",
        None,
        Some(json!({"magnetURI": random_hash(), "paused": true})),
    )
    .await;
    assert_error(&(status, body), StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body, _) = raw(
        &app,
        Method::POST,
        "/api/users",
        None,
        Some(json!({"username": "mallory", "password": "mallory-password-1"})),
    )
    .await;
    assert_error(&(status, body), StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(app.list(&admin).await.is_empty());
    assert_eq!(usernames(&app).await, ["admin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn_with(&[("JWT_SECRET", SECRET)]).await;
    let (access, refresh_token) = app.login_pair("admin", ADMIN_PASSWORD).await;
    let me_v = me(&app, &access).await;
    let id = me_v["id"].as_str().expect("id").to_owned();
    let unauthorized =
        |got: (StatusCode, Value)| assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");

    // Forged signature: the last characters of a real token's signature changed.
    let (head, sig) = access.rsplit_once('.').expect("three parts");
    let cut = sig.len() - 6;
    let flipped: String = sig[cut..]
        .chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect();
    let forged = format!("{head}.{}{flipped}", &sig[..cut]);
    assert_ne!(forged, access);
    unauthorized(get_as(&app, "/api/users/me", &forged).await);
    // Signature removed entirely.
    unauthorized(get_as(&app, "/api/users/me", &format!("{head}.")).await);

    // alg none: the real token's own claims, an unsigned header and no signature.
    let payload = head.split_once('.').expect("header.payload").1;
    for alg in ["none", "None", "NONE"] {
        let h = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        unauthorized(get_as(&app, "/api/users/me", &format!("{h}.{payload}.")).await);
    }

    // Tokens signed here with the server's secret: valid ones prove the test can fail.
    let claims = |exp: i64, typ: &str| {
        json!({
            "sub": id, "username": "admin", "role": "admin", "typ": typ,
            "iat": now_secs() - 120, "exp": exp, "jti": uuid::Uuid::new_v4().to_string(),
        })
    };
    let sign = |alg: Algorithm, secret: &str, c: &Value| {
        jsonwebtoken::encode(
            &Header::new(alg),
            c,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    };
    let valid = sign(
        Algorithm::HS256,
        SECRET,
        &claims(now_secs() + 300, "access"),
    );
    let (status, body) = get_as(&app, "/api/users/me", &valid).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a token signed with the configured secret must work: {body}"
    );
    assert_eq!(body["id"], id.as_str());

    let expired = sign(Algorithm::HS256, SECRET, &claims(now_secs() - 60, "access"));
    unauthorized(get_as(&app, "/api/users/me", &expired).await);
    unauthorized(get_as(&app, "/api/torrents", &expired).await);

    let hs512 = sign(
        Algorithm::HS512,
        SECRET,
        &claims(now_secs() + 300, "access"),
    );
    unauthorized(get_as(&app, "/api/users/me", &hs512).await);
    let hs384 = sign(
        Algorithm::HS384,
        SECRET,
        &claims(now_secs() + 300, "access"),
    );
    unauthorized(get_as(&app, "/api/users/me", &hs384).await);

    let other_secret = sign(
        Algorithm::HS256,
        "some-other-secret-of-forty-characters-xx",
        &claims(now_secs() + 300, "access"),
    );
    unauthorized(get_as(&app, "/api/users/me", &other_secret).await);

    let refresh_typ = sign(
        Algorithm::HS256,
        SECRET,
        &claims(now_secs() + 300, "refresh"),
    );
    unauthorized(get_as(&app, "/api/users/me", &refresh_typ).await);

    // The opaque refresh token is not an access token.
    unauthorized(get_as(&app, "/api/users/me", &refresh_token).await);
    unauthorized(get_as(&app, "/api/torrents", &refresh_token).await);

    // None of that disturbed the real session.
    assert_eq!(me(&app, &access).await["username"], "admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let (_a1, r1) = app.login_pair("admin", ADMIN_PASSWORD).await;

    let (status, pair) = refresh(&app, &r1).await;
    assert_eq!(status, StatusCode::OK, "first refresh: {pair}");
    let a2 = pair["accessToken"]
        .as_str()
        .expect("access token")
        .to_owned();
    let r2 = pair["refreshToken"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert_ne!(r2, r1, "the refresh token must rotate");
    assert_eq!(me(&app, &a2).await["username"], "admin");

    // R1 again is a replay: refused, and its family (so R2 too) is revoked.
    assert_error(
        &refresh(&app, &r1).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(
        &refresh(&app, &r2).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    // Unknown and empty refresh tokens.
    assert_error(
        &refresh(&app, "not-a-refresh-token").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(
        &refresh(&app, "").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    // Another login is a new family and is unaffected.
    let (_a3, r3) = app.login_pair("admin", ADMIN_PASSWORD).await;
    let (status, body) = refresh(&app, &r3).await;
    assert_eq!(status, StatusCode::OK, "fresh family: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let (_a1, r1) = app.login_pair("admin", ADMIN_PASSWORD).await;
    let (_b1, other) = app.login_pair("admin", ADMIN_PASSWORD).await;

    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"refreshToken": r1})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null);
    assert_error(
        &refresh(&app, &r1).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    // Logging out twice is fine; a malformed logout body is a JSON error.
    let (status, _) = app
        .call(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"refreshToken": r1})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.call(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"token": r1})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );

    // The other session was not logged out.
    let (status, body) = refresh(&app, &other).await;
    assert_eq!(status, StatusCode::OK, "other session: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_with_the_access_token_revokes_it_at_once() {
    let app = TestApp::spawn().await;
    let (a1, r1) = app.login_pair("admin", ADMIN_PASSWORD).await;
    let (a2, r2) = app.login_pair("admin", ADMIN_PASSWORD).await;
    let list = |token: String| {
        let app = &app;
        async move {
            app.call(Method::GET, "/api/torrents", Some(&token), None)
                .await
        }
    };
    let logout = |access: Option<String>, refresh: String| {
        let app = &app;
        async move {
            let body = Some(json!({ "refreshToken": refresh }));
            let path = "/api/auth/logout";
            app.call(Method::POST, path, access.as_deref(), body).await
        }
    };
    // Sent along, the access token is refused from then on.
    let (status, body) = logout(Some(a1.clone()), r1).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_error(&list(a1).await, StatusCode::UNAUTHORIZED, "unauthorized");
    // Not sent, it lives until it expires; other sessions are untouched.
    let (status, _) = logout(None, r2).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(list(a2).await.0, StatusCode::OK);
    assert_eq!(list(app.admin_token.clone()).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_and_touch_only_their_own_torrents() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    let bob_id = me(&app, &bob).await["id"].as_str().expect("id").to_owned();

    let hash = random_hash();
    let added = app.add_magnet(&bob, &hash, json!({"paused": true})).await;
    assert_eq!(added["infoHash"], hash.as_str());
    assert_eq!(added["ownerId"], bob_id.as_str());

    let t = format!("/api/torrents/{hash}");
    let not_found =
        |got: (StatusCode, Value)| assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    not_found(app.call(Method::GET, &t, Some(&alice), None).await);
    not_found(
        app.call(
            Method::GET,
            &t.to_uppercase().replace("/API/TORRENTS/", "/api/torrents/"),
            Some(&alice),
            None,
        )
        .await,
    );
    not_found(
        app.call(Method::POST, &format!("{t}/pause"), Some(&alice), None)
            .await,
    );
    not_found(
        app.call(Method::POST, &format!("{t}/resume"), Some(&alice), None)
            .await,
    );
    not_found(
        app.call(
            Method::PUT,
            &format!("{t}/priority"),
            Some(&alice),
            Some(json!({"priority": "high"})),
        )
        .await,
    );
    not_found(app.call(Method::DELETE, &t, Some(&alice), None).await);
    not_found(
        app.call(
            Method::DELETE,
            &format!("{t}?deleteFiles=true"),
            Some(&alice),
            None,
        )
        .await,
    );
    assert!(
        app.list(&alice).await.is_empty(),
        "alice must not see bob's torrent"
    );
    let (status, stats) = app
        .call(Method::GET, "/api/statistics", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["totalTorrents"], 0, "{stats}");

    // Alice's attempts changed nothing: still there, still paused, still normal priority.
    let v = app.torrent(&bob, &hash).await;
    assert_eq!(v["paused"], true, "{v}");
    assert_eq!(v["state"], "paused", "{v}");
    assert_eq!(v["priority"], "normal", "{v}");
    let bob_list = app.list(&bob).await;
    assert_eq!(bob_list.len(), 1);
    assert_eq!(bob_list[0]["infoHash"], hash.as_str());
    let (status, stats) = app
        .call(Method::GET, "/api/statistics", Some(&bob), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["totalTorrents"], 1, "{stats}");

    // The admin sees everyone's torrents.
    let all = app.list(&app.admin_token).await;
    assert!(
        all.iter()
            .any(|t| t["infoHash"] == hash.as_str() && t["ownerId"] == bob_id.as_str()),
        "{all:?}"
    );
    assert_eq!(
        app.torrent(&app.admin_token, &hash).await["ownerId"],
        bob_id.as_str()
    );

    // Bob can act on his own torrent (so the 404s above were about ownership).
    let (status, v) = app
        .call(
            Method::PUT,
            &format!("{t}/priority"),
            Some(&bob),
            Some(json!({"priority": "high"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["priority"], "high");
    let (status, _) = app.call(Method::DELETE, &t, Some(&bob), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(app.list(&app.admin_token).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_manage_users_and_hashes_never_leave() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let _bob = app.new_user("bob").await;

    let (status, body) = app
        .call(
            Method::POST,
            "/api/users",
            Some(&alice),
            Some(json!({"username": "mallory", "password": "mallory-password-1"})),
        )
        .await;
    assert_error(&(status, body), StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/users",
            Some(&alice),
            Some(json!({"username": "root2", "password": "root2-password-1", "role": "admin"})),
        )
        .await;
    assert_error(&(status, body), StatusCode::FORBIDDEN, "forbidden");
    assert_error(
        &app.call(Method::GET, "/api/users", Some(&alice), None)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.call(
            Method::PUT,
            "/api/settings",
            Some(&alice),
            Some(json!({"downloadLimit": 1})),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let (status, users) = app
        .call(Method::GET, "/api/users", Some(&app.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let users = users.as_array().expect("array").clone();
    let mut names: Vec<(&str, &str)> = users
        .iter()
        .map(|u| {
            (
                u["username"].as_str().expect("name"),
                u["role"].as_str().expect("role"),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [("admin", "admin"), ("alice", "user"), ("bob", "user")]
    );

    let me_v = me(&app, &alice).await;
    assert_eq!(me_v["username"], "alice");
    assert_eq!(me_v["role"], "user");
    assert!(me_v["id"].as_str().is_some_and(|s| !s.is_empty()));
    for v in users.iter().chain(std::iter::once(&me_v)) {
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.iter()
                .all(|k| ["id", "username", "role", "createdAt"].contains(k)),
            "unexpected user field in {v}"
        );
        let text = v.to_string();
        assert!(
            !text.to_ascii_lowercase().contains("password") && !text.contains("$argon2"),
            "secret leaked: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_closed_by_default() {
    let app = TestApp::spawn().await;
    let got = app
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": "carol", "password": "carol-password-1"})),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(usernames(&app).await, ["admin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_registration_creates_plain_users() {
    let app = TestApp::spawn_with(&[("ALLOW_REGISTRATION", "true")]).await;
    let register = |user: &str, pw: &str, extra: Value| {
        let mut body = json!({"username": user, "password": pw});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().cloned().unwrap_or_default());
        app.call(Method::POST, "/api/auth/register", None, Some(body))
    };

    let (status, created) = register("carol", "carol-password-1", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["username"], "carol");
    assert_eq!(created["role"], "user");
    assert!(
        created.get("password").is_none() && created.get("passwordHash").is_none(),
        "{created}"
    );
    let token = app.login("carol", "carol-password-1").await;
    assert_eq!(me(&app, &token).await["username"], "carol");

    // Asking for a role at sign-up does not grant it.
    let (status, created) = register("eve-user", "eve-password-12", json!({"role": "admin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["role"], "user");
    let eve = app.login("eve-user", "eve-password-12").await;
    assert_error(
        &app.call(Method::GET, "/api/users", Some(&eve), None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    assert_error(
        &register("carol", "another-password-1", json!({})).await,
        StatusCode::CONFLICT,
        "username_taken",
    );
    assert_error(
        &register("admin", "another-password-1", json!({})).await,
        StatusCode::CONFLICT,
        "username_taken",
    );
    assert_error(
        &register("dave", "short", json!({})).await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    );
    assert_error(
        &register("x", "long-enough-password", json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_username",
    );
    assert_error(
        &register("bad name!", "long-enough-password", json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_username",
    );

    // The duplicate kept the original password; the refused ones do not exist.
    app.login("carol", "carol-password-1").await;
    assert_eq!(usernames(&app).await, ["admin", "carol", "eve-user"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_are_throttled_with_retry_after() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_BAN_SECONDS", "900")]).await;
    let login = |pw: &str| {
        raw(
            &app,
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": "admin", "password": pw})),
        )
    };
    for i in 0..3 {
        let (status, body, _) = login(&format!("wrong-password-{i}")).await;
        assert_error(
            &(status, body),
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
    }
    let (status, body, headers) = login(ADMIN_PASSWORD).await;
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    let retry = headers
        .get(RETRY_AFTER)
        .expect("Retry-After header")
        .to_str()
        .expect("ascii")
        .parse::<u64>()
        .expect("Retry-After in whole seconds");
    assert!((1..=15 * 60).contains(&retry), "Retry-After {retry}");
    // Still throttled on the next attempt: the right password did not reset it.
    let (status, body, _) = login(ADMIN_PASSWORD).await;
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    // Claiming another address does not help a client that reaches the server directly.
    for header in ["x-forwarded-for", "x-real-ip", "forwarded"] {
        let value = if header == "forwarded" {
            "for=203.0.113.7"
        } else {
            "203.0.113.7"
        };
        let resp = app
            .client
            .post(format!("{}/api/auth/login", app.base))
            .header(header, value)
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        let body: Value = resp.json().await.expect("JSON body");
        assert_error(
            &(status, body),
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
        );
    }
}

/// Regression: a successful login cleared every failure counted for its address, so
/// anyone with an account could interleave guesses at `admin` with logins of their own
/// and never be throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_interleaved_with_own_logins_are_still_throttled() {
    let app = TestApp::spawn().await;
    app.new_user("mallory").await;
    let mut before_last_guess = Instant::now();
    for i in 0..5 {
        before_last_guess = Instant::now();
        let (status, body, _) = login_raw(&app, "admin", &format!("guess-{i}")).await;
        assert_error(
            &(status, body),
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
        if i < 4 {
            let (status, body, _) = login_raw(&app, "mallory", "mallory-password-123").await;
            assert_eq!(status, StatusCode::OK, "mallory's own login: {body}");
        }
    }
    // The fifth guess banned the address: mallory's own login and admin's right password
    // are refused alike, for the whole ban (3600 s by default).
    for (user, password) in [
        ("mallory", "mallory-password-123"),
        ("admin", ADMIN_PASSWORD),
    ] {
        let (status, body, headers) = login_raw(&app, user, password).await;
        assert_error(
            &(status, body),
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
        );
        let retry = retry_after(&headers);
        let since_ban = before_last_guess.elapsed().as_secs_f64();
        assert!(
            retry <= 3600 && retry as f64 >= 3600.0 - since_ban,
            "{user}: Retry-After {retry} after {since_ban:.1} s of a 3600 s ban"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sixth_failure_gets_429_and_the_ban_lasts_login_ban_seconds() {
    const BAN_SECS: u64 = 2;
    let app = TestApp::spawn_with(&[("LOGIN_BAN_SECONDS", &BAN_SECS.to_string())]).await;
    // Five failures (the default LOGIN_MAX_FAILURES) are answered 401; the ban starts
    // when the fifth is checked, so after `before_fifth`.
    let mut before_fifth = Instant::now();
    for i in 0..5 {
        before_fifth = Instant::now();
        let (status, body, _) = login_raw(&app, "admin", &format!("wrong-{i}")).await;
        assert_error(
            &(status, body),
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
    }
    let (status, body, headers) = login_raw(&app, "admin", "wrong-5").await;
    let seen = before_fifth.elapsed().as_secs_f64();
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    // What is left of the ban, rounded up to whole seconds.
    let retry = retry_after(&headers);
    assert!(
        (1..=BAN_SECS).contains(&retry) && retry as f64 >= BAN_SECS as f64 - seen,
        "Retry-After {retry}, {seen:.2} s into a {BAN_SECS} s ban"
    );
    // Even the right password is refused until the ban is over, then it works.
    wait_for("the ban to end", Duration::from_secs(30), || async {
        let (status, body, _) = login_raw(&app, "admin", ADMIN_PASSWORD).await;
        if status == StatusCode::OK {
            return Some(());
        }
        assert_error(
            &(status, body),
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
        );
        None
    })
    .await;
    assert!(
        before_fifth.elapsed() >= Duration::from_secs(BAN_SECS),
        "let in {:?} after the ban began, before its {BAN_SECS} s were over",
        before_fifth.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_auth_bodies_are_refused_before_they_are_read() {
    let app = TestApp::spawn().await;
    // Far above any real credentials, far below the 10 MiB torrent upload limit.
    let huge = "p".repeat(100 * 1024);
    let (status, body, _) = login_raw(&app, "admin", &huge).await;
    assert_error(&(status, body), StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    let (status, body, _) = raw(
        &app,
        Method::POST,
        "/api/users",
        Some(&format!("Bearer {}", app.admin_token)),
        Some(json!({"username": "bob", "password": huge})),
    )
    .await;
    assert_error(&(status, body), StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    // Refused bodies are not failed logins: the right password still works.
    app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(usernames(&app).await, ["admin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_details_are_for_administrators_only() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let admin = app.admin_token.clone();
    // The control: an administrator's token gets the details.
    let (status, full) = get_as(&app, "/api/health", &admin).await;
    assert_eq!(status, StatusCode::OK, "{full}");
    assert_eq!(full["status"], "ok", "{full}");
    for key in ["version", "uptimeSeconds", "store", "engine", "kafka"] {
        assert!(
            full.get(key).is_some(),
            "no {key} for an administrator: {full}"
        );
    }
    assert_eq!(full["engine"]["peerPort"], app.peer_addr.port(), "{full}");
    let (status, ready) = get_as(&app, "/api/health/ready", &admin).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["kafka"]["enabled"], false, "{ready}");

    // Anyone else, with no token, a user's, or a bad one: the status alone, same code.
    let callers = [
        None,
        Some(format!("Bearer {alice}")),
        Some("Bearer not.a.jwt".to_owned()),
        Some(format!("Basic {admin}")),
    ];
    for caller in &callers {
        for (path, word) in [
            ("/api/health", "ok"),
            ("/api/health/ready", "ready"),
            ("/api/health/live", "alive"),
        ] {
            let (status, body, _) = raw(&app, Method::GET, path, caller.as_deref(), None).await;
            assert_eq!(status, StatusCode::OK, "{path} as {caller:?}: {body}");
            assert_eq!(body, json!({ "status": word }), "{path} as {caller:?}");
        }
    }
}
