//! Tracker benchmark: the load generator. Announces from simulated peers to the
//! built-in tracker (the release server, `TRACKER_MODE=open`) and to Debian's
//! opentracker, both already running on 127.0.0.1 (`scripts/bench-tracker.sh` starts
//! them), over UDP (BEP 15) and HTTP, one phase at a time:
//!
//! - **peers**: `--torrents` × `--peers` simulated peers (distinct peer ids and ports,
//!   one in five a seeder), spread over the client sockets/connections in turn;
//! - **UDP**: `--udp-sockets` client sockets, each connecting once and then
//!   announcing with one request in flight, until `--udp` announces in all or
//!   `--seconds` have passed;
//! - **HTTP**: `--http-conns` keep-alive connections (opened again when the server
//!   closes one: opentracker closes after every answer), until `--http` announces or
//!   `--seconds`;
//! - every announce asks for `--numwant` compact peers; an answer that is not a
//!   peer list (an error packet, a `failure reason`) or does not come within 1 s is
//!   counted, not timed.
//!
//! Prints, per tracker and protocol: announces, announces/s, latency p50/p99 (send to
//! answer, as a client sees it), the peers an answer carried on average, errors and
//! losses, connections opened, the tracker's CPU seconds over the phase (and per
//! announce) and this generator's, then both trackers' resident memory at the end.
//! On a 2-core machine the generator competes with the tracker for the CPU: the
//! rates compare the trackers under the same load more than they measure a maximum.
//!
//! ```text
//! bench_tracker hashes N          # the info hashes, hex, one a line (the whitelist)
//! bench_tracker --te-http ADDR --te-udp ADDR --te-pid PID \
//!     --ot-http ADDR --ot-udp ADDR --ot-pid PID [--torrents 1000] [--peers 50] \
//!     [--udp 200000] [--http 50000] [--seconds 10] [--udp-sockets 16] \
//!     [--http-conns 8] [--numwant 50]
//! scripts/bench-tracker.sh [OPTIONS]   # builds, starts both trackers, runs this
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// The simulated peers: peer `i` is in torrent `i / peers`.
struct Sim {
    hashes: Vec<[u8; 20]>,
    peers: usize,
    numwant: u32,
}

struct Peer {
    hash: [u8; 20],
    id: [u8; 20],
    port: u16,
    left: u64,
}

impl Sim {
    fn len(&self) -> usize {
        self.hashes.len() * self.peers
    }

    fn peer(&self, i: usize) -> Peer {
        let mut id = *b"-BT0001-000000000000";
        id[8..].copy_from_slice(format!("{i:012}").as_bytes());
        Peer {
            hash: self.hashes[i / self.peers],
            id,
            port: 10_000 + (i % 50_000) as u16,
            left: if i.is_multiple_of(5) { 0 } else { 1 << 30 },
        }
    }
}

/// The same hashes on every run: the whitelist given to opentracker is made from them.
fn hashes(n: usize) -> Vec<[u8; 20]> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0074_7261_636b_6572);
    (0..n)
        .map(|_| {
            let mut h = [0; 20];
            rng.fill_bytes(&mut h);
            h
        })
        .collect()
}

/// What one client task saw.
#[derive(Default)]
struct Tally {
    micros: Vec<u32>,
    peers: u64,
    errors: u64,
    lost: u64,
    connections: u64,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.micros.extend(o.micros);
        self.peers += o.peers;
        self.errors += o.errors;
        self.lost += o.lost;
        self.connections += o.connections;
    }
}

/// Announces left in a phase; each client takes one at a time.
fn take(budget: &AtomicI64, deadline: Instant) -> bool {
    budget.fetch_sub(1, Ordering::Relaxed) > 0 && Instant::now() < deadline
}

// --- UDP -------------------------------------------------------------------------------

async fn udp_connect(sock: &UdpSocket) -> anyhow::Result<u64> {
    let mut buf = [0u8; 64];
    for attempt in 0..3u32 {
        let mut p = PROTOCOL_ID.to_be_bytes().to_vec();
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&attempt.to_be_bytes());
        sock.send(&p).await?;
        if let Ok(n) = tokio::time::timeout(ANSWER_TIMEOUT, sock.recv(&mut buf)).await {
            let n = n?;
            if n >= 16 && buf[..4] == [0, 0, 0, 0] && buf[4..8] == attempt.to_be_bytes() {
                return Ok(u64::from_be_bytes(buf[8..16].try_into()?));
            }
        }
    }
    bail!("no answer to a UDP connect")
}

async fn udp_client(
    server: SocketAddr,
    mine: Vec<usize>,
    sim: Arc<Sim>,
    budget: Arc<AtomicI64>,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    sock.connect(server).await?;
    let mut conn = udp_connect(&sock).await?;
    let mut t = Tally {
        connections: 1,
        ..Tally::default()
    };
    let (mut packet, mut buf) = (Vec::with_capacity(98), vec![0u8; 4096]);
    let mut txid = 0u32;
    for &i in mine.iter().cycle() {
        if !take(&budget, deadline) {
            break;
        }
        let p = sim.peer(i);
        txid = txid.wrapping_add(1);
        packet.clear();
        packet.extend_from_slice(&conn.to_be_bytes());
        packet.extend_from_slice(&1u32.to_be_bytes());
        packet.extend_from_slice(&txid.to_be_bytes());
        packet.extend_from_slice(&p.hash);
        packet.extend_from_slice(&p.id);
        packet.extend_from_slice(&0u64.to_be_bytes()); // downloaded
        packet.extend_from_slice(&p.left.to_be_bytes());
        packet.extend_from_slice(&0u64.to_be_bytes()); // uploaded
        packet.extend_from_slice(&0u32.to_be_bytes()); // event: none
        packet.extend_from_slice(&0u32.to_be_bytes()); // ip
        packet.extend_from_slice(&(i as u32).to_be_bytes()); // key
        packet.extend_from_slice(&sim.numwant.to_be_bytes());
        packet.extend_from_slice(&p.port.to_be_bytes());
        let start = Instant::now();
        sock.send(&packet).await?;
        // Answers to requests that timed out may still come: skip them.
        let answer = loop {
            match tokio::time::timeout(ANSWER_TIMEOUT, sock.recv(&mut buf)).await {
                Err(_) => break None,
                Ok(n) => {
                    let n = n?;
                    if n >= 8 && buf[4..8] == txid.to_be_bytes() {
                        break Some(n);
                    }
                }
            }
        };
        let Some(n) = answer else {
            t.lost += 1;
            continue;
        };
        if n >= 20 && buf[..4] == 1u32.to_be_bytes() {
            t.micros.push(start.elapsed().as_micros() as u32);
            t.peers += ((n - 20) / 6) as u64;
        } else {
            t.errors += 1;
            // An expired id (a phase longer than a minute or two): connect again.
            conn = udp_connect(&sock).await?;
            t.connections += 1;
        }
    }
    Ok(t)
}

// --- HTTP ------------------------------------------------------------------------------

fn escape(bytes: &[u8], out: &mut String) {
    use std::fmt::Write;
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// One HTTP/1.1 keep-alive connection, written by hand: a client library's own CPU
/// use would be taken from the trackers on a 2-core machine.
struct Http {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

struct Response {
    ok: bool,
    peers: u64,
}

impl Http {
    /// Sends `request`; on a connection the server has closed meanwhile (opentracker
    /// closes after every answer without saying so), once more on a new one.
    async fn send(&mut self, request: &[u8], t: &mut Tally) -> anyhow::Result<Response> {
        if let Some(s) = &self.stream {
            // Closed already (end of file waiting): do not write into it.
            if matches!(s.try_read(&mut [0u8; 1]), Ok(0)) {
                self.stream = None;
            }
        }
        let fresh = self.stream.is_none();
        match self.exchange(request, t).await {
            Ok(r) => Ok(r),
            Err(_) if !fresh => {
                self.stream = None;
                self.exchange(request, t).await
            }
            Err(e) => Err(e),
        }
    }

    async fn exchange(&mut self, request: &[u8], t: &mut Tally) -> anyhow::Result<Response> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            t.connections += 1;
        }
        let s = self.stream.as_mut().context("connected")?;
        s.write_all(request).await?;
        self.buf.clear();
        let (head_end, length, close) = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .context("an answer without content-length")?;
                let close = head.starts_with("http/1.0") || head.contains("connection: close");
                break (end + 4, length, close);
            }
            read_more(s, &mut self.buf).await?;
        };
        while self.buf.len() < head_end + length {
            read_more(s, &mut self.buf).await?;
        }
        if close {
            self.stream = None;
        }
        let body = &self.buf[head_end..head_end + length];
        let ok = self.buf.starts_with(b"HTTP/1.1 200") && body.first() == Some(&b'd');
        let ok = ok && find(body, b"failure reason").is_none();
        Ok(Response {
            ok,
            peers: compact_peers(body),
        })
    }
}

async fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = s.read(&mut chunk).await?;
    if n == 0 {
        bail!("connection closed");
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Peers in the answer's compact `peers` string.
fn compact_peers(body: &[u8]) -> u64 {
    let Some(at) = find(body, b"5:peers") else {
        return 0;
    };
    let rest = &body[at + 7..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let len: u64 = std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    len / 6
}

async fn http_client(
    server: SocketAddr,
    mine: Vec<usize>,
    sim: Arc<Sim>,
    budget: Arc<AtomicI64>,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let mut http = Http {
        addr: server,
        stream: None,
        buf: Vec::with_capacity(8192),
    };
    let mut t = Tally::default();
    let mut req = String::with_capacity(512);
    for &i in mine.iter().cycle() {
        if !take(&budget, deadline) {
            break;
        }
        let p = sim.peer(i);
        req.clear();
        req.push_str("GET /announce?info_hash=");
        escape(&p.hash, &mut req);
        req.push_str("&peer_id=");
        escape(&p.id, &mut req);
        req.push_str(&format!(
            "&port={}&uploaded=0&downloaded=0&left={}&compact=1&numwant={} HTTP/1.1\r\n\
             Host: {server}\r\n\r\n",
            p.port, p.left, sim.numwant
        ));
        let start = Instant::now();
        match tokio::time::timeout(ANSWER_TIMEOUT, http.send(req.as_bytes(), &mut t)).await {
            Ok(Ok(r)) if r.ok => {
                t.micros.push(start.elapsed().as_micros() as u32);
                t.peers += r.peers;
            }
            Ok(Ok(_)) | Ok(Err(_)) => {
                t.errors += 1;
                http.stream = None;
            }
            Err(_) => {
                t.lost += 1;
                http.stream = None;
            }
        }
    }
    Ok(t)
}

// --- phases and figures ----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Udp,
    Http,
}

struct Target {
    name: &'static str,
    http: SocketAddr,
    udp: SocketAddr,
    pid: u32,
}

/// User+system CPU seconds of a process, all its threads.
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Field 2 is in parentheses and may hold spaces; utime and stime are 14 and 15.
    let after = stat.rsplit_once(") ").context("a stat line")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / hz)
}

fn status_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} of process {pid}"))?;
    Ok(kb / 1024.0)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn phase(
    target: &Target,
    proto: Proto,
    sim: &Arc<Sim>,
    count: u64,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<()> {
    let budget = Arc::new(AtomicI64::new(count as i64));
    let (cpu0, me0) = (cpu_seconds(&target.pid.to_string())?, cpu_seconds("self")?);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mine: Vec<usize> = (c..sim.len()).step_by(clients).collect();
        let (sim, budget) = (sim.clone(), budget.clone());
        tasks.push(match proto {
            Proto::Udp => tokio::spawn(udp_client(target.udp, mine, sim, budget, deadline)),
            Proto::Http => tokio::spawn(http_client(target.http, mine, sim, budget, deadline)),
        });
    }
    let mut t = Tally::default();
    for task in tasks {
        t.merge(task.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(&target.pid.to_string())? - cpu0;
    let me = cpu_seconds("self")? - me0;
    t.micros.sort_unstable();
    let n = t.micros.len() as f64;
    println!(
        "{:<12} {:<5} {:>9} {:>7.2} {:>11.0} {:>7} {:>7} {:>6.1} {:>6} {:>5} {:>6} {:>7.2} {:>8.1} {:>7.2}",
        target.name,
        if proto == Proto::Udp { "udp" } else { "http" },
        t.micros.len(),
        secs,
        n / secs,
        percentile(&t.micros, 0.50),
        percentile(&t.micros, 0.99),
        t.peers as f64 / n.max(1.0),
        t.errors,
        t.lost,
        t.connections,
        cpu,
        cpu * 1e6 / n.max(1.0),
        me,
    );
    Ok(())
}

struct Args(HashMap<String, String>);

impl Args {
    const KNOWN: [&str; 14] = [
        "--te-http",
        "--te-udp",
        "--te-pid",
        "--ot-http",
        "--ot-udp",
        "--ot-pid",
        "--torrents",
        "--peers",
        "--udp",
        "--http",
        "--seconds",
        "--udp-sockets",
        "--http-conns",
        "--numwant",
    ];

    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        while let Some(flag) = args.next() {
            if !Self::KNOWN.contains(&flag.as_str()) {
                bail!("unknown option {flag}; known: {}", Self::KNOWN.join(" "));
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            map.insert(flag, value);
        }
        Ok(Self(map))
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(name) {
            Some(v) => v.parse().map_err(|e| anyhow::anyhow!("{name} {v}: {e}")),
            None => default.with_context(|| format!("{name} is required")),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("hashes") {
        let n: usize = argv.nth(1).context("hashes N")?.parse()?;
        for h in hashes(n) {
            println!("{}", hex::encode(h));
        }
        return Ok(());
    }
    let a = Args::parse(argv)?;
    let (torrents, peers): (usize, usize) = (
        a.get("--torrents", Some(1000))?,
        a.get("--peers", Some(50))?,
    );
    let sim = Arc::new(Sim {
        hashes: hashes(torrents),
        peers,
        numwant: a.get("--numwant", Some(50))?,
    });
    let targets = [
        Target {
            name: "torrentedge",
            http: a.get("--te-http", None)?,
            udp: a.get("--te-udp", None)?,
            pid: a.get("--te-pid", None)?,
        },
        Target {
            name: "opentracker",
            http: a.get("--ot-http", None)?,
            udp: a.get("--ot-udp", None)?,
            pid: a.get("--ot-pid", None)?,
        },
    ];
    let seconds = a.get("--seconds", Some(10))?;
    let plan = [
        (
            Proto::Udp,
            a.get("--udp", Some(200_000))?,
            a.get("--udp-sockets", Some(16))?,
        ),
        (
            Proto::Http,
            a.get("--http", Some(50_000))?,
            a.get("--http-conns", Some(8))?,
        ),
    ];
    println!(
        "{torrents} torrents x {peers} peers = {} simulated peers; numwant {}; each phase \
         stops at its count or after {seconds} s",
        sim.len(),
        sim.numwant
    );
    println!(
        "{:<12} {:<5} {:>9} {:>7} {:>11} {:>7} {:>7} {:>6} {:>6} {:>5} {:>6} {:>7} {:>8} {:>7}",
        "tracker",
        "proto",
        "announces",
        "secs",
        "announces/s",
        "p50_us",
        "p99_us",
        "peers",
        "errors",
        "lost",
        "conns",
        "cpu_s",
        "cpu_us/a",
        "gen_cpu"
    );
    for (proto, count, clients) in plan {
        for target in &targets {
            phase(target, proto, &sim, count, clients, seconds).await?;
        }
    }
    println!("resident memory at the end (MiB):");
    for t in &targets {
        println!(
            "  {:<12} VmRSS {:>7.1}  VmHWM {:>7.1}  RssAnon {:>7.1}",
            t.name,
            status_mib(t.pid, "VmRSS")?,
            status_mib(t.pid, "VmHWM")?,
            status_mib(t.pid, "RssAnon")?
        );
    }
    Ok(())
}
