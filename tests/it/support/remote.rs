//! A REST client for a server running as a child process ([`super::process::Running`]).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::app::ADMIN_PASSWORD;
use super::wait_for;

pub struct Remote {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Remote {
    /// Logs in as the admin (`ADMIN_PASSWORD`) at `addr`.
    pub async fn login(addr: &str) -> Self {
        let http = reqwest::Client::new();
        let base = format!("http://{addr}");
        let body: Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("login sent")
            .json()
            .await
            .expect("login body");
        let token = body["accessToken"]
            .as_str()
            .expect("access token")
            .to_owned();
        Self { http, base, token }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Uploads a `.torrent` with the given peer; returns its info hash.
    pub async fn upload(&self, torrent: &[u8], peer: &str) -> String {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(torrent.to_vec()).file_name("x.torrent"),
            )
            .text("peers", peer.to_owned());
        let resp = self
            .http
            .post(format!("{}/api/torrents", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .expect("upload sent");
        let status = resp.status();
        let v: Value = resp.json().await.expect("upload body");
        assert_eq!(status, 201, "{v}");
        v["infoHash"].as_str().expect("infoHash").to_owned()
    }

    pub async fn torrent(&self, hash: &str) -> Value {
        let (status, v) = self.get(&format!("/api/torrents/{hash}")).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    /// Waits until the torrent is in `state`.
    pub async fn wait_state(&self, hash: &str, state: &str, timeout: Duration) -> Value {
        wait_for(&format!("torrent {hash} {state}"), timeout, || async {
            let v = self.torrent(hash).await;
            (v["state"] == state).then_some(v)
        })
        .await
    }
}
