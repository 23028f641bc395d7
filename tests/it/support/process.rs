//! The shipped binary as a child process: started in a directory of its own on
//! loopback, its log lines collected, stopped with SIGTERM.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The `torrentedge` binary cargo built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_torrentedge");

/// The variables every child gets: loopback only, any free port, no discovery. `JWT_SECRET`
/// and `ADMIN_PASSWORD` are removed from what the test inherits.
fn base_command(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_remove("JWT_SECRET")
        .env_remove("ADMIN_PASSWORD")
        .env_remove("DATA_DIR")
        .envs([
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("PEER_HOST", "127.0.0.1"),
            ("PEER_PORT", "0"),
            ("ENABLE_DHT", "false"),
            ("ENABLE_LSD", "false"),
            ("RUST_LOG", "info"),
        ]);
    command
}

/// Runs `torrentedge ARGS...` in `dir` with the test environment to completion.
pub async fn run_command(dir: &Path, args: &[&str]) -> std::process::Output {
    let run = base_command(dir)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the command ended within 60 s")
        .expect("run the binary")
}

pub struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Starts the server in `dir` (its `./data` and `./downloads` are there), with `env`
    /// on top of the test environment.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn(base_command(dir), env)
    }

    /// [`Running::start`] with the kernel refusing to grow any file the server writes past
    /// `bytes` (`RLIMIT_FSIZE`; `SIGXFSZ` ignored, so the write fails with `EFBIG`): a
    /// disk error on demand, in this process only.
    pub fn start_with_file_size_limit(dir: &Path, env: &[(&str, &str)], bytes: u64) -> Self {
        let mut command = base_command(dir);
        // SAFETY: between fork and exec only async-signal-safe calls are made.
        unsafe {
            command.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::spawn(command, env)
    }

    fn spawn(mut command: Command, env: &[(&str, &str)]) -> Self {
        let mut child = command
            .envs(env.iter().copied())
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

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Bytes the server has read with read(2)-like calls so far (`rchar` of
    /// `/proc/PID/io`: files, page cache or not, and sockets).
    pub fn bytes_read(&self) -> u64 {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.pid())).expect("/proc/PID/io");
        io.lines()
            .find_map(|l| l.strip_prefix("rchar: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("rchar in /proc/PID/io")
    }

    /// Every log line received so far.
    pub fn log(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Waits for the "listening" line and returns the HTTP address.
    pub async fn addr(&mut self) -> String {
        field(&self.line_with("TorrentEdge listening").await, "addr").to_owned()
    }

    /// Waits for a log line containing `needle` and returns it.
    pub async fn line_with(&mut self, needle: &str) -> String {
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

    /// Kills the server with SIGKILL (no chance to save anything) and waits for it.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }

    pub async fn terminate(mut self) -> Vec<String> {
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

/// The value of `key=` in a log line.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 1;
    line[start..].split_whitespace().next().unwrap_or("")
}
