//! Shared short-lived state: the login limiter, revoked access tokens and a metadata
//! cache with TTL.
//!
//! One trait, [`Backend`], has two implementations: in-process ([`memory::Memory`], the
//! default) and Redis ([`redis::RedisCache`], when `REDIS_URL` or `REDIS_HOST` is set),
//! which lets several servers share one login count and one set of revocations. The rest
//! of the server only sees [`Cache`], which never fails:
//!
//! - While Redis answers, everything goes to Redis (revocations are also kept in memory,
//!   so this server's own logouts hold whatever happens to Redis).
//! - The first command that fails or times out ([`redis::OP_TIMEOUT`]) switches to the
//!   in-process backend, logs once, and reports the cache degraded; the request that met
//!   the failure is answered from memory, so a Redis outage never becomes a 5xx.
//! - A probe pings Redis with backoff; when it answers, the revocations made meanwhile
//!   are copied to it and Redis is used again (logged once). Login counts made in memory
//!   during the outage stay in memory: they are a fallback, not a queue.
//!
//! The limiter's rules (per address, per account, bans, trusted pairs) are the same on
//! both backends; they are written out in [`throttle`].

mod memory;
pub mod redis;
mod throttle;
mod ttl_map;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;

pub use memory::Memory;
pub use redis::RedisCache;
pub use throttle::{DEFAULT_CAPACITY, Limits, LoginThrottle};

/// A backend's failure: Redis refused, dropped the connection or did not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CacheError(pub String);

impl From<::redis::RedisError> for CacheError {
    fn from(e: ::redis::RedisError) -> Self {
        Self(e.to_string())
    }
}

pub type CacheResult<T> = Result<T, CacheError>;

/// Where the limiter counts, revocations are kept and metadata is cached.
#[async_trait]
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;

    /// Counts an attempt from `client` to log in as `username`, or refuses it with the
    /// time to wait. The attempt must be settled; dropped unsettled it is taken back.
    async fn begin_login<'a>(
        &'a self,
        client: IpAddr,
        username: &str,
    ) -> CacheResult<Result<Box<dyn Attempt + 'a>, Duration>>;

    /// Refuses the access token `jti` for `ttl` (until it would expire anyway).
    async fn revoke(&self, jti: &str, ttl: Duration) -> CacheResult<()>;
    async fn is_revoked(&self, jti: &str) -> CacheResult<bool>;

    /// A cached metadata document.
    async fn get(&self, key: &str) -> CacheResult<Option<Bytes>>;
    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> CacheResult<()>;

    async fn ping(&self) -> CacheResult<()>;
}

/// A counted login attempt, settled with the outcome of the password check.
#[async_trait]
pub trait Attempt: Send {
    /// Wrong password or unknown user.
    async fn failed(self: Box<Self>) -> CacheResult<()>;
    /// Forgets this address's failures against this account, and trusts the address.
    async fn succeeded(self: Box<Self>) -> CacheResult<()>;
}

/// The cache as `/api/health` reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheStatus {
    /// The backend in use now: `redis` or `memory`.
    pub backend: &'static str,
    /// Whether Redis is configured.
    pub redis: bool,
    /// `ok`, or `degraded` while Redis is configured but not answering.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl CacheStatus {
    pub fn degraded(&self) -> bool {
        self.state != "ok"
    }
}

/// The cache the server uses: Redis when configured and answering, else in-process.
#[derive(Clone)]
pub struct Cache(Arc<Shared>);

struct Shared {
    memory: Memory,
    redis: Option<RedisCache>,
    /// Whether Redis is in use (it answered last time).
    up: AtomicBool,
    /// Whether a probe is waiting for Redis to come back.
    probing: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// The probe's first and longest waits between pings.
const PROBE_FIRST: Duration = Duration::from_millis(250);
const PROBE_MAX: Duration = Duration::from_secs(5);

impl Cache {
    /// The in-process cache alone.
    pub fn in_process(limits: Limits) -> Self {
        Self::with(limits, None)
    }

    /// Redis, with the in-process cache to fall back on. Does not wait for Redis: until
    /// it answers, the in-process cache serves.
    pub async fn redis(limits: Limits, redis: RedisCache) -> Self {
        let cache = Self::with(limits, Some(redis));
        cache.0.up.store(false, Ordering::SeqCst);
        match cache.check().await {
            Ok(()) => {
                cache.use_redis();
                tracing::info!("using Redis for the cache and login limiter");
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis not reachable; using the in-process cache until it answers");
                cache.lost(&e);
            }
        }
        cache
    }

    fn with(limits: Limits, redis: Option<RedisCache>) -> Self {
        let has_redis = redis.is_some();
        let shared = Shared {
            memory: Memory::new(limits),
            redis,
            up: AtomicBool::new(has_redis),
            probing: AtomicBool::new(false),
            last_error: Mutex::new(None),
        };
        let cache = Self(Arc::new(shared));
        cache.record_backend();
        cache
    }

    /// Counts a login attempt or refuses it with the time to wait (see [`Backend`]).
    pub async fn begin_login(
        &self,
        client: IpAddr,
        username: &str,
    ) -> Result<LoginAttempt<'_>, Duration> {
        if let Some(redis) = self.remote() {
            match redis.begin_login(client, username).await {
                Ok(verdict) => return verdict.map(|a| self.attempt(a)),
                Err(e) => self.lost(&e),
            }
        }
        let attempt = self.0.memory.begin(client, username)?;
        Ok(self.attempt(Box::new(attempt)))
    }

    /// Refuses the access token `jti` for `ttl`, on every server sharing the backend.
    pub async fn revoke(&self, jti: &str, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        self.0.memory.revoke(jti, ttl);
        if let Some(redis) = self.remote()
            && let Err(e) = redis.revoke(jti, ttl).await
        {
            self.lost(&e);
        }
    }

    /// Whether the access token `jti` was revoked (here, or through Redis elsewhere).
    pub async fn is_revoked(&self, jti: &str) -> bool {
        let mut revoked = self.0.memory.is_revoked(jti);
        if !revoked && let Some(redis) = self.remote() {
            match redis.is_revoked(jti).await {
                Ok(r) => revoked = r,
                Err(e) => self.lost(&e),
            }
        }
        count("revocation", revoked);
        revoked
    }

    /// The metadata cached under `key`, if any and not expired.
    pub async fn get_metadata(&self, key: &str) -> Option<Bytes> {
        let mut found = None;
        let mut answered = false;
        if let Some(redis) = self.remote() {
            match redis.get(key).await {
                Ok(v) => (found, answered) = (v, true),
                Err(e) => self.lost(&e),
            }
        }
        if !answered {
            found = self.0.memory.get(key);
        }
        count("metadata", found.is_some());
        found
    }

    /// Caches metadata under `key` for `ttl`.
    pub async fn put_metadata(&self, key: &str, value: Bytes, ttl: Duration) {
        if let Some(redis) = self.remote() {
            match redis.put(key, value.clone(), ttl).await {
                Ok(()) => return,
                Err(e) => self.lost(&e),
            }
        }
        self.0.memory.put(key, value, ttl);
    }

    pub fn status(&self) -> CacheStatus {
        let redis = self.0.redis.is_some();
        let up = self.0.up.load(Ordering::SeqCst);
        let last_error = self
            .0
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        CacheStatus {
            backend: if redis && up { "redis" } else { "memory" },
            redis,
            state: if redis && !up { "degraded" } else { "ok" },
            last_error: last_error.filter(|_| redis && !up),
        }
    }

    fn attempt<'a>(&'a self, inner: Box<dyn Attempt + 'a>) -> LoginAttempt<'a> {
        LoginAttempt { cache: self, inner }
    }

    /// Redis, if configured and in use.
    fn remote(&self) -> Option<&RedisCache> {
        let redis = self.0.redis.as_ref()?;
        self.0.up.load(Ordering::SeqCst).then_some(redis)
    }

    /// Switches to the in-process cache (logging once per outage) and starts the probe.
    fn lost(&self, e: &CacheError) {
        *self
            .0
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(e.0.clone());
        if self.0.up.swap(false, Ordering::SeqCst) {
            tracing::warn!(error = %e, "Redis unavailable; using the in-process cache until it answers");
            metrics::counter!("torrentedge_cache_fallbacks_total").increment(1);
            self.record_backend();
        }
        if !self.0.probing.swap(true, Ordering::SeqCst) {
            tokio::spawn(probe(Arc::downgrade(&self.0)));
        }
    }

    /// Pings Redis and copies the revocations it may have missed; Ok means it is usable.
    async fn check(&self) -> CacheResult<()> {
        let Some(redis) = &self.0.redis else {
            return Ok(());
        };
        redis.ping().await?;
        for (jti, left) in self.0.memory.revocations() {
            redis.revoke(&jti, left).await?;
        }
        Ok(())
    }

    /// Goes (back) to Redis. The probe flag drops first: a failure right after this
    /// must be able to start a new probe.
    fn use_redis(&self) {
        self.0.probing.store(false, Ordering::SeqCst);
        self.0.up.store(true, Ordering::SeqCst);
        self.record_backend();
    }

    fn record_backend(&self) {
        let in_use = self.status().backend;
        for backend in ["redis", "memory"] {
            let value = if backend == in_use { 1.0 } else { 0.0 };
            metrics::gauge!("torrentedge_cache_backend", "backend" => backend).set(value);
        }
    }
}

fn count(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("torrentedge_cache_requests_total", "cache" => cache, "result" => result)
        .increment(1);
}

/// Pings Redis with backoff until it answers (then goes back to it) or the cache is gone.
async fn probe(shared: Weak<Shared>) {
    let mut wait = PROBE_FIRST;
    loop {
        tokio::time::sleep(wait).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let cache = Cache(shared);
        match cache.check().await {
            Ok(()) => {
                cache.use_redis();
                tracing::info!("Redis answers again; using it for the cache and login limiter");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "Redis still unavailable");
                *cache
                    .0
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e.0);
            }
        }
        wait = (wait * 2).min(PROBE_MAX);
    }
}

/// A login attempt counted by the cache, to settle with the outcome of the check.
/// Dropped unsettled (a storage error, an abandoned request), it is taken back.
#[must_use = "settle the attempt with failed() or succeeded()"]
pub struct LoginAttempt<'a> {
    cache: &'a Cache,
    inner: Box<dyn Attempt + 'a>,
}

impl LoginAttempt<'_> {
    pub async fn failed(self) {
        if let Err(e) = self.inner.failed().await {
            self.cache.lost(&e);
        }
    }

    pub async fn succeeded(self) {
        if let Err(e) = self.inner.succeeded().await {
            self.cache.lost(&e);
        }
    }
}

#[cfg(test)]
mod tests;
