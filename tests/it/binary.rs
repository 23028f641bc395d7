//! The shipped binary: first start on defaults, the one-time admin password, and a
//! clean, bounded exit on SIGTERM with state kept for the next start.

use crate::support::process::{Running, field};

async fn login(client: &reqwest::Client, addr: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("http://{addr}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_a_working_admin_password_once_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Running::start(dir.path(), &[]);
    let pw_line = server.line_with("generated password").await;
    let password = field(&pw_line, "password").to_owned();
    assert!(password.len() >= 16, "{pw_line}");
    let addr = field(&server.line_with("TorrentEdge listening").await, "addr").to_owned();

    let client = reqwest::Client::new();
    let resp = login(&client, &addr, &password).await;
    assert_eq!(resp.status(), 200);
    let log = server.terminate().await;
    assert!(
        log.iter().any(|l| l.contains("stopped")),
        "no orderly stop in:\n{}",
        log.join("\n")
    );
    assert!(
        dir.path().join("data/jwt_secret").exists(),
        "secret kept for the next start"
    );

    // Second start on the same directory: same account, no new password printed.
    let mut again = Running::start(dir.path(), &[]);
    let addr = field(&again.line_with("TorrentEdge listening").await, "addr").to_owned();
    let resp = login(&client, &addr, &password).await;
    assert_eq!(
        resp.status(),
        200,
        "the first password still works after a restart"
    );
    let log = again.terminate().await;
    assert!(
        !log.iter().any(|l| l.contains("generated password")),
        "password printed twice"
    );
    assert!(
        !log.iter().any(|l| l.contains(&password)),
        "password leaked into the second start's log"
    );
}
