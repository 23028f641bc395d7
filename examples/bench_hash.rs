//! Piece-hashing benchmark: the engine's SHA-1 next to `openssl speed -evp sha1` on the
//! same CPU.
//!
//! ```text
//! cargo run --release --example bench_hash -- [--mib 1024] [--piece-kib 1024]
//! scripts/bench-hash.sh [OPTIONS]
//! ```
//!
//! Three figures, MiB/s on one core:
//! - `sha1 (engine's backend)`: librqbit's SHA-1 wrapper (the backend the engine is
//!   built with: OpenSSL through `crypto-hash`), hashing `--mib` MiB of random data in
//!   pieces of `--piece-kib` KiB held in memory: the hashing alone;
//! - `check (engine)`: the real server checking a complete torrent of that size whose
//!   files are already on disk (and in the page cache, just written): added, then
//!   timed from the add until it seeds. This is hashing plus librqbit's reads;
//! - `openssl speed -evp sha1` at the largest block size it reports (16 KiB), when
//!   `openssl` is installed.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use librqbit_sha1_wrapper::{ISha1, Sha1};
use serde_json::Value;

#[path = "common/mod.rs"]
mod common;
use common::server::BenchServer;

struct Options {
    mib: usize,
    piece_kib: usize,
}

fn options() -> anyhow::Result<Options> {
    let [mib, piece_kib] = common::options(["--mib", "--piece-kib"], [1024, 1024])?;
    let o = Options {
        mib: mib as usize,
        piece_kib: piece_kib as usize,
    };
    Ok(o)
}

fn random(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::fill(&mut v[..]);
    v
}

/// MiB/s of the engine's SHA-1 over pieces in memory.
fn hash_in_memory(data: &[u8], piece: usize) -> f64 {
    let start = Instant::now();
    let mut digest = [0u8; 20];
    for chunk in data.chunks(piece) {
        let mut h = Sha1::new();
        h.update(chunk);
        let d = h.finish();
        digest[0] ^= d[0];
    }
    std::hint::black_box(digest);
    data.len() as f64 / 1_048_576.0 / start.elapsed().as_secs_f64()
}

/// MiB/s of `openssl speed -evp sha1` at its largest block, if openssl is there.
fn openssl_speed() -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-evp", "sha1", "-seconds", "3", "-mr"])
        .output()
        .ok()?;
    // Machine-readable: "+F:<n>:sha1:<bytes/s for each block size>..."
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("+F:"))?;
    let last: f64 = line.split(':').next_back()?.parse().ok()?;
    Some(last / 1_048_576.0)
}

/// MiB/s of the real server checking a complete torrent already on disk.
async fn engine_check(data: &[u8], piece: usize) -> anyhow::Result<f64> {
    let server = BenchServer::start(&[("ENGINE_TICK_MS", "50")]).await?;
    let (http, base, token) = (&server.http, &server.base, &server.token);
    // The data where the engine will look for it: the user's folder.
    let content = server.user_downloads().join("bench-hash");
    std::fs::create_dir_all(&content)?;
    std::fs::write(content.join("data.bin"), data)?;
    std::fs::write(content.join("small.bin"), b"x")?;
    let spawner = librqbit::spawn_utils::BlockingSpawner::new(2);
    let torrent = librqbit::create_torrent(
        &content,
        librqbit::CreateTorrentOptions {
            name: Some("bench-hash"),
            trackers: vec![],
            piece_length: Some(u32::try_from(piece)?),
        },
        &spawner,
    )
    .await?;
    let bytes = torrent.as_bytes()?.to_vec();

    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("bench-hash.torrent"),
    );
    let start = Instant::now();
    let added: Value = http
        .post(format!("{base}/api/torrents"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?
        .json()
        .await?;
    let hash = added["infoHash"].as_str().context("infoHash")?.to_owned();
    loop {
        let t: Value = http
            .get(format!("{base}/api/torrents/{hash}"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        if t["state"] == "seeding" {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("the check did not finish: {t}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    server.stop().await;
    Ok(data.len() as f64 / 1_048_576.0 / secs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let data = random(o.mib * 1_048_576);
    let piece = o.piece_kib * 1024;
    let memory = hash_in_memory(&data, piece);
    let check = engine_check(&data, piece).await?;
    let openssl = openssl_speed();
    println!("hashing: {} MiB in {} KiB pieces", o.mib, o.piece_kib);
    println!("{:<34}{:>10}", "figure", "MiB/s");
    println!("{:<34}{memory:>10.0}", "sha1 (engine's backend, memory)");
    println!("{:<34}{check:>10.0}", "check (engine, files on disk)");
    match openssl {
        Some(v) => {
            println!("{:<34}{v:>10.0}", "openssl speed -evp sha1 (16 KiB)");
            println!("{:<34}{:>10.2}", "engine's backend / openssl", memory / v);
            println!("{:<34}{:>10.2}", "engine check / openssl", check / v);
        }
        None => println!("openssl: not installed (apt install openssl)"),
    }
    Ok(())
}
