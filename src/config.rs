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
    /// When set, `GET /metrics` takes `Authorization: Bearer <METRICS_TOKEN>`
    /// (`METRICS_TOKEN`, at least 16 characters); unset, it is open.
    pub metrics_token: Option<String>,
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
    pub allow_private_urls: bool,
    /// Whether trackers (magnet `tr=`, `.torrent` announce URLs) on loopback and private
    /// addresses are announced to; link-local ones never are. `ALLOW_PRIVATE_TRACKERS`.
    pub allow_private_trackers: bool,
    /// How often the engine samples torrents (progress, queue, seeding policy).
    /// `ENGINE_TICK_MS`, 10 to 60000.
    pub tick: Duration,
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
        refuse_missing_backends(&v)?;
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
            metrics_token: metrics_token(&v)?,
            engine: engine_config(&v, peer_host)?,
            auth: auth_config(&v)?,
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
        allow_private_urls: v.parse("ALLOW_PRIVATE_URLS", false)?,
        allow_private_trackers: v.parse("ALLOW_PRIVATE_TRACKERS", false)?,
        tick: Duration::from_millis(v.ranged("ENGINE_TICK_MS", 1000, 10..=60_000, " ms")?),
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

/// Backends the design names but this build does not have yet. Setting their variable
/// is a mistake worth stopping for: silently running on the embedded default instead
/// would leave an operator believing their data is in MongoDB.
fn refuse_missing_backends(v: &Vars) -> Result<(), ConfigError> {
    const MISSING: [(&str, &str, &str); 3] = [
        ("REDIS_URL", "Redis cache", "the in-process cache"),
        ("REDIS_HOST", "Redis cache", "the in-process cache"),
        ("REDIS_PORT", "Redis cache", "the in-process cache"),
    ];
    match MISSING.iter().find(|(var, ..)| v.get(var).is_some()) {
        Some(&(var, backend, default)) => Err(ConfigError {
            var,
            reason: format!(
                "{var} is set but this build has no {backend} yet; unset it to use {default}"
            ),
        }),
        None => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_follow_the_documented_values() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.http_addr.port(), 3000);
        assert_eq!(c.engine.max_concurrent, 3);
        assert_eq!(c.engine.max_peer_connections, 50);
        assert_eq!(c.engine.download_limit, 0);
        assert!(c.engine.seed_ratio_limit.is_none());
        assert!(c.auth.jwt_secret.is_none());
        assert!(!c.auth.allow_registration);
    }

    #[test]
    fn short_jwt_secret_is_refused() {
        let err = cfg(&[("JWT_SECRET", "too-short")]).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
        assert!(cfg(&[("JWT_SECRET", &"x".repeat(32))]).is_ok());
    }

    #[test]
    fn malformed_numbers_name_the_variable() {
        let err = cfg(&[("MAX_CONCURRENT_TORRENTS", "three")]).unwrap_err();
        assert_eq!(err.var, "MAX_CONCURRENT_TORRENTS");
        assert_eq!(
            cfg(&[("MAX_CONCURRENT_TORRENTS", "0")]).unwrap_err().var,
            "MAX_CONCURRENT_TORRENTS"
        );
        assert_eq!(
            cfg(&[("ENABLE_DHT", "maybe")]).unwrap_err().var,
            "ENABLE_DHT"
        );
    }

    #[test]
    fn out_of_range_numbers_name_the_variable() {
        for (var, value) in [
            ("PORT", "65536"),
            ("PEER_PORT", "-1"),
            ("SHUTDOWN_TIMEOUT", "0"),
            ("SHUTDOWN_TIMEOUT", "3601"),
            ("EVENT_BUFFER", "0"),
            ("EVENT_BUFFER", "1000001"),
            ("MAX_CONCURRENT_TORRENTS", "10001"),
            ("MAX_PEER_CONNECTIONS", "0"),
            ("MAX_PEER_CONNECTIONS", "10001"),
            ("DOWNLOAD_LIMIT", "-1"),
            ("UPLOAD_LIMIT", "4294967296"),
            ("SEED_RATIO_LIMIT", "-0.5"),
            ("SEED_RATIO_LIMIT", "10001"),
            ("SEED_TIME_LIMIT", "-1"),
            ("SEED_TIME_LIMIT", "1e300"),
            ("SEED_TIME_LIMIT", "5256001"),
            ("TORRENT_URL_MAX_BYTES", "0"),
            ("TORRENT_URL_MAX_BYTES", "104857601"),
            ("TORRENT_URL_TIMEOUT", "0"),
            ("TORRENT_URL_TIMEOUT", "601"),
            ("ENGINE_TICK_MS", "0"),
            ("ENGINE_TICK_MS", "9"),
            ("ENGINE_TICK_MS", "60001"),
            ("ACCESS_TOKEN_TTL", "0"),
            ("ACCESS_TOKEN_TTL", "86401"),
            ("REFRESH_TOKEN_TTL", "59"),
            ("REFRESH_TOKEN_TTL", "31536001"),
            ("LOGIN_MAX_FAILURES", "1001"),
            ("LOGIN_BAN_SECONDS", "0"),
            ("LOGIN_ACCOUNT_WINDOW", "0"),
            ("LOGIN_CONCURRENCY", "257"),
            ("LOGIN_WINDOW", "0"),
            ("LOGIN_WINDOW", "86401"),
        ] {
            let err = cfg(&[(var, value)]).expect_err(&format!("{var}={value} accepted"));
            assert_eq!(err.var, var, "{var}={value}: {err}");
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn the_bounds_themselves_are_accepted() {
        let c = cfg(&[
            ("ENGINE_TICK_MS", "10"),
            ("SEED_TIME_LIMIT", "5256000"),
            ("SEED_RATIO_LIMIT", "10000"),
            ("EVENT_BUFFER", "1"),
            ("PORT", "65535"),
            ("TORRENT_URL_MAX_BYTES", "1024"),
            ("ACCESS_TOKEN_TTL", "86400"),
        ])
        .unwrap();
        assert_eq!(c.engine.tick, Duration::from_millis(10));
        assert_eq!(
            c.engine.seed_time_limit,
            Some(Duration::from_secs(5_256_000 * 60))
        );
        assert_eq!(c.http_addr.port(), 65535);
        let c = cfg(&[("ENGINE_TICK_MS", "60000")]).unwrap();
        assert_eq!(c.engine.tick, Duration::from_secs(60));
    }

    #[test]
    fn nan_and_infinities_are_refused() {
        for var in ["SEED_RATIO_LIMIT", "SEED_TIME_LIMIT"] {
            for value in ["NaN", "nan", "inf", "-inf", "infinity", "1e400"] {
                let err = cfg(&[(var, value)]).expect_err(&format!("{var}={value} accepted"));
                assert_eq!(err.var, var, "{var}={value}");
            }
        }
    }

    #[test]
    fn login_limits_have_defaults_and_refuse_zero_where_it_means_nothing() {
        let a = cfg(&[]).unwrap().auth;
        assert_eq!(a.login_max_failures, 5);
        assert_eq!(a.login_window, Duration::from_secs(900));
        assert_eq!(a.login_ban, Duration::from_secs(3600));
        assert_eq!(a.login_account_max_failures, 20);
        assert_eq!(a.login_account_window, Duration::from_secs(900));
        assert!((1..=MAX_DEFAULT_LOGIN_CONCURRENCY).contains(&a.login_concurrency));
        let a = cfg(&[
            ("LOGIN_BAN_SECONDS", "2"),
            ("LOGIN_ACCOUNT_MAX_FAILURES", "0"),
            ("LOGIN_ACCOUNT_WINDOW", "60"),
            ("LOGIN_CONCURRENCY", "3"),
        ])
        .unwrap()
        .auth;
        assert_eq!(a.login_ban, Duration::from_secs(2));
        assert_eq!(a.login_account_max_failures, 0);
        assert_eq!(a.login_account_window, Duration::from_secs(60));
        assert_eq!(a.login_concurrency, 3);
        for var in ["LOGIN_BAN_SECONDS", "LOGIN_CONCURRENCY"] {
            assert_eq!(cfg(&[(var, "0")]).unwrap_err().var, var);
            assert_eq!(cfg(&[(var, "-1")]).unwrap_err().var, var);
        }
    }

    #[test]
    fn admin_password_of_the_wrong_length_names_the_variable() {
        for bad in ["short", "1234567", &"p".repeat(257)] {
            let err = cfg(&[("ADMIN_PASSWORD", bad)]).unwrap_err();
            assert_eq!(err.var, "ADMIN_PASSWORD");
            assert!(!err.to_string().contains(bad), "the password is not echoed");
        }
        // Characters, not bytes: eight two-byte characters are long enough.
        assert!(cfg(&[("ADMIN_PASSWORD", "éééééééé")]).is_ok());
        assert!(cfg(&[("ADMIN_PASSWORD", &"p".repeat(256))]).is_ok());
    }

    #[test]
    fn mongodb_uri_selects_the_mongodb_store() {
        assert_eq!(cfg(&[]).unwrap().mongodb_uri, None);
        let uri = "mongodb://127.0.0.1:27017/te";
        assert_eq!(
            cfg(&[("MONGODB_URI", uri)]).unwrap().mongodb_uri.as_deref(),
            Some(uri)
        );
        let bad = cfg(&[("MONGODB_URI", "http://127.0.0.1")]).unwrap_err();
        assert_eq!(bad.var, "MONGODB_URI");
    }

    #[test]
    fn backends_this_build_lacks_are_refused_by_name() {
        for var in ["REDIS_URL", "REDIS_HOST", "REDIS_PORT"] {
            let err = cfg(&[(var, "x://127.0.0.1")]).unwrap_err();
            assert_eq!(err.var, var);
            let msg = err.to_string();
            assert!(msg.contains(&format!("{var} is set")), "{msg}");
            assert!(msg.contains("unset it"), "{msg}");
        }
        let redis = cfg(&[("REDIS_URL", "redis://127.0.0.1:6379")]).unwrap_err();
        assert!(redis.reason.contains("no Redis cache yet"), "{redis}");
        // Empty is unset.
        assert!(cfg(&[("MONGODB_URI", ""), ("REDIS_URL", "")]).is_ok());
    }

    #[test]
    fn private_trackers_are_off_unless_allowed() {
        assert!(!cfg(&[]).unwrap().engine.allow_private_trackers);
        let on = cfg(&[("ALLOW_PRIVATE_TRACKERS", "true")]).unwrap();
        assert!(on.engine.allow_private_trackers);
        assert_eq!(
            cfg(&[("ALLOW_PRIVATE_TRACKERS", "sometimes")])
                .unwrap_err()
                .var,
            "ALLOW_PRIVATE_TRACKERS"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let c = cfg(&[
            ("JWT_SECRET", &"s".repeat(40)),
            ("ADMIN_PASSWORD", "hunter22"),
        ])
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("ssss"));
        assert!(!dbg.contains("hunter22"));
    }

    #[test]
    fn kafka_is_off_unless_brokers_are_set() {
        assert_eq!(cfg(&[]).unwrap().kafka, None);
        assert_eq!(cfg(&[("KAFKA_TOPIC", "x")]).unwrap().kafka, None);
        let k = cfg(&[("KAFKA_BROKERS", "127.0.0.1:9092")])
            .unwrap()
            .kafka
            .expect("on");
        assert_eq!(k.brokers, "127.0.0.1:9092");
        assert_eq!(k.topic, "torrent-events");
        assert_eq!((k.partitions, k.replication_factor), (3, 1));
        assert_eq!(k.client_id, "torrentedge");
        assert_eq!(k.message_timeout, Duration::from_secs(120));
        let k = cfg(&[
            ("KAFKA_BROKERS", "a:1,b:2"),
            ("KAFKA_TOPIC", "te.events_v2"),
            ("KAFKA_PARTITIONS", "12"),
            ("KAFKA_REPLICATION_FACTOR", "3"),
            ("KAFKA_CLIENT_ID", "edge-1"),
            ("KAFKA_MESSAGE_TIMEOUT", "30"),
        ])
        .unwrap()
        .kafka
        .expect("on");
        assert_eq!(k.topic, "te.events_v2");
        assert_eq!((k.partitions, k.replication_factor), (12, 3));
        assert_eq!(k.client_id, "edge-1");
        assert_eq!(k.message_timeout, Duration::from_secs(30));
    }

    #[test]
    fn bad_kafka_values_name_the_variable() {
        let on = ("KAFKA_BROKERS", "127.0.0.1:9092");
        for (var, value) in [
            ("KAFKA_PARTITIONS", "0"),
            ("KAFKA_PARTITIONS", "three"),
            ("KAFKA_PARTITIONS", "4294967295"),
            ("KAFKA_PARTITIONS", "-1"),
            ("KAFKA_REPLICATION_FACTOR", "0"),
            ("KAFKA_REPLICATION_FACTOR", "33"),
            ("KAFKA_TOPIC", "no spaces"),
            ("KAFKA_TOPIC", ".."),
            ("KAFKA_MESSAGE_TIMEOUT", "0"),
            ("KAFKA_MESSAGE_TIMEOUT", "3601"),
        ] {
            let err = cfg(&[on, (var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value}");
        }
    }

    #[test]
    fn every_variable_is_documented_in_env_example() {
        let example = include_str!("../.env.example");
        let source = include_str!("config.rs");
        let mut checked = 0;
        for part in source.split('"').skip(1).step_by(2) {
            let is_var =
                part.len() > 2 && part.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            if is_var {
                assert!(
                    example.contains(&format!("{part}=")),
                    "{part} is missing from .env.example"
                );
                checked += 1;
            }
        }
        assert!(checked > 20, "found only {checked} variables");
    }
}
