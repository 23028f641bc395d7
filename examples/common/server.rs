//! The real server embedded for a benchmark: on 127.0.0.1 with port 0, DHT and local
//! discovery off, state in a temp dir removed at the end, and an administrator signed in.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use torrentedge::app::App;
use torrentedge::config::Config;
use torrentedge::events::Bus;

pub struct BenchServer {
    pub base: String,
    pub http: reqwest::Client,
    pub password: String,
    /// The administrator's access token and user id.
    pub token: String,
    pub user_id: String,
    pub bus: Arc<Bus>,
    shutdown: CancellationToken,
    join: JoinHandle<anyhow::Result<()>>,
    dir: TempDir,
}

impl BenchServer {
    /// Starts a server with `extra` variables on top of the loopback defaults.
    pub async fn start(extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let password: String = (0..16)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        Self::start_in(tempfile::tempdir()?, password, extra).await
    }

    /// [`BenchServer::start`] on the state in `dir` (of a server stopped with
    /// [`BenchServer::stop_keeping_state`]).
    pub async fn start_in(
        dir: TempDir,
        password: String,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let path = |p: &str| dir.path().join(p).display().to_string();
        let mut vars: Vec<(String, String)> = [
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("PEER_HOST", "127.0.0.1"),
            ("PEER_PORT", "0"),
            ("ENABLE_DHT", "false"),
            ("ENABLE_LSD", "false"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.push(("ADMIN_PASSWORD".into(), password.clone()));
        vars.push(("DATA_DIR".into(), path("data")));
        vars.push(("DOWNLOAD_PATH".into(), path("downloads")));
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let app = App::build(Config::from_vars(vars)?).await?;
        let base = format!("http://{}", app.local_addr());
        let (bus, shutdown) = (app.bus(), app.shutdown_token());
        let join = tokio::spawn(app.run());
        let http = reqwest::Client::builder().no_proxy().build()?;
        let login = json!({ "username": "admin", "password": password });
        let pair: Value = http
            .post(format!("{base}/api/auth/login"))
            .json(&login)
            .send()
            .await?
            .json()
            .await?;
        let token = pair["accessToken"].as_str().context("a token")?.to_owned();
        let me: Value = http
            .get(format!("{base}/api/users/me"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let user_id = me["id"].as_str().context("a user id")?.to_owned();
        Ok(Self {
            base,
            http,
            password,
            token,
            user_id,
            bus,
            shutdown,
            join,
            dir,
        })
    }

    /// The administrator's download folder (where their torrents' files go).
    pub fn user_downloads(&self) -> PathBuf {
        self.dir.path().join("downloads/users").join(&self.user_id)
    }

    /// `POST path` with the administrator's token and a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = res.status();
        let value: Value = res.json().await?;
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {value}");
        Ok(value)
    }

    /// Uploads a `.torrent`; returns its info hash.
    pub async fn upload(&self, torrent: Vec<u8>) -> anyhow::Result<String> {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(torrent).file_name("bench.torrent"),
        );
        let res = self
            .http
            .post(format!("{}/api/torrents", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?;
        let status = res.status();
        let value: Value = res.json().await?;
        anyhow::ensure!(status.is_success(), "upload: {status} {value}");
        Ok(value["infoHash"].as_str().context("infoHash")?.to_owned())
    }

    /// How many of the administrator's torrents are in `state` (`X-Total-Count`).
    pub async fn count_in(&self, state: &str) -> anyhow::Result<usize> {
        let res = self
            .http
            .get(format!("{}/api/torrents?state={state}&limit=1", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let total = res
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .context("X-Total-Count")?;
        Ok(total)
    }

    pub async fn stop(self) {
        self.stop_keeping_state().await;
    }

    /// Stops the server; returns its state and the administrator's password.
    pub async fn stop_keeping_state(self) -> (TempDir, String) {
        self.shutdown.cancel();
        let _ = self.join.await;
        (self.dir, self.password)
    }
}
