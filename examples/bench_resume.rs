//! Restart benchmark: a library of complete torrents, first checked in full (as a
//! restart did before fast resume), then restarted. Prints the full-check time, the
//! restart time to every torrent seeding, their ratio, and how many bytes the restart
//! read (rchar of /proc/self/io: the data read back, page cache or not).
//!
//! ```text
//! cargo run --release --example bench_resume -- [--torrents 50] [--mib 200] [--piece-kib 1024]
//! scripts/bench-resume.sh [OPTIONS]
//! ```
//!
//! The server is embedded; its content is random data written straight into the
//! administrator's folder, so adding a torrent makes the server check every byte of it
//! (the "full check"). The restart stops the server (as SIGTERM does) and starts a new
//! one on the same state. Both read warm data from the page cache: the ratio compares
//! the work, not the disk.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::bail;
use rand::{RngCore, SeedableRng};

#[path = "common/mod.rs"]
mod common;
use common::server::BenchServer;

const MIB: u64 = 1 << 20;

/// Writes `mib` MiB of random data as two files under `dir` (one not ending on a piece).
fn write_content(dir: &std::path::Path, mib: u64, seed: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; MIB as usize];
    let mut big = std::io::BufWriter::new(std::fs::File::create(dir.join("data.bin"))?);
    for _ in 0..mib.saturating_sub(1) {
        rng.fill_bytes(&mut buf);
        big.write_all(&buf)?;
    }
    big.flush()?;
    rng.fill_bytes(&mut buf);
    std::fs::write(dir.join("tail.bin"), &buf[..MIB as usize - 4321])?;
    Ok(())
}

/// Waits until `n` torrents are seeding; returns the seconds since `start`.
async fn all_seeding(server: &BenchServer, n: usize, start: Instant) -> anyhow::Result<f64> {
    while server.count_in("seeding").await? < n {
        if start.elapsed() > Duration::from_secs(3600) {
            bail!("not every torrent was seeding within an hour");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(start.elapsed().as_secs_f64())
}

fn bytes_read() -> anyhow::Result<u64> {
    let io = std::fs::read_to_string("/proc/self/io")?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no rchar in /proc/self/io"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let [torrents, mib, piece_kib] =
        common::options(["--torrents", "--mib", "--piece-kib"], [50, 200, 1024])?;
    let n = usize::try_from(torrents)?;
    let vars = [("ENGINE_TICK_MS", "50"), ("MAX_CONCURRENT_TORRENTS", "100")];
    let server = BenchServer::start(&vars).await?;
    eprintln!("==> writing {torrents} × {mib} MiB of content and making the torrents");
    let spawner = librqbit::spawn_utils::BlockingSpawner::new(2);
    let mut files = Vec::new();
    for i in 0..torrents {
        let name = format!("resume-{i:03}");
        let dir = server.user_downloads().join(&name);
        write_content(&dir, mib, i)?;
        let options = librqbit::CreateTorrentOptions {
            name: Some(&name),
            trackers: vec![],
            piece_length: Some(u32::try_from(piece_kib * 1024)?),
        };
        let t = librqbit::create_torrent(&dir, options, &spawner).await?;
        files.push(t.as_bytes()?.to_vec());
    }

    eprintln!("==> full check: adding the torrents over their complete data");
    let start = Instant::now();
    for t in files {
        server.upload(t).await?;
    }
    let full = all_seeding(&server, n, start).await?;
    let (dir, password) = server.stop_keeping_state().await;

    eprintln!("==> restart");
    let read_before = bytes_read()?;
    let start = Instant::now();
    let server = BenchServer::start_in(dir, password, &vars).await?;
    let restart = all_seeding(&server, n, start).await?;
    let read = bytes_read()? - read_before;
    server.stop().await;

    let data = (torrents * mib) as f64;
    println!(
        "restart: {torrents} complete torrents, {:.1} GiB, {piece_kib} KiB pieces",
        data / 1024.0
    );
    println!("{:<46} {:>10}", "figure", "value");
    println!("{:<46} {:>10.2}", "full check to all seeding (s)", full);
    println!("{:<46} {:>10.0}", "full check (MiB/s)", data / full);
    println!("{:<46} {:>10.2}", "restart to all seeding (s)", restart);
    println!("{:<46} {:>10.3}", "restart / full check", restart / full);
    println!(
        "{:<46} {:>10.1}",
        "read during the restart (MiB)",
        read as f64 / MIB as f64
    );
    println!(
        "{:<46} {:>10.2}",
        "read during the restart (% of the data)",
        read as f64 / MIB as f64 / data * 100.0
    );
    Ok(())
}
