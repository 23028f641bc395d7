//! A Socket.IO client for the tests: the official `socket.io-client` under Node
//! (tests/js/client.mjs), driven over stdio.
//!
//! Node and `tests/js/node_modules` are required (scripts/test.sh installs both); a
//! missing one fails the tests with a message saying what to run, never skips them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::app::TestApp;

/// How long one expected event may take to arrive (not a download: those use SLOW).
pub const SHORT: Duration = Duration::from_secs(20);

/// One `node client.mjs` process: every line it prints is kept, in order.
pub struct Client {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Value>,
    stderr: Arc<Mutex<String>>,
    /// Everything received so far, in arrival order.
    pub seen: Vec<Value>,
}

impl Client {
    pub async fn connect(app: &TestApp, name: &str, auth: Value) -> Self {
        Self::connect_via(app, name, auth, "websocket").await
    }

    pub async fn connect_via(app: &TestApp, name: &str, auth: Value, transport: &str) -> Self {
        Self::connect_to(&app.base, name, auth, transport).await
    }

    /// Connects to the server at `base` (the server itself, or a proxy in front).
    pub async fn connect_to(base: &str, name: &str, auth: Value, transport: &str) -> Self {
        let script = client_script();
        let mut child = Command::new("node")
            .arg(&script)
            .arg(base)
            .arg(auth.to_string())
            .arg(transport)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting node {script:?}: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn(async move {
            let mut out = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = out.next_line().await {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_buf = stderr.clone();
        let child_err = child.stderr.take().expect("piped stderr");
        tokio::spawn(async move {
            let mut err = BufReader::new(child_err).lines();
            while let Ok(Some(line)) = err.next_line().await {
                let mut buf = err_buf.lock().unwrap_or_else(|p| p.into_inner());
                buf.push_str(&line);
                buf.push('\n');
            }
        });
        let stdin = child.stdin.take();
        let mut me = Self {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        };
        let connected = me.wait_event("connect", SHORT).await;
        assert_eq!(connected["data"]["transport"], transport, "{name}");
        me
    }

    /// The first event named `event` received so far, or the next one to arrive.
    pub async fn wait_event(&mut self, event: &str, timeout: Duration) -> Value {
        self.wait_until(event, timeout, |v| v["event"] == event)
            .await
    }

    /// Waits until an event satisfying `pred` arrives (or has arrived: earlier events
    /// are searched first) and returns it.
    pub async fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = |seen: &[Value]| seen.iter().any(&pred);
        self.wait_seen(what, timeout, found).await;
        self.seen.iter().find(|v| pred(v)).cloned().expect("found")
    }

    /// Waits until everything received so far satisfies `done`.
    pub async fn wait_seen(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(v)) => self.seen.push(v),
                Ok(None) => self.fail(&format!("client exited while waiting for {what}")),
                Err(_) => self.fail(&format!("timed out after {timeout:?} waiting for {what}")),
            }
        }
    }

    pub fn fail(&self, why: &str) -> ! {
        let events: Vec<String> = self.seen.iter().map(|v| v.to_string()).collect();
        panic!(
            "{} ({}): {why}\nreceived:\n{}\nnode stderr:\n{}",
            self.name,
            self.child.id().map_or("exited".into(), |p| p.to_string()),
            events.join("\n"),
            self.stderr.lock().unwrap_or_else(|p| p.into_inner())
        )
    }

    pub async fn command(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("client running");
        let line = format!("{cmd}\n");
        stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the client");
        stdin.flush().await.expect("flush to the client");
    }

    pub async fn emit_with_ack(&mut self, event: &str, data: Value) -> Value {
        self.command(json!({ "emit": event, "data": data, "ack": true }))
            .await;
        let ack = self
            .wait_until(&format!("the ack of {event}"), SHORT, |v| {
                v["event"] == "ack" && v["data"]["emit"] == event
            })
            .await;
        // Later waits for the next ack of the same event must not find this one.
        self.seen.retain(|v| v != &ack);
        ack["data"]["response"].clone()
    }

    /// Disconnects, waits for the process to exit and returns everything it received.
    pub async fn quit(mut self) -> Vec<Value> {
        self.command(json!({ "quit": true })).await;
        let status = tokio::time::timeout(SHORT, self.child.wait())
            .await
            .expect("client exits after quit")
            .expect("client status");
        assert!(
            status.success(),
            "{}: client exited with {status}",
            self.name
        );
        while let Some(v) = self.lines.recv().await {
            self.seen.push(v);
        }
        self.seen
    }

    /// The server events received so far (not connect, ack or the like).
    pub fn server_events(&self) -> Vec<Value> {
        server_events(&self.seen)
    }
}

/// Bus events only: those that carry a `seq` and an `id`.
pub fn server_events(seen: &[Value]) -> Vec<Value> {
    seen.iter()
        .filter(|v| v["data"]["seq"].is_u64() && v["data"]["id"].is_string())
        .cloned()
        .collect()
}

/// The client script, after checking Node and the client library are there.
fn client_script() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is required for the Socket.IO tests (Node.js >= 18): run scripts/test.sh, \
         or install nodejs and npm ({node:?})"
    );
    assert!(
        dir.join("node_modules/socket.io-client/package.json")
            .is_file(),
        "socket.io-client is missing: run `npm ci --prefix tests/js` (scripts/test.sh does)"
    );
    dir.join("client.mjs")
}
