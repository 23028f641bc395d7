//! Configuration: the only place that reads the environment (and `.env`).
//!
//! Every variable is documented in `.env.example`. Values are parsed once into typed
//! option structs handed to the modules; a malformed value is a startup error naming the
//! variable, never a silent default.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
    /// How long shutdown may take before remaining tasks are abandoned. `SHUTDOWN_TIMEOUT` (s).
    pub shutdown_timeout: Duration,
    /// The server sits behind a reverse proxy that appends the client's address to
    /// `X-Forwarded-For`: use its last entry as the client (for login throttling).
    /// `TRUST_PROXY`. Never enable without a proxy: clients could then pick their address.
    pub trust_proxy: bool,
    /// Events kept in memory for clients that reconnect (`EVENT_BUFFER`); a client
    /// that missed more is told to reload.
    pub event_buffer: usize,
    /// The Kafka sink; `None` (off) unless `KAFKA_BROKERS` is set.
    pub kafka: Option<KafkaConfig>,
}

/// Options of the Kafka sink: every event, through the store's outbox, to one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` bootstrap list. `KAFKA_BROKERS`.
    pub brokers: String,
    /// Topic the events go to, created at start when missing. `KAFKA_TOPIC`.
    pub topic: String,
    /// Partitions and replication factor of a topic the sink creates.
    /// `KAFKA_PARTITIONS`, `KAFKA_REPLICATION_FACTOR`.
    pub partitions: i32,
    pub replication_factor: i32,
    /// `client.id` the broker sees. `KAFKA_CLIENT_ID`.
    pub client_id: String,
    /// How long the producer keeps trying one message before the relay backs off and
    /// sends it again. `KAFKA_MESSAGE_TIMEOUT` (s).
    pub message_timeout: Duration,
}

/// Options of the torrent engine and its queue.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where torrent content is written. `DOWNLOAD_PATH`.
    pub download_path: PathBuf,
    /// Torrents downloading at once; the rest wait in the queue. `MAX_CONCURRENT_TORRENTS`.
    pub max_concurrent: usize,
    /// Peer connections per torrent. `MAX_PEER_CONNECTIONS`.
    pub max_peer_connections: usize,
    /// Global limits in bytes/s, 0 = unlimited. `DOWNLOAD_LIMIT`, `UPLOAD_LIMIT`.
    pub download_limit: u32,
    pub upload_limit: u32,
    /// Address peers connect to. `PEER_HOST`, `PEER_PORT` (0 = any free port).
    pub peer_listen: SocketAddr,
    /// Stop seeding once uploaded/size reaches this. `SEED_RATIO_LIMIT` (unset or 0 = never).
    pub seed_ratio_limit: Option<f64>,
    /// Stop seeding after this long. `SEED_TIME_LIMIT` in minutes (unset or 0 = never).
    pub seed_time_limit: Option<Duration>,
    /// Peer discovery switches. `ENABLE_DHT`, `ENABLE_PEX`, `ENABLE_LSD`.
    pub enable_dht: bool,
    pub enable_pex: bool,
    pub enable_lsd: bool,
    /// Talk to trackers at all. `ENABLE_TRACKERS`.
    pub enable_trackers: bool,
    /// Adding by http(s) URL: size cap and timeout of the fetch, and whether loopback and
    /// private addresses may be fetched. `TORRENT_URL_MAX_BYTES`, `TORRENT_URL_TIMEOUT` (s),
    /// `ALLOW_PRIVATE_URLS`.
    pub url_max_bytes: usize,
    pub url_timeout: Duration,
    pub allow_private_urls: bool,
    /// How often the engine samples torrents (progress, queue, seeding policy).
    pub tick: Duration,
}

/// Options of authentication.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SECRET`; when unset a random one is generated once and kept in `DATA_DIR`.
    pub jwt_secret: Option<Secret>,
    /// `ADMIN_PASSWORD` for the first account; when unset a random one is logged once.
    pub admin_password: Option<Secret>,
    /// `ALLOW_REGISTRATION`: whether `POST /api/auth/register` is open.
    pub allow_registration: bool,
    /// `ACCESS_TOKEN_TTL` (s), `REFRESH_TOKEN_TTL` (s).
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
        let jwt_secret = v.get("JWT_SECRET").map(Secret::new);
        if let Some(s) = &jwt_secret
            && s.expose().len() < 32
        {
            return Err(ConfigError {
                var: "JWT_SECRET",
                reason: "must be at least 32 bytes; unset it to have one generated".into(),
            });
        }
        let ratio: f64 = v.parse("SEED_RATIO_LIMIT", 0.0)?;
        if !ratio.is_finite() || ratio < 0.0 {
            return Err(ConfigError {
                var: "SEED_RATIO_LIMIT",
                reason: "must be a non-negative number".into(),
            });
        }
        let seed_minutes: f64 = v.parse("SEED_TIME_LIMIT", 0.0)?;
        if !seed_minutes.is_finite() || seed_minutes < 0.0 {
            return Err(ConfigError {
                var: "SEED_TIME_LIMIT",
                reason: "must be a non-negative number of minutes".into(),
            });
        }
        let max_concurrent: usize = v.parse("MAX_CONCURRENT_TORRENTS", 3)?;
        if max_concurrent == 0 {
            return Err(ConfigError {
                var: "MAX_CONCURRENT_TORRENTS",
                reason: "must be at least 1".into(),
            });
        }
        let kafka = kafka_config(&v)?;
        let auth = auth_config(&v, jwt_secret)?;
        Ok(Self {
            http_addr: SocketAddr::new(host, v.parse("PORT", 3000)?),
            data_dir: v.parse("DATA_DIR", PathBuf::from("./data"))?,
            shutdown_timeout: Duration::from_secs(v.parse("SHUTDOWN_TIMEOUT", 10)?),
            trust_proxy: v.parse("TRUST_PROXY", false)?,
            event_buffer: v.parse("EVENT_BUFFER", 10_000)?,
            kafka,
            engine: EngineConfig {
                download_path: v.parse("DOWNLOAD_PATH", PathBuf::from("./downloads"))?,
                max_concurrent,
                max_peer_connections: v.parse("MAX_PEER_CONNECTIONS", 50)?,
                download_limit: v.parse("DOWNLOAD_LIMIT", 0)?,
                upload_limit: v.parse("UPLOAD_LIMIT", 0)?,
                peer_listen: SocketAddr::new(peer_host, v.parse("PEER_PORT", 6881)?),
                seed_ratio_limit: (ratio > 0.0).then_some(ratio),
                seed_time_limit: (seed_minutes > 0.0)
                    .then(|| Duration::from_secs_f64(seed_minutes * 60.0)),
                enable_dht: v.parse("ENABLE_DHT", true)?,
                enable_pex: v.parse("ENABLE_PEX", true)?,
                enable_lsd: v.parse("ENABLE_LSD", true)?,
                enable_trackers: v.parse("ENABLE_TRACKERS", true)?,
                url_max_bytes: v.parse("TORRENT_URL_MAX_BYTES", 10 * 1024 * 1024)?,
                url_timeout: Duration::from_secs(v.parse("TORRENT_URL_TIMEOUT", 30)?),
                allow_private_urls: v.parse("ALLOW_PRIVATE_URLS", false)?,
                tick: Duration::from_millis(v.parse("ENGINE_TICK_MS", 1000)?),
            },
            auth,
        })
    }
}

/// Authentication's options.
fn auth_config(v: &Vars, jwt_secret: Option<Secret>) -> Result<AuthConfig, ConfigError> {
    let at_least_one = |var: &'static str, n: u64| {
        if n == 0 {
            return Err(ConfigError {
                var,
                reason: "must be at least 1".into(),
            });
        }
        Ok(n)
    };
    let ban = at_least_one("LOGIN_BAN_SECONDS", v.parse("LOGIN_BAN_SECONDS", 3600)?)?;
    let concurrency: usize = v.parse("LOGIN_CONCURRENCY", default_login_concurrency())?;
    at_least_one("LOGIN_CONCURRENCY", concurrency as u64)?;
    Ok(AuthConfig {
        jwt_secret,
        admin_password: v.get("ADMIN_PASSWORD").map(Secret::new),
        allow_registration: v.parse("ALLOW_REGISTRATION", false)?,
        access_ttl: Duration::from_secs(v.parse("ACCESS_TOKEN_TTL", 15 * 60)?),
        refresh_ttl: Duration::from_secs(v.parse("REFRESH_TOKEN_TTL", 30 * 24 * 3600)?),
        login_max_failures: v.parse("LOGIN_MAX_FAILURES", 5)?,
        login_window: Duration::from_secs(v.parse("LOGIN_WINDOW", 15 * 60)?),
        login_ban: Duration::from_secs(ban),
        login_account_max_failures: v.parse("LOGIN_ACCOUNT_MAX_FAILURES", 20)?,
        login_account_window: Duration::from_secs(v.parse("LOGIN_ACCOUNT_WINDOW", 15 * 60)?),
        login_concurrency: concurrency,
    })
}

/// The Kafka sink's options, or `None` when `KAFKA_BROKERS` is unset.
fn kafka_config(v: &Vars) -> Result<Option<KafkaConfig>, ConfigError> {
    let Some(brokers) = v.get("KAFKA_BROKERS") else {
        return Ok(None);
    };
    let positive = |var: &'static str, default: u32| -> Result<i32, ConfigError> {
        let n: u32 = v.parse(var, default)?;
        i32::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ConfigError {
                var,
                reason: format!("must be between 1 and {}", i32::MAX),
            })
    };
    let timeout: u64 = v.parse("KAFKA_MESSAGE_TIMEOUT", 120)?;
    if timeout == 0 || timeout > 3600 {
        return Err(ConfigError {
            var: "KAFKA_MESSAGE_TIMEOUT",
            reason: "must be between 1 and 3600 seconds".into(),
        });
    }
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
        partitions: positive("KAFKA_PARTITIONS", 3)?,
        replication_factor: positive("KAFKA_REPLICATION_FACTOR", 1)?,
        client_id: v
            .get("KAFKA_CLIENT_ID")
            .unwrap_or_else(|| "torrentedge".into()),
        message_timeout: Duration::from_secs(timeout),
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
from_str_var!(u16 => "a port number", u32 => "a whole number", u64 => "a whole number",
    usize => "a whole number", f64 => "a number", IpAddr => "an IP address", PathBuf => "a path");

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
            ("KAFKA_REPLICATION_FACTOR", "0"),
            ("KAFKA_TOPIC", "no spaces"),
            ("KAFKA_TOPIC", ".."),
            ("KAFKA_MESSAGE_TIMEOUT", "0"),
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
