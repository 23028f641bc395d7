//! The magnet-to-metadata service: a magnet link in, the torrent's metadata out
//! (names, sizes, offsets, pieces, trackers), fetched from peers without downloading
//! content.
//!
//! Answers are cached in two tiers: L1 is the shared cache (Redis when configured,
//! else in process) for `METADATA_CACHE_TTL`; L2 is `CACHE_DIR` on disk (the `.torrent`
//! and its JSON), so a restart answers from disk. Concurrent requests for one hash
//! share one lookup. The fetch itself is the engine's ([`Engine::lookup_metadata`]).

mod disk;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::{Deserialize, Serialize};

use crate::InfoHash;
use crate::cache::Cache;
use crate::config::MetadataConfig;
use crate::engine::source::{MagnetLink, RetryPolicy};
use crate::engine::{Engine, EngineError, Metainfo};

/// A torrent's metadata as the API answers it (without `download_url`, which depends
/// on how the server is reached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metadata {
    pub info_hash: InfoHash,
    pub name: Option<String>,
    pub size: u64,
    pub piece_length: u32,
    pub piece_count: u64,
    pub files: Vec<MetaFile>,
    /// Outside the info dictionary peers send: known from a `.torrent` only.
    pub created_by: Option<String>,
    /// Seconds since the Unix epoch.
    pub created_at: Option<i64>,
    pub comment: Option<String>,
    pub trackers: Vec<String>,
}

/// One file: its path inside the torrent (below the torrent's name), size and where it
/// starts in the torrent's byte stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetaFile {
    pub path: String,
    pub size: u64,
    pub offset: u64,
}

/// Where an answer came from (counted in `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Disk,
    Lookup,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Disk => "disk",
            Self::Lookup => "lookup",
        }
    }
}

/// A lookup's failure, shared by every request that waited on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MetadataError {
    #[error("{0}")]
    InvalidMagnet(String),
    #[error("{0}")]
    Timeout(String),
    /// Peers sent nothing usable, or the engine failed.
    #[error("{0}")]
    Failed(String),
}

impl From<EngineError> for MetadataError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidMagnet(_) => Self::InvalidMagnet(e.to_string()),
            EngineError::Timeout(_) => Self::Timeout(e.to_string()),
            e => Self::Failed(e.to_string()),
        }
    }
}

type Flight = Shared<BoxFuture<'static, Result<Arc<Metadata>, MetadataError>>>;

/// The service. Cheap to share behind an `Arc`.
pub struct MetadataService {
    engine: Arc<Engine>,
    cache: Cache,
    disk: disk::Disk,
    cfg: MetadataConfig,
    retry: RetryPolicy,
    inflight: Mutex<HashMap<InfoHash, Flight>>,
    /// Lookups started since the server started (each shared by its waiters).
    lookups: std::sync::atomic::AtomicU64,
}

impl MetadataService {
    pub fn new(
        engine: Arc<Engine>,
        cache: Cache,
        cfg: MetadataConfig,
        retry: RetryPolicy,
    ) -> Arc<Self> {
        Arc::new(Self {
            engine,
            cache,
            disk: disk::Disk::new(cfg.cache_dir.clone()),
            cfg,
            retry,
            inflight: Mutex::new(HashMap::new()),
            lookups: Default::default(),
        })
    }

    pub fn config(&self) -> &MetadataConfig {
        &self.cfg
    }

    /// The metadata of `magnet`, from a cache tier or a lookup.
    pub async fn resolve(
        self: &Arc<Self>,
        magnet: &str,
    ) -> Result<(Arc<Metadata>, Source), MetadataError> {
        let link = MagnetLink::parse(magnet)?;
        let hash = link.info_hash;
        let source = if let Some(m) = self.cached(&hash).await {
            (m, Source::Cache)
        } else if let Some(m) = self.disk.metadata(&hash).await {
            self.cache_put(&m).await;
            (Arc::new(m), Source::Disk)
        } else {
            (self.shared_lookup(link).await?, Source::Lookup)
        };
        metrics::counter!("torrentedge_metadata_answers_total", "source" => source.1.label())
            .increment(1);
        Ok(source)
    }

    /// The `.torrent` of a looked-up hash (for `/download/{hash}`).
    pub async fn torrent_file(&self, hash: &InfoHash) -> Option<Vec<u8>> {
        self.disk.torrent(hash).await
    }

    /// How many lookups run now, and how many started since the server did (health).
    pub fn lookups(&self) -> (usize, u64) {
        let running = self.inflight.lock().map(|m| m.len()).unwrap_or(0);
        (
            running,
            self.lookups.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    async fn cached(&self, hash: &InfoHash) -> Option<Arc<Metadata>> {
        let bytes = self.cache.get_metadata(&cache_key(hash)).await?;
        serde_json::from_slice(&bytes).ok().map(Arc::new)
    }

    async fn cache_put(&self, m: &Metadata) {
        if let Ok(json) = serde_json::to_vec(m) {
            self.cache
                .put_metadata(&cache_key(&m.info_hash), json.into(), self.cfg.cache_ttl)
                .await;
        }
    }

    /// Joins the lookup of this hash in flight, or starts it. The lookup runs as its
    /// own task: it completes (and fills the caches) even when every request waiting on
    /// it has gone.
    async fn shared_lookup(
        self: &Arc<Self>,
        link: MagnetLink,
    ) -> Result<Arc<Metadata>, MetadataError> {
        let hash = link.info_hash;
        let flight = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(hash)
                .or_insert_with(|| {
                    let me = self.clone();
                    let task = tokio::spawn(async move {
                        let out = me.lookup(link).await;
                        me.inflight
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&hash);
                        out
                    });
                    async move {
                        task.await.unwrap_or_else(|e| {
                            Err(MetadataError::Failed(format!("lookup task: {e}")))
                        })
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        flight.await
    }

    /// The lookup, retried on transient faults (waits of `RETRY_BASE_DELAY_MS`,
    /// doubling) within `METADATA_TIMEOUT`, kept in both tiers. Still failing when the
    /// time is up is a timeout; failing after the last retry with time left, a failure.
    async fn lookup(&self, link: MagnetLink) -> Result<Arc<Metadata>, MetadataError> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let timeout = self.cfg.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut delay = self.retry.base_delay;
        let mut retries = 0;
        let found: Metainfo = loop {
            let last = match self.engine.lookup_metadata(&link, left()).await {
                Ok(found) => break found,
                Err(EngineError::Fetch(e)) => e,
                Err(e) => return Err(e.into()),
            };
            if left().is_zero() {
                return Err(MetadataError::Timeout(format!(
                    "no metadata for {} within {} s ({last})",
                    link.info_hash,
                    timeout.as_secs()
                )));
            }
            if retries == self.retry.retries {
                return Err(MetadataError::Failed(last));
            }
            retries += 1;
            tracing::info!(info_hash = %link.info_hash, error = %last, retry_in = ?delay, "metadata lookup failed; retrying");
            tokio::time::sleep(delay.min(left())).await;
            delay = delay.saturating_mul(2);
        };
        let m = metadata_of(&found);
        if let Err(e) = self.disk.keep(&m, &found.bytes).await {
            // L2 is a cache: an answer without it is still an answer.
            tracing::warn!(info_hash = %m.info_hash, error = %e, "keeping metadata on disk");
        }
        self.cache_put(&m).await;
        Ok(Arc::new(m))
    }
}

fn cache_key(hash: &InfoHash) -> String {
    format!("metadata:{hash}")
}

/// The answer for a torrent's metainfo.
pub fn metadata_of(m: &Metainfo) -> Metadata {
    let info = &m.info;
    let mut offset = 0;
    let files = info
        .files
        .iter()
        .map(|(path, size)| {
            let inside = match &info.sub_folder {
                Some(sub) => path.strip_prefix(sub).unwrap_or(path),
                None => path.as_path(),
            };
            let f = MetaFile {
                path: inside.to_string_lossy().into_owned(),
                size: *size,
                offset,
            };
            offset += size;
            f
        })
        .collect();
    Metadata {
        info_hash: info.info_hash,
        name: info.name.clone(),
        size: info.total_bytes,
        piece_length: info.piece_length,
        piece_count: (info.piece_hashes.len() / 20) as u64,
        files,
        created_by: info.created_by.clone(),
        created_at: info.creation_date,
        comment: info.comment.clone(),
        trackers: info.trackers.clone(),
    }
}
