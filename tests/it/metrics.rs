//! `GET /metrics`: guarded by `METRICS_TOKEN`, valid by `promtool check metrics`
//! (Prometheus' own linter), and its counters move during a real download.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::support::app::{SLOW, TestApp, assert_same_tree, sample};
use crate::support::swarm::{Content, Seeder};
use crate::support::tools::require_tool;

const TOKEN: &str = "metrics-token-for-the-test";

async fn scrape(app: &TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut req = app.client.get(format!("{}/metrics", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("scrape");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new(require_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_guarded_and_move_with_a_download() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", TOKEN)]).await;
    let (status, _) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = scrape(&app, Some("not-the-token-at-all")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, before) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let down = "torrentedge_payload_bytes_total{direction=\"down\"}";
    let start_bytes = sample(&before, down);

    let sizes = [4 * 1024 * 1024 + 3, 1024 * 1024 + 1];
    let content = Content::random("metrics", &sizes);
    let (torrent, hash) = content.make_torrent(256 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let peers = seeder.addr.to_string();
    let token = app.admin_token.clone();
    let (status, added) = app.upload(&token, &torrent, &[("peers", &peers)]).await;
    assert_eq!(status, 201, "{added}");
    app.wait_complete(&token, &hash, SLOW).await;
    assert_same_tree(&content.root(), &app.admin_downloads().join("metrics"));
    // The tick after completion has counted the last bytes once it is applied.
    let total: usize = sizes.iter().sum();
    let after = crate::support::wait_for(
        "the payload counter to cover the download",
        SLOW,
        || async {
            let (_, text) = scrape(&app, Some(TOKEN)).await;
            (sample(&text, down) - start_bytes >= total as f64).then_some(text)
        },
    )
    .await;

    let (ok, said) = promtool_check(&after);
    assert!(ok, "promtool check metrics:\n{said}\n---\n{after}");
    for series in [
        "torrentedge_http_requests_total{route=\"/api/torrents/{hash}\",method=\"GET\",status=\"200\"}",
        "torrentedge_events_total{type=\"torrent:complete\"}",
        "torrentedge_store_operation_duration_seconds_count{op=\"commit\"}",
        // Every authenticated request asks whether its token was revoked.
        "torrentedge_cache_requests_total{cache=\"revocation\",result=\"miss\"}",
    ] {
        assert!(sample(&after, series) >= 1.0, "{series} in:\n{after}");
    }
    for gauge in [
        "torrentedge_torrents{state=\"seeding\"}",
        "torrentedge_queue_torrents{state=\"active\"}",
        "torrentedge_outbox_events",
        "torrentedge_peers",
        "torrentedge_cache_backend{backend=\"memory\"}",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(gauge)),
            "{gauge} in:\n{after}"
        );
    }
    // promtool is no rubber stamp: it refuses a malformed exposition.
    let (ok, _) = promtool_check("torrentedge_x{a=\"1\" 2\n");
    assert!(!ok, "promtool passed a malformed exposition");
}
