//! The shipped binary: first start on defaults, the one-time admin password, a clean,
//! bounded exit on SIGTERM with state kept for the next start, and `reset-password`.

use crate::support::process::{Running, field, run_command};

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

async fn refresh(client: &reqwest::Client, addr: &str, token: &str) -> reqwest::StatusCode {
    client
        .post(format!("http://{addr}/api/auth/refresh"))
        .json(&serde_json::json!({"refreshToken": token}))
        .send()
        .await
        .expect("refresh")
        .status()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_prints_a_new_password_once_and_ends_old_sessions() {
    const OLD: &str = "the-old-admin-password";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Running::start(dir.path(), &[("ADMIN_PASSWORD", OLD)]);
    let addr = server.addr().await;
    let client = reqwest::Client::new();
    let resp = login(&client, &addr, OLD).await;
    assert_eq!(resp.status(), 200);
    let session: serde_json::Value = resp.json().await.expect("token pair");
    let refresh_token = session["refreshToken"].as_str().expect("refresh token");

    // While the server runs, on the same DATA_DIR (./data of the same directory).
    let out = run_command(dir.path(), &["reset-password", "admin"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{:?}; stderr:\n{stderr}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is the password alone: {stdout:?}");
    let password = lines[0];
    assert!(
        password.len() >= 16 && password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{password:?}"
    );
    assert!(!stderr.contains(password), "password repeated on stderr");

    assert_eq!(login(&client, &addr, password).await.status(), 200);
    assert_eq!(login(&client, &addr, OLD).await.status(), 401);
    assert_eq!(refresh(&client, &addr, refresh_token).await, 401);

    // An unknown user: a clear error, a failing exit status, nothing on stdout.
    let out = run_command(dir.path(), &["reset-password", "nobody"]).await;
    assert!(!out.status.success(), "{:?}", out.status);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no user named \"nobody\""), "{stderr}");
    // No user given, or a directory without the server's data: refused too.
    let out = run_command(dir.path(), &["reset-password"]).await;
    assert!(!out.status.success() && text(&out.stderr).contains("usage"));
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = run_command(elsewhere.path(), &["reset-password", "admin"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no database"),
        "{}",
        text(&out.stderr)
    );
    assert!(!elsewhere.path().join("data").exists());

    // None of that touched the new password, and it survives a restart.
    server.terminate().await;
    let mut again = Running::start(dir.path(), &[]);
    let addr = again.addr().await;
    assert_eq!(login(&client, &addr, password).await.status(), 200);
    again.terminate().await;
}
