//! Event pipeline benchmark: how many events per second the real server delivers
//! through Socket.IO fan-out and through the Kafka relay, and how many it loses.
//!
//! ```text
//! cargo run --release --example bench_events -- [OPTIONS]
//! scripts/bench-events.sh [OPTIONS]        (builds, checks the tools, runs this)
//! ```
//!
//! Everything runs on 127.0.0.1 in temp dirs removed at the end:
//! - the real server, embedded through the library (`App::build` + `App::run`, as the
//!   integration tests do), with a regular user who adds `--torrents` paused magnets
//!   (random info hashes) through the REST API;
//! - **Socket.IO fan-out**, for each `--clients` size N: `node tests/js/fanout.mjs`
//!   opens N websocket clients of the official `socket.io-client`, each logged in as
//!   that user and subscribed to every torrent in its handshake; once all N are
//!   authenticated this program is the event source: it emits `torrent:progress`
//!   events straight into the server's bus (`Bus::emit`, one commit per round as the engine writes one per tick), one per
//!   torrent per round, `--per-torrent` rounds, as fast as possible or at `--rate`.
//!   The node side counts distinct events (by `id`) per client until each has all of
//!   them (bounded by `--wait`); with `--batch true` the clients ask for `events`
//!   batches (`auth.batch`) and count each event of an array;
//! - **Kafka**: a private `tansu` broker (memory storage), a second server with
//!   `KAFKA_BROKERS` set, a consumer group of its own reading the topic from the
//!   earliest offset; `--kafka-events` events are emitted into the bus and timed until
//!   the consumer has read every one of them (distinct `id`s).
//!
//! Figures (one table on stdout, details below it):
//! - `events`: distinct events emitted per run; `deliveries`: events x clients;
//! - `received`: distinct events (by `id`) the clients got, summed over clients;
//! - `lost`: deliveries minus received; must be 0, else the exit status is 1 (so is
//!   any `resync`, duplicate or out-of-order event);
//! - `seconds`: first emit to the last new event received by any client (for Kafka:
//!   by the consumer); `deliv/s` = received / seconds; `ev/s/client` = that / clients;
//! - latency: receipt time minus the envelope's `ts` (same machine, same clock): in a
//!   burst it is mostly the time an event waited behind the ones before it;
//! - CPU s: user+system seconds during the run of this process (server and source;
//!   for Kafka also the consumer) and of the client processes (for Kafka: the broker).
//!   Everything shares the machine's cores: when the clients use more CPU than the
//!   server, the figure says as much about the clients as about the server.
//!
//! The default bursts (4,000 events at most) fit in the bus's live channel (4096
//! events, `Bus::new`): a socket that falls further behind than that is dropped
//! events by design and told `resync`, which this benchmark counts as loss. Larger
//! bursts measure that limit, not a defect; `--rate` paces the source instead.
//!
//! Options: `--torrents N` (100), `--clients LIST` (1,100,1000), `--per-torrent LIST`
//! (rounds of one event per torrent, one value per size or one for all: 40,40,10),
//! `--rate EV_PER_S` (0 = as fast as possible), `--client-procs K` (node processes
//! the clients are spread over; default one per core), `--kafka-events M` (100000;
//! 0 skips Kafka), `--wait S` (60: bound on each wait for deliveries), `--node PATH`,
//! `--tansu PATH`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, Producer as _};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use torrentedge::InfoHash;
use torrentedge::app::App;
use torrentedge::config::Config;
use torrentedge::events::payload::Progress;
use torrentedge::events::{Bus, Draft, Event};
use torrentedge::view::{PeerCounts, TorrentState};

const USAGE: &str = "usage: bench_events [--torrents N] [--clients 1,100,1000] \
[--per-torrent 40,40,10] [--rate EV_PER_S] [--client-procs K] [--batch true|false] [--kafka-events M] [--wait S] [--node PATH] [--tansu PATH]";

struct Opts {
    torrents: usize,
    clients: Vec<usize>,
    per_torrent: Vec<usize>,
    rate: f64,
    kafka_events: usize,
    client_procs: usize,
    /// Clients ask for `events` batches (`auth.batch`).
    batch: bool,
    wait: Duration,
    node: String,
    tansu: String,
}

fn parse_list(s: &str) -> anyhow::Result<Vec<usize>> {
    let list = s
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{s:?} is not a comma-separated list of whole numbers"))?;
    ensure!(!list.is_empty(), "empty list");
    Ok(list)
}

fn parse_opts() -> anyhow::Result<Opts> {
    let mut o = Opts {
        torrents: 100,
        clients: vec![1, 100, 1000],
        per_torrent: vec![40, 40, 10],
        rate: 0.0,
        kafka_events: 100_000,
        // One client process per core: a single node process is the bottleneck long
        // before the server is.
        client_procs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        batch: false,
        wait: Duration::from_secs(60),
        node: "node".into(),
        tansu: "tansu".into(),
    };
    let mut per_torrent_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = || format!("{flag}: cannot use {value:?}");
        match flag.as_str() {
            "--torrents" => o.torrents = value.parse().with_context(bad)?,
            "--clients" => o.clients = parse_list(&value).with_context(bad)?,
            "--per-torrent" => {
                o.per_torrent = parse_list(&value).with_context(bad)?;
                per_torrent_given = true;
            }
            "--rate" => o.rate = value.parse().with_context(bad)?,
            "--kafka-events" => o.kafka_events = value.parse().with_context(bad)?,
            "--client-procs" => o.client_procs = value.parse().with_context(bad)?,
            "--batch" => o.batch = value.parse().with_context(bad)?,
            "--wait" => o.wait = Duration::from_secs(value.parse().with_context(bad)?),
            "--node" => o.node = value,
            "--tansu" => o.tansu = value,
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    ensure!(o.torrents >= 1, "--torrents must be at least 1");
    ensure!(o.client_procs >= 1, "--client-procs must be at least 1");
    ensure!(o.clients.iter().all(|&n| n >= 1), "--clients must be >= 1");
    ensure!(o.rate.is_finite() && o.rate >= 0.0, "--rate must be >= 0");
    if o.per_torrent.len() == 1 {
        o.per_torrent = vec![o.per_torrent[0]; o.clients.len()];
    } else if o.per_torrent.len() != o.clients.len() {
        ensure!(
            !per_torrent_given,
            "--per-torrent needs one value, or one per --clients size"
        );
        // The default list fits the default sizes only; other sizes take its last value.
        let last = *o.per_torrent.last().expect("non-empty");
        o.per_torrent = o
            .clients
            .iter()
            .enumerate()
            .map(|(i, _)| o.per_torrent.get(i).copied().unwrap_or(last))
            .collect();
    }
    ensure!(
        o.per_torrent.iter().all(|&n| n >= 1),
        "--per-torrent must be >= 1"
    );
    Ok(o)
}

// --- clocks and processes ----------------------------------------------------------------

/// Wall clock, ms since the epoch (the clock of the envelopes' `ts`).
fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User+system CPU seconds of a process (`self` or a pid), from /proc.
fn proc_cpu(pid: &str, hz: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2 is "(comm)" and may hold spaces: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / hz)
}

/// Peak resident set of this process so far, MiB.
fn self_peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

// --- the server ----------------------------------------------------------------------------

/// The real server, in this process, with a user who owns `torrents` torrents.
struct Server {
    base: String,
    http: reqwest::Client,
    bus: Arc<Bus>,
    shutdown: CancellationToken,
    join: Option<JoinHandle<anyhow::Result<()>>>,
    /// The bench user's access token and id.
    token: String,
    /// The administrator's: health details (Kafka's backlog) are for administrators.
    admin_token: String,
    user_id: String,
    hashes: Vec<String>,
    _dir: TempDir,
}

impl Server {
    async fn start(torrents: usize, extra: &[(&str, String)]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("tempdir")?;
        let admin_password = random_hex(16);
        let mut vars: Vec<(String, String)> = [
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("PEER_HOST", "127.0.0.1"),
            ("PEER_PORT", "0"),
            ("ENABLE_DHT", "false"),
            ("ENABLE_LSD", "false"),
            ("ENABLE_TRACKERS", "false"),
            ("ACCESS_TOKEN_TTL", "86400"),
            ("SHUTDOWN_TIMEOUT", "20"),
            // The replay ring only: live delivery does not depend on it.
            ("EVENT_BUFFER", "20000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.push(("ADMIN_PASSWORD".into(), admin_password.clone()));
        vars.push((
            "DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        ));
        vars.push((
            "DOWNLOAD_PATH".into(),
            dir.path().join("downloads").display().to_string(),
        ));
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let app = App::build(Config::from_vars(vars)?).await?;
        let base = format!("http://{}", app.local_addr());
        let bus = app.bus();
        let shutdown = app.shutdown_token();
        let join = tokio::spawn(app.run());
        let mut s = Server {
            base,
            http: reqwest::Client::builder().no_proxy().build()?,
            bus,
            shutdown,
            join: Some(join),
            token: String::new(),
            admin_token: String::new(),
            user_id: String::new(),
            hashes: Vec::new(),
            _dir: dir,
        };
        let admin = s.login("admin", &admin_password).await?;
        s.admin_token = admin.clone();
        let password = random_hex(16);
        let user = s
            .call(
                reqwest::Method::POST,
                "/api/users",
                Some(&admin),
                Some(json!({ "username": "bench", "password": password })),
            )
            .await?;
        s.user_id = user["id"].as_str().context("user id")?.to_owned();
        s.token = s.login("bench", &password).await?;
        for i in 0..torrents {
            let magnet = format!("magnet:?xt=urn:btih:{}&dn=bench-{i}", random_hex(20));
            let t = s
                .call(
                    reqwest::Method::POST,
                    "/api/torrents",
                    Some(&s.token),
                    Some(json!({ "magnetURI": magnet, "paused": true })),
                )
                .await?;
            s.hashes
                .push(t["infoHash"].as_str().context("infoHash")?.to_owned());
        }
        // They are there and visible to their owner.
        let list = s
            .call(reqwest::Method::GET, "/api/torrents", Some(&s.token), None)
            .await?;
        let listed = list.as_array().map(Vec::len).unwrap_or(0);
        ensure!(
            listed == torrents,
            "the user sees {listed} torrents, added {torrents}"
        );
        Ok(s)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        ensure!(status.is_success(), "{method} {path}: {status}: {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn login(&self, user: &str, password: &str) -> anyhow::Result<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "username": user, "password": password })),
            )
            .await?;
        Ok(v["accessToken"].as_str().context("accessToken")?.to_owned())
    }

    /// `kafka` of `/api/health/ready`.
    async fn kafka_health(&self) -> anyhow::Result<Value> {
        let v = self
            .call(
                reqwest::Method::GET,
                "/api/health/ready",
                Some(&self.admin_token),
                None,
            )
            .await?;
        Ok(v["kafka"].clone())
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(j) = self.join.take() {
            match tokio::time::timeout(Duration::from_secs(30), j).await {
                Ok(r) => r.context("server task")??,
                Err(_) => bail!("the server did not stop within 30 s"),
            }
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

// --- the source ----------------------------------------------------------------------------

/// What a source run did: when the first event went out (epoch ms) and how long it took.
struct Emitted {
    count: usize,
    t0_ms: f64,
    took: Duration,
}

/// Emits `rounds` rounds of one `torrent:progress` per torrent, marked with `run`, into
/// the bus: as fast as possible (`rate` 0, yielding between rounds as an engine tick
/// would) or paced to `rate` events per second.
async fn emit(
    bus: &Arc<Bus>,
    hashes: &[String],
    owner: &str,
    run: &str,
    rounds: usize,
    rate: f64,
) -> Emitted {
    let parsed: Vec<InfoHash> = hashes
        .iter()
        .map(|h| h.parse().expect("the server's info hashes parse"))
        .collect();
    let t0_ms = epoch_ms();
    let start = Instant::now();
    let total_bytes: u64 = 1 << 30;
    let mut n: u64 = 0;
    for round in 0..rounds {
        if rate > 0.0 {
            let due = Duration::from_secs_f64(n as f64 / rate);
            tokio::time::sleep_until((start + due).into()).await;
        }
        let done = (round as u64 + 1) * total_bytes / rounds as u64;
        // One commit per round, as the engine writes one per tick.
        let mut drafts = Vec::with_capacity(hashes.len());
        for hash in &parsed {
            // The engine's progress payload; the name carries the run's marker.
            let progress = Progress {
                name: Some(format!("bench-{run}-{n}")),
                state: TorrentState::Downloading,
                percentage: done as f64 * 100.0 / total_bytes as f64,
                completed_bytes: done,
                total_bytes,
                download_speed: 10_485_760,
                upload_speed: 1_048_576,
                peers: PeerCounts {
                    connected: 12,
                    total: 40,
                },
                eta: Some(97),
                downloaded: done,
                uploaded: done / 10,
                ratio: 0.1,
                queue_position: None,
            };
            drafts.push(Draft::torrent(hash, owner, Event::Progress(progress)));
            n += 1;
        }
        bus.emit(drafts).await.expect("writing the events");
        tokio::task::yield_now().await;
    }
    Emitted {
        count: n as usize,
        t0_ms,
        took: start.elapsed(),
    }
}

// --- Socket.IO fan-out ---------------------------------------------------------------------

struct FanoutRow {
    clients: usize,
    procs: usize,
    events: usize,
    emit_s: f64,
    connect_ms: u64,
    received: u64,
    lost: i64,
    seconds: f64,
    min_per_client: u64,
    max_per_client: u64,
    resyncs: u64,
    duplicates: u64,
    out_of_order: u64,
    p50_ms: Option<u64>,
    p99_ms: Option<u64>,
    max_ms: Option<u64>,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
    server_peak_rss: Option<f64>,
    end: String,
}

/// The node client process and its stdio.
struct Node {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Node {
    fn spawn(node: &str) -> anyhow::Result<Self> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/fanout.mjs");
        let mut child = Command::new(node)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {node} {}", script.display()))?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        Ok(Self {
            child,
            stdin,
            lines,
        })
    }

    async fn send(&mut self, v: &Value) -> anyhow::Result<()> {
        let mut line = v.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// The next message carrying `key`, within `limit`; fails on an `error` message.
    async fn expect(&mut self, key: &str, limit: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .with_context(|| format!("no {key:?} from the node client within {limit:?}"))??
                .with_context(|| format!("the node client exited before {key:?}"))?;
            let v: Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(_) => {
                    eprintln!("node: {line}");
                    continue;
                }
            };
            if let Some(e) = v.get("error") {
                bail!("node client: {e}");
            }
            if let Some(x) = v.get(key) {
                return Ok(x.clone());
            }
        }
    }

    async fn quit(mut self) {
        let _ = self.send(&json!("quit")).await;
        drop(self.stdin);
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                let _ = self.child.kill().await;
            }
        }
    }
}

/// Percentile `p` (0-100) of a latency histogram ([ms] -> count).
fn percentile(hist: &std::collections::BTreeMap<u64, u64>, p: f64) -> Option<u64> {
    let total: u64 = hist.values().sum();
    if total == 0 {
        return None;
    }
    let rank = ((p / 100.0 * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    hist.iter().find_map(|(&ms, &n)| {
        seen += n;
        (seen >= rank).then_some(ms)
    })
}

async fn fanout(
    server: &Server,
    opts: &Opts,
    clients: usize,
    rounds: usize,
    hz: f64,
) -> anyhow::Result<FanoutRow> {
    let run = format!("fanout-{clients}-{}", random_hex(4));
    let expected = rounds * server.hashes.len();
    let procs = opts.client_procs.min(clients);
    if opts.rate == 0.0 && expected > 4096 {
        eprintln!(
            "    note: a burst of {expected} events is more than the bus's live channel holds (4096): slow sockets lose events by design"
        );
    }
    eprintln!(
        "==> Socket.IO: {clients} client(s) in {procs} node process(es), {expected} events ({rounds} per torrent x {})",
        server.hashes.len()
    );
    let connect_timeout = Duration::from_secs(120);
    let mut nodes = Vec::with_capacity(procs);
    for p in 0..procs {
        let mut node = Node::spawn(&opts.node)?;
        let share = clients / procs + usize::from(p < clients % procs);
        node.send(&json!({
            "url": server.base,
            "token": server.token,
            "subscriptions": server.hashes,
            "clients": share,
            "run": run,
            "expected": expected,
            "transport": "websocket",
            "batch": opts.batch,
            "connectTimeoutMs": connect_timeout.as_millis() as u64,
        }))
        .await?;
        nodes.push(node);
    }
    let mut connect_ms = 0;
    for node in &mut nodes {
        let ready = node
            .expect("ready", connect_timeout + Duration::from_secs(10))
            .await?;
        connect_ms = connect_ms.max(ready["connectMs"].as_u64().unwrap_or(0));
    }
    // Let the last sockets' forwarding tasks settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let pids: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.child.id().map(|p| p.to_string()))
        .collect();
    let clients_cpu = || -> Option<f64> { pids.iter().map(|p| proc_cpu(p, hz)).sum() };
    let cpu0 = proc_cpu("self", hz);
    let ccpu0 = clients_cpu();
    let emitted = emit(
        &server.bus,
        &server.hashes,
        &server.user_id,
        &run,
        rounds,
        opts.rate,
    )
    .await;
    ensure!(emitted.count == expected, "emitted {}", emitted.count);
    let idle = Duration::from_secs(10).min(opts.wait);
    let done = json!({ "done": {
        "t0": emitted.t0_ms,
        "waitMs": opts.wait.as_millis() as u64,
        "idleMs": idle.as_millis() as u64,
    }});
    for node in &mut nodes {
        node.send(&done).await?;
    }
    let mut results = Vec::with_capacity(procs);
    for node in &mut nodes {
        results.push(
            node.expect("result", opts.wait + Duration::from_secs(30))
                .await?,
        );
    }
    let cpu1 = proc_cpu("self", hz);
    let ccpu1 = clients_cpu();
    for node in nodes {
        node.quit().await;
    }

    let sum = |k: &str| {
        results
            .iter()
            .map(|r| r[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let mut hist = std::collections::BTreeMap::new();
    for r in &results {
        for pair in r["latencyHist"].as_array().into_iter().flatten() {
            let (ms, n) = (pair[0].as_u64().unwrap_or(0), pair[1].as_u64().unwrap_or(0));
            *hist.entry(ms).or_insert(0) += n;
        }
    }
    let mut ends: Vec<&str> = results
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("?"))
        .collect();
    ends.dedup();
    let received = sum("received");
    Ok(FanoutRow {
        clients,
        procs,
        events: expected,
        emit_s: emitted.took.as_secs_f64(),
        connect_ms,
        received,
        lost: (expected * clients) as i64 - received as i64,
        // The last new event anywhere.
        seconds: results
            .iter()
            .filter_map(|r| r["seconds"].as_f64())
            .fold(f64::NAN, f64::max),
        min_per_client: results
            .iter()
            .map(|r| r["minPerClient"].as_u64().unwrap_or(0))
            .min()
            .unwrap_or(0),
        max_per_client: results
            .iter()
            .map(|r| r["maxPerClient"].as_u64().unwrap_or(0))
            .max()
            .unwrap_or(0),
        resyncs: sum("resyncs"),
        duplicates: sum("duplicates"),
        out_of_order: sum("outOfOrder"),
        p50_ms: percentile(&hist, 50.0),
        p99_ms: percentile(&hist, 99.0),
        max_ms: percentile(&hist, 100.0),
        server_cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
        client_cpu: ccpu0.zip(ccpu1).map(|(a, b)| b - a),
        server_peak_rss: self_peak_rss_mib(),
        end: ends.join("+"),
    })
}

// --- Kafka ---------------------------------------------------------------------------------

struct Tansu {
    // Declared first: the process dies before its directory is removed.
    child: Child,
    brokers: String,
    dir: TempDir,
}

impl Tansu {
    async fn start(program: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("tansu.log"))?;
        let child = Command::new(program)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(dir.path())
            // tansu reads options from the environment too: nothing inherited.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("starting {program} (scripts/test.sh installs it: cargo install tansu)")
            })?;
        let mut t = Tansu {
            child,
            brokers: format!("127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = t.child.try_wait()? {
                bail!("tansu exited with {status}:\n{}", t.log());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
                && metadata(t.brokers.clone()).await.is_ok()
            {
                return Ok(t);
            }
            ensure!(
                Instant::now() < deadline,
                "tansu not ready in 30 s:\n{}",
                t.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }
}

async fn metadata(brokers: String) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        let client: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()?;
        client
            .client()
            .fetch_metadata(None, Duration::from_secs(2))?;
        anyhow::Ok(())
    })
    .await?
}

struct KafkaRow {
    events: usize,
    emit_s: f64,
    relayed_s: Option<f64>,
    consumed_s: Option<f64>,
    received: usize,
    lost: i64,
    duplicates: u64,
    backlog_end: Option<u64>,
    latency: [Option<u64>; 3],
    server_cpu: Option<f64>,
    broker_cpu: Option<f64>,
}

/// What the consumer has read of one run.
#[derive(Default)]
struct Consumed {
    ids: HashSet<String>,
    duplicates: u64,
    /// When the last new id arrived.
    last_new: Option<Instant>,
    /// Receipt time minus the envelope's `ts`: ms -> count.
    latency: std::collections::BTreeMap<u64, u64>,
}

/// Polls `cond` every `every` until it yields, at most `limit`.
async fn poll<T, F, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut cond: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = cond().await? {
            return Ok(v);
        }
        ensure!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

async fn kafka(opts: &Opts, hz: f64) -> anyhow::Result<KafkaRow> {
    let m = opts.kafka_events;
    let rounds = m.div_ceil(opts.torrents);
    let m = rounds * opts.torrents;
    eprintln!(
        "==> Kafka: tansu (memory storage), {m} events ({rounds} per torrent x {})",
        opts.torrents
    );
    let broker = Tansu::start(&opts.tansu).await?;
    let topic = format!("bench-events-{}", random_hex(4));
    let server = Server::start(
        opts.torrents,
        &[
            ("KAFKA_BROKERS", broker.brokers.clone()),
            ("KAFKA_TOPIC", topic.clone()),
        ],
    )
    .await?;
    // The sink is up, its topic exists and the torrents' own events are relayed.
    let base = poll(
        "the Kafka sink to be up with an empty outbox",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            let k = server.kafka_health().await?;
            let ready = k["state"] == "up" && k["topicReady"] == true && k["backlog"] == 0;
            Ok(ready.then(|| k["delivered"].as_u64().unwrap_or(0)))
        },
    )
    .await?;

    let run = format!("kafka-{}", random_hex(4));
    let consumer: Arc<StreamConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &broker.brokers)
            .set("group.id", format!("bench-{run}"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()?,
    );
    consumer.subscribe(&[&topic])?;
    let consumed = Arc::new(Mutex::new(Consumed::default()));
    let reader = {
        let (consumer, consumed, run) = (consumer.clone(), consumed.clone(), run.clone());
        tokio::spawn(async move {
            loop {
                let msg = match consumer.recv().await {
                    Ok(msg) => msg,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(Ok(v)) = msg.payload().map(serde_json::from_slice::<Value>) else {
                    continue;
                };
                let marker = format!("bench-{run}-");
                if !v["name"].as_str().is_some_and(|n| n.starts_with(&marker)) {
                    continue;
                }
                let id = v["id"].as_str().unwrap_or_default().to_owned();
                let lat = (epoch_ms() - v["ts"].as_f64().unwrap_or(0.0)).max(0.0) as u64;
                let mut c = consumed.lock().unwrap_or_else(|p| p.into_inner());
                if c.ids.insert(id) {
                    c.last_new = Some(Instant::now());
                    *c.latency.entry(lat).or_insert(0) += 1;
                } else {
                    c.duplicates += 1;
                }
            }
        })
    };
    // The group has its partitions before the clock starts.
    poll(
        "the consumer group to be assigned the topic's partitions",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async { Ok((consumer.assignment()?.count() > 0).then_some(())) },
    )
    .await?;

    let broker_pid = broker.child.id().map(|p| p.to_string());
    let broker_cpu = || broker_pid.as_deref().and_then(|p| proc_cpu(p, hz));
    let cpu0 = proc_cpu("self", hz);
    let bcpu0 = broker_cpu();
    let start = Instant::now();
    let emitted = emit(
        &server.bus,
        &server.hashes,
        &server.user_id,
        &run,
        rounds,
        opts.rate,
    )
    .await;
    // Relayed: the outbox is empty again and the broker acknowledged at least M more.
    let relayed = poll(
        "the outbox to drain",
        opts.wait.max(Duration::from_secs(120)),
        Duration::from_millis(50),
        || async {
            let k = server.kafka_health().await?;
            let done = k["backlog"] == 0
                && k["delivered"].as_u64().unwrap_or(0) >= base + emitted.count as u64;
            Ok(done.then(|| start.elapsed()))
        },
    )
    .await
    .map_err(|e| eprintln!("    {e:#}"))
    .ok();
    // Consumed: every id read, or nothing new for a while.
    let limit = Instant::now() + opts.wait.max(Duration::from_secs(120));
    loop {
        let (n, last_new) = {
            let c = consumed.lock().unwrap_or_else(|p| p.into_inner());
            (c.ids.len(), c.last_new)
        };
        let stalled = last_new.unwrap_or(start).elapsed() > Duration::from_secs(20);
        if n >= emitted.count || stalled || Instant::now() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu1 = proc_cpu("self", hz);
    let bcpu1 = broker_cpu();
    reader.abort();
    let (received, consumed_s, duplicates, latency) = {
        let c = consumed.lock().unwrap_or_else(|p| p.into_inner());
        let received = c.ids.len();
        let consumed_s = (received >= emitted.count)
            .then(|| c.last_new.map(|t| (t - start).as_secs_f64()))
            .flatten();
        let latency = [50.0, 99.0, 100.0].map(|p| percentile(&c.latency, p));
        (received, consumed_s, c.duplicates, latency)
    };
    let backlog_end = server.kafka_health().await?["backlog"].as_u64();
    server.stop().await?;
    drop(consumer);
    drop(broker);
    Ok(KafkaRow {
        events: emitted.count,
        emit_s: emitted.took.as_secs_f64(),
        relayed_s: relayed.map(|d| d.as_secs_f64()),
        consumed_s,
        received,
        lost: emitted.count as i64 - received as i64,
        duplicates,
        backlog_end,
        latency,
        server_cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
        broker_cpu: bcpu0.zip(bcpu1).map(|(a, b)| b - a),
    })
}

// --- main ----------------------------------------------------------------------------------

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn opt_f(v: Option<f64>, decimals: usize) -> String {
    v.map(|v| format!("{v:.decimals$}"))
        .unwrap_or_else(|| "-".into())
}

/// One line of the result table (a Socket.IO size, or Kafka).
struct TableRow {
    name: String,
    /// Receivers of every event (Socket.IO clients; the one Kafka consumer group).
    clients: usize,
    events: usize,
    received: u64,
    lost: i64,
    /// First emit to the last new event received.
    seconds: Option<f64>,
    /// p50, p99, max of receipt time minus the envelope's `ts`, ms.
    latency: [Option<u64>; 3],
    server_cpu: Option<f64>,
    other_cpu: Option<f64>,
}

fn print_table(rows: &[TableRow]) {
    let line = |c: [&str; 11]| {
        println!(
            "{:<15} {:>7} {:>7} {:>10} {:>10} {:>5} {:>7} {:>10} {:>11} {:>16} {:>15}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10]
        )
    };
    line([
        "sink",
        "clients",
        "events",
        "deliveries",
        "received",
        "lost",
        "seconds",
        "deliv/s",
        "ev/s/client",
        "latency ms",
        "CPU s srv/cli",
    ]);
    line([
        "",
        "",
        "",
        "expected",
        "distinct",
        "",
        "",
        "",
        "",
        "p50/p99/max",
        "",
    ]);
    for r in rows {
        let per_s = r.seconds.map(|s| r.received as f64 / s);
        let per_client = r.seconds.map(|s| r.received as f64 / r.clients as f64 / s);
        let [p50, p99, max] = r.latency;
        line([
            &r.name,
            &r.clients.to_string(),
            &r.events.to_string(),
            &(r.events * r.clients).to_string(),
            &r.received.to_string(),
            &r.lost.to_string(),
            &opt_f(r.seconds, 3),
            &opt_f(per_s, 0),
            &opt_f(per_client, 0),
            &format!("{}/{}/{}", opt(p50), opt(p99), opt(max)),
            &format!("{}/{}", opt_f(r.server_cpu, 2), opt_f(r.other_cpu, 2)),
        ]);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,librqbit=error,librqbit_dht=error".into()),
        )
        .init();
    let opts = parse_opts()?;
    // The embedded server handles SIGINT/SIGTERM itself (a graceful stop of that
    // server): stop the whole benchmark too. Dropping the run kills the node clients
    // and the broker (kill_on_drop) before the exit.
    let outcome = tokio::select! {
        ok = run(&opts) => Ok(ok?),
        code = signalled() => Err(code),
    };
    match outcome {
        Ok(true) => Ok(()),
        Ok(false) => std::process::exit(1),
        Err(code) => {
            eprintln!("stopped by a signal");
            std::process::exit(code)
        }
    }
}

/// Waits for SIGINT or SIGTERM; returns the conventional exit status.
async fn signalled() -> i32 {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => 130,
        _ = term.recv() => 143,
    }
}

/// Runs every case and prints the table; false if anything was lost or failed.
async fn run(opts: &Opts) -> anyhow::Result<bool> {
    let hz = clk_tck();
    let mut fan_rows = Vec::new();
    let mut failures = Vec::new();

    if !opts.clients.is_empty() {
        eprintln!(
            "==> starting the server with {} paused torrents",
            opts.torrents
        );
        let server = Server::start(opts.torrents, &[]).await?;
        for (i, &n) in opts.clients.iter().enumerate() {
            match fanout(&server, opts, n, opts.per_torrent[i], hz).await {
                Ok(row) => fan_rows.push(row),
                Err(e) => failures.push(format!("Socket.IO x{n}: {e:#}")),
            }
        }
        server.stop().await?;
    }
    let kafka_row = if opts.kafka_events > 0 {
        match kafka(opts, hz).await {
            Ok(row) => Some(row),
            Err(e) => {
                failures.push(format!("Kafka: {e:#}"));
                None
            }
        }
    } else {
        None
    };

    let rate = if opts.rate > 0.0 {
        format!("paced at {} events/s", opts.rate)
    } else {
        "as fast as possible".into()
    };
    let mut table = Vec::new();
    let mut notes = Vec::new();
    for r in &fan_rows {
        table.push(TableRow {
            name: format!("Socket.IO x{}", r.clients),
            clients: r.clients,
            events: r.events,
            received: r.received,
            lost: r.lost,
            seconds: Some(r.seconds),
            latency: [r.p50_ms, r.p99_ms, r.max_ms],
            server_cpu: r.server_cpu,
            other_cpu: r.client_cpu,
        });
        notes.push(format!(
            "Socket.IO x{}: {} clients in {} node process(es), authenticated in {} ms; emitted in {:.3} s; per client min/max {}/{}; end: {}; resyncs {}, duplicates {}, out of order {}; server peak RSS so far {} MiB",
            r.clients,
            r.clients,
            r.procs,
            r.connect_ms,
            r.emit_s,
            r.min_per_client,
            r.max_per_client,
            r.end,
            r.resyncs,
            r.duplicates,
            r.out_of_order,
            opt_f(r.server_peak_rss, 0),
        ));
        if r.lost != 0 || r.resyncs != 0 || r.duplicates != 0 || r.out_of_order != 0 {
            failures.push(format!(
                "Socket.IO x{}: lost {}, resyncs {}, duplicates {}, out of order {}",
                r.clients, r.lost, r.resyncs, r.duplicates, r.out_of_order
            ));
        }
    }
    if let Some(k) = &kafka_row {
        table.push(TableRow {
            name: "Kafka (tansu)".into(),
            clients: 1,
            events: k.events,
            received: k.received as u64,
            lost: k.lost,
            seconds: k.consumed_s,
            latency: k.latency,
            server_cpu: k.server_cpu,
            other_cpu: k.broker_cpu,
        });
        notes.push(format!(
            "Kafka: emitted in {:.3} s; outbox empty with every event acknowledged after {} s; consumer had every id after {} s; duplicates read {}; outbox backlog at the end {}; broker CPU in the client column, the consumer runs in this process",
            k.emit_s,
            opt_f(k.relayed_s, 3),
            opt_f(k.consumed_s, 3),
            k.duplicates,
            opt(k.backlog_end),
        ));
        if k.lost != 0 || k.backlog_end != Some(0) {
            failures.push(format!(
                "Kafka: lost {}, backlog at the end {}",
                k.lost,
                opt(k.backlog_end)
            ));
        }
    }
    println!();
    println!(
        "Event pipeline: {} torrents; torrent:progress events emitted into the server's bus {rate}",
        opts.torrents
    );
    print_table(&table);
    println!();
    for n in &notes {
        println!("  {n}");
    }
    if !failures.is_empty() {
        println!();
        for f in &failures {
            println!("FAILED {f}");
        }
    }
    Ok(failures.is_empty())
}
