//! A flood of concurrent logins against the shipped binary: password checks run a
//! bounded number at a time, so the server's memory stays bounded, and the logins that
//! find no turn get 429 with `Retry-After` rather than errors.
//!
//! The server runs as a child process so its peak RSS (`VmHWM`) is its own, not that of
//! this test binary and every other test running in it.

use futures::future::join_all;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};

use crate::support::process::Running;

const PASSWORD: &str = "flood-test-admin-password";
/// `LOGIN_CONCURRENCY` of the server under test.
const CONCURRENCY: u64 = 2;
const LOGINS: usize = 200;
/// Room for what is not argon2's work areas: 200 connections, their tasks and buffers,
/// refresh tokens written, allocator slack.
const SLACK_KIB: u64 = 64 * 1024;

/// Peak resident set size of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in:\n{status}"))
}

/// One login from `client` (through `X-Forwarded-For`): status, `Retry-After`, body.
async fn login(
    http: &reqwest::Client,
    addr: &str,
    client: &str,
) -> (StatusCode, Option<String>, Value) {
    let resp = http
        .post(format!("http://{addr}/api/auth/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .expect("login sent");
    let status = resp.status();
    let retry = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_keeps_memory_bounded_and_the_excess_gets_429() {
    let dir = tempfile::tempdir().expect("tempdir");
    let concurrency = CONCURRENCY.to_string();
    let mut server = Running::start(
        dir.path(),
        &[
            ("ADMIN_PASSWORD", PASSWORD),
            // Each login claims its own address, so the per-address throttle lets them
            // all through to the password check: the hashing bound is what is tested.
            ("TRUST_PROXY", "true"),
            ("LOGIN_CONCURRENCY", &concurrency),
        ],
    );
    let addr = server.addr().await;
    let http = reqwest::Client::new();
    // Warm up: the first login builds whatever is built lazily.
    let (status, _, body) = login(&http, &addr, "198.18.255.1").await;
    assert_eq!(status, StatusCode::OK, "warm-up login: {body}");
    let pid = server.pid();
    let before = peak_rss_kib(pid);

    let clients: Vec<String> = (0..LOGINS)
        .map(|i| format!("198.18.{}.{}", i / 250, i % 250 + 1))
        .collect();
    let results = join_all(clients.iter().map(|c| login(&http, &addr, c))).await;
    let after = peak_rss_kib(pid);

    let mut ok = 0;
    let mut busy = 0;
    for (status, retry, body) in &results {
        match *status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                busy += 1;
                assert_eq!(body["error"]["code"], "server_busy", "{body}");
                assert!(body["error"]["message"].is_string(), "{body}");
                let secs: u64 = retry
                    .as_deref()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or_else(|| panic!("429 without a Retry-After in seconds: {body}"));
                assert!(secs >= 1, "Retry-After {secs}");
            }
            other => panic!("a login got {other}: {body}"),
        }
    }
    let m_cost_kib = u64::from(argon2::Params::DEFAULT_M_COST);
    let bound = CONCURRENCY * m_cost_kib + SLACK_KIB;
    let growth = after.saturating_sub(before);
    println!(
        "login flood: {LOGINS} concurrent logins, LOGIN_CONCURRENCY={CONCURRENCY}: \
         {ok} × 200, {busy} × 429; server peak RSS {} MiB before, {} MiB after, \
         growth {} MiB (bound {} MiB = {CONCURRENCY} × {} MiB argon2 + {} MiB slack)",
        before / 1024,
        after / 1024,
        growth / 1024,
        bound / 1024,
        m_cost_kib / 1024,
        SLACK_KIB / 1024,
    );
    assert!(ok >= 1, "no login got through");
    assert!(
        busy >= 1,
        "{LOGINS} logins at once and none was turned away"
    );
    assert!(
        growth < bound,
        "peak RSS grew by {growth} KiB, more than {bound} KiB"
    );
    server.terminate().await;
}
