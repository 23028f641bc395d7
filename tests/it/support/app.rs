//! The real server, spawned in-process on 127.0.0.1 with port 0, its own data and
//! download directories, DHT and local discovery off, and a fast engine tick. Trackers
//! on loopback are allowed (`ALLOW_PRIVATE_TRACKERS`): every test tracker runs there.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use torrentedge::app::App;
use torrentedge::config::Config;
use torrentedge::engine::Hooks;

use super::wait_for;

pub const ADMIN_PASSWORD: &str = "test-admin-password-1";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub dir: TempDir,
    pub admin_token: String,
    /// The admin's user id: their files are in [`TestApp::admin_downloads`].
    pub admin_id: String,
    pub peer_addr: SocketAddr,
    pub bus: std::sync::Arc<torrentedge::events::Bus>,
    shutdown: CancellationToken,
    join: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(vars: &[(&str, &str)]) -> Self {
        Self::spawn_in(tempfile::tempdir().expect("tempdir"), vars).await
    }

    /// Starts a server whose state lives in `dir` (so a test can restart on the same one).
    pub async fn spawn_in(dir: TempDir, vars: &[(&str, &str)]) -> Self {
        Self::spawn_hooked(dir, vars, Hooks::default()).await
    }

    /// [`TestApp::spawn_in`] with test hooks in the engine.
    pub async fn spawn_hooked(dir: TempDir, vars: &[(&str, &str)], hooks: Hooks) -> Self {
        let mut all: Vec<(String, String)> = [
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("PEER_HOST", "127.0.0.1"),
            ("PEER_PORT", "0"),
            ("ENABLE_DHT", "false"),
            ("ENABLE_LSD", "false"),
            ("ENGINE_TICK_MS", "200"),
            ("ALLOW_PRIVATE_TRACKERS", "true"),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("SHUTDOWN_TIMEOUT", "20"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        all.push((
            "DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        ));
        all.push((
            "DOWNLOAD_PATH".into(),
            dir.path().join("downloads").display().to_string(),
        ));
        all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_vars(all).expect("test config");
        let app = App::build_with(config, hooks).await.expect("server starts");
        let addr = app.local_addr();
        let peer_addr = app.engine().peer_addr().expect("engine listens for peers");
        let shutdown = app.shutdown_token();
        let bus = app.bus();
        let join = tokio::spawn(app.run());
        let mut me = Self {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            dir,
            admin_token: String::new(),
            admin_id: String::new(),
            peer_addr,
            bus,
            shutdown,
            join: Some(join),
        };
        me.admin_token = me.login("admin", ADMIN_PASSWORD).await;
        me.admin_id = me.user_id(&me.admin_token).await;
        me
    }

    /// `DOWNLOAD_PATH`: every user's folder is below it.
    pub fn downloads(&self) -> PathBuf {
        self.dir.path().join("downloads")
    }

    /// The folder of one user's torrents.
    pub fn user_downloads(&self, user_id: &str) -> PathBuf {
        self.downloads().join("users").join(user_id)
    }

    /// The folder of the admin's torrents (where most tests add theirs).
    pub fn admin_downloads(&self) -> PathBuf {
        self.user_downloads(&self.admin_id)
    }

    /// The id of the user a token belongs to.
    pub async fn user_id(&self, token: &str) -> String {
        let (status, me) = self
            .call(Method::GET, "/api/users/me", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{me}");
        me["id"].as_str().expect("user id").to_owned()
    }

    /// Stops the server gracefully and hands back its directory.
    pub async fn stop(mut self) -> TempDir {
        self.shutdown.cancel();
        if let Some(j) = self.join.take() {
            j.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        self.login_pair(user, password).await.0
    }

    /// Logs in; returns (access token, refresh token).
    pub async fn login_pair(&self, user: &str, password: &str) -> (String, String) {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"username": user, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {user}: {body}");
        assert_eq!(body["tokenType"], "Bearer", "{body}");
        let token = |k: &str| {
            body[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k}: {body}"))
                .to_owned()
        };
        let (access, refresh) = (token("accessToken"), token("refreshToken"));
        assert_ne!(access, refresh);
        (access, refresh)
    }

    /// Creates a user through the admin API and returns their access token.
    pub async fn new_user(&self, name: &str) -> String {
        let pw = format!("{name}-password-123");
        let (status, body) = self
            .call(
                Method::POST,
                "/api/users",
                Some(&self.admin_token),
                Some(json!({"username": name, "password": pw})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create user: {body}");
        self.login(name, &pw).await
    }

    /// One JSON request; returns the status and the body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        read(resp).await
    }

    pub async fn add_magnet(&self, token: &str, magnet: &str, extra: Value) -> Value {
        let mut body = json!({ "magnetURI": magnet });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, v) = self
            .call(Method::POST, "/api/torrents", Some(token), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "add magnet: {v}");
        v
    }

    /// `POST /api/torrents` of a .torrent (multipart `file`) with the given fields.
    pub async fn upload(
        &self,
        token: &str,
        torrent: &[u8],
        fields: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.post_torrent("/api/torrents", token, torrent, fields)
            .await
    }

    /// `POST /api/catalog`: publishes a .torrent with the given fields (`title`, ...).
    pub async fn publish(
        &self,
        token: &str,
        torrent: &[u8],
        fields: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.post_torrent("/api/catalog", token, torrent, fields)
            .await
    }

    async fn post_torrent(
        &self,
        path: &str,
        token: &str,
        torrent: &[u8],
        fields: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(torrent.to_vec()).file_name("x.torrent"),
        );
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        read(resp).await
    }

    /// `GET /metrics`, the value of the sample named exactly `series` (0 when absent).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics sent")
            .text()
            .await
            .expect("metrics body");
        sample(&text, series)
    }

    pub async fn torrent(&self, token: &str, hash: &str) -> Value {
        let (status, v) = self
            .call(
                Method::GET,
                &format!("/api/torrents/{hash}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "details {hash}: {v}");
        v
    }

    pub async fn list(&self, token: &str) -> Vec<Value> {
        let (status, v) = self
            .call(Method::GET, "/api/torrents", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "list: {v}");
        v.as_array().cloned().expect("array")
    }

    /// Waits, watching the API, until the torrent is complete (seeding or completed).
    pub async fn wait_complete(&self, token: &str, hash: &str, timeout: Duration) -> Value {
        wait_for(&format!("torrent {hash} to complete"), timeout, || async {
            let v = self.torrent(token, hash).await;
            assert_ne!(v["state"], "error", "torrent failed: {v}");
            (v["completedAt"].is_number() && v["percentage"].as_f64() == Some(100.0)).then_some(v)
        })
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// Asserts every file below `src` is byte-identical below `dst`.
pub fn assert_same_tree(src: &Path, dst: &Path) {
    let mut n = 0;
    for entry in walk(src) {
        let rel = entry.strip_prefix(src).expect("below src");
        let a = std::fs::read(&entry).expect("read source");
        let b = std::fs::read(dst.join(rel))
            .unwrap_or_else(|e| panic!("read {:?}: {e}", dst.join(rel)));
        assert!(a == b, "{rel:?} differs ({} vs {} bytes)", a.len(), b.len());
        n += 1;
    }
    assert!(n > 0, "no files compared");
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

pub const SLOW: Duration = Duration::from_secs(120);

/// The value of the Prometheus sample named exactly `series` (name and labels as
/// rendered) in `text`, 0 when it is not there.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}
