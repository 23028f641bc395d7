//! The shipped nginx config (`nginx/nginx.conf`) passes `nginx -t` and, run by the
//! real nginx on 127.0.0.1 in front of the server, carries a login, a `.torrent`
//! upload, and a Socket.IO client over WebSocket that gets the upload's event.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::nginx::Nginx;
use crate::support::sio::{Client, SHORT};
use crate::support::swarm::Content;
use crate::support::tools::free_port;

/// A `.torrent` upload to `base`, with form fields; the status and the JSON answer.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    torrent: Vec<u8>,
    fields: &[(&'static str, &'static str)],
) -> (StatusCode, Value) {
    let file = reqwest::multipart::Part::bytes(torrent).file_name("x.torrent");
    let mut form = reqwest::multipart::Form::new().part("file", file);
    for (k, v) in fields {
        form = form.text(*k, *v);
    }
    let resp = http
        .post(format!("{base}/api/torrents"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("an upload through nginx");
    let status = resp.status();
    (
        status,
        resp.json().await.expect("a JSON answer from the server"),
    )
}

#[test]
fn the_shipped_config_passes_nginx_t_and_a_broken_one_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream = "127.0.0.1:9".parse().expect("address");
    let main = Nginx::write_config(dir.path(), upstream, free_port());
    let (ok, out) = Nginx::check(&main, dir.path());
    assert!(ok, "nginx -t: {out}");
    // The check is real: a config with a typo is refused.
    let site = dir.path().join("site.conf");
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(
        &site,
        text.replace("proxy_buffering off;", "proxy_buffering of;"),
    )
    .unwrap();
    let (ok, out) = Nginx::check(&main, dir.path());
    assert!(!ok, "nginx -t passed a broken config: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_upload_and_socketio_pass_through_nginx() {
    let app = TestApp::spawn_with(&[("TRUST_PROXY", "true")]).await;
    let nginx = Nginx::start(app.addr).await;
    let base = nginx.base();
    let http = reqwest::Client::new();

    let login = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": "admin", "password": crate::support::app::ADMIN_PASSWORD }))
        .send()
        .await
        .expect("login through nginx");
    assert_eq!(login.status(), StatusCode::OK);
    let body: Value = login.json().await.expect("login body");
    let token = body["accessToken"]
        .as_str()
        .expect("access token")
        .to_owned();

    let mut socket =
        Client::connect_to(&base, "via-nginx", json!({ "token": token }), "websocket").await;
    socket.wait_event("authenticated", SHORT).await;

    // An upload of a few MiB, streamed through (nginx buffers no request body).
    let content = Content::random("via-nginx", &[3 * 1024 * 1024 + 1, 1024 * 1024 + 7]);
    let (torrent, hash) = content.make_torrent(16 * 1024, vec![]).await;
    let (status, added) = upload(&http, &base, &token, torrent, &[("paused", "true")]).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["infoHash"], hash);

    let event = socket
        .wait_until("torrent:added through nginx", SHORT, |v| {
            v["event"] == "torrent:added" && v["data"]["infoHash"] == hash
        })
        .await;
    assert_eq!(event["data"]["paused"], true, "{event}");
    socket.quit().await;

    // /metrics stays inside: nginx does not pass it on.
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics via nginx");
    assert_eq!(metrics.status(), StatusCode::NOT_FOUND);

    // Too large for the server: its JSON error comes through, not nginx's page.
    let big = vec![b'x'; 10 * 1024 * 1024 + 4096];
    let (status, v) = upload(&http, &base, &token, big, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(v["error"]["code"].is_string(), "{v}");
}
