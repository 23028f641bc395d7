//! Configuration: the only place that reads the environment (and `.env`).
//!
//! Every variable is documented in `.env.example`. Values are parsed once into typed
//! option structs handed to the modules; a malformed or out-of-range value is a startup
//! error naming the variable, never a silent default and never a panic later. Every
//! number has a documented range (in the field docs below and in `.env.example`).

use std::collections::HashMap;
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// A secret string. Never printed: `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

/// The whole server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address of the HTTP server (REST, Socket.IO, dashboard). `HOST`, `PORT`.
    pub http_addr: SocketAddr,
    /// Where the server keeps its database, generated secret and engine state. `DATA_DIR`.
    pub data_dir: PathBuf,
    pub engine: EngineConfig,
    pub auth: AuthConfig,
    /// How long shutdown may take before remaining tasks are abandoned. `SHUTDOWN_TIMEOUT`, 1 to 3600 s.
    pub shutdown_timeout: Duration,
    /// The server sits behind a reverse proxy that appends the client's address to
    /// `X-Forwarded-For`: use its last entry as the client (for login throttling).
    /// `TRUST_PROXY`. Never enable without a proxy: clients could then pick their address.
    pub trust_proxy: bool,
    /// Events kept in memory for clients that reconnect (`EVENT_BUFFER`, 1 to 1000000);
    /// a client that missed more is told to reload.
    pub event_buffer: usize,
    /// The Kafka sink; `None` (off) unless `KAFKA_BROKERS` is set.
    pub kafka: Option<KafkaConfig>,
    /// The MongoDB store's connection string (`MONGODB_URI`; database from its path,
    /// default `torrentedge`). `None`: the embedded SQLite store in `DATA_DIR`.
    pub mongodb_uri: Option<String>,
    /// The Redis cache and login limiter; `None`: in-process (see [`RedisConfig`]).
    pub redis: Option<RedisConfig>,
    /// Serve the dashboard from this folder (a `web/dist` build) instead of the one built
    /// into the binary (`WEB_DIR`, for development).
    pub web_dir: Option<PathBuf>,
    /// When set, `GET /metrics` takes `Authorization: Bearer <METRICS_TOKEN>`
    /// (`METRICS_TOKEN`, at least 16 characters); unset, it is open.
    pub metrics_token: Option<String>,
    /// The magnet-to-metadata service (`/api/v1/metadata`, `/download/{hash}`).
    pub metadata: MetadataConfig,
    /// The built-in tracker (`/announce`, `/scrape`, UDP).
    pub tracker: TrackerConfig,
}

/// The metadata service's options.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataConfig {
    /// Looked-up `.torrent` files and their JSON, kept across restarts. `CACHE_DIR`
    /// (default `DATA_DIR/cache`).
    pub cache_dir: PathBuf,
    /// How long a lookup waits for peers. `METADATA_TIMEOUT`, 1 to 3600 s (default 60).
    pub timeout: Duration,
    /// How long the shared cache (Redis or in process) keeps a lookup.
    /// `METADATA_CACHE_TTL`, 60 s to 30 days (default 86400: a day).
    pub cache_ttl: Duration,
    /// Serve looked-up `.torrent` files at `/download/{hash}`. `ENABLE_DOWNLOADS`
    /// (default false).
    pub enable_downloads: bool,
    /// What `download_url` starts with (`DOWNLOAD_BASE_URL`, e.g.
    /// `https://torrents.example.org`); unset, it is the path alone.
    pub download_base_url: Option<String>,
}

/// Where the shared cache lives: the login limiter, revoked tokens, cached metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// `REDIS_URL`, or built from `REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD` and
    /// `REDIS_DB`. Secret: it may hold the password.
    pub url: Secret,
    /// Put before every key (`REDIS_KEY_PREFIX`, default `torrentedge:`).
    pub key_prefix: String,
}

/// Options of the Kafka sink: every event, through the store's outbox, to one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` bootstrap list. `KAFKA_BROKERS`.
    pub brokers: String,
    /// Topic the events go to, created at start when missing. `KAFKA_TOPIC`.
    pub topic: String,
    /// Partitions and replication factor of a topic the sink creates.
    /// `KAFKA_PARTITIONS` (1 to 10000), `KAFKA_REPLICATION_FACTOR` (1 to 32).
    pub partitions: i32,
    pub replication_factor: i32,
    /// `client.id` the broker sees. `KAFKA_CLIENT_ID`.
    pub client_id: String,
    /// How long the producer keeps trying one message before the relay backs off and
    /// sends it again. `KAFKA_MESSAGE_TIMEOUT`, 1 to 3600 s.
    pub message_timeout: Duration,
}

/// Options of the torrent engine and its queue.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where torrent content is written. `DOWNLOAD_PATH`.
    pub download_path: PathBuf,
    /// Torrents downloading at once; the rest wait in the queue.
    /// `MAX_CONCURRENT_TORRENTS`, 1 to 10000.
    pub max_concurrent: usize,
    /// Peer connections per torrent. `MAX_PEER_CONNECTIONS`, 1 to 10000.
    pub max_peer_connections: usize,
    /// Global limits in bytes/s, 0 = unlimited, at most 4294967295.
    /// `DOWNLOAD_LIMIT`, `UPLOAD_LIMIT`.
    pub download_limit: u32,
    pub upload_limit: u32,
    /// Address peers connect to. `PEER_HOST`, `PEER_PORT` (0 to 65535; 0 = any free port).
    pub peer_listen: SocketAddr,
    /// Stop seeding once uploaded/size reaches this. `SEED_RATIO_LIMIT`, 0 to 10000
    /// (unset or 0 = never).
    pub seed_ratio_limit: Option<f64>,
    /// Stop seeding after this long. `SEED_TIME_LIMIT` in minutes, 0 to ten years
    /// (5256000; unset or 0 = never).
    pub seed_time_limit: Option<Duration>,
    /// Seed completed torrents at all. `SEEDING_ENABLED`; when false a torrent stops the
    /// moment it completes, as if a seeding limit had been reached.
    pub seeding_enabled: bool,
    /// Peer discovery switches. `ENABLE_DHT`, `ENABLE_PEX`, `ENABLE_LSD`.
    pub enable_dht: bool,
    pub enable_pex: bool,
    pub enable_lsd: bool,
    /// Talk to trackers at all. `ENABLE_TRACKERS`.
    pub enable_trackers: bool,
    /// Adding by http(s) URL: size cap and timeout of the fetch, and whether loopback and
    /// private addresses may be fetched (link-local ones never are).
    /// `TORRENT_URL_MAX_BYTES` (1 KiB to 100 MiB), `TORRENT_URL_TIMEOUT` (1 to 600 s),
    /// `ALLOW_PRIVATE_URLS`.
    pub url_max_bytes: usize,
    pub url_timeout: Duration,
    /// Transient faults (a torrent URL that did not answer or answered 5xx) are retried
    /// `RETRY_ATTEMPTS` times (0 to 10, default 3), after `RETRY_BASE_DELAY_MS` (10 ms to
    /// 60 s, default 1000), doubling: 1 s, 2 s, 4 s.
    pub retry: crate::engine::source::RetryPolicy,
    pub allow_private_urls: bool,
    /// Whether trackers (magnet `tr=`, `.torrent` announce URLs) on loopback and private
    /// addresses are announced to; link-local ones never are. `ALLOW_PRIVATE_TRACKERS`.
    pub allow_private_trackers: bool,
    /// How often the engine samples torrents (progress, queue, seeding policy).
    /// `ENGINE_TICK_MS`, 10 to 60000.
    pub tick: Duration,
    /// Memory for pieces being downloaded, kept until verified and then written once
    /// (all torrents together). `PIECE_BUFFER_MIB`, 0 to 65536 (0 = write every block
    /// through, as it arrives).
    pub piece_buffer_bytes: u64,
    /// Block requests kept outstanding per peer (never more than the peer allows).
    /// `PEER_REQUEST_WINDOW`, 1 to 4096: larger fills fast links, smaller makes a
    /// stream's seek fetch its new position sooner.
    pub peer_request_window: usize,
    /// Streams of files open at once, all users together (more get 503).
    /// `STREAM_MAX_CONCURRENT`, 1 to 256. Each holds one permit of librqbit's blocking
    /// pool, which is sized to this plus the 8 that writes and hashing use.
    pub stream_max_concurrent: usize,
    /// How long a stream waits for a piece it needs before it ends the response.
    /// `STREAM_READ_TIMEOUT` seconds, 1 to 3600.
    pub stream_read_timeout: Duration,
    /// A stream-only torrent pauses this long after its last read. `IDLE_TIMEOUT`
    /// seconds, 1 to 86400.
    pub idle_timeout: Duration,
    /// Every torrent is stream-only: it downloads and seeds only while it is read.
    /// `IDLE_MODE`.
    pub idle_mode: bool,
}

/// Options of authentication.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SECRET`; when unset a random one is generated once and kept in `DATA_DIR`.
    pub jwt_secret: Option<Secret>,
    /// `ADMIN_PASSWORD` for the first account (8 to 256 characters); when unset a random
    /// one is logged once.
    pub admin_password: Option<Secret>,
    /// `ALLOW_REGISTRATION`: whether `POST /api/auth/register` is open.
    pub allow_registration: bool,
    /// `ACCESS_TOKEN_TTL` (1 s to a day), `REFRESH_TOKEN_TTL` (60 s to a year).
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Failed logins from one address within `LOGIN_WINDOW` (s) that get it banned
    /// (429 for every login) for `LOGIN_BAN_SECONDS`. `LOGIN_MAX_FAILURES`; 0 turns the
    /// per-address limit off.
    pub login_max_failures: u32,
    pub login_window: Duration,
    pub login_ban: Duration,
    /// Failed logins to one account, from any address, within `LOGIN_ACCOUNT_WINDOW` (s),
    /// after which addresses that have not logged in to it before get 429 until the
    /// oldest failure leaves the window. `LOGIN_ACCOUNT_MAX_FAILURES`; 0 turns it off.
    pub login_account_max_failures: u32,
    pub login_account_window: Duration,
    /// Password checks and hashes (argon2id, about 19 MiB each) running at once; logins
    /// beyond them wait briefly, then get 429. `LOGIN_CONCURRENCY`; default: the number
    /// of CPUs, at most [`MAX_DEFAULT_LOGIN_CONCURRENCY`].
    pub login_concurrency: usize,
}

/// Cap on the default of `LOGIN_CONCURRENCY`: more parallel hashes than CPUs buy no
/// throughput, and each costs 19 MiB while it runs.
pub const MAX_DEFAULT_LOGIN_CONCURRENCY: usize = 8;

/// The default of `LOGIN_CONCURRENCY`: the number of CPUs, at most
/// [`MAX_DEFAULT_LOGIN_CONCURRENCY`].
pub fn default_login_concurrency() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(MAX_DEFAULT_LOGIN_CONCURRENCY)
}

/// The SQLite database's file name inside `DATA_DIR`.
pub const DATABASE_FILE: &str = "torrentedge.sqlite3";

impl Config {
    /// The embedded database: [`DATABASE_FILE`] in `DATA_DIR`.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// Reads `.env` of the working directory if present (variables already in the
    /// environment win), then the process environment. Only that one file: a `.env`
    /// in some parent directory is not this server's.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::from_path(".env") {
            Ok(()) => {}
            Err(e) if e.not_found() => {}
            Err(e) => {
                return Err(ConfigError {
                    var: ".env",
                    reason: e.to_string(),
                });
            }
        }
        Self::from_vars(std::env::vars())
    }

    /// Builds a configuration from name/value pairs (the environment, or a test's map).
    /// Unset variables take their documented defaults.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let v = Vars(vars.into_iter().filter(|(_, v)| !v.is_empty()).collect());
        let host: IpAddr = v.parse("HOST", IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
        let peer_host: IpAddr = v.parse("PEER_HOST", IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
        let kafka = kafka_config(&v)?;
        Ok(Self {
            http_addr: SocketAddr::new(host, v.parse("PORT", 3000)?),
            data_dir: v.parse("DATA_DIR", PathBuf::from("./data"))?,
            shutdown_timeout: v.seconds("SHUTDOWN_TIMEOUT", 10, 1..=3600)?,
            trust_proxy: v.parse("TRUST_PROXY", false)?,
            event_buffer: v.ranged("EVENT_BUFFER", 10_000, 1..=1_000_000, "")?,
            kafka,
            mongodb_uri: mongodb_uri(&v)?,
            redis: redis_config(&v)?,
            web_dir: v.get("WEB_DIR").map(PathBuf::from),
            metrics_token: metrics_token(&v)?,
            metadata: metadata_config(&v)?,
            engine: engine_config(&v, peer_host)?,
            auth: auth_config(&v)?,
            tracker: tracker::tracker_config(&v, host)?,
        })
    }
}

/// Longest seeding time limit: ten years, in minutes.
const MAX_SEED_MINUTES: f64 = 10.0 * 365.0 * 24.0 * 60.0;

/// Length of `ADMIN_PASSWORD` in characters: the policy `auth::password` applies to every
/// password (`MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS`; keep the two in step), checked here
/// too so that a bad value stops the start with an error naming the variable.
pub const ADMIN_PASSWORD_CHARS: RangeInclusive<usize> = 8..=256;

fn engine_config(v: &Vars, peer_host: IpAddr) -> Result<EngineConfig, ConfigError> {
    let ratio = v.ranged("SEED_RATIO_LIMIT", 0.0, 0.0..=10_000.0, "")?;
    let seed_minutes = v.ranged("SEED_TIME_LIMIT", 0.0, 0.0..=MAX_SEED_MINUTES, " minutes")?;
    Ok(EngineConfig {
        download_path: v.parse("DOWNLOAD_PATH", PathBuf::from("./downloads"))?,
        max_concurrent: v.ranged("MAX_CONCURRENT_TORRENTS", 3, 1..=10_000, "")?,
        max_peer_connections: v.ranged("MAX_PEER_CONNECTIONS", 50, 1..=10_000, "")?,
        download_limit: v.parse("DOWNLOAD_LIMIT", 0)?,
        upload_limit: v.parse("UPLOAD_LIMIT", 0)?,
        peer_listen: SocketAddr::new(peer_host, v.parse("PEER_PORT", 6881)?),
        seed_ratio_limit: (ratio > 0.0).then_some(ratio),
        seed_time_limit: (seed_minutes > 0.0).then(|| Duration::from_secs_f64(seed_minutes * 60.0)),
        seeding_enabled: v.parse("SEEDING_ENABLED", true)?,
        enable_dht: v.parse("ENABLE_DHT", true)?,
        enable_pex: v.parse("ENABLE_PEX", true)?,
        enable_lsd: v.parse("ENABLE_LSD", true)?,
        enable_trackers: v.parse("ENABLE_TRACKERS", true)?,
        url_max_bytes: v.ranged(
            "TORRENT_URL_MAX_BYTES",
            10 * 1024 * 1024,
            1024..=100 * 1024 * 1024,
            " bytes",
        )?,
        url_timeout: v.seconds("TORRENT_URL_TIMEOUT", 30, 1..=600)?,
        retry: crate::engine::source::RetryPolicy {
            retries: v.ranged("RETRY_ATTEMPTS", 3, 0..=10, "")?,
            base_delay: Duration::from_millis(v.ranged(
                "RETRY_BASE_DELAY_MS",
                1000,
                10..=60_000,
                " ms",
            )?),
        },
        allow_private_urls: v.parse("ALLOW_PRIVATE_URLS", false)?,
        allow_private_trackers: v.parse("ALLOW_PRIVATE_TRACKERS", false)?,
        tick: Duration::from_millis(v.ranged("ENGINE_TICK_MS", 1000, 10..=60_000, " ms")?),
        piece_buffer_bytes: v.ranged::<u64>("PIECE_BUFFER_MIB", 256, 0..=65_536, " MiB")? << 20,
        peer_request_window: v.ranged("PEER_REQUEST_WINDOW", 512, 1..=4096, "")?,
        stream_max_concurrent: v.ranged("STREAM_MAX_CONCURRENT", 16, 1..=256, "")?,
        stream_read_timeout: v.seconds("STREAM_READ_TIMEOUT", 30, 1..=3600)?,
        idle_timeout: v.seconds("IDLE_TIMEOUT", 300, 1..=86_400)?,
        idle_mode: v.parse("IDLE_MODE", false)?,
    })
}

fn metadata_config(v: &Vars) -> Result<MetadataConfig, ConfigError> {
    let data_dir: PathBuf = v.parse("DATA_DIR", PathBuf::from("./data"))?;
    let base = v
        .get("DOWNLOAD_BASE_URL")
        .map(|b| b.trim_end_matches('/').to_owned());
    if let Some(b) = &base
        && !(b.starts_with("http://") || b.starts_with("https://"))
    {
        return Err(ConfigError {
            var: "DOWNLOAD_BASE_URL",
            reason: "must start with http:// or https://".into(),
        });
    }
    Ok(MetadataConfig {
        cache_dir: v.parse("CACHE_DIR", data_dir.join("cache"))?,
        timeout: v.seconds("METADATA_TIMEOUT", 60, 1..=3600)?,
        cache_ttl: v.seconds("METADATA_CACHE_TTL", 86_400, 60..=30 * 86_400)?,
        enable_downloads: v.parse("ENABLE_DOWNLOADS", false)?,
        download_base_url: base,
    })
}

fn auth_config(v: &Vars) -> Result<AuthConfig, ConfigError> {
    let jwt_secret = v.get("JWT_SECRET").map(Secret::new);
    if let Some(s) = &jwt_secret
        && s.expose().len() < 32
    {
        return Err(ConfigError {
            var: "JWT_SECRET",
            reason: "must be at least 32 bytes; unset it to have one generated".into(),
        });
    }
    let admin_password = v.get("ADMIN_PASSWORD").map(Secret::new);
    if let Some(p) = &admin_password
        && !ADMIN_PASSWORD_CHARS.contains(&p.expose().chars().count())
    {
        return Err(ConfigError {
            var: "ADMIN_PASSWORD",
            reason: format!(
                "must be {} to {} characters; unset it to have one generated",
                ADMIN_PASSWORD_CHARS.start(),
                ADMIN_PASSWORD_CHARS.end()
            ),
        });
    }
    Ok(AuthConfig {
        jwt_secret,
        admin_password,
        allow_registration: v.parse("ALLOW_REGISTRATION", false)?,
        access_ttl: v.seconds("ACCESS_TOKEN_TTL", 15 * 60, 1..=24 * 3600)?,
        refresh_ttl: v.seconds("REFRESH_TOKEN_TTL", 30 * 24 * 3600, 60..=365 * 24 * 3600)?,
        login_max_failures: v.ranged("LOGIN_MAX_FAILURES", 5, 0..=1000, "")?,
        login_window: v.seconds("LOGIN_WINDOW", 15 * 60, 1..=24 * 3600)?,
        login_ban: v.seconds("LOGIN_BAN_SECONDS", 3600, 1..=365 * 24 * 3600)?,
        login_account_max_failures: v.ranged("LOGIN_ACCOUNT_MAX_FAILURES", 20, 0..=100_000, "")?,
        login_account_window: v.seconds("LOGIN_ACCOUNT_WINDOW", 15 * 60, 1..=24 * 3600)?,
        login_concurrency: v.ranged(
            "LOGIN_CONCURRENCY",
            default_login_concurrency(),
            1..=256,
            "",
        )?,
    })
}

/// The Redis cache's options: `REDIS_URL`, or `REDIS_HOST` with `REDIS_PORT` (default
/// 6379), `REDIS_PASSWORD` and `REDIS_DB` (default 0); `None` when neither is set.
fn redis_config(v: &Vars) -> Result<Option<RedisConfig>, ConfigError> {
    let key_prefix = redis_key_prefix(v)?;
    let url = match (v.get("REDIS_URL"), v.get("REDIS_HOST")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError {
                var: "REDIS_URL",
                reason: "set REDIS_URL or REDIS_HOST, not both".into(),
            });
        }
        (Some(url), None) => redis_url(url)?,
        (None, Some(host)) => redis_url_of_parts(v, &host)?,
        (None, None) => {
            for var in ["REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB"] {
                if v.get(var).is_some() {
                    return Err(ConfigError {
                        var,
                        reason: format!("{var} is set but REDIS_HOST is not"),
                    });
                }
            }
            return Ok(None);
        }
    };
    Ok(Some(RedisConfig { url, key_prefix }))
}

fn redis_url(url: String) -> Result<Secret, ConfigError> {
    let schemes = ["redis://", "unix://", "redis+unix://"];
    if !schemes.iter().any(|s| url.starts_with(s)) {
        return Err(ConfigError {
            var: "REDIS_URL",
            reason: "REDIS_URL must start with redis://, unix:// or redis+unix:// \
                     (TLS, rediss://, is not built in)"
                .into(),
        });
    }
    Ok(Secret::new(url))
}

fn redis_url_of_parts(v: &Vars, host: &str) -> Result<Secret, ConfigError> {
    let port: u16 = v.parse("REDIS_PORT", 6379)?;
    let db: u32 = v.ranged("REDIS_DB", 0, 0..=1_000_000, "")?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let mut url =
        url::Url::parse(&format!("redis://{host}:{port}/{db}")).map_err(|e| ConfigError {
            var: "REDIS_HOST",
            reason: format!("not a host name or address: {e}"),
        })?;
    if let Some(password) = v.get("REDIS_PASSWORD") {
        // Url percent-encodes it, so any character is fine.
        let _ = url.set_password(Some(&password));
    }
    Ok(Secret::new(String::from(url)))
}

/// `REDIS_KEY_PREFIX`, default `torrentedge:`: up to 64 printable ASCII characters
/// without spaces, so servers of different deployments can share one Redis.
fn redis_key_prefix(v: &Vars) -> Result<String, ConfigError> {
    let prefix = v
        .get("REDIS_KEY_PREFIX")
        .unwrap_or_else(|| "torrentedge:".into());
    if prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError {
            var: "REDIS_KEY_PREFIX",
            reason: "a key prefix is up to 64 printable ASCII characters without spaces".into(),
        });
    }
    Ok(prefix)
}

fn metrics_token(v: &Vars) -> Result<Option<String>, ConfigError> {
    match v.get("METRICS_TOKEN") {
        Some(t) if t.chars().count() < 16 => Err(ConfigError {
            var: "METRICS_TOKEN",
            reason: "METRICS_TOKEN must be at least 16 characters".into(),
        }),
        other => Ok(other),
    }
}

/// `MONGODB_URI`, checked for its scheme here so a typo stops the start by name (the
/// driver checks the rest when connecting).
fn mongodb_uri(v: &Vars) -> Result<Option<String>, ConfigError> {
    let Some(uri) = v.get("MONGODB_URI") else {
        return Ok(None);
    };
    if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
        return Err(ConfigError {
            var: "MONGODB_URI",
            reason: "MONGODB_URI must start with mongodb:// or mongodb+srv://".into(),
        });
    }
    Ok(Some(uri))
}

/// The Kafka sink's options, or `None` when `KAFKA_BROKERS` is unset.
fn kafka_config(v: &Vars) -> Result<Option<KafkaConfig>, ConfigError> {
    let Some(brokers) = v.get("KAFKA_BROKERS") else {
        return Ok(None);
    };
    let message_timeout = v.seconds("KAFKA_MESSAGE_TIMEOUT", 120, 1..=3600)?;
    let topic = v
        .get("KAFKA_TOPIC")
        .unwrap_or_else(|| "torrent-events".into());
    let topic_ok = topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !topic_ok {
        return Err(ConfigError {
            var: "KAFKA_TOPIC",
            reason: "a topic name is 1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'".into(),
        });
    }
    Ok(Some(KafkaConfig {
        brokers,
        topic,
        partitions: v.ranged("KAFKA_PARTITIONS", 3, 1..=10_000, "")?,
        replication_factor: v.ranged("KAFKA_REPLICATION_FACTOR", 1, 1..=32, "")?,
        client_id: v
            .get("KAFKA_CLIENT_ID")
            .unwrap_or_else(|| "torrentedge".into()),
        message_timeout,
    }))
}

struct Vars(HashMap<String, String>);

impl Vars {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|s| s.trim().to_owned())
    }

    fn parse<T: FromVar>(&self, name: &'static str, default: T) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => T::from_var(&raw).ok_or_else(|| ConfigError {
                var: name,
                reason: format!("cannot parse {raw:?} as {}", T::WHAT),
            }),
        }
    }

    /// A number within `range` (`unit` is shown after the bounds in the error).
    /// NaN and infinities are never in a range.
    fn ranged<T: FromVar + PartialOrd + Display>(
        &self,
        name: &'static str,
        default: T,
        range: RangeInclusive<T>,
        unit: &str,
    ) -> Result<T, ConfigError> {
        let n = self.parse(name, default)?;
        if range.contains(&n) {
            Ok(n)
        } else {
            Err(ConfigError {
                var: name,
                reason: format!(
                    "{n} is out of range: must be between {} and {}{unit}",
                    range.start(),
                    range.end()
                ),
            })
        }
    }

    /// A whole number of seconds within `range`.
    fn seconds(
        &self,
        name: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.ranged(name, default, range, " seconds")
            .map(Duration::from_secs)
    }
}

trait FromVar: Sized {
    const WHAT: &'static str;
    fn from_var(s: &str) -> Option<Self>;
}

macro_rules! from_str_var {
    ($($t:ty => $what:literal),*) => {$(
        impl FromVar for $t {
            const WHAT: &'static str = $what;
            fn from_var(s: &str) -> Option<Self> { s.parse().ok() }
        }
    )*};
}
from_str_var!(u16 => "a port number (0 to 65535)", u32 => "a whole number (0 to 4294967295)",
    i32 => "a whole number", u64 => "a whole number", usize => "a whole number",
    IpAddr => "an IP address", PathBuf => "a path");

impl FromVar for f64 {
    const WHAT: &'static str = "a finite number";
    fn from_var(s: &str) -> Option<Self> {
        s.parse::<f64>().ok().filter(|n| n.is_finite())
    }
}

impl FromVar for bool {
    const WHAT: &'static str = "true or false";
    fn from_var(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        }
    }
}

mod tracker;
pub use tracker::{TrackerConfig, TrackerMode};

#[cfg(test)]
mod tests;
