//! `transmission-cli` (Transmission 3.00) as a real BitTorrent client in the tests:
//! downloads one `.torrent` into a directory of its own, with its own configuration
//! directory (`-g`), so nothing of a user's `~/.config/transmission` is read or written.
//!
//! It has no API: completion is seen on disk, as the downloaded tree becoming
//! byte-identical to the source (partial files carry a `.part` suffix until they are
//! complete). transmission-cli keeps seeding after that until it is killed; it sends no
//! `event=stopped` announce on SIGINT or SIGTERM (checked with 3.00), so a test cannot
//! watch it leave a swarm.
//!
//! Transmission 3.00 ignores 127.x peers it gets from a tracker, so on loopback it
//! downloads only from peers that connect to it: a seeder that announces often (aria2c
//! with `--bt-tracker-interval=1`) learns its address from the tracker and connects out.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::app::walk;
use super::tools::{
    READY_TIMEOUT, ensure_running, free_port, log_stdio, read_log, require_tool, tcp_accepts,
    wait_until,
};

pub struct Transmission {
    // Declared before `dir` so the process is killed before its files are deleted.
    child: Child,
    dir: TempDir,
    port: u16,
}

impl Transmission {
    /// Starts downloading `torrent` and waits until the peer port accepts connections
    /// (a seeder told about it can then reach it).
    pub async fn start(torrent: &Path) -> Transmission {
        let program = require_tool("transmission-cli");
        let dir = tempfile::tempdir().expect("tempdir for transmission-cli");
        let port = free_port();
        let config = dir.path().join("config");
        let downloads = dir.path().join("dl");
        std::fs::create_dir_all(&config).expect("mkdir transmission config");
        std::fs::create_dir_all(&downloads).expect("mkdir transmission downloads");
        write_settings(&config, port, &downloads);
        let log = dir.path().join("transmission-cli.log");
        let (stdout, stderr) = log_stdio(&log);
        let child = Command::new(program)
            .arg("-g")
            .arg(&config)
            .arg("-w")
            .arg(&downloads)
            .args(["-p", &port.to_string()])
            // No NAT-PMP / UPnP port mapping: loopback only.
            .arg("--no-portmap")
            .arg(torrent)
            // It reads HOME for nothing we need; a temporary one keeps it from writing
            // anything to the real one.
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn transmission-cli");
        let mut t = Transmission { child, dir, port };
        let addr = t.peer_addr();
        let child = &mut t.child;
        let listening = wait_until(
            "transmission-cli to listen for peers",
            READY_TIMEOUT,
            || {
                let running = ensure_running(child, "transmission-cli", &log);
                async move {
                    running?;
                    tcp_accepts(addr).await
                }
            },
        )
        .await;
        if let Err(e) = listening {
            panic!("{e}\n{}", t.log());
        }
        t
    }

    /// Waits until the download below [`Transmission::download_dir`] is byte-identical
    /// to the tree at `source` (the torrent's top-level folder, which has the same name
    /// in the download directory).
    pub async fn wait_same_as(&mut self, source: &Path, timeout: Duration) {
        let name = source.file_name().expect("the source has a name");
        let dest = self.download_dir().join(name);
        let log = self.log_path();
        let child = &mut self.child;
        let done = wait_until("transmission-cli to finish the download", timeout, || {
            let running = ensure_running(child, "transmission-cli", &log);
            let r = running.and_then(|()| same_tree(source, &dest));
            async move { r }
        })
        .await;
        if let Err(e) = done {
            panic!("{e}\n{}", self.log());
        }
    }

    pub fn download_dir(&self) -> PathBuf {
        self.dir.path().join("dl")
    }

    pub fn peer_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("transmission-cli.log")
    }

    /// Its output, with the progress line it rewrites in place (`\r`) split into lines,
    /// and only the last 100 of those: a failure message, not an archive.
    pub fn log(&self) -> String {
        let text = read_log(&self.log_path()).replace('\r', "\n");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = &lines[lines.len().saturating_sub(100)..];
        format!(
            "--- transmission-cli output (tail) ---\n{}",
            tail.join("\n")
        )
    }
}

impl Drop for Transmission {
    fn drop(&mut self) {
        // kill_on_drop would do this too; being explicit keeps the order obvious.
        let _ = self.child.start_kill();
    }
}

/// Ok when every file below `src` exists below `dst` with the same bytes.
pub fn same_tree(src: &Path, dst: &Path) -> Result<(), String> {
    for file in walk(src) {
        let rel = file.strip_prefix(src).expect("below src");
        let want = std::fs::read(&file).map_err(|e| format!("read {}: {e}", file.display()))?;
        let got = std::fs::read(dst.join(rel)).map_err(|e| format!("{}: {e}", rel.display()))?;
        if got != want {
            return Err(format!(
                "{} differs ({} of {} bytes)",
                rel.display(),
                got.len(),
                want.len()
            ));
        }
    }
    Ok(())
}

/// `settings.json` in the configuration directory. transmission-cli has flags for only
/// some of these, and none for DHT, PEX, local discovery or uTP: DHT, PEX and local
/// discovery off so the tracker is its only source of peers; uTP off because the
/// seeders here speak TCP only; sockets on loopback; no blocklist (it would be fetched
/// from the internet); no seeding ratio limit, so it stays in the swarm as a seeder.
fn write_settings(config: &Path, port: u16, downloads: &Path) {
    let settings = json!({
        "bind-address-ipv4": "127.0.0.1",
        "bind-address-ipv6": "::1",
        "blocklist-enabled": false,
        "dht-enabled": false,
        "download-dir": downloads,
        "incomplete-dir-enabled": false,
        "lpd-enabled": false,
        "message-level": 2,
        "peer-port": port,
        "peer-port-random-on-start": false,
        "pex-enabled": false,
        "port-forwarding-enabled": false,
        "ratio-limit-enabled": false,
        "rpc-enabled": false,
        "utp-enabled": false,
    });
    std::fs::write(
        config.join("settings.json"),
        serde_json::to_vec_pretty(&settings).expect("settings encode"),
    )
    .expect("write transmission settings.json");
}
