//! Library benchmark: the server holding many idle torrents. Prints the resident
//! memory before and after adding them (and per torrent), the time a restart takes to
//! have them all back, and `GET /api/torrents` under `wrk` (requests/s, p50, p99).
//!
//! ```text
//! cargo run --release --example bench_library -- [--torrents 1000] [--connections 16] [--seconds 10]
//! scripts/bench-library.sh [OPTIONS]
//! ```
//!
//! The server is embedded (this process's RSS is the server's plus this program's, which
//! holds little). The torrents are paused magnets of random info hashes added through the
//! REST API: idle, as a large library mostly is. `wrk` (Debian) runs on 127.0.0.1 with
//! the administrator's token, for `--seconds`, with `--connections` connections on 2
//! threads.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

#[path = "common/mod.rs"]
mod common;
use common::server::BenchServer;

struct Options {
    torrents: usize,
    connections: usize,
    seconds: u64,
}

fn options() -> anyhow::Result<Options> {
    let [torrents, connections, seconds] =
        common::options(["--torrents", "--connections", "--seconds"], [1000, 16, 10])?;
    let o = Options {
        torrents: torrents as usize,
        connections: connections as usize,
        seconds,
    };
    Ok(o)
}

/// This process's resident memory, KiB (`VmRSS` of /proc/self/status).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    // A token that outlives the load.
    let server = BenchServer::start(&[("ACCESS_TOKEN_TTL", "86400")]).await?;
    let base_rss = rss_kib();
    for i in 0..o.torrents {
        let hash: String = (0..20)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=library-{i}");
        server
            .post(
                "/api/torrents",
                json!({ "magnetURI": magnet, "paused": true }),
            )
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // the engine settles
    let loaded_rss = rss_kib();
    let url = format!("{}/api/torrents", server.base);
    let (rps, p50, p99) = wrk(&url, &server.token, &o)?;
    let page = format!("{url}?limit=50&sort=name");
    let (page_rps, page_p50, page_p99) = wrk(&page, &server.token, &o)?;
    let restart = server.restart_timed(o.torrents).await?;

    println!(
        "library: {} idle torrents; wrk {} connections, {} s",
        o.torrents, o.connections, o.seconds
    );
    println!("{:<40}{:>14}", "figure", "value");
    println!("{:<40}{:>14}", "RSS before adding (MiB)", base_rss / 1024);
    println!(
        "{:<40}{:>14}",
        "RSS with the torrents (MiB)",
        loaded_rss / 1024
    );
    let per = loaded_rss.saturating_sub(base_rss) as f64 / o.torrents.max(1) as f64;
    println!("{:<40}{:>14.1}", "RSS per idle torrent (KiB)", per);
    println!(
        "{:<40}{:>14.0}",
        "restart to all listed (ms)",
        restart.as_secs_f64() * 1000.0
    );
    println!("{:<40}{:>14}", "GET /api/torrents requests/s", rps);
    println!("{:<40}{:>14}", "GET /api/torrents p50", p50);
    println!("{:<40}{:>14}", "GET /api/torrents p99", p99);
    println!("{:<40}{:>14}", "?limit=50&sort=name requests/s", page_rps);
    println!("{:<40}{:>14}", "?limit=50&sort=name p50", page_p50);
    println!("{:<40}{:>14}", "?limit=50&sort=name p99", page_p99);
    Ok(())
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
