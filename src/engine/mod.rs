//! The torrent engine: the only module that names librqbit.
//!
//! It owns a librqbit [`Session`], the download queue, global rate limits and the seeding
//! policy, and hands out the project's own types ([`TorrentView`], [`TorrentDetails`]).
//! Every torrent has a [`TorrentRecord`] in the store, written before librqbit sees it, so
//! a restart brings back each torrent in its state and queue position; librqbit re-checks
//! data already on disk instead of downloading it again.
//!
//! Control is level-triggered: operations change records and the queue plan, then
//! [`Engine::reconcile`] moves librqbit towards what the records say (run or stop each
//! torrent, fetch metadata for active magnets). The sampler runs the same reconcile
//! every tick, so a race with librqbit's own transitions (a pause requested mid-check,
//! say) heals on the next tick.

mod entry;
pub mod queue;
mod sampler;
pub mod source;
pub mod types;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};

use librqbit::api::TorrentIdOrHash;
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, ListenerMode, ListenerOptions, Session,
    SessionOptions,
};
use tokio_util::sync::CancellationToken;

use crate::config::EngineConfig;
use crate::events::{Bus, EventType};
use crate::store::{DynStore, Priority, StoreError, TorrentRecord};
use entry::{Desired, Entry, Handle};
use source::{MagnetLink, UrlFetchPolicy};
pub use types::*;

/// Engine errors. Each variant maps to one HTTP status in the API layer.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid magnet link: {0}")]
    InvalidMagnet(String),
    #[error("{0}")]
    InvalidTorrent(String),
    #[error("{0}")]
    UnsafePath(String),
    #[error("{0}")]
    InvalidUrl(String),
    #[error("could not fetch the torrent: {0}")]
    Fetch(String),
    #[error("the torrent file is larger than {0} bytes")]
    TooLarge(usize),
    #[error("torrent {0} already exists")]
    AlreadyExists(String),
    #[error("torrent {0} not found")]
    NotFound(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("engine: {0:#}")]
    Internal(anyhow::Error),
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The running engine. Cheap to share behind an `Arc`.
pub struct Engine {
    session: Arc<Session>,
    api: librqbit::Api,
    store: DynStore,
    cfg: Mutex<EngineConfig>,
    /// The torrents. A std mutex: it is held only for short, synchronous sections and
    /// never across an await, which a tokio mutex would not enforce.
    torrents: Mutex<HashMap<String, Entry>>,
    /// Serializes operations that change torrents (add, pause, remove, reconcile), so
    /// their async steps never interleave.
    ops: tokio::sync::Mutex<()>,
    /// Wakes the sampler before its next tick (a download completed).
    wake: tokio::sync::Notify,
    bus: Arc<Bus>,
    /// Download slots taken and torrents waiting, as last announced (`queue:updated`).
    last_queue: Mutex<Option<(usize, usize)>>,
    cancel: CancellationToken,
}

impl Engine {
    /// Starts librqbit, restores every stored torrent and starts the sampler.
    pub async fn start(
        cfg: EngineConfig,
        store: DynStore,
        bus: Arc<Bus>,
        cancel: CancellationToken,
    ) -> Result<Arc<Self>> {
        if !cfg.enable_pex {
            return Err(EngineError::Internal(anyhow::anyhow!(
                "ENABLE_PEX=false is not supported: the engine always exchanges peers on public torrents"
            )));
        }
        std::fs::create_dir_all(&cfg.download_path).map_err(|e| {
            EngineError::Internal(anyhow::anyhow!("creating {:?}: {e}", cfg.download_path))
        })?;
        let download_path = cfg
            .download_path
            .canonicalize()
            .map_err(|e| EngineError::Internal(e.into()))?;
        let session = Session::new_with_opts(download_path.clone(), session_options(&cfg, &cancel))
            .await
            .map_err(EngineError::Internal)?;
        let engine = Arc::new(Self {
            api: librqbit::Api::new(session.clone(), None),
            session,
            store,
            cfg: Mutex::new(EngineConfig {
                download_path,
                ..cfg
            }),
            torrents: Mutex::new(HashMap::new()),
            ops: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            bus,
            last_queue: Mutex::new(None),
            cancel,
        });
        engine.restore().await?;
        sampler::spawn(engine.clone());
        Ok(engine)
    }

    /// The address peers connect to.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.session.listen_addr()
    }

    fn config(&self) -> EngineConfig {
        lock(&self.cfg).clone()
    }

    async fn restore(self: &Arc<Self>) -> Result<()> {
        let records = self.store.list_torrents().await?;
        let count = records.len();
        for rec in records {
            let hash = rec.info_hash.clone();
            lock(&self.torrents).insert(hash.clone(), Entry::new(rec.clone()));
            if rec.torrent_bytes.is_some() {
                self.attach(&hash).await;
            }
        }
        tracing::info!(torrents = count, "restored torrents");
        self.reconcile().await;
        Ok(())
    }

    /// Adds a torrent for `actor`.
    pub async fn add(
        self: &Arc<Self>,
        actor: &Actor,
        input: TorrentInput,
        opts: AddOptions,
    ) -> Result<TorrentView> {
        let cfg = self.config();
        let (rec_base, files) = match input {
            TorrentInput::Magnet(m) => (magnet_record(&m)?, Vec::new()),
            TorrentInput::File(bytes) => file_record(bytes)?,
            TorrentInput::Url(url) => {
                let policy = UrlFetchPolicy {
                    max_bytes: cfg.url_max_bytes,
                    timeout: cfg.url_timeout,
                    allow_private: cfg.allow_private_urls,
                };
                file_record(source::fetch_torrent_url(&url, &policy).await?)?
            }
        };
        source::check_layout_on_disk(&cfg.download_path, &files)?;
        let mut rec = TorrentRecord {
            owner_id: actor.user_id.clone(),
            priority: opts.priority,
            paused: opts.paused,
            added_at: crate::now_millis(),
            ..rec_base
        };
        for p in opts.peers.iter().map(|p| p.to_string()) {
            if !rec.initial_peers.contains(&p) {
                rec.initial_peers.push(p);
            }
        }
        let hash = rec.info_hash.clone();
        // issue 6: tracker names are resolved now, not under the operations lock.
        source::trackers::resolve_tracker_names(&rec, (&cfg).into()).await;
        let _ops = self.ops.lock().await;
        if lock(&self.torrents).contains_key(&hash) {
            return Err(EngineError::AlreadyExists(hash));
        }
        self.store.insert_torrent(&rec).await.map_err(|e| match e {
            StoreError::Conflict(_) => EngineError::AlreadyExists(hash.clone()),
            e => e.into(),
        })?;
        let has_bytes = rec.torrent_bytes.is_some();
        lock(&self.torrents).insert(hash.clone(), Entry::new(rec));
        if has_bytes {
            self.attach(&hash).await;
        }
        self.reconcile_locked().await;
        tracing::info!(info_hash = %hash, user = %actor.user_id, "torrent added");
        let view = self.view_of(actor, &hash)?;
        self.emit(
            EventType::Added,
            &view.info_hash,
            &view.owner_id,
            to_json(&view),
        );
        Ok(view)
    }

    /// Publishes an event about one torrent.
    fn emit(&self, kind: EventType, info_hash: &str, owner: &str, data: serde_json::Value) {
        self.bus.emit(kind, Some(info_hash), Some(owner), data);
    }

    /// Hands a torrent whose metadata is known to librqbit, paused: it checks what is on
    /// disk, and [`Self::reconcile`] decides whether it runs. Failures put the torrent in
    /// the error state rather than losing it.
    async fn attach(&self, hash: &str) {
        let (bytes, peers) = {
            let map = lock(&self.torrents);
            let Some(e) = map.get(hash) else { return };
            let Some(bytes) = e.rec.torrent_bytes.clone() else {
                return;
            };
            (bytes, parse_peers(&e.rec.initial_peers))
        };
        let cfg = self.config();
        let result = async {
            let info = source::inspect_torrent(&bytes)?;
            source::check_layout_on_disk(&cfg.download_path, &info.files)?;
            // issue 6: librqbit gets only the trackers the policy allows.
            let bytes = source::trackers::screen_torrent(&bytes, (&cfg).into()).await?;
            let opts = AddTorrentOptions {
                paused: true,
                overwrite: true,
                sub_folder: info.sub_folder,
                initial_peers: Some(peers),
                peer_limit: Some(cfg.max_peer_connections),
                ..Default::default()
            };
            let resp = self
                .session
                .add_torrent(AddTorrent::from_bytes(bytes), Some(opts))
                .await
                .map_err(EngineError::Internal)?;
            match resp {
                AddTorrentResponse::Added(_, h) | AddTorrentResponse::AlreadyManaged(_, h) => Ok(h),
                AddTorrentResponse::ListOnly(_) => Err(EngineError::Internal(anyhow::anyhow!(
                    "unexpected list-only answer"
                ))),
            }
        }
        .await;
        let mut map = lock(&self.torrents);
        let Some(e) = map.get_mut(hash) else { return };
        match result {
            Ok(h) => e.handle = Some(h),
            Err(err) => {
                tracing::warn!(info_hash = %hash, error = %err, "cannot start torrent");
                e.rec.error = Some(err.to_string());
                e.dirty = true;
                let data = serde_json::json!({ "message": err.to_string() });
                self.emit(EventType::Error, hash, &e.rec.owner_id, data);
            }
        }
    }

    /// Moves librqbit towards what the records say. Takes the operations lock.
    pub async fn reconcile(self: &Arc<Self>) {
        let _ops = self.ops.lock().await;
        self.reconcile_locked().await;
    }

    /// [`Self::reconcile`] for callers already holding the operations lock.
    async fn reconcile_locked(self: &Arc<Self>) {
        let max = self.config().max_concurrent;
        let mut to_run = Vec::new();
        let mut to_stop = Vec::new();
        let mut to_resolve = Vec::new();
        {
            let mut map = lock(&self.torrents);
            let candidates: Vec<queue::Candidate<'_>> = map
                .values()
                .map(|e| queue::Candidate {
                    info_hash: &e.rec.info_hash,
                    priority: e.rec.priority,
                    added_at: e.rec.added_at,
                    wants_download: e.wants_download(),
                })
                .collect();
            let plan = queue::plan(&candidates, max);
            self.announce_queue(plan.active.len(), plan.queued.len());
            let active: std::collections::HashSet<String> =
                plan.active.iter().map(|s| s.to_string()).collect();
            let positions: HashMap<String, usize> = plan
                .queued
                .iter()
                .enumerate()
                .map(|(i, h)| (h.to_string(), i + 1))
                .collect();
            for (hash, e) in map.iter_mut() {
                e.active = active.contains(hash);
                e.queue_position = positions.get(hash).copied();
                let desired = e.desired();
                if desired == Desired::Stop || e.is_complete() {
                    if let Some(w) = e.completion_waiter.take() {
                        w.abort();
                    }
                } else if let (Some(h), None) = (&e.handle, &e.completion_waiter) {
                    e.completion_waiter = Some(self.spawn_completion_waiter(h.clone()));
                }
                match (desired, &e.handle) {
                    (Desired::Run, Some(h)) if h.is_paused() => to_run.push(h.clone()),
                    (Desired::Run, None) if e.should_resolve() => to_resolve.push(hash.clone()),
                    (Desired::Stop, Some(h)) if !h.is_paused() => to_stop.push(h.clone()),
                    (Desired::Stop, None) => {
                        if let Some(r) = e.resolver.take() {
                            r.abort();
                        }
                    }
                    _ => {}
                }
            }
        }
        for h in to_stop {
            if let Err(err) = self.session.pause(&h).await {
                tracing::debug!(error = %err, "pause");
            }
        }
        for h in to_run {
            let ready =
                h.with_state(|s| !matches!(s, librqbit::ManagedTorrentState::Initializing(_)));
            if ready && let Err(err) = self.session.unpause(&h).await {
                tracing::debug!(error = %err, "unpause");
            }
        }
        for hash in to_resolve {
            self.spawn_resolver(hash);
        }
    }

    /// Emits `queue:updated` when the number of downloading or waiting torrents changed.
    fn announce_queue(&self, active: usize, queued: usize) {
        let mut last = lock(&self.last_queue);
        if *last != Some((active, queued)) {
            *last = Some((active, queued));
            let stats =
                serde_json::json!({ "stats": { "activeCount": active, "queuedCount": queued } });
            self.bus.emit(EventType::QueueUpdated, None, None, stats);
        }
    }

    fn spawn_completion_waiter(self: &Arc<Self>, h: Handle) -> tokio::task::AbortHandle {
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            if h.wait_until_completed().await.is_ok()
                && let Some(engine) = engine.upgrade()
            {
                engine.wake.notify_one();
            }
        })
        .abort_handle()
    }

    /// Fetches a magnet's metadata from peers in the background, without downloading.
    fn spawn_resolver(self: &Arc<Self>, hash: String) {
        let (magnet, peers) = {
            let map = lock(&self.torrents);
            let Some(e) = map.get(&hash) else { return };
            (
                e.rec.magnet.clone().unwrap_or_default(),
                parse_peers(&e.rec.initial_peers),
            )
        };
        let engine = self.clone();
        let h2 = hash.clone();
        let task = tokio::spawn(async move {
            // issue 6: librqbit gets only the trackers the policy allows.
            let magnet = source::trackers::screen_magnet(&magnet, (&engine.config()).into()).await;
            let opts = AddTorrentOptions {
                list_only: true,
                initial_peers: Some(peers),
                ..Default::default()
            };
            let res = engine
                .session
                .add_torrent(AddTorrent::from_url(magnet), Some(opts))
                .await;
            engine.on_metadata(&h2, res).await;
        });
        if let Some(e) = lock(&self.torrents).get_mut(&hash) {
            e.resolver = Some(task.abort_handle());
        }
    }

    async fn on_metadata(self: &Arc<Self>, hash: &str, res: anyhow::Result<AddTorrentResponse>) {
        let _ops = self.ops.lock().await;
        let fetched = match res {
            Ok(AddTorrentResponse::ListOnly(l)) => Ok((l.torrent_bytes.to_vec(), l.seen_peers)),
            Ok(_) => Err(anyhow::anyhow!("unexpected answer to a metadata request")),
            Err(e) => Err(e),
        };
        let rec = {
            let mut map = lock(&self.torrents);
            let Some(e) = map.get_mut(hash) else { return };
            e.resolver = None;
            let (bytes, seen) = match fetched {
                Ok(ok) => ok,
                Err(err) => {
                    // Transient: no peer answered. Keep the magnet and try again later.
                    e.resolve_failures += 1;
                    let backoff = resolve_backoff(e.resolve_failures);
                    e.resolve_after = Some(std::time::Instant::now() + backoff);
                    e.resolve_error = Some(format!("fetching metadata: {err:#}"));
                    tracing::info!(info_hash = %hash, error = %err, ?backoff, "metadata not found yet, will retry");
                    return;
                }
            };
            e.resolve_failures = 0;
            e.resolve_after = None;
            e.resolve_error = None;
            // Metadata from peers is as hostile as an uploaded file: same checks.
            match source::inspect_torrent(&bytes) {
                Ok(info) => {
                    e.rec.torrent_bytes = Some(bytes);
                    e.rec.name = info.name.or(e.rec.name.take());
                    e.rec.total_bytes = info.total_bytes;
                    for p in seen.iter().map(|p| p.to_string()) {
                        if !e.rec.initial_peers.contains(&p) {
                            e.rec.initial_peers.push(p);
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(info_hash = %hash, error = %err, "refusing the metadata peers sent");
                    e.rec.error = Some(err.to_string());
                }
            }
            let (kind, data) = match &e.rec.error {
                Some(message) => (EventType::Error, serde_json::json!({ "message": message })),
                None => (
                    EventType::Metadata,
                    serde_json::json!({ "name": e.rec.name, "totalBytes": e.rec.total_bytes }),
                ),
            };
            self.emit(kind, hash, &e.rec.owner_id, data);
            e.rec.clone()
        };
        if let Err(e) = self.store.save_torrent(&rec).await {
            tracing::error!(info_hash = %hash, error = %e, "saving metadata");
        }
        if rec.torrent_bytes.is_some() && rec.error.is_none() {
            tracing::info!(info_hash = %hash, name = ?rec.name, "magnet metadata received");
            self.attach(hash).await;
        }
        self.reconcile_locked().await;
    }

    /// Changes a record the actor may see, saves it and re-plans the queue.
    async fn update(
        self: &Arc<Self>,
        actor: &Actor,
        hash: &str,
        f: impl FnOnce(&mut TorrentRecord),
    ) -> Result<TorrentView> {
        let hash = normalize_hash(hash)?;
        let _ops = self.ops.lock().await;
        let rec = {
            let mut map = lock(&self.torrents);
            let e = map
                .get_mut(&hash)
                .filter(|e| actor.may_see(&e.rec.owner_id))
                .ok_or_else(|| EngineError::NotFound(hash.clone()))?;
            f(&mut e.rec);
            e.rec.clone()
        };
        self.store.save_torrent(&rec).await?;
        self.reconcile_locked().await;
        self.view_of(actor, &hash)
    }

    pub async fn pause(self: &Arc<Self>, actor: &Actor, hash: &str) -> Result<TorrentView> {
        let view = self.update(actor, hash, |r| r.paused = true).await?;
        self.emit(
            EventType::Paused,
            &view.info_hash,
            &view.owner_id,
            to_json(&view),
        );
        Ok(view)
    }

    /// Resumes a paused torrent. A failed one is retried; one the seeding policy stopped
    /// seeds again until the policy next applies.
    pub async fn resume(self: &Arc<Self>, actor: &Actor, hash: &str) -> Result<TorrentView> {
        let view = self
            .update(actor, hash, |r| {
                r.paused = false;
                r.error = None;
                r.seeding_stopped_at = None;
            })
            .await?;
        self.retry_failed(&view.info_hash).await;
        self.emit(
            EventType::Resumed,
            &view.info_hash,
            &view.owner_id,
            to_json(&view),
        );
        Ok(view)
    }

    /// A torrent whose librqbit state is an error gets a fresh start; one that never got
    /// to librqbit (bad metadata, disk) is attached again.
    async fn retry_failed(self: &Arc<Self>, hash: &str) {
        let (handle, needs_attach) = {
            let mut map = lock(&self.torrents);
            let Some(e) = map.get_mut(hash) else { return };
            e.resolve_after = None;
            e.resolve_failures = 0;
            (
                e.handle.clone(),
                e.handle.is_none() && e.rec.torrent_bytes.is_some(),
            )
        };
        if let Some(h) = handle
            && matches!(h.stats().state, librqbit::TorrentStatsState::Error)
            && let Err(err) = self.session.unpause(&h).await
        {
            tracing::debug!(error = %err, "restart after error");
        }
        if needs_attach {
            self.attach(hash).await;
            self.reconcile().await;
        }
    }

    pub async fn set_priority(
        self: &Arc<Self>,
        actor: &Actor,
        hash: &str,
        priority: Priority,
    ) -> Result<TorrentView> {
        self.update(actor, hash, |r| r.priority = priority).await
    }

    /// Removes a torrent, and its downloaded files when `delete_files`.
    pub async fn remove(
        self: &Arc<Self>,
        actor: &Actor,
        hash: &str,
        delete_files: bool,
    ) -> Result<()> {
        let hash = normalize_hash(hash)?;
        let _ops = self.ops.lock().await;
        let entry = {
            let mut map = lock(&self.torrents);
            if !map
                .get(&hash)
                .is_some_and(|e| actor.may_see(&e.rec.owner_id))
            {
                return Err(EngineError::NotFound(hash));
            }
            map.remove(&hash)
        };
        if let Some(e) = entry {
            let data = serde_json::json!({ "name": e.rec.name, "deleteFiles": delete_files });
            self.emit(EventType::Removed, &hash, &e.rec.owner_id, data);
            for task in [e.resolver, e.completion_waiter].into_iter().flatten() {
                task.abort();
            }
            if let Some(h) = e.handle
                && let Err(err) = self
                    .session
                    .delete(TorrentIdOrHash::Id(h.id()), delete_files)
                    .await
            {
                tracing::warn!(info_hash = %hash, error = %err, "removing from the engine");
            }
        }
        self.store.delete_torrent(&hash).await?;
        self.reconcile_locked().await;
        tracing::info!(info_hash = %hash, delete_files, "torrent removed");
        Ok(())
    }

    /// The torrents the actor may see, oldest first.
    pub fn list(&self, actor: &Actor) -> Vec<TorrentView> {
        let map = lock(&self.torrents);
        let mut out: Vec<TorrentView> = map
            .values()
            .filter(|e| actor.may_see(&e.rec.owner_id))
            .map(|e| e.view(e.stats().as_ref()))
            .collect();
        out.sort_by(|a, b| (a.added_at, &a.info_hash).cmp(&(b.added_at, &b.info_hash)));
        out
    }

    fn view_of(&self, actor: &Actor, hash: &str) -> Result<TorrentView> {
        let map = lock(&self.torrents);
        map.get(hash)
            .filter(|e| actor.may_see(&e.rec.owner_id))
            .map(|e| e.view(e.stats().as_ref()))
            .ok_or_else(|| EngineError::NotFound(hash.to_owned()))
    }

    pub fn details(&self, actor: &Actor, hash: &str) -> Result<TorrentDetails> {
        let hash = normalize_hash(hash)?;
        let root = self.config().download_path;
        let policy = source::trackers::TrackerPolicy::from(&self.config()); // issue 6
        let map = lock(&self.torrents);
        let e = map
            .get(&hash)
            .filter(|e| actor.may_see(&e.rec.owner_id))
            .ok_or_else(|| EngineError::NotFound(hash.clone()))?;
        let pieces = e
            .handle
            .as_ref()
            .map(|h| self.pieces(h))
            .unwrap_or_default();
        // issue 6: was `Ok(e.details(pieces, &root))`; the details also say which trackers
        // of the record's magnet or .torrent librqbit was not given.
        let mut details = e.details(pieces, &root);
        details.dropped_trackers = source::trackers::dropped_trackers(&e.rec, policy);
        Ok(details)
    }

    fn pieces(&self, h: &Handle) -> PieceCounts {
        let length = h
            .with_metadata(|m| m.info.lengths().default_piece_length())
            .unwrap_or(0);
        match self.api.api_dump_haves(TorrentIdOrHash::Id(h.id())) {
            Ok((bits, total)) => PieceCounts {
                have: bits.count_ones() as u32,
                total,
                length,
            },
            Err(_) => PieceCounts {
                total: h
                    .with_metadata(|m| m.info.lengths().total_pieces())
                    .unwrap_or(0),
                length,
                ..Default::default()
            },
        }
    }

    pub fn limits(&self) -> Limits {
        let cfg = self.config();
        Limits {
            download_limit: cfg.download_limit,
            upload_limit: cfg.upload_limit,
        }
    }

    /// Changes the global limits at once, for every torrent.
    pub fn set_limits(&self, limits: Limits) {
        self.session
            .ratelimits
            .set_download_bps(NonZeroU32::new(limits.download_limit));
        self.session
            .ratelimits
            .set_upload_bps(NonZeroU32::new(limits.upload_limit));
        let mut cfg = lock(&self.cfg);
        cfg.download_limit = limits.download_limit;
        cfg.upload_limit = limits.upload_limit;
    }

    pub fn max_concurrent(&self) -> usize {
        self.config().max_concurrent
    }

    /// Changes how many torrents may download at once, and re-plans the queue.
    pub async fn set_max_concurrent(self: &Arc<Self>, max: usize) {
        lock(&self.cfg).max_concurrent = max.max(1);
        self.reconcile().await;
    }

    pub fn statistics(&self, actor: &Actor) -> Statistics {
        let mut s = Statistics {
            max_concurrent: self.config().max_concurrent,
            ..Default::default()
        };
        for v in self.list(actor) {
            s.total_torrents += 1;
            match v.state {
                TorrentState::Metadata | TorrentState::Checking | TorrentState::Downloading => {
                    s.active_count += 1
                }
                TorrentState::Queued => s.queued_count += 1,
                TorrentState::Seeding => s.seeding_count += 1,
                TorrentState::Paused => s.paused_count += 1,
                TorrentState::Completed => s.completed_count += 1,
                TorrentState::Error => s.error_count += 1,
            }
            s.download_speed += v.download_speed;
            s.upload_speed += v.upload_speed;
            s.total_downloaded += v.downloaded;
            s.total_uploaded += v.uploaded;
        }
        s
    }

    /// Saves every torrent's totals and stops librqbit. Bounded by the caller.
    pub async fn shutdown(&self) {
        sampler::flush_all(self).await;
        self.session.stop().await;
        self.cancel.cancel();
    }

    pub fn torrent_count(&self) -> usize {
        lock(&self.torrents).len()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data (no half-applied invariant that
    // matters more than availability), so keep serving rather than cascade the panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn session_options(cfg: &EngineConfig, cancel: &CancellationToken) -> SessionOptions {
    SessionOptions {
        dht: if cfg.enable_dht {
            Some(Default::default())
        } else {
            None
        },
        disable_local_service_discovery: !cfg.enable_lsd,
        disable_trackers: !cfg.enable_trackers,
        listen: Some(ListenerOptions {
            mode: ListenerMode::TcpOnly,
            listen_addr: cfg.peer_listen,
            ..Default::default()
        }),
        peer_limit: Some(cfg.max_peer_connections),
        ratelimits: librqbit::limits::LimitsConfig {
            download_bps: NonZeroU32::new(cfg.download_limit),
            upload_bps: NonZeroU32::new(cfg.upload_limit),
        },
        cancellation_token: Some(cancel.child_token()),
        ..Default::default()
    }
}

/// Wait before the n-th retry of a metadata fetch: 2 s doubling up to 2 minutes.
fn resolve_backoff(failures: u32) -> std::time::Duration {
    std::time::Duration::from_secs((1u64 << failures.min(7)).min(120))
}

fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn parse_peers(peers: &[String]) -> Vec<SocketAddr> {
    peers.iter().filter_map(|p| p.parse().ok()).collect()
}

/// Accepts a 40-character hex info hash in any case.
pub fn normalize_hash(hash: &str) -> Result<String> {
    if hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hash.to_ascii_lowercase())
    } else {
        Err(EngineError::NotFound(hash.to_owned()))
    }
}

fn magnet_record(input: &str) -> Result<TorrentRecord> {
    let mut link = MagnetLink::parse(input)?;
    let peers: Vec<String> = link.peers.drain(..).map(|p| p.to_string()).collect();
    Ok(TorrentRecord {
        name: link.name.clone(),
        magnet: Some(link.to_uri()),
        initial_peers: peers,
        ..TorrentRecord::new(link.info_hash.clone(), String::new(), 0)
    })
}

fn file_record(bytes: Vec<u8>) -> Result<(TorrentRecord, Vec<(std::path::PathBuf, u64)>)> {
    let info = source::inspect_torrent(&bytes)?;
    Ok((
        TorrentRecord {
            name: info.name,
            total_bytes: info.total_bytes,
            torrent_bytes: Some(bytes),
            ..TorrentRecord::new(info.info_hash, String::new(), 0)
        },
        info.files,
    ))
}
