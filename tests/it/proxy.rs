//! Behind a reverse proxy: login throttling counts per real client only when the proxy
//! is trusted, and a client cannot dodge the throttle by sending its own header.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::{ADMIN_PASSWORD, TestApp};

async fn login_from(app: &TestApp, forwarded: &str, password: &str) -> StatusCode {
    app.client
        .post(format!("{}/api/auth/login", app.base))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login request")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_throttles_each_forwarded_client_separately() {
    let app = TestApp::spawn_with(&[("TRUST_PROXY", "true"), ("LOGIN_MAX_FAILURES", "2")]).await;
    // The proxy appends the address it saw; what the client sent before it is ignored.
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, "127.0.0.9, 127.0.0.2", "wrong-password").await,
            401
        );
    }
    assert_eq!(login_from(&app, "127.0.0.2", ADMIN_PASSWORD).await, 429);
    assert_eq!(
        login_from(&app, "127.0.0.2, 127.0.0.3", ADMIN_PASSWORD).await,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_forwarded_header_is_ignored() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "2")]).await;
    assert_eq!(login_from(&app, "127.0.0.4", "wrong-password").await, 401);
    assert_eq!(login_from(&app, "127.0.0.5", "wrong-password").await, 401);
    assert_eq!(
        login_from(&app, "127.0.0.6", ADMIN_PASSWORD).await,
        429,
        "a made-up header must not reset the count"
    );
}
