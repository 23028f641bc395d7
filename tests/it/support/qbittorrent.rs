//! `qbittorrent-nox` as a real BitTorrent client in the tests: a fresh profile with a
//! pre-written configuration (it has no command-line options for most of it), driven
//! through its WebUI API on loopback.
//!
//! The configuration is the one `scripts/lib.sh` (`qbt_write_config`) gives the
//! benchmarks: legal notice accepted (otherwise it waits for a keypress), peers on `lo`
//! / 127.0.0.1 only, DHT, PeX, local discovery and UPnP off so a tracker is its only
//! source of peers, and a WebUI on a free loopback port that local clients use without
//! logging in. The process is killed when the handle is dropped; [`Qbittorrent::stop`]
//! stops it gracefully instead, so it sends its `event=stopped` announces.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::tools::{
    READY_TIMEOUT, ensure_running, error_chain, free_port, log_stdio, read_log, require_tool,
    signal_and_wait, wait_until,
};

/// libtorrent waits a few seconds for trackers to answer its `stopped` announces.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Qbittorrent {
    // Declared before `dir` so the process is killed before its profile is deleted.
    child: Child,
    dir: TempDir,
    webui: SocketAddr,
    peer_port: u16,
    http: reqwest::Client,
}

impl Qbittorrent {
    /// Starts qbittorrent-nox on a new profile and waits until its WebUI answers and
    /// reports the settings written (a key it did not take would otherwise go unnoticed
    /// until a test fails for an unrelated-looking reason).
    pub async fn start() -> Qbittorrent {
        let program = require_tool("qbittorrent-nox");
        let dir = tempfile::tempdir().expect("tempdir for qbittorrent-nox");
        let webui = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let peer_port = free_port();
        let downloads = dir.path().join("dl");
        std::fs::create_dir_all(&downloads).expect("mkdir qbittorrent downloads");
        write_config(dir.path(), webui.port(), peer_port, &downloads);
        let (stdout, stderr) = log_stdio(&dir.path().join("qbittorrent-nox.out"));
        let child = Command::new(program)
            .arg(format!("--profile={}", dir.path().display()))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn qbittorrent-nox");
        let http = reqwest::Client::builder()
            // A CI `http_proxy` must never see (or break) loopback traffic.
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build reqwest client");
        let mut qbt = Qbittorrent {
            child,
            dir,
            webui,
            peer_port,
            http,
        };
        qbt.wait_ready().await;
        qbt.check_preferences().await;
        qbt
    }

    async fn wait_ready(&mut self) {
        let out = self.dir.path().join("qbittorrent-nox.out");
        let url = self.url("/api/v2/app/version");
        let (child, http) = (&mut self.child, &self.http);
        let ready = wait_until("qbittorrent-nox's WebUI", READY_TIMEOUT, || {
            let running = ensure_running(child, "qbittorrent-nox", &out);
            let url = url.clone();
            async move {
                running?;
                let resp = http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
                resp.error_for_status()
                    .map(drop)
                    .map_err(|e| format!("GET {url}: {e}"))
            }
        })
        .await;
        if let Err(e) = ready {
            panic!("{e}\n{}", self.log());
        }
    }

    async fn check_preferences(&self) {
        let prefs = self.get_json("/api/v2/app/preferences").await;
        let want = json!({
            "dht": false, "pex": false, "lsd": false, "upnp": false,
            "anonymous_mode": false, "bittorrent_protocol": 1,
            "listen_port": self.peer_port, "current_network_interface": "lo",
            "current_interface_address": "127.0.0.1", "web_ui_address": "127.0.0.1",
            "bypass_local_auth": true,
        });
        for (key, value) in want.as_object().expect("an object") {
            assert_eq!(
                prefs.get(key),
                Some(value),
                "qbittorrent-nox did not take its configuration ({key}); preferences: {prefs}\n{}",
                self.log()
            );
        }
    }

    /// Adds a `.torrent` (multipart `torrents`, as the WebUI uploads it), saving into
    /// [`Qbittorrent::save_path`].
    pub async fn add(&self, torrent: &Path) {
        let bytes = std::fs::read(torrent).expect("read the torrent to add");
        let form = reqwest::multipart::Form::new()
            .part(
                "torrents",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name("x.torrent")
                    .mime_str("application/x-bittorrent")
                    .expect("a valid mime type"),
            )
            .text("savepath", self.save_path().display().to_string());
        let url = self.url("/api/v2/torrents/add");
        let resp = self
            .http
            .post(&url)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {}\n{}", error_chain(&e), self.log()));
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success() && body.trim() == "Ok.",
            "qbittorrent-nox refused the torrent: HTTP {status} {body}\n{}",
            self.log()
        );
    }

    /// The torrent as `/api/v2/torrents/info` describes it, once it is complete:
    /// every byte done (`progress` 1) and in a seeding state.
    pub async fn wait_complete(&self, info_hash: &str, timeout: Duration) -> Value {
        let done = wait_until(
            "qbittorrent-nox to finish the download",
            timeout,
            || async {
                let t = self.info(info_hash).await.ok_or("not listed yet")?;
                let state = t["state"].as_str().unwrap_or_default();
                if matches!(state, "error" | "missingFiles") {
                    panic!("qbittorrent-nox: the torrent failed: {t}\n{}", self.log());
                }
                let seeding = matches!(
                    state,
                    "uploading" | "stalledUP" | "queuedUP" | "pausedUP" | "forcedUP"
                );
                if t["progress"].as_f64() == Some(1.0) && seeding {
                    Ok(t)
                } else {
                    Err(format!("progress {}, state {state}", t["progress"]))
                }
            },
        )
        .await;
        done.unwrap_or_else(|e| panic!("{e}\n{}", self.log()))
    }

    /// The torrent's entry in `/api/v2/torrents/info`, if it is listed.
    pub async fn info(&self, info_hash: &str) -> Option<Value> {
        let list = self
            .get_json(&format!("/api/v2/torrents/info?hashes={info_hash}"))
            .await;
        list.as_array()?.first().cloned()
    }

    async fn get_json(&self, path: &str) -> Value {
        let url = self.url(path);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {}\n{}", error_chain(&e), self.log()));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {url}: HTTP {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
    }

    /// Stops qbittorrent-nox gracefully (SIGTERM), which makes libtorrent send each
    /// tracker its `event=stopped` announce with the final counters before it exits.
    pub async fn stop(mut self) {
        let stopped = signal_and_wait(&mut self.child, "qbittorrent-nox", "TERM", STOP_TIMEOUT);
        if let Err(e) = stopped.await {
            panic!("{e}\n{}", self.log());
        }
    }

    /// Where downloads are saved.
    pub fn save_path(&self) -> PathBuf {
        self.dir.path().join("dl")
    }

    /// Where peers reach it: `127.0.0.1:PORT`.
    pub fn peer_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.peer_port))
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.webui)
    }

    /// Its output and its own log (which says more: trackers, peers, errors).
    pub fn log(&self) -> String {
        let own = self
            .dir
            .path()
            .join("qBittorrent/data/logs/qbittorrent.log");
        format!(
            "--- qbittorrent-nox output ---\n{}\n--- qbittorrent.log ---\n{}",
            read_log(&self.dir.path().join("qbittorrent-nox.out")),
            read_log(&own)
        )
    }
}

impl Drop for Qbittorrent {
    fn drop(&mut self) {
        // kill_on_drop would do this too; being explicit keeps the order obvious.
        let _ = self.child.start_kill();
    }
}

/// `PROFILE/qBittorrent/config/qBittorrent.conf`. Besides what the module says:
/// `RefreshInterval` (ms) is how often it fetches torrent status from libtorrent for its
/// API, so completion shows up soon; `BTProtocol=TCP` because libtorrent tries uTP
/// first and against a TCP-only peer (aria2c) falls back only after a timeout; no
/// peer-country look-up (it would fetch a database from the internet).
fn write_config(profile: &Path, webui_port: u16, peer_port: u16, save_path: &Path) {
    let dir = profile.join("qBittorrent/config");
    std::fs::create_dir_all(&dir).expect("mkdir qbittorrent config");
    let conf = format!(
        r"[LegalNotice]
Accepted=true

[BitTorrent]
Session\Port={peer_port}
Session\Interface=lo
Session\InterfaceName=lo
Session\InterfaceAddress=127.0.0.1
Session\DHTEnabled=false
Session\PeXEnabled=false
Session\LSDEnabled=false
Session\AnonymousModeEnabled=false
Session\DefaultSavePath={save}
Session\RefreshInterval=100
Session\BTProtocol=TCP

[Network]
PortForwardingEnabled=false

[Preferences]
WebUI\Address=127.0.0.1
WebUI\Port={webui_port}
WebUI\LocalHostAuth=false
WebUI\UseUPnP=false
Connection\ResolvePeerCountries=false
",
        save = save_path.display()
    );
    std::fs::write(dir.join("qBittorrent.conf"), conf).expect("write qBittorrent.conf");
}
