//! A private Redis on 127.0.0.1 (Debian's `redis-server`), without persistence, in a
//! directory of its own. Killed when dropped; `kill` and `restart` take it away and
//! bring it back on the same port, `freeze`/`thaw` stop and continue it.
//!
//! A missing `redis-server` is a test failure, never a skip: `./scripts/test.sh`
//! installs it.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;

use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::tools::{free_port, read_log, require_tool, wait_accepting};

pub struct Redis {
    // Declared first so the process dies before its directory is deleted.
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl Redis {
    /// Starts a server on a free loopback port and waits until it accepts connections.
    pub async fn start() -> Redis {
        let dir = tempfile::tempdir().expect("tempdir for redis-server");
        let mut redis = Redis {
            child: None,
            port: free_port(),
            dir,
        };
        redis.restart().await;
        redis
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("redis.log"))
    }

    /// Kills the server (SIGKILL): connections drop, the port refuses, data is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill redis-server");
        }
    }

    /// Starts the server again on the same port (empty: it keeps nothing on disk).
    pub async fn restart(&mut self) {
        let program = require_tool("redis-server");
        let log = self.dir.path().join("redis.log");
        let child = Command::new(program)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--logfile")
            .arg(&log)
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn redis-server");
        let addr = self.addr();
        let child = self.child.insert(child);
        wait_accepting(child, "redis-server", addr, &log).await;
    }

    /// Stops the server process (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        let child = self.child.as_ref().expect("redis-server is running");
        let pid = child.id().expect("redis-server is running");
        let status = std::process::Command::new("kill")
            .args([format!("-{sig}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {pid} failed");
    }

    /// A client of its own, to read back what the server wrote.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        client
            .get_multiplexed_async_connection()
            .await
            .expect("a Redis connection")
    }

    /// Every key under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let mut conn = self.client().await;
        redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .expect("KEYS")
    }
}
