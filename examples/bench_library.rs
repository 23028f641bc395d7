//! Library benchmark: the server holding many idle torrents. Prints the resident
//! memory before and after adding them (and per torrent), the time a restart takes to
//! have them all back, and `GET /api/torrents` under `wrk` (requests/s, p50, p99); and,
//! given a running qbittorrent-nox, its resident memory before and after adding the
//! same torrents, per torrent, and torrentedge's per-torrent figure divided by it.
//!
//! ```text
//! cargo run --release --example bench_library -- [--torrents 1000] [--connections 16] [--seconds 10]
//!     [--qbittorrent-port PORT --qbittorrent-pid PID]
//! scripts/bench-library.sh [OPTIONS]
//! ```
//!
//! The server is embedded (this process's RSS is the server's plus this program's, which
//! holds little). The torrents are paused magnets of random info hashes added through the
//! REST API: idle, as a large library mostly is. `wrk` (Debian) runs on 127.0.0.1 with
//! the administrator's token, for `--seconds`, with `--connections` connections on 2
//! threads.
//!
//! `--qbittorrent-port` is the WebUI port (on 127.0.0.1, no login for local clients) of
//! a qbittorrent-nox with no torrents, `--qbittorrent-pid` its process, whose `VmRSS` is
//! read; 0 (the default) leaves it out. scripts/bench-library.sh starts one configured
//! as in scripts/lib.sh (`qbt_write_config`). It gets the same magnets, paused, through
//! `POST /api/v2/torrents/add`; its RSS "with the torrents" is read once it lists the
//! last of them and 2 s have passed, as for the server (see `Qbittorrent::add_paused`).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;
use common::server::BenchServer;

struct Options {
    torrents: usize,
    connections: usize,
    seconds: u64,
    qbittorrent_port: u64,
    qbittorrent_pid: u64,
}

fn options() -> anyhow::Result<Options> {
    let names = [
        "--torrents",
        "--connections",
        "--seconds",
        "--qbittorrent-port",
        "--qbittorrent-pid",
    ];
    let [torrents, connections, seconds, qbt_port, qbt_pid] =
        common::options(names, [1000, 16, 10, 0, 0])?;
    let o = Options {
        torrents: torrents as usize,
        connections: connections as usize,
        seconds,
        qbittorrent_port: qbt_port,
        qbittorrent_pid: qbt_pid,
    };
    Ok(o)
}

/// A process's resident memory, KiB (`VmRSS` of /proc/<pid>/status); `pid` may be
/// "self".
fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `wrk --latency` on `url`; returns (requests/s, p50, p99) as printed.
fn wrk(url: &str, token: &str, o: &Options) -> anyhow::Result<(String, String, String)> {
    let out = std::process::Command::new("wrk")
        .args(["-t", "2", "-c", &o.connections.to_string()])
        .args(["-d", &format!("{}s", o.seconds), "--latency"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(url)
        .output()
        .context("running wrk (apt install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
            .unwrap_or_else(|| "?".into())
    };
    let non2xx = text.lines().find(|l| l.contains("Non-2xx"));
    if let Some(line) = non2xx {
        bail!("wrk saw errors: {line}\n{text}");
    }
    Ok((field("Requests/sec:"), field("50%"), field("99%")))
}

/// Resident memory before and after adding the torrents, KiB.
#[derive(Clone, Copy)]
struct Rss {
    base: u64,
    loaded: u64,
}

impl Rss {
    /// KiB per torrent.
    fn per_torrent(self, torrents: usize) -> f64 {
        self.loaded.saturating_sub(self.base) as f64 / torrents.max(1) as f64
    }
}

/// Magnets of `n` random info hashes.
fn magnets(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let hash: String = (0..20)
                .map(|_| format!("{:02x}", rand::random::<u8>()))
                .collect();
            format!("magnet:?xt=urn:btih:{hash}&dn=library-{i}")
        })
        .collect()
}

/// Adds `magnets` to the embedded server, paused; this process's RSS before and after.
async fn add_to_server(server: &BenchServer, magnets: &[String]) -> anyhow::Result<Rss> {
    let base = rss_kib("self");
    for magnet in magnets {
        let body = json!({ "magnetURI": magnet, "paused": true });
        server.post("/api/torrents", body).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // the engine settles
    Ok(Rss {
        base,
        loaded: rss_kib("self"),
    })
}

/// One line of the table.
fn row(label: &str, value: impl std::fmt::Display) {
    println!("{label:<46}{value:>14}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let qbittorrent = Qbittorrent::from_options(&o)?;
    let magnets = magnets(o.torrents);
    // A token that outlives the load.
    let server = BenchServer::start(&[("ACCESS_TOKEN_TTL", "86400")]).await?;
    let rss = add_to_server(&server, &magnets).await?;
    let qbittorrent_rss = match &qbittorrent {
        Some(q) => Some(q.add_paused(&magnets).await?),
        None => None,
    };
    let url = format!("{}/api/torrents", server.base);
    let (rps, p50, p99) = wrk(&url, &server.token, &o)?;
    let page = format!("{url}?limit=50&sort=name");
    let (page_rps, page_p50, page_p99) = wrk(&page, &server.token, &o)?;
    let restart = server.restart_timed(o.torrents).await?;

    println!(
        "library: {} idle torrents; wrk {} connections, {} s",
        o.torrents, o.connections, o.seconds
    );
    row("figure", "value");
    row("RSS before adding (MiB)", rss.base / 1024);
    row("RSS with the torrents (MiB)", rss.loaded / 1024);
    let per = rss.per_torrent(o.torrents);
    row("RSS per idle torrent (KiB)", format!("{per:.1}"));
    let restart_ms = restart.as_secs_f64() * 1000.0;
    row("restart to all listed (ms)", format!("{restart_ms:.0}"));
    row("GET /api/torrents requests/s", rps);
    row("GET /api/torrents p50", p50);
    row("GET /api/torrents p99", p99);
    row("?limit=50&sort=name requests/s", page_rps);
    row("?limit=50&sort=name p50", page_p50);
    row("?limit=50&sort=name p99", page_p99);
    if let Some(q) = qbittorrent_rss {
        let q_per = q.per_torrent(o.torrents);
        let (q_per_text, ratio) = (format!("{q_per:.1}"), format!("{:.2}", per / q_per));
        row("qbittorrent-nox RSS before adding (MiB)", q.base / 1024);
        row(
            "qbittorrent-nox RSS with the torrents (MiB)",
            q.loaded / 1024,
        );
        row("qbittorrent-nox RSS per idle torrent (KiB)", q_per_text);
        row("RSS per torrent, torrentedge / qbittorrent-nox", ratio);
    }
    Ok(())
}

/// A running qbittorrent-nox to compare with (see the header).
struct Qbittorrent {
    /// `http://127.0.0.1:PORT/api/v2`
    api: String,
    pid: String,
    http: reqwest::Client,
}

impl Qbittorrent {
    fn from_options(o: &Options) -> anyhow::Result<Option<Self>> {
        match (o.qbittorrent_port, o.qbittorrent_pid) {
            (0, 0) => Ok(None),
            (0, _) | (_, 0) => bail!("--qbittorrent-port and --qbittorrent-pid go together"),
            (port, pid) => Ok(Some(Self {
                api: format!("http://127.0.0.1:{port}/api/v2"),
                pid: pid.to_string(),
                http: reqwest::Client::builder().no_proxy().build()?,
            })),
        }
    }

    /// Adds `magnets` paused, 100 a request; its RSS before, and 2 s after it lists the
    /// last one (it adds in the background, in order). Listing them all would cost it
    /// memory it keeps (about 3 MiB a `torrents/info` of 1,000 here, the server's
    /// figure has no list either), so the full list, to check that every one is there
    /// and paused, comes after the reading.
    async fn add_paused(&self, magnets: &[String]) -> anyhow::Result<Rss> {
        let base = rss_kib(&self.pid);
        anyhow::ensure!(base > 0, "no process {} to read the RSS of", self.pid);
        for chunk in magnets.chunks(100) {
            self.add(chunk).await?;
        }
        if let Some(last) = magnets.last() {
            self.wait_listed(last).await?;
        }
        tokio::time::sleep(Duration::from_secs(2)).await; // as for the server
        let loaded = rss_kib(&self.pid);
        self.check_all_paused(magnets.len()).await?;
        Ok(Rss { base, loaded })
    }

    /// One `torrents/add`, paused: `paused` is the 4.x name, `stopped` the 5.x one.
    async fn add(&self, magnets: &[String]) -> anyhow::Result<()> {
        let form = reqwest::multipart::Form::new()
            .text("urls", magnets.join("\n"))
            .text("paused", "true")
            .text("stopped", "true");
        let url = format!("{}/torrents/add", self.api);
        let res = self.http.post(url).multipart(form).send().await?;
        let status = res.status();
        let body = res.text().await?;
        anyhow::ensure!(
            status.is_success() && body.trim() == "Ok.",
            "qbittorrent-nox torrents/add: {status} {body}"
        );
        Ok(())
    }

    /// `torrents/info` with `query` (say `?hashes=H`).
    async fn torrents(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        let url = format!("{}/torrents/info{query}", self.api);
        let list = self.http.get(url).send().await?.error_for_status()?;
        Ok(list.json().await?)
    }

    /// Waits up to 60 s until it lists the torrent of `magnet`.
    async fn wait_listed(&self, magnet: &str) -> anyhow::Result<()> {
        let hash = magnet
            .strip_prefix("magnet:?xt=urn:btih:")
            .and_then(|rest| rest.get(..40))
            .context("a magnet of ours")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.torrents(&format!("?hashes={hash}")).await?.is_empty() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "qbittorrent-nox does not list {hash} after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// Fails unless it has exactly `n` torrents, all paused.
    async fn check_all_paused(&self, n: usize) -> anyhow::Result<()> {
        let list = self.torrents("").await?;
        anyhow::ensure!(
            list.len() == n,
            "qbittorrent-nox has {} torrents, not {n}",
            list.len()
        );
        let states = list.iter().filter_map(|t| t["state"].as_str());
        let active: Vec<&str> = states
            .filter(|s| !s.starts_with("paused") && !s.starts_with("stopped"))
            .collect();
        anyhow::ensure!(
            active.is_empty(),
            "not paused in qbittorrent-nox: {active:?}"
        );
        Ok(())
    }
}

impl BenchServer {
    /// Stops the server and starts it again on the same state; the time from the start
    /// until it lists `expected` torrents.
    async fn restart_timed(self, expected: usize) -> anyhow::Result<Duration> {
        let (dir, password) = self.stop_keeping_state().await;
        let start = Instant::now();
        let again = BenchServer::start_in(dir, password, &[]).await?;
        let list = again
            .http
            .get(format!("{}/api/torrents", again.base))
            .bearer_auth(&again.token)
            .send()
            .await?
            .json::<Vec<serde_json::Value>>()
            .await?;
        let took = start.elapsed();
        anyhow::ensure!(
            list.len() == expected,
            "{} torrents back of {expected}",
            list.len()
        );
        again.stop().await;
        Ok(took)
    }
}
