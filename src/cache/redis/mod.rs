//! The Redis backend: one connection manager, every key under the configured prefix.
//!
//! # Keys
//!
//! | key | type | what |
//! |---|---|---|
//! | `<prefix>login:ip:<address>:fail` | zset | failures of an address (member `<id>:<account>`, score ms) |
//! | `<prefix>login:ip:<address>:pending` | zset | its attempts being checked |
//! | `<prefix>login:ip:<address>:ban` | string | present while the address is banned |
//! | `<prefix>login:account:<account>` | zset | failures against an account |
//! | `<prefix>login:trust:<account>:<address>` | string | the address logged in to the account |
//! | `<prefix>revoked:<jti>` | string | an access token refused until it would expire |
//! | `<prefix>meta:<key>` | string | a cached metadata document |
//!
//! Every key has a TTL, so Redis holds nothing the rules no longer need. `<address>` is
//! the limiter's client key (an IPv4 address or an IPv6 /64); `<account>` is the first 16
//! bytes of the user name's SHA-256 in hex, so names are not stored and every server
//! derives the same key.
//!
//! # Atomicity
//!
//! Each limiter step is one Lua script (`begin.lua`, `failed.lua`, `succeeded.lua`), so
//! parallel attempts through any number of servers are counted exactly as one process
//! would count them, on Redis's clock. An attempt whose server died before settling it
//! leaves the in-flight set after [`IN_FLIGHT_TTL`]. The keys of one script are not
//! hash-tagged: this backend is for one Redis (or a replicated primary), not a cluster.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use sha2::{Digest, Sha256};

use super::throttle::{IN_FLIGHT_RETRY, Limits, TRUST_TTL, client_key, whole_seconds};
use super::{Attempt, Backend, CacheError, CacheResult};

/// How long one command may take before Redis counts as down.
pub const OP_TIMEOUT: Duration = Duration::from_secs(1);
/// How long an attempt stays in flight at most (its server may have died checking it).
pub const IN_FLIGHT_TTL: Duration = Duration::from_secs(60);

pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    limits: Limits,
    begin: Script,
    failed: Script,
    succeeded: Script,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A client for the Redis at `url`; connects on first use (and reconnects on its own),
    /// so a Redis that is down at start delays nothing.
    pub fn new(url: &str, prefix: &str, limits: Limits) -> CacheResult<Self> {
        let client = redis::Client::open(url).map_err(CacheError::from)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            // Reconnecting is retried by the cache's probe; here one try per failure.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            limits,
            begin: Script::new(include_str!("begin.lua")),
            failed: Script::new(include_str!("failed.lua")),
            succeeded: Script::new(include_str!("succeeded.lua")),
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        key.push_str(&parts.join(":"));
        key
    }

    fn login_keys(&self, client: IpAddr, username: &str) -> LoginKeys {
        let address = client_key(client).to_string();
        let account = hex::encode(&Sha256::digest(username.as_bytes())[..16]);
        LoginKeys {
            fail: self.key(&["login", "ip", &address, "fail"]),
            pending: self.key(&["login", "ip", &address, "pending"]),
            ban: self.key(&["login", "ip", &address, "ban"]),
            account_failures: self.key(&["login", "account", &account]),
            trust: self.key(&["login", "trust", &account, &address]),
            account,
        }
    }

    /// The limits as the scripts take them: zero where a limit is off.
    fn script_limits(&self) -> (u32, u64, u64, u32, u64) {
        let l = &self.limits;
        let max = if l.address_limited() {
            l.max_failures
        } else {
            0
        };
        let account_max = if l.account_limited() {
            l.account_max_failures
        } else {
            0
        };
        (
            max,
            ms(l.window),
            ms(l.ban),
            account_max,
            ms(l.account_window),
        )
    }
}

/// Runs one command with the cache's deadline (the manager's own timeout covers the
/// answer; this also covers a reconnect that hangs).
async fn bounded<T>(fut: impl Future<Output = redis::RedisResult<T>>) -> CacheResult<T> {
    match tokio::time::timeout(OP_TIMEOUT * 2, fut).await {
        Ok(out) => out.map_err(CacheError::from),
        Err(_) => Err(CacheError("Redis did not answer in time".into())),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

struct LoginKeys {
    fail: String,
    pending: String,
    ban: String,
    account_failures: String,
    trust: String,
    account: String,
}

#[async_trait]
impl Backend for RedisCache {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn begin_login<'a>(
        &'a self,
        client: IpAddr,
        username: &str,
    ) -> CacheResult<Result<Box<dyn Attempt + 'a>, Duration>> {
        let keys = self.login_keys(client, username);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (max, window, _, account_max, account_window) = self.script_limits();
        let mut invocation = self.begin.prepare_invoke();
        invocation
            .key(&keys.fail)
            .key(&keys.pending)
            .key(&keys.ban)
            .key(&keys.account_failures)
            .key(&keys.trust)
            .arg(&id)
            .arg(max)
            .arg(window)
            .arg(account_max)
            .arg(account_window)
            .arg(ms(IN_FLIGHT_TTL))
            .arg(ms(IN_FLIGHT_RETRY));
        let mut conn = self.conn.clone();
        let (verdict, wait): (u8, i64) = bounded(invocation.invoke_async(&mut conn)).await?;
        if verdict != 0 {
            let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(1));
            return Ok(Err(whole_seconds(wait)));
        }
        Ok(Ok(Box::new(RedisAttempt {
            cache: self,
            keys,
            id,
            client,
            settled: max == 0,
        })))
    }

    async fn revoke(&self, jti: &str, ttl: Duration) -> CacheResult<()> {
        let key = self.key(&["revoked", jti]);
        let mut conn = self.conn.clone();
        let opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ms(ttl)));
        bounded(conn.set_options::<_, _, ()>(key, 1, opts)).await
    }

    async fn is_revoked(&self, jti: &str) -> CacheResult<bool> {
        let key = self.key(&["revoked", jti]);
        let mut conn = self.conn.clone();
        bounded(conn.exists(key)).await
    }

    async fn get(&self, key: &str) -> CacheResult<Option<Bytes>> {
        let key = self.key(&["meta", key]);
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = bounded(conn.get(key)).await?;
        Ok(value.map(Bytes::from))
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> CacheResult<()> {
        let key = self.key(&["meta", key]);
        let mut conn = self.conn.clone();
        let opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ms(ttl)));
        bounded(conn.set_options::<_, _, ()>(key, value.as_ref(), opts)).await
    }

    async fn ping(&self) -> CacheResult<()> {
        let mut conn = self.conn.clone();
        bounded(redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .map(drop)
    }
}

/// An attempt counted in Redis. Dropped unsettled, it is taken back (in the background:
/// a drop cannot wait).
struct RedisAttempt<'a> {
    cache: &'a RedisCache,
    keys: LoginKeys,
    id: String,
    client: IpAddr,
    /// Settled, or never in flight (the address limit is off).
    settled: bool,
}

#[async_trait]
impl Attempt for RedisAttempt<'_> {
    async fn failed(mut self: Box<Self>) -> CacheResult<()> {
        self.settled = true;
        let (max, window, ban, account_max, account_window) = self.cache.script_limits();
        let mut invocation = self.cache.failed.prepare_invoke();
        invocation
            .key(&self.keys.fail)
            .key(&self.keys.pending)
            .key(&self.keys.ban)
            .key(&self.keys.account_failures)
            .arg(&self.id)
            .arg(&self.keys.account)
            .arg(max)
            .arg(window)
            .arg(ban)
            .arg(account_max)
            .arg(account_window);
        let mut conn = self.cache.conn.clone();
        let banned: u8 = bounded(invocation.invoke_async(&mut conn)).await?;
        if banned == 1 {
            tracing::warn!(
                client = %client_key(self.client),
                failures = max,
                ban_secs = ban / 1000,
                "too many failed logins; address banned"
            );
        }
        Ok(())
    }

    async fn succeeded(mut self: Box<Self>) -> CacheResult<()> {
        self.settled = true;
        let trust = if self.cache.limits.account_limited() {
            ms(TRUST_TTL)
        } else {
            0
        };
        let mut invocation = self.cache.succeeded.prepare_invoke();
        invocation
            .key(&self.keys.fail)
            .key(&self.keys.pending)
            .key(&self.keys.trust)
            .arg(&self.id)
            .arg(&self.keys.account)
            .arg(trust);
        let mut conn = self.cache.conn.clone();
        bounded(invocation.invoke_async::<u8>(&mut conn))
            .await
            .map(drop)
    }
}

impl Drop for RedisAttempt<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // it leaves the in-flight set after IN_FLIGHT_TTL
        };
        let mut conn = self.cache.conn.clone();
        let (key, id) = (self.keys.pending.clone(), std::mem::take(&mut self.id));
        runtime.spawn(async move {
            if let Err(e) = bounded(conn.zrem::<_, _, u8>(key, id)).await {
                tracing::debug!(error = %e, "could not take back a login attempt");
            }
        });
    }
}
