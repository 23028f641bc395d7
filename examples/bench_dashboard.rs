//! Dashboard benchmark: the web page with many torrents, some of them changing every
//! second, measured in headless Chromium through the browser's performance APIs.
//!
//! ```text
//! cargo run --release --example bench_dashboard -- [--torrents 1000] [--active 100] [--seconds 20]
//! scripts/bench-dashboard.sh [OPTIONS]        (builds the page and this, then runs it)
//! ```
//!
//! The real server runs embedded on 127.0.0.1 (temp dirs, removed at the end) with
//! `--torrents` paused magnets of random info hashes added through the REST API.
//! `node web/tests/bench-dashboard.mjs` signs in and waits for the whole list; then
//! this program is the engine: once a second, as the engine's tick does, it commits one
//! `torrent:progress` per active torrent to the server's bus (moving numbers, state
//! `downloading`). The page gets them over Socket.IO exactly as it gets the engine's.
//! Nothing here is a test: the figures are printed, never asserted.
//!
//! Figures: `fps` (animation frames per second while the updates arrive), long tasks
//! (main-thread work over 50 ms: count, total and longest), `list ms` (sign-in to the
//! full list), the JS heap and the DOM nodes at the end, and the socket frames received.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use torrentedge::InfoHash;
use torrentedge::events::payload::Progress;
use torrentedge::events::{Draft, Event};
use torrentedge::view::{PeerCounts, TorrentState};

struct Options {
    torrents: usize,
    active: usize,
    seconds: u64,
}

fn options() -> anyhow::Result<Options> {
    let [torrents, active, seconds] =
        common::options(["--torrents", "--active", "--seconds"], [1000, 100, 20])?;
    let o = Options {
        torrents: torrents as usize,
        active: active.min(torrents) as usize,
        seconds,
    };
    Ok(o)
}

#[path = "common/mod.rs"]
mod common;
use common::server::BenchServer;

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// One round of progress for the active torrents, as the engine's sampler writes it.
fn round(hashes: &[InfoHash], owner: &str, n: u64) -> Vec<Draft> {
    let total = 1u64 << 30;
    hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| {
            let done = (n * 4_000_000 + i as u64 * 1_000_000) % total;
            let speed = 1_000_000 + (n * 7919 + i as u64 * 104_729) % 3_000_000;
            let progress = Progress {
                name: Some(format!("bench-{i}")),
                state: TorrentState::Downloading,
                percentage: done as f64 * 100.0 / total as f64,
                completed_bytes: done,
                total_bytes: total,
                download_speed: speed,
                upload_speed: speed / 8,
                peers: PeerCounts {
                    connected: 5 + ((n as usize + i) % 20) as u32,
                    total: 50,
                },
                eta: Some((total - done) / speed),
                downloaded: done,
                uploaded: done / 8,
                ratio: 0.125,
                queue_position: None,
            };
            Draft::torrent(hash, owner, Event::Progress(progress))
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let server = BenchServer::start(&[]).await?;
    let (base, password, owner) = (&server.base, &server.password, &server.user_id);
    let bus = server.bus.clone();
    let mut hashes = Vec::new();
    for i in 0..o.torrents {
        let magnet = format!("magnet:?xt=urn:btih:{}&dn=bench-{i}", random_hex(20));
        let body = json!({ "magnetURI": magnet, "paused": true });
        let t = server.post("/api/torrents", body).await?;
        hashes.push(InfoHash::parse(t["infoHash"].as_str().context("hash")?)?);
    }
    let active = &hashes[..o.active];
    eprintln!("{} torrents added; starting the browser", o.torrents);

    let web = concat!(env!("CARGO_MANIFEST_DIR"), "/web");
    let mut page = Command::new("node")
        .arg(format!("{web}/tests/bench-dashboard.mjs"))
        .current_dir(web)
        .env("TE_BASE", base)
        .env("TE_ADMIN_PASSWORD", password)
        .env("TE_EXPECT", o.torrents.to_string())
        .env("TE_SECONDS", o.seconds.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting node")?;
    let mut lines = BufReader::new(page.stdout.take().context("stdout")?).lines();
    let mut result = None;
    let mut source = None;
    while let Some(line) = lines.next_line().await? {
        if line == "READY" {
            let (bus, active, owner) = (bus.clone(), active.to_vec(), owner.to_owned());
            source = Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                for n in 0.. {
                    tick.tick().await;
                    if let Err(e) = bus.emit(round(&active, &owner, n)).await {
                        eprintln!("emitting: {e}");
                    }
                }
            }));
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            result = Some(serde_json::from_str::<Value>(json)?);
        } else {
            eprintln!("page: {line}");
        }
    }
    if let Some(s) = source {
        s.abort();
    }
    let status = page.wait().await?;
    server.stop().await;
    let r = result.with_context(|| format!("the page measured nothing ({status})"))?;
    print_table(&o, &r);
    Ok(())
}

fn print_table(o: &Options, r: &Value) {
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "dashboard: {} torrents, {} active (one torrent:progress each per second), {} s",
        o.torrents, o.active, o.seconds
    );
    println!("{:<28}{:>12}", "figure", "value");
    for (name, value) in [
        ("list ms (sign-in to list)", f("listMs")),
        ("fps during updates", f("fps")),
        ("long tasks", f("longTasks")),
        ("long task ms (total)", f("longTaskMs")),
        ("longest task ms", f("longestTaskMs")),
        ("long task ms since load", f("longTaskMsSinceLoad")),
        ("JS heap MiB", f("jsHeapUsedMiB")),
        ("DOM nodes", f("domNodes")),
        ("rows rendered", f("rows")),
        ("socket frames received", f("socketFrames")),
    ] {
        println!("{name:<28}{value:>12.1}");
    }
    if let Some(errors) = r["errors"].as_array().filter(|e| !e.is_empty()) {
        println!("page errors: {errors:?}");
    }
}
