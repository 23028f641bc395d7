//! The shipped binary: first start on defaults, the one-time admin password, and a
//! clean, bounded exit on SIGTERM with state kept for the next start.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(dir: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_torrentedge"))
            .current_dir(dir)
            .env_remove("JWT_SECRET")
            .env_remove("ADMIN_PASSWORD")
            .envs([
                ("HOST", "127.0.0.1"),
                ("PORT", "0"),
                ("PEER_HOST", "127.0.0.1"),
                ("PEER_PORT", "0"),
                ("ENABLE_DHT", "false"),
                ("ENABLE_LSD", "false"),
                ("RUST_LOG", "info"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the binary");
        let (tx, lines) = mpsc::unbounded_channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout"))
                as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    async fn line_with(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!(
                "no log line with {needle:?}; log so far:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    async fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().expect("running").to_string();
        // The shell's builtin: the standalone `kill` is missing from minimal images.
        let status = std::process::Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
            .status()
            .expect("sh");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exited within 30 s of SIGTERM")
            .expect("wait");
        assert!(
            exit.success(),
            "exit status {exit:?}; log:\n{}",
            self.seen.join("\n")
        );
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 1;
    line[start..].split_whitespace().next().unwrap_or("")
}

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
    let mut server = Running::start(dir.path());
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
    let mut again = Running::start(dir.path());
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
