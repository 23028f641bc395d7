//! Fast resume and the write-back storage, on the shipped binary: a restart trusts the
//! recorded bitfields of unchanged torrents instead of reading their data back, fully
//! re-checks (and repairs) a torrent whose files changed, on SQLite and on MongoDB; a
//! disk that refuses a write puts the torrent in the error state; piece buffers stay
//! within `PIECE_BUFFER_MIB` under a fast seeder.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::app::{ADMIN_PASSWORD, assert_same_tree, walk};
use crate::support::mongo::Mongo;
use crate::support::process::Running;
use crate::support::remote::Remote;
use crate::support::swarm::{Content, Seeder};
use crate::support::wait_for;

const MIB: usize = 1024 * 1024;
const PIECE: u32 = 256 * 1024;
const WAIT: Duration = Duration::from_secs(120);

struct Swarm {
    content: Content,
    torrent: Vec<u8>,
    hash: String,
    seeder: Seeder,
    size: u64,
}

/// Content of at least two files (the seeder of a folder of one file never finds it).
async fn swarm(name: &str, sizes: &[usize]) -> Swarm {
    assert!(sizes.len() > 1);
    let content = Content::random(name, sizes);
    let (torrent, hash) = content.make_torrent(PIECE, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    Swarm {
        content,
        torrent,
        hash,
        seeder,
        size: sizes.iter().sum::<usize>() as u64,
    }
}

fn vars<'a>(uri: Option<&'a str>, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("ENGINE_TICK_MS", "100"),
        ("MAX_CONCURRENT_TORRENTS", "5"),
        ("RUST_LOG", "warn,torrentedge=info,librqbit=info"),
    ];
    if let Some(uri) = uri {
        v.push(("MONGODB_URI", uri));
    }
    v.extend_from_slice(extra);
    v
}

/// The folder named `name` below the server's downloads.
fn downloaded(dir: &Path, name: &str) -> PathBuf {
    walk(&dir.join("downloads"))
        .into_iter()
        .find_map(|p| {
            p.ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == name))
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| panic!("no {name} below the downloads"))
}

async fn start(dir: &Path, env: &[(&str, &str)]) -> (Running, Remote) {
    let mut server = Running::start(dir, env);
    let addr = server.addr().await;
    (server, Remote::login(&addr).await)
}

async fn fast_resume_on(mongo: Option<&Mongo>) {
    let db = format!("resume{}", rand::random::<u32>());
    let uri = mongo.map(|m| m.uri(&db));
    let env = vars(uri.as_deref(), &[]);
    // One small torrent to tamper with, two large ones to leave alone.
    let changed = swarm("changed", &[3 * MIB + 4_321, MIB + 77]).await;
    let kept = [
        swarm("kept-a", &[20 * MIB + 5, 4 * MIB + 1]).await,
        swarm("kept-b", &[24 * MIB + 999, 5_555]).await,
    ];
    let all: Vec<&Swarm> = std::iter::once(&changed).chain(&kept).collect();
    let dir = tempfile::tempdir().expect("tempdir");

    let (server, api) = start(dir.path(), &env).await;
    for s in &all {
        api.upload(&s.torrent, &s.seeder.addr.to_string()).await;
    }
    for s in &all {
        api.wait_state(&s.hash, "seeding", WAIT).await;
    }
    let first_log = server.terminate().await.join("\n");

    // With the server stopped: one piece of `changed` goes bad and its file is newer.
    let file = downloaded(dir.path(), "changed").join("file-0.bin");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .expect("open");
    f.seek(SeekFrom::Start(u64::from(PIECE) * 5 + 100))
        .expect("seek");
    f.write_all(&[0xa5; 4096]).expect("corrupt");
    drop(f);

    let (mut server, api) = start(dir.path(), &env).await;
    for s in &kept {
        api.wait_state(&s.hash, "seeding", WAIT).await;
    }
    let repaired = wait_for("the changed torrent repaired", WAIT, || async {
        let v = api.torrent(&changed.hash).await;
        (v["state"] == "seeding" && v["completedBytes"] == changed.size).then_some(v)
    })
    .await;
    let read = server.bytes_read();
    let log = server.log().join("\n");
    server.terminate().await;

    assert_same_tree(&changed.content.root(), &downloaded(dir.path(), "changed"));
    for s in &kept {
        assert_same_tree(&s.content.root(), &downloaded(dir.path(), &s.content.name));
    }
    assert!(
        log.lines()
            .any(|l| l.contains("files changed since the last run") && l.contains(&changed.hash)),
        "the tampered torrent was not re-checked; log:\n{log}"
    );
    for s in &kept {
        let rechecked = log
            .lines()
            .find(|l| l.contains("files changed since the last run") && l.contains(&s.hash));
        assert!(
            rechecked.is_none(),
            "{} was re-checked though unchanged: {rechecked:?}\n{}",
            s.content.name,
            first_log
                .lines()
                .filter(|l| l.contains("resume"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // All of `changed` is read back; of the others only librqbit's spot checks.
    let kept_bytes: u64 = kept.iter().map(|s| s.size).sum();
    assert!(
        read < changed.size + kept_bytes / 4,
        "read {read} bytes at start: {} of the changed torrent, {kept_bytes} kept (view {repaired})",
        changed.size
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_trusts_unchanged_torrents_and_rechecks_a_changed_one() {
    fast_resume_on(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_resume_on_mongodb() {
    let mongo = Mongo::start().await;
    fast_resume_on(Some(&mongo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_disk_refuses_puts_the_torrent_in_error() {
    let s = swarm("too-large", &[16 * MIB + 3, 1_234]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vars(None, &[]);
    // Files may not grow past 6 MiB: the store's database stays far below that.
    let mut server = Running::start_with_file_size_limit(dir.path(), &env, 6 * MIB as u64);
    let api = Remote::login(&server.addr().await).await;
    api.upload(&s.torrent, &s.seeder.addr.to_string()).await;
    let v = api.wait_state(&s.hash, "error", WAIT).await;
    let error = v["error"].as_str().unwrap_or_default();
    assert!(error.contains("File too large"), "error: {v}");
    assert!(v["completedAt"].is_null(), "{v}");
    let log = server.log().join("\n");
    assert!(log.contains("FATAL"), "{log}");
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piece_buffers_stay_within_their_budget_under_a_fast_seeder() {
    let s = swarm("bounded", &[24 * MIB + 11, 7 * MIB + 3]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "metrics-token-for-the-buffer-test";
    let env = vars(None, &[("PIECE_BUFFER_MIB", "1"), ("METRICS_TOKEN", token)]);
    let (server, api) = start(dir.path(), &env).await;
    api.upload(&s.torrent, &s.seeder.addr.to_string()).await;
    api.wait_state(&s.hash, "seeding", WAIT).await;
    let gauge = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(-1.0)
    };
    let peak = wait_for("the piece-buffer gauges", WAIT, || async {
        let text = api
            .http
            .get(format!("{}/metrics", api.base))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let used = gauge(&text, "torrentedge_piece_buffer_bytes");
        let peak = gauge(&text, "torrentedge_piece_buffer_peak_bytes");
        (used == 0.0 && peak > 0.0).then_some(peak)
    })
    .await;
    assert!(
        peak <= MIB as f64,
        "piece buffers peaked at {peak} bytes, over 1 MiB"
    );
    server.terminate().await;
    assert_same_tree(&s.content.root(), &downloaded(dir.path(), "bounded"));
}
