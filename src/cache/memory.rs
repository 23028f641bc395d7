//! The in-process backend: the default, and the fallback while Redis is down.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use super::throttle::{Limits, LoginThrottle, Pending};
use super::ttl_map::TtlMap;
use super::{Attempt, Backend, CacheResult};

/// Revoked token ids kept at most (each until its token would expire anyway).
const MAX_REVOCATIONS: usize = 100_000;
/// Cached metadata kept at most, in bytes.
const MAX_METADATA_BYTES: usize = 64 * 1024 * 1024;
const MAX_METADATA_ENTRIES: usize = 10_000;

pub struct Memory {
    throttle: LoginThrottle,
    revoked: TtlMap<()>,
    metadata: TtlMap<Bytes>,
}

impl Memory {
    pub fn new(limits: Limits) -> Self {
        Self {
            throttle: LoginThrottle::new(limits),
            revoked: TtlMap::new(MAX_REVOCATIONS, MAX_REVOCATIONS * 128),
            metadata: TtlMap::new(MAX_METADATA_ENTRIES, MAX_METADATA_BYTES),
        }
    }

    /// Every revocation still in force, with its time left (to copy to Redis).
    pub fn revocations(&self) -> Vec<(String, Duration)> {
        let live = self.revoked.live(Instant::now());
        live.into_iter()
            .map(|(jti, (), left)| (jti, left))
            .collect()
    }

    pub fn begin(&self, client: IpAddr, username: &str) -> Result<Pending<'_>, Duration> {
        self.throttle.begin(client, username, Instant::now())
    }

    pub fn revoke(&self, jti: &str, ttl: Duration) {
        self.revoked.insert(jti, (), 0, ttl, Instant::now());
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked.get(jti, Instant::now()).is_some()
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.metadata.get(key, Instant::now())
    }

    pub fn put(&self, key: &str, value: Bytes, ttl: Duration) {
        let weight = value.len();
        self.metadata
            .insert(key, value, weight, ttl, Instant::now());
    }
}

/// The in-process backend never fails.
#[async_trait]
impl Backend for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn begin_login<'a>(
        &'a self,
        client: IpAddr,
        username: &str,
    ) -> CacheResult<Result<Box<dyn Attempt + 'a>, Duration>> {
        let attempt = self.begin(client, username);
        Ok(attempt.map(|p| Box::new(p) as Box<dyn Attempt + 'a>))
    }

    async fn revoke(&self, jti: &str, ttl: Duration) -> CacheResult<()> {
        Memory::revoke(self, jti, ttl);
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> CacheResult<bool> {
        Ok(Memory::is_revoked(self, jti))
    }

    async fn get(&self, key: &str) -> CacheResult<Option<Bytes>> {
        Ok(Memory::get(self, key))
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) -> CacheResult<()> {
        Memory::put(self, key, value, ttl);
        Ok(())
    }

    async fn ping(&self) -> CacheResult<()> {
        Ok(())
    }
}

#[async_trait]
impl Attempt for Pending<'_> {
    async fn failed(self: Box<Self>) -> CacheResult<()> {
        Pending::failed(*self, Instant::now());
        Ok(())
    }

    async fn succeeded(self: Box<Self>) -> CacheResult<()> {
        Pending::succeeded(*self, Instant::now());
        Ok(())
    }
}
