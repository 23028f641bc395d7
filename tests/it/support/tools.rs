//! Harness for the external programs the integration tests drive: `opentracker` as a
//! loopback-only HTTP tracker, `aria2c` as a seeding peer, `mktorrent` to build
//! torrents, plus the small BitTorrent helpers (info hash, bencode lookup,
//! percent-encoding, compact peers) needed to check what they do.
//!
//! Every process binds to 127.0.0.1 only and is killed when its handle is dropped.
//! A missing program is a test failure, never a skip: `./scripts/test.sh` installs
//! them, and a suite that silently skips its peers proves nothing.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long a spawned program may take to become usable. Generous because CI runs
/// on 2 cores while the compiler or other tests may still be busy.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Interval between two checks of a condition we are waiting on.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Port the harness announces with when it queries the tracker itself. Nothing
/// listens there, so a client that is handed this peer just gets a refused
/// connection; the harness removes it again with `event=stopped` anyway.
const PROBE_PORT: u16 = 1;
const PROBE_PEER_ID: &str = "-TE0001-harnessprobe";

/// Finds `name` on `PATH`, panicking with the remedy if it is not installed.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not installed (not found on PATH); run `./scripts/test.sh`, \
         which installs the programs the integration tests need"
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Returns a loopback port that is currently free for both TCP and UDP (opentracker
/// binds both on the same number).
///
/// The port is released before the caller uses it, so another process could grab
/// it in between; the kernel hands out `bind(0)` ports from a randomised range,
/// which makes that unlikely. Within this test process we also never hand out the
/// same port twice, because a port returned here is often not bound yet when the
/// next test asks, and the kernel would happily return it again.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..100 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0/tcp");
        let port = tcp.local_addr().expect("local_addr").port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            continue;
        }
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed_out.insert(port) {
            return port;
        }
    }
    panic!("could not find a loopback port free for both TCP and UDP");
}

/// Polls `check` every [`POLL_INTERVAL`] until it yields a value or `timeout`
/// elapses; on timeout the error names `what` and the last error `check` reported,
/// so the caller can add the logs that explain it.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last_error = match check().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {timeout:?} waiting for {what}; last error: {last_error}"
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Fails (with the program's log) if `child` has already exited: waiting for a
/// port that will never open would only turn a clear crash into a timeout.
pub fn ensure_running(child: &mut Child, program: &str, log: &Path) -> Result<(), String> {
    match child.try_wait() {
        Ok(None) => Ok(()),
        Ok(Some(status)) => panic!(
            "{program} exited early with {status}; its output:\n{}",
            read_log(log)
        ),
        Err(e) => Err(format!("cannot poll {program}: {e}")),
    }
}

/// Waits until `child`, a server whose output goes to `log`, accepts TCP connections
/// on `addr`; panics with its output if it exits first or is not there in time.
pub async fn wait_accepting(child: &mut Child, program: &str, addr: SocketAddr, log: &Path) {
    let what = format!("{program} to accept connections");
    wait_until(&what, READY_TIMEOUT, || {
        let running = ensure_running(child, program, log);
        async move {
            running?;
            tcp_accepts(addr).await
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{program} output:\n{}", read_log(log)));
}

pub fn read_log(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

/// Stdout and stderr of a child, both appended to the same file so the
/// interleaving matches what the program did.
pub fn log_stdio(path: &Path) -> (Stdio, Stdio) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let clone = file.try_clone().expect("clone log file handle");
    (Stdio::from(file), Stdio::from(clone))
}

pub async fn tcp_accepts(addr: SocketAddr) -> Result<(), String> {
    tokio::net::TcpStream::connect(addr)
        .await
        .map(drop)
        .map_err(|e| format!("connect {addr}: {e}"))
}

/// Builds `torrent_out` over `content` (a file or a directory) with 32 KiB pieces
/// announcing to `announce`, and returns its info hash (hex, lower-case).
pub fn mktorrent(announce: &str, content: &Path, torrent_out: &Path) -> String {
    mktorrent_with(announce, content, torrent_out, &["-l", "15"])
}

/// [`mktorrent`] with mktorrent's own options instead of the 32 KiB pieces (`-l N` for
/// 2^N-byte pieces, `-p` for the private flag).
///
/// The announce URL is outside the info dictionary, so the same content, options and
/// name give the same info hash whatever `announce` is: a private tracker's per-user
/// torrents (one passkey each) are one swarm.
pub fn mktorrent_with(announce: &str, content: &Path, torrent_out: &Path, opts: &[&str]) -> String {
    let program = require_tool("mktorrent");
    let output = std::process::Command::new(program)
        .args(["-a", announce])
        .args(opts)
        .arg("-o")
        .arg(torrent_out)
        .arg(content)
        .output()
        .expect("run mktorrent");
    assert!(
        output.status.success(),
        "mktorrent failed with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = fs::read(torrent_out).expect("read the torrent mktorrent wrote");
    info_hash_of(&bytes)
}

/// SHA-1 of the bencoded `info` dictionary of a `.torrent`, hex lower-case.
///
/// Hashes the exact bytes as they appear in the file: re-encoding a parsed
/// dictionary could reorder or normalise it and give a different hash.
pub fn info_hash_of(torrent_bytes: &[u8]) -> String {
    let info = bencode_dict_get(torrent_bytes, b"info").expect("torrent has no `info` dictionary");
    hex::encode(Sha1::digest(info))
}

/// Looks `key` up in the bencoded dictionary `dict` and returns the raw bencoded
/// bytes of its value (for a byte string, pass them to [`bencode_bytes`]).
/// Returns `None` when the key is absent; panics on malformed input.
pub fn bencode_dict_get<'a>(dict: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    assert_eq!(dict.first(), Some(&b'd'), "not a bencoded dictionary");
    let mut pos = 1;
    while dict.get(pos) != Some(&b'e') {
        let key_end = bencode_skip(dict, pos);
        let value_end = bencode_skip(dict, key_end);
        if bencode_bytes(&dict[pos..key_end]) == key {
            return Some(&dict[key_end..value_end]);
        }
        pos = value_end;
    }
    None
}

/// The payload of a raw bencoded byte string (`4:spam` gives `spam`).
pub fn bencode_bytes(raw: &[u8]) -> &[u8] {
    let colon = raw
        .iter()
        .position(|&b| b == b':')
        .expect("not a bencoded byte string");
    let len = parse_decimal(&raw[..colon]);
    &raw[colon + 1..colon + 1 + len]
}

/// Returns the index just past the bencoded value starting at `pos`.
fn bencode_skip(buf: &[u8], pos: usize) -> usize {
    match buf.get(pos) {
        Some(b'i') => {
            let end = pos + find(buf, pos, b'e');
            end + 1
        }
        Some(b'l') | Some(b'd') => {
            let mut p = pos + 1;
            while buf.get(p) != Some(&b'e') {
                p = bencode_skip(buf, p);
            }
            p + 1
        }
        Some(b'0'..=b'9') => {
            let colon = pos + find(buf, pos, b':');
            let end = colon + 1 + parse_decimal(&buf[pos..colon]);
            assert!(end <= buf.len(), "bencoded string runs past the end");
            end
        }
        other => panic!("malformed bencode at byte {pos}: {other:?}"),
    }
}

fn find(buf: &[u8], from: usize, byte: u8) -> usize {
    buf[from..]
        .iter()
        .position(|&b| b == byte)
        .unwrap_or_else(|| panic!("malformed bencode: no {:?} after byte {from}", byte as char))
}

fn parse_decimal(digits: &[u8]) -> usize {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("malformed bencode length {digits:?}"))
}

/// Percent-encodes every byte outside RFC 3986's unreserved set, as trackers
/// expect for the raw 20-byte `info_hash` and `peer_id` (form encoding's `+` for
/// space is not understood by every tracker, so it is not used).
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a compact IPv4 peer list (6 bytes per peer: address, port, big-endian).
pub fn decode_compact_peers(bytes: &[u8]) -> Vec<SocketAddr> {
    assert_eq!(
        bytes.len() % 6,
        0,
        "compact peer list is not a multiple of 6 bytes"
    );
    bytes
        .chunks_exact(6)
        .map(|c| {
            let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
            SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be_bytes([c[4], c[5]])))
        })
        .collect()
}

fn assert_info_hash(hash: &str) {
    assert!(
        hash.len() == 40 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "info hash must be 40 lower-case hex characters, got {hash:?}"
    );
}

/// The client for the harness's own announces.
fn tracker_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        // A CI `http_proxy` must never see (or break) loopback traffic.
        .no_proxy()
        // opentracker answers `HTTP/1.1` without `Connection: close` but closes the
        // socket after every response; a pooled connection is then reused just as
        // it is being closed and the request fails now and then.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build reqwest client")
}

/// A private `opentracker` on 127.0.0.1 (HTTP and UDP on the same port) that only
/// accepts the whitelisted info hashes. Killed when dropped.
pub struct Opentracker {
    // Declared before `dir` so the process is killed before its chroot is deleted.
    child: Child,
    port: u16,
    dir: TempDir,
    http: reqwest::Client,
}

impl Opentracker {
    /// Starts a tracker accepting `info_hashes` (40-char lower-case hex) and waits
    /// until it answers announces for them.
    ///
    /// Debian builds opentracker whitelist-only, so an unlisted hash is refused
    /// with "Requested download is not authorized".
    pub async fn start(info_hashes: &[String]) -> Opentracker {
        let program = require_tool("opentracker");
        for hash in info_hashes {
            assert_info_hash(hash);
        }
        let dir = tempfile::tempdir().expect("tempdir for opentracker");
        // Started as root, opentracker chroots into `-d` and then drops to `nobody`
        // before reading the whitelist, so the directory (0700 from tempfile) and
        // the list must be readable by others.
        set_mode(dir.path(), 0o755);
        let whitelist = dir.path().join("whitelist.txt");
        let mut contents = String::new();
        for hash in info_hashes {
            contents.push_str(hash);
            contents.push('\n');
        }
        fs::write(&whitelist, contents).expect("write whitelist");
        set_mode(&whitelist, 0o644);

        let port = free_port();
        let log = dir.path().join("opentracker.log");
        let (stdout, stderr) = log_stdio(&log);
        let port_arg = port.to_string();
        let child = Command::new(program)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port_arg,
                "-P",
                &port_arg,
                "-A",
                "127.0.0.1",
            ])
            .arg("-d")
            .arg(dir.path())
            // Relative on purpose: as root, opentracker chroots into `-d` and
            // chdirs to its `/`; as any other user it cannot chroot and only
            // chdirs into `-d`. `whitelist.txt` resolves to our file either way,
            // where `/whitelist.txt` would only work as root.
            .args(["-w", "whitelist.txt"])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn opentracker");
        let mut tracker = Opentracker {
            child,
            port,
            dir,
            http: tracker_http_client(),
        };
        tracker.wait_ready(info_hashes.first()).await;
        tracker
    }

    /// Waits until the tracker accepts TCP connections and then answers HTTP.
    ///
    /// A TCP connect alone is not enough: opentracker binds its sockets while it
    /// is still parsing its options, and only an HTTP answer shows it got through
    /// the rest of its setup (including the SIGHUP handling `add_hash` relies on).
    /// It also loads the whitelist on its own, so with a hash given we wait until
    /// an announce for it is authorised.
    async fn wait_ready(&mut self, probe_hash: Option<&String>) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let log = self.log_path();
        let child = &mut self.child;
        wait_until("opentracker to accept connections", READY_TIMEOUT, || {
            let running = ensure_running(child, "opentracker", &log);
            async move {
                running?;
                tcp_accepts(addr).await
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\nopentracker output:\n{}", read_log(&log)));
        // Any hash works to see the HTTP loop running: an unlisted one is answered
        // with a bencoded failure, which is still an answer.
        let unlisted = "0".repeat(40);
        let hash = probe_hash.unwrap_or(&unlisted);
        let must_be_authorised = probe_hash.is_some();
        let this = &*self;
        wait_until(
            "opentracker to answer announces",
            READY_TIMEOUT,
            || async move {
                let body = this.probe_announce(hash).await?;
                if must_be_authorised {
                    authorised(&body)?;
                }
                Ok(())
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nopentracker output:\n{}", this.log()));
    }

    /// Adds `info_hash` to the whitelist and waits until the tracker accepts it.
    ///
    /// opentracker re-reads its whitelist on SIGHUP (checked on Debian 12's
    /// 0.0~git20210823 build), so there is no need to restart it.
    pub async fn add_hash(&self, info_hash: &str) {
        assert_info_hash(info_hash);
        let whitelist = self.dir.path().join("whitelist.txt");
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&whitelist)
            .expect("open whitelist");
        writeln!(file, "{info_hash}").expect("append to whitelist");
        drop(file);
        let pid = self.child.id().expect("opentracker has exited");
        // The shell's builtin `kill`, because the standalone binary (procps) is
        // missing from minimal Debian images and no signal crate is a dependency.
        let status = std::process::Command::new("sh")
            .args(["-c", "kill -HUP \"$1\"", "sh", &pid.to_string()])
            .status()
            .expect("run sh to send SIGHUP");
        assert!(
            status.success(),
            "sending SIGHUP to opentracker failed: {status}"
        );
        // The reload happens on a worker thread, some time after the signal.
        wait_until(
            "opentracker to accept the new hash",
            READY_TIMEOUT,
            || async move { authorised(&self.probe_announce(info_hash).await?) },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nopentracker output:\n{}", self.log()));
    }

    /// The peers the tracker currently lists for `info_hash`, as a client would
    /// receive them.
    ///
    /// opentracker includes the announcing peer itself in its answer, so the
    /// harness announces with a placeholder port, leaves the swarm again at once
    /// (so no test client is ever handed it) and filters it out.
    pub async fn peers(&self, info_hash: &str) -> Result<Vec<SocketAddr>, String> {
        let body = self.probe_announce(info_hash).await?;
        authorised(&body)?;
        let peers = bencode_dict_get(&body, b"peers")
            .ok_or_else(|| format!("no `peers` in {}", String::from_utf8_lossy(&body)))?;
        let probe = SocketAddr::from((Ipv4Addr::LOCALHOST, PROBE_PORT));
        Ok(decode_compact_peers(bencode_bytes(peers))
            .into_iter()
            .filter(|p| *p != probe)
            .collect())
    }

    /// Announces `info_hash` as the harness's probe peer and withdraws it again,
    /// returning the body of the first answer.
    async fn probe_announce(&self, info_hash: &str) -> Result<Vec<u8>, String> {
        let body = self.announce_as_probe(info_hash, "").await?;
        if authorised(&body).is_ok() {
            self.announce_as_probe(info_hash, "&event=stopped").await?;
        }
        Ok(body)
    }

    async fn announce_as_probe(&self, info_hash: &str, extra: &str) -> Result<Vec<u8>, String> {
        let raw = hex::decode(info_hash).map_err(|e| format!("bad info hash {info_hash}: {e}"))?;
        let url = format!(
            "{}?info_hash={}&peer_id={PROBE_PEER_ID}&port={PROBE_PORT}&uploaded=0&downloaded=0\
             &left=1&compact=1&numwant=200{extra}",
            self.announce_url(),
            percent_encode(&raw),
        );
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading answer to GET {url}: {}", error_chain(&e)))?;
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        Ok(body.to_vec())
    }

    /// `http://127.0.0.1:PORT/announce`.
    pub fn announce_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything opentracker printed so far, for failure messages.
    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("opentracker.log")
    }
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        // kill_on_drop would do this too; being explicit keeps the order obvious.
        let _ = self.child.start_kill();
    }
}

/// Sends `child` the signal `sig` (`"INT"`, `"TERM"`) and waits for it to exit: how a
/// test stops a BitTorrent client gracefully, so it sends its `event=stopped` announces.
/// Which signal does that depends on the client (aria2c takes SIGTERM as an emergency
/// shutdown and announces nothing; SIGINT is its graceful one).
pub async fn signal_and_wait(
    child: &mut Child,
    program: &str,
    sig: &str,
    timeout: Duration,
) -> Result<(), String> {
    let Some(pid) = child.id() else {
        return Ok(()); // already reaped
    };
    // The shell's builtin `kill`: the standalone binary is missing from minimal images.
    let status = std::process::Command::new("sh")
        .args(["-c", "kill -s \"$1\" \"$2\"", "sh", sig, &pid.to_string()])
        .status()
        .map_err(|e| format!("run sh to send SIG{sig} to {program}: {e}"))?;
    if !status.success() {
        return Err(format!("sending SIG{sig} to {program} failed: {status}"));
    }
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("waiting for {program} to exit: {e}")),
        Err(_) => Err(format!(
            "{program} did not exit within {timeout:?} of SIG{sig}"
        )),
    }
}

/// Ok if a tracker answer is not a bencoded failure.
fn authorised(body: &[u8]) -> Result<(), String> {
    if body.first() != Some(&b'd') {
        return Err(format!(
            "not a bencoded answer: {}",
            String::from_utf8_lossy(body)
        ));
    }
    match bencode_dict_get(body, b"failure reason") {
        None => Ok(()),
        Some(reason) => Err(format!(
            "tracker refused: {}",
            String::from_utf8_lossy(bencode_bytes(reason))
        )),
    }
}

/// An error with all its causes: reqwest's own message ("error sending request")
/// leaves out the part that says what went wrong.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// An `aria2c` seeding one torrent on 127.0.0.1, announcing to the torrent's
/// tracker every second. Killed when dropped.
pub struct Aria2Seeder {
    // Declared before `dir` so the process is killed before its log is deleted.
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Aria2Seeder {
    /// Seeds `torrent_file` from `content_dir`, the directory that contains the
    /// torrent's top-level file or folder (aria2's `-d`), and waits until the
    /// peer port accepts connections.
    ///
    /// The content must already be complete: it is served without re-hashing.
    pub async fn start(torrent_file: &Path, content_dir: &Path) -> Aria2Seeder {
        Self::start_with(torrent_file, content_dir, &[]).await
    }

    /// [`Aria2Seeder::start`] with more aria2c options (say, `--max-upload-limit=…`).
    pub async fn start_with(
        torrent_file: &Path,
        content_dir: &Path,
        extra: &[&str],
    ) -> Aria2Seeder {
        let program = require_tool("aria2c");
        let torrent_file = fs::canonicalize(torrent_file)
            .unwrap_or_else(|e| panic!("torrent {}: {e}", torrent_file.display()));
        let content_dir = fs::canonicalize(content_dir)
            .unwrap_or_else(|e| panic!("content dir {}: {e}", content_dir.display()));
        let dir = tempfile::tempdir().expect("tempdir for aria2c");
        let port = free_port();
        let log = dir.path().join("aria2c.log");
        let (stdout, stderr) = log_stdio(&log);
        let child = Command::new(program)
            .args([
                // A user's ~/.aria2/aria2.conf must not change the test's behaviour.
                "--no-conf=true",
                // Only loopback: no DHT, no multicast local peer discovery, no peer
                // exchange, no IPv6, and every socket bound to 127.0.0.1.
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--disable-ipv6=true",
                "--interface=127.0.0.1",
                "--bt-external-ip=127.0.0.1",
                &format!("--listen-port={port}"),
                // Seed forever, starting at once: trust the files on disk instead
                // of hashing them first.
                "--seed-ratio=0.0",
                "--bt-seed-unverified=true",
                "--check-integrity=false",
                // Re-announce every second instead of the tracker's ~30 minutes,
                // so an announce that fails is retried quickly.
                "--bt-tracker-interval=1",
                "--bt-tracker-connect-timeout=5",
                "--bt-tracker-timeout=5",
                // If the test process dies without running Drop (SIGKILL, abort),
                // aria2 notices and exits instead of lingering.
                &format!("--stop-with-process={}", std::process::id()),
                // Plain, event-only log output for failure messages.
                "--enable-color=false",
                "--summary-interval=0",
                "--show-console-readout=false",
                "--console-log-level=notice",
            ])
            .args(extra)
            .arg("-d")
            .arg(&content_dir)
            .arg(&torrent_file)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn aria2c");
        let mut seeder = Aria2Seeder { child, port, dir };
        let addr = seeder.peer_addr();
        let log = seeder.log_path();
        let child = &mut seeder.child;
        wait_until("aria2c to listen for peers", READY_TIMEOUT, || {
            let running = ensure_running(child, "aria2c", &log);
            async move {
                running?;
                tcp_accepts(addr).await
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\naria2c output:\n{}", read_log(&log)));
        seeder
    }

    /// Where peers reach this seeder: `127.0.0.1:PORT`.
    pub fn peer_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Everything aria2c printed so far, for failure messages.
    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("aria2c.log")
    }
}

impl Aria2Seeder {
    /// Stops aria2c the way a user's Ctrl-C does (SIGINT, its graceful shutdown), so it
    /// sends its last announce (`event=stopped`, with its final counters) before it
    /// exits.
    pub async fn stop(mut self) {
        let log = self.log_path();
        let stopped = signal_and_wait(&mut self.child, "aria2c", "INT", Duration::from_secs(30));
        if let Err(e) = stopped.await {
            panic!("{e}\naria2c output:\n{}", read_log(&log));
        }
    }
}

impl Drop for Aria2Seeder {
    fn drop(&mut self) {
        // kill_on_drop would do this too; being explicit keeps the order obvious.
        let _ = self.child.start_kill();
    }
}
