//! A private `tansu` broker (the Kafka API, in Rust) on 127.0.0.1 with in-memory
//! storage, for the Kafka sink's tests. Killed when dropped.
//!
//! tansu does not create topics on first use (the sink creates its own) and has no
//! transactions. `freeze`/`thaw` stop and continue the process (SIGSTOP/SIGCONT): its
//! port stays open but nothing answers, the hardest kind of outage for a client.
//!
//! A missing `tansu` is a test failure, never a skip: `./scripts/test.sh` installs it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer as _};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::tools::{READY_TIMEOUT, free_port, require_tool};

pub struct Tansu {
    // Declared first so the process dies before its log directory is deleted.
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Tansu {
    /// Starts a broker on a free loopback port and waits until it answers Kafka
    /// metadata requests.
    pub async fn start() -> Tansu {
        let program = require_tool("tansu");
        let dir = tempfile::tempdir().expect("tempdir for tansu");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = dir.path().join("tansu.log");
        let file = std::fs::File::create(&log).expect("tansu log");
        let child = Command::new(program)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(dir.path())
            // tansu reads its options from the environment too: nothing inherited.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log handle")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn tansu");
        let mut broker = Tansu { child, port, dir };
        broker.wait_ready().await;
        broker
    }

    /// The bootstrap list for `KAFKA_BROKERS`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Stops the broker process (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen broker run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    pub fn log(&self) -> String {
        let path = self.log_path();
        std::fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("tansu.log")
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("tansu is running");
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -{sig} \"$1\""), "sh", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {pid} failed");
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll tansu") {
                panic!(
                    "tansu exited early with {status}; its output:\n{}",
                    self.log()
                );
            }
            let last = if tokio::net::TcpStream::connect(self.addr()).await.is_ok() {
                match metadata(self.brokers()).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            } else {
                "connection refused".to_owned()
            };
            if Instant::now() > deadline {
                panic!(
                    "tansu not ready after {READY_TIMEOUT:?} ({last}); its output:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One Kafka metadata round trip to `brokers`.
async fn metadata(brokers: String) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let client: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .map_err(|e| e.to_string())?;
        client
            .client()
            .fetch_metadata(None, Duration::from_secs(2))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .expect("metadata task")
}
