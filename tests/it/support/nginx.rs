//! The shipped `nginx/nginx.conf`, run by the real nginx on 127.0.0.1 in front of a
//! test server. Killed when dropped.
//!
//! Only what ties the file to docker-compose changes: the upstream (`torrentedge:3000`
//! becomes the test server's address) and the port it listens on; everything else is
//! the shipped text. A missing `nginx` is a test failure: `./scripts/test.sh` installs
//! Debian's `nginx-light`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::tools::{free_port, read_log, require_tool, wait_accepting};

pub struct Nginx {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

/// The shipped config, pointed at `upstream` and listening on `port`.
pub fn shipped_config(upstream: SocketAddr, port: u16) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("nginx/nginx.conf");
    let text = std::fs::read_to_string(&path).expect("nginx/nginx.conf");
    assert!(text.contains("server torrentedge:3000;") && text.contains("listen 80;"));
    text.replace("server torrentedge:3000;", &format!("server {upstream};"))
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
}

/// A main configuration around `site` whose files all live in `dir`.
fn main_config(dir: &Path, site: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nworker_processes 1;\nuser root;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {};\n}}\n",
        site.display()
    )
}

impl Nginx {
    /// Writes the configuration files and returns the main one's path, for `nginx -t`.
    pub fn write_config(dir: &Path, upstream: SocketAddr, port: u16) -> PathBuf {
        let site = dir.join("site.conf");
        std::fs::write(&site, shipped_config(upstream, port)).expect("site.conf");
        let main = dir.join("nginx.conf");
        std::fs::write(&main, main_config(dir, &site)).expect("nginx.conf");
        main
    }

    /// `nginx -t` on the configuration: its output, and whether it passed.
    pub fn check(main: &Path, dir: &Path) -> (bool, String) {
        let out = std::process::Command::new(require_tool("nginx"))
            .arg("-t")
            .arg("-c")
            .arg(main)
            .arg("-p")
            .arg(dir)
            .output()
            .expect("run nginx -t");
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text)
    }

    /// Runs the shipped config in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir for nginx");
        let port = free_port();
        let main = Self::write_config(dir.path(), upstream, port);
        let (ok, out) = Self::check(&main, dir.path());
        assert!(ok, "nginx -t refused the shipped config:\n{out}");
        let child = Command::new(require_tool("nginx"))
            .arg("-c")
            .arg(&main)
            .arg("-p")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx { child, port, dir };
        nginx.wait_ready().await;
        nginx
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn error_log(&self) -> String {
        read_log(&self.dir.path().join("error.log"))
    }

    async fn wait_ready(&mut self) {
        let (addr, log) = (
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            self.dir.path().join("error.log"),
        );
        wait_accepting(&mut self.child, "nginx", addr, &log).await;
    }
}
