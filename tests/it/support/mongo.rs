//! A private MongoDB wire-protocol server on 127.0.0.1 for the MongoDB store's tests:
//! `nx-27017` (PyPI) with in-memory storage. Killed when dropped.
//!
//! It speaks what the store uses (CRUD, sort/limit, upserts, `$set`/`$unset`,
//! unique indexes, `findOneAndUpdate`); the store is written to what it and real
//! MongoDB both do. `freeze`/`thaw` stop and continue the process (SIGSTOP/SIGCONT).
//!
//! A missing `nx-27017` is a test failure, never a skip: `./scripts/test.sh` installs
//! it into a venv and puts it on PATH.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;

use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::tools::{free_port, read_log, require_tool, wait_accepting};

/// A `MONGODB_URI` for database `db` of a server on `port` (running or not yet).
pub fn uri_on(port: u16, db: &str) -> String {
    format!("mongodb://127.0.0.1:{port}/{db}?directConnection=true")
}

pub struct Mongo {
    // Declared first so the process dies before its log directory is deleted.
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Mongo {
    /// Starts a server on a free loopback port and waits until it accepts connections.
    pub async fn start() -> Mongo {
        Self::start_on(free_port()).await
    }

    /// [`Mongo::start`] on a given port (one a server was told to wait for).
    pub async fn start_on(port: u16) -> Mongo {
        let program = require_tool("nx-27017");
        let dir = tempfile::tempdir().expect("tempdir for nx-27017");
        let log = std::fs::File::create(dir.path().join("mongo.log")).expect("log");
        let child = Command::new(program)
            // One in-memory database per logical database (by default all names
            // share one), and files of its own (the default PID file in /tmp refuses
            // a second server).
            .args(["--data-dir", "memory", "--host", "127.0.0.1"])
            .args(["-p", &port.to_string()])
            .arg("--pid-file")
            .arg(dir.path().join("nx.pid"))
            .arg("--log-file")
            .arg(dir.path().join("nx.log"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn nx-27017");
        let mut server = Mongo { child, port, dir };
        server.wait_ready().await;
        server
    }

    /// A `MONGODB_URI` for database `db` on this server.
    pub fn uri(&self, db: &str) -> String {
        uri_on(self.port, db)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("mongo.log"))
    }

    /// Stops the server process (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("nx-27017 is running");
        let status = std::process::Command::new("kill")
            .args([format!("-{sig}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {pid} failed");
    }

    /// A driver client of its own, to read back what the server wrote.
    pub async fn client(&self) -> mongodb::Client {
        mongodb::Client::with_uri_str(self.uri("admin"))
            .await
            .expect("a driver client")
    }

    async fn wait_ready(&mut self) {
        let (addr, log) = (self.addr(), self.dir.path().join("mongo.log"));
        wait_accepting(&mut self.child, "nx-27017", addr, &log).await;
    }
}
