//! Servers on Redis, end to end over HTTP: two servers sharing a Redis (and a JWT
//! secret) share the login ban and logout's revocation of an access token; Redis killed
//! under a running server gives no 5xx, `/api/health` says degraded, and the server
//! goes back to Redis when it returns.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::{ADMIN_PASSWORD, TestApp};
use crate::support::redis::Redis;
use crate::support::wait_for;

const SECRET: &str = "a-shared-jwt-secret-of-at-least-32-bytes";

async fn on_redis(redis: &Redis) -> TestApp {
    let url = redis.url();
    TestApp::spawn_with(&[("REDIS_URL", url.as_str()), ("JWT_SECRET", SECRET)]).await
}

async fn login(app: &TestApp, password: &str) -> (StatusCode, Value) {
    let body = json!({ "username": "admin", "password": password });
    app.call(Method::POST, "/api/auth/login", None, Some(body))
        .await
}

async fn logout(app: &TestApp, access: &str, refresh: &str) -> StatusCode {
    let body = Some(json!({ "refreshToken": refresh }));
    let (status, body) = app
        .call(Method::POST, "/api/auth/logout", Some(access), body)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    status
}

async fn list_status(app: &TestApp, token: &str) -> StatusCode {
    let (status, _) = app
        .call(Method::GET, "/api/torrents", Some(token), None)
        .await;
    status
}

async fn health(app: &TestApp, token: Option<&str>) -> (StatusCode, Value) {
    app.call(Method::GET, "/api/health", token, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_login_ban_and_logout_revocation() {
    let redis = Redis::start().await;
    let a = on_redis(&redis).await;
    let b = on_redis(&redis).await;

    // A token from A works on B (one secret); logging out on A revokes it on B too.
    let (access, refresh) = a.login_pair("admin", ADMIN_PASSWORD).await;
    assert_eq!(list_status(&b, &access).await, StatusCode::OK);
    logout(&a, &access, &refresh).await;
    for app in [&a, &b] {
        let (status, body) = app
            .call(Method::GET, "/api/torrents", Some(&access), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, body) = health(&b, Some(&b.admin_token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["cache"]["backend"], "redis", "{body}");

    // Five failures spread over both servers ban 127.0.0.1 on both (LOGIN_MAX_FAILURES
    // is 5 by default), even with the right password.
    for (i, app) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let (status, body) = login(app, &format!("wrong-password-{i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    for app in [&b, &a] {
        let (status, body) = login(app, ADMIN_PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
    }
}

/// Requests a client of a running server makes, none of which may get a 5xx: health,
/// readiness, a good and a bad login, authenticated reads, a logout that revokes its
/// access token (then refused), and the metrics.
async fn battery(app: &TestApp) {
    let mut seen = Vec::new();
    let (access, refresh) = app.login_pair("admin", ADMIN_PASSWORD).await;
    seen.push(("login", login(app, ADMIN_PASSWORD).await.0));
    seen.push(("bad login", login(app, "not-the-password").await.0));
    seen.push(("list", list_status(app, &access).await));
    let (me, _) = app
        .call(Method::GET, "/api/users/me", Some(&access), None)
        .await;
    seen.push(("me", me));
    seen.push(("health", health(app, None).await.0));
    let (ready, _) = app.call(Method::GET, "/api/health/ready", None, None).await;
    seen.push(("ready", ready));
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics");
    seen.push(("metrics", metrics.status()));
    seen.push(("logout", logout(app, &access, &refresh).await));
    seen.push(("revoked", list_status(app, &access).await));
    let errors: Vec<_> = seen.iter().filter(|(_, s)| s.is_server_error()).collect();
    assert!(errors.is_empty(), "5xx: {errors:?} of {seen:?}");
    assert_eq!(seen.last().unwrap().1, StatusCode::UNAUTHORIZED, "{seen:?}");
}

/// Waits until the server's health says it uses Redis again.
async fn back_on_redis(app: &TestApp) {
    wait_for(
        "the server to use Redis again",
        Duration::from_secs(20),
        || async {
            let (_, body) = health(app, None).await;
            (body["status"] == "ok").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_degrades_without_errors_and_recovers() {
    let mut redis = Redis::start().await;
    let app = on_redis(&redis).await;
    battery(&app).await;
    let (_, body) = health(&app, Some(&app.admin_token)).await;
    assert_eq!(body["cache"]["state"], "ok", "{body}");

    redis.kill().await;
    battery(&app).await;
    let (status, body) = health(&app, None).await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("degraded"))
    );
    let (_, body) = health(&app, Some(&app.admin_token)).await;
    assert_eq!(body["cache"]["backend"], "memory", "{body}");
    assert_eq!(body["cache"]["state"], "degraded", "{body}");
    assert!(body["cache"]["lastError"].is_string(), "{body}");
    // Back on the same port, empty: the server uses it again, and the access tokens
    // revoked meanwhile are copied to it.
    redis.restart().await;
    back_on_redis(&app).await;
    let revoked = redis.keys("torrentedge:revoked:").await;
    assert!(!revoked.is_empty(), "no revocation was copied to Redis");
    battery(&app).await;

    // Frozen rather than gone: requests are answered after one timeout, not hung.
    redis.freeze();
    battery(&app).await;
    let (_, body) = health(&app, None).await;
    assert_eq!(body["status"], "degraded");
    redis.thaw();
    back_on_redis(&app).await;
}
