//! Streaming benchmark: a torrent of random data seeded by a librqbit session on
//! 127.0.0.1, added stream-only and start-paused (so nothing downloads before the
//! stream asks), then read over HTTP. Per round, on a fresh server:
//!
//! - **seek**: time to read 64 KiB at the middle of the fresh torrent (the pieces
//!   there are fetched first);
//! - **start TTFB**: time to the first byte of a read from the start, next;
//! - **sustained**: MiB/s of that read to the end of the file (what is already had
//!   included, as a player sees it).
//!
//! Prints each round and the medians.
//!
//! ```text
//! cargo run --release --example bench_stream -- [--mib 256] [--piece-kib 256] [--rounds 3]
//! scripts/bench-stream.sh [OPTIONS]
//! ```

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use librqbit::{
    AddTorrent, AddTorrentOptions, ListenerMode, ListenerOptions, Session, SessionOptions,
};
use rand::{RngCore, SeedableRng};

#[path = "common/mod.rs"]
mod common;
use common::server::BenchServer;

const MIB: u64 = 1 << 20;

async fn seeder(dir: &std::path::Path, torrent: &[u8]) -> anyhow::Result<Arc<Session>> {
    let session = Session::new_with_opts(
        dir.to_path_buf(),
        SessionOptions {
            dht: None,
            disable_local_service_discovery: true,
            disable_trackers: true,
            listen: Some(ListenerOptions {
                mode: ListenerMode::TcpOnly,
                listen_addr: "127.0.0.1:0".parse()?,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await?;
    let handle = session
        .add_torrent(
            AddTorrent::from_bytes(torrent.to_vec()),
            Some(AddTorrentOptions {
                overwrite: true,
                ..Default::default()
            }),
        )
        .await?
        .into_handle()
        .context("seeder handle")?;
    handle.wait_until_completed().await?;
    Ok(session)
}

/// Reads `url` from `from`; returns (seconds to the first byte, bytes, seconds in all).
async fn read(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    from: u64,
) -> anyhow::Result<(f64, u64, f64)> {
    let start = Instant::now();
    let res = http
        .get(url)
        .bearer_auth(token)
        .header("range", format!("bytes={from}-"))
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "stream: {}", res.status());
    let mut body = res.bytes_stream();
    let mut first = None;
    let mut bytes = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if first.is_none() && !chunk.is_empty() {
            first = Some(start.elapsed().as_secs_f64());
        }
        bytes += chunk.len() as u64;
    }
    Ok((
        first.unwrap_or(f64::NAN),
        bytes,
        start.elapsed().as_secs_f64(),
    ))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let [mib, piece_kib, rounds] =
        common::options(["--mib", "--piece-kib", "--rounds"], [256, 256, 3])?;
    let content = tempfile::tempdir()?;
    let name = "stream-bench.bin";
    eprintln!("==> writing {mib} MiB and making the torrent ({piece_kib} KiB pieces)");
    {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut out = std::io::BufWriter::new(std::fs::File::create(content.path().join(name))?);
        let mut buf = vec![0u8; MIB as usize];
        for _ in 0..mib {
            rng.fill_bytes(&mut buf);
            out.write_all(&buf)?;
        }
        out.flush()?;
    }
    let spawner = librqbit::spawn_utils::BlockingSpawner::new(2);
    let torrent = librqbit::create_torrent(
        &content.path().join(name),
        librqbit::CreateTorrentOptions {
            name: Some(name),
            trackers: vec![],
            piece_length: Some(u32::try_from(piece_kib * 1024)?),
        },
        &spawner,
    )
    .await?
    .as_bytes()?
    .to_vec();
    let seed = seeder(content.path(), &torrent).await?;
    let peer = seed.listen_addr().context("seeder address")?.to_string();
    let (mut seek, mut first, mut rate) = (Vec::new(), Vec::new(), Vec::new());
    println!("round  seek_64k_ms  start_ttfb_ms  sustained_mib_s");
    for round in 1..=rounds {
        let server = BenchServer::start(&[("ENGINE_TICK_MS", "200")]).await?;
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(torrent.clone()).file_name("b.torrent"),
            )
            .text("peers", peer.clone())
            .text("streamOnly", "true")
            .text("startPaused", "true");
        let added: serde_json::Value = server
            .http
            .post(format!("{}/api/torrents", server.base))
            .bearer_auth(&server.token)
            .multipart(form)
            .send()
            .await?
            .json()
            .await?;
        let hash = added["infoHash"].as_str().context("infoHash")?;
        let url = format!("{}/api/torrents/{hash}/files/0/stream", server.base);
        // The first byte at the middle (only up to the first chunk is waited for).
        let half = mib * MIB / 2;
        let res = tokio::time::timeout(Duration::from_secs(120), async {
            let start = Instant::now();
            let res = server
                .http
                .get(&url)
                .bearer_auth(&server.token)
                .header("range", format!("bytes={half}-{}", half + 65535))
                .send()
                .await?;
            let _ = res.bytes().await?;
            anyhow::Ok(start.elapsed().as_secs_f64())
        })
        .await??;
        let (ttfb, bytes, secs) = read(&server.http, &url, &server.token, 0).await?;
        anyhow::ensure!(bytes == mib * MIB, "read {bytes} bytes of {}", mib * MIB);
        let mib_s = bytes as f64 / MIB as f64 / secs;
        println!(
            "{round:>5}  {:>11.1}  {:>13.1}  {mib_s:>15.1}",
            res * 1e3,
            ttfb * 1e3
        );
        seek.push(res * 1e3);
        first.push(ttfb * 1e3);
        rate.push(mib_s);
        server.stop().await;
    }
    println!(
        "median {:>11.1}  {:>13.1}  {:>15.1}",
        median(seek),
        median(first),
        median(rate)
    );
    seed.cancellation_token().cancel();
    Ok(())
}
