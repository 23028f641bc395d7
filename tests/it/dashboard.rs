//! The dashboard in a real browser: `web/tests/dashboard.mjs` (playwright-core driving
//! Debian's chromium) against the real server and a real local swarm. This side starts
//! the swarm and the server, restarts the server when the script asks (RESTART on its
//! stdout, RESTARTED on its stdin), and checks the bytes on disk at the end.
//!
//! The swarm: one `.torrent` seeded by aria2 and found through opentracker (added with
//! the file input), one magnet naming a librqbit seeder (`x.pe`), and one `.torrent`
//! nobody seeds (dropped on the page, then removed). The download is throttled so the
//! restart lands in the middle of it; access tokens live 6 s, so the page renews them
//! several times without the user noticing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::support::app::{ADMIN_PASSWORD, TestApp, assert_same_tree};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};
use crate::support::tools::{Aria2Seeder, Opentracker, require_tool};
use crate::support::wait_for;

const RUN_LIMIT: Duration = Duration::from_secs(420);

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// The web app's packages and build, as `./scripts/test.sh` prepares them.
fn require_web_build() {
    let web = web_dir();
    for needed in ["node_modules/playwright-core", "dist/index.html"] {
        assert!(
            web.join(needed).exists(),
            "web/{needed} is missing: run ./scripts/test.sh (it runs npm ci and the build in web/)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let node = require_tool("node");
    let chromium = require_tool("chromium");
    require_web_build();

    let tracker = Opentracker::start(&[]).await;
    let file_content = Content::random(
        "browser-file",
        &[5 * 1024 * 1024 + 333, 3 * 1024 * 1024 + 7],
    );
    let (file_torrent, file_hash) = file_content
        .make_torrent(256 * 1024, vec![tracker.announce_url()])
        .await;
    tracker.add_hash(&file_hash).await;
    let file_path = file_content.dir.path().join("browser-file.torrent");
    std::fs::write(&file_path, &file_torrent).expect("write torrent");
    let aria2 = Aria2Seeder::start(&file_path, file_content.dir.path()).await;
    println!("swarm: aria2 seeds the file torrent");
    wait_for("aria2 to announce", Duration::from_secs(30), || async {
        let peers = tracker.peers(&file_hash).await.ok()?;
        peers.contains(&aria2.peer_addr()).then_some(())
    })
    .await;

    let magnet_content =
        Content::random("browser-magnet", &[4 * 1024 * 1024 + 99, 1024 * 1024 + 5]);
    let (magnet_torrent, magnet_hash) = magnet_content.make_torrent(256 * 1024, vec![]).await;
    let seeder = Seeder::start(&magnet_torrent, magnet_content.dir.path()).await;
    let magnet = magnet_with_peer(&magnet_hash, seeder.addr);
    println!("swarm: a librqbit seeder seeds the magnet");

    let drop_content = Content::random("browser-drop", &[300 * 1024, 77]);
    let (drop_torrent, drop_hash) = drop_content.make_torrent(64 * 1024, vec![]).await;
    let drop_path = drop_content.dir.path().join("browser-drop.torrent");
    std::fs::write(&drop_path, &drop_torrent).expect("write torrent");

    // About 12 s of download at 1 MiB/s: the restart lands in the middle.
    // A private tracker, so the Security page shows a passkey to renew.
    let vars = [
        ("DOWNLOAD_LIMIT", "1048576"),
        ("ACCESS_TOKEN_TTL", "6"),
        ("TRACKER_MODE", "private"),
    ];
    let first = TestApp::spawn_with(&vars).await;
    let (port, base) = (first.addr.port().to_string(), first.base.clone());
    let mut app = Some(first);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot folder");

    let mut script = Command::new(node)
        .arg(web_dir().join("tests/dashboard.mjs"))
        .current_dir(web_dir())
        .env("TE_BASE", &base)
        .env("TE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("TE_FILE", &file_path)
        .env("TE_FILE_HASH", &file_hash)
        .env("TE_MAGNET", &magnet)
        .env("TE_MAGNET_HASH", &magnet_hash)
        .env("TE_DROP", &drop_path)
        .env("TE_DROP_HASH", &drop_hash)
        .env("TE_SHOTS", &shots)
        .env("TE_CHROMIUM", chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let mut stdin = script.stdin.take().expect("stdin");
    let mut out = BufReader::new(script.stdout.take().expect("stdout")).lines();
    let mut transcript = Vec::new();
    let run = async {
        while let Some(line) = out.next_line().await.expect("script output") {
            println!("browser: {line}");
            if line == "RESTART" {
                let dir = app.take().expect("a running server").stop().await;
                let again =
                    TestApp::spawn_in(dir, &[vars[0], vars[1], vars[2], ("PORT", &port)]).await;
                app = Some(again);
                stdin.write_all(b"RESTARTED\n").await.expect("answer");
            }
            transcript.push(line);
        }
    };
    tokio::time::timeout(RUN_LIMIT, run)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the browser test ran over {RUN_LIMIT:?}:\n{}",
                transcript.join("\n")
            )
        });
    let status = script.wait().await.expect("node exits");
    let mut err = String::new();
    if let Some(mut e) = script.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    assert!(
        status.success() && transcript.iter().any(|l| l == "PASSED"),
        "the browser test failed ({status}):\n{}\n{err}\n(screenshots in {})",
        transcript.join("\n"),
        shots.display()
    );

    // What the page showed complete is complete on disk, byte for byte.
    let app = app.expect("a running server");
    assert_same_tree(
        &file_content.root(),
        &app.admin_downloads().join("browser-file"),
    );
    assert_same_tree(
        &magnet_content.root(),
        &app.admin_downloads().join("browser-magnet"),
    );
    for form in ["desktop", "phone"] {
        for scheme in ["light", "dark"] {
            let shot = shots.join(format!("list-{form}-{scheme}.png"));
            assert!(shot.exists(), "{} was not written", shot.display());
        }
    }
}
