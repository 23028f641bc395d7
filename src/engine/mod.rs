//! The torrent engine: the only module that names librqbit.
//!
//! It owns a librqbit [`Session`], the download queue, global rate limits and the seeding
//! policy, and hands out the project's own types ([`TorrentView`], [`TorrentDetails`]).
//! This file holds the operations users call; [`orchestrate`] moves librqbit, and
//! [`sampler`] observes it.
//!
//! # One writer
//!
//! Every change to a torrent's record happens under the operations lock (`ops`), and
//! the same way: compute the new record, write it *and the event that tells of it* in
//! one durable step ([`Bus::commit`]), and only then put it in memory. Operations, the
//! sampler and metadata fetches all hold the lock while they do, so no write can
//! carry a stale copy over a newer one, and a failed write leaves the torrent as it
//! was. What was acknowledged to a client is in the store before the answer leaves.
//!
//! Control is level-triggered: records and the queue plan say what should run, and
//! [`Engine::reconcile`] moves librqbit towards it. The sampler runs the same reconcile
//! every tick, so a race with librqbit's own transitions heals on the next tick.

mod entry;
pub mod files;
mod hooks;
mod info;
pub mod labels;
pub mod list;
mod lookup;
mod manage;
mod orchestrate;
pub mod queue;
mod resume;
mod sampler;
mod settings;
pub mod source;
mod storage;
pub mod stream;
pub mod types;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use librqbit::Session;
use tokio_util::sync::CancellationToken;

use crate::InfoHash;
use crate::config::EngineConfig;
use crate::events::payload::{Paused, Removed};
use crate::events::{Bus, Change, Draft, Event};
use crate::store::{DynStore, Priority, StoreError, TorrentRecord};
use entry::Entry;
pub use hooks::{HookPoint, Hooks};
pub use labels::Labels;
pub use lookup::Metainfo;
pub use manage::QueueMove;
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
    /// Nothing arrived in the time allowed (a metadata lookup).
    #[error("{0}")]
    Timeout(String),
    #[error("the torrent file is larger than {0} bytes")]
    TooLarge(usize),
    #[error("torrent {0} already exists")]
    AlreadyExists(InfoHash),
    /// The torrent's files would overlap another torrent's.
    #[error("{0}")]
    FilesInUse(String),
    #[error("torrent {0} not found")]
    NotFound(InfoHash),
    /// A file index the torrent does not have.
    #[error("{0}")]
    FileNotFound(String),
    /// A limit on concurrent work is reached (streams); try again later.
    #[error("{0}")]
    Busy(String),
    /// The request contradicts what exists (a category that exists, or does not).
    #[error("{0}")]
    Conflict(String),
    /// Deleting the torrent's files failed; the torrent is kept as it was.
    #[error("could not delete the torrent's files: {0}")]
    DeleteFiles(String),
    #[error("{0}")]
    InvalidSetting(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("engine: {0:#}")]
    Internal(anyhow::Error),
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Proof that the caller holds the operations lock.
type Ops<'a> = tokio::sync::MutexGuard<'a, ()>;

type Torrents = HashMap<InfoHash, Entry>;

/// The running engine. Cheap to share behind an `Arc`.
pub struct Engine {
    session: Arc<Session>,
    api: librqbit::Api,
    store: DynStore,
    cfg: Mutex<EngineConfig>,
    /// The torrents. A std mutex: it is held only for short, synchronous sections and
    /// never across an await, which a tokio mutex would not enforce.
    torrents: Mutex<Torrents>,
    /// Held by everything that changes torrents (operations, the sampler, metadata
    /// fetches) across its async steps: the one-writer rule above.
    ops: tokio::sync::Mutex<()>,
    /// Wakes the sampler before its next tick (a download completed).
    wake: tokio::sync::Notify,
    bus: Arc<Bus>,
    /// Download slots taken and torrents waiting, as last announced (`queue:updated`).
    last_queue: Mutex<Option<(usize, usize)>>,
    hooks: Hooks,
    cancel: CancellationToken,
    /// Fast-resume bitfields, kept in the store.
    resume: Arc<resume::Resume>,
    /// Memory for pieces being downloaded (see [`storage`]).
    piece_buffers: Arc<storage::Budget>,
    /// Counts changes to torrents' records (see [`Engine::changes`]).
    changes: std::sync::atomic::AtomicU64,
    /// Every user's categories and tags (see [`labels`]).
    labels: Mutex<labels::AllLabels>,
    /// One permit per stream that may be open (`STREAM_MAX_CONCURRENT`).
    stream_permits: Arc<tokio::sync::Semaphore>,
}

impl Engine {
    /// Starts librqbit, restores every stored torrent and starts the sampler.
    pub async fn start(
        cfg: EngineConfig,
        store: DynStore,
        bus: Arc<Bus>,
        hooks: Hooks,
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
        let resume = resume::Resume::new(store.clone());
        let piece_buffers = storage::Budget::new(cfg.piece_buffer_bytes);
        let factory = storage::WriteBackFactory::new(piece_buffers.clone(), resume.clone());
        let options = orchestrate::session_options(&cfg, &cancel, factory, resume.clone());
        let session = Session::new_with_opts(download_path.clone(), options)
            .await
            .map_err(EngineError::Internal)?;
        let stream_permits = Arc::new(tokio::sync::Semaphore::new(cfg.stream_max_concurrent));
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
            hooks,
            cancel,
            resume,
            piece_buffers,
            changes: Default::default(),
            labels: Default::default(),
            stream_permits,
        });
        engine.load_settings().await?;
        engine.load_labels().await?;
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

    fn download_path(&self) -> PathBuf {
        lock(&self.cfg).download_path.clone()
    }

    async fn restore(self: &Arc<Self>) -> Result<()> {
        let records = self.store.list_torrents().await?;
        files::recover_trash(&self.download_path(), &records);
        let ops = self.ops.lock().await;
        let count = records.len();
        for rec in records {
            let hash = rec.info_hash;
            let paths = self.paths_of(&rec);
            let has_bytes = rec.torrent_bytes.is_some();
            lock(&self.torrents).insert(hash, Entry::new(rec, paths));
            if has_bytes {
                self.attach(&ops, &hash).await;
            }
        }
        tracing::info!(torrents = count, "restored torrents");
        self.reconcile_locked(&ops).await;
        Ok(())
    }

    /// The absolute paths of a record's files (none while a magnet has no metadata).
    fn paths_of(&self, rec: &TorrentRecord) -> Vec<PathBuf> {
        let Some(bytes) = &rec.torrent_bytes else {
            return Vec::new();
        };
        let root = files::root_of(&self.download_path(), rec);
        source::inspect_torrent(bytes)
            .map(|info| info.files.into_iter().map(|(p, _)| root.join(p)).collect())
            .unwrap_or_default()
    }

    /// Refuses files that another torrent (than `hash`) already claims.
    fn check_no_overlap(map: &Torrents, hash: &InfoHash, paths: &[PathBuf]) -> Result<()> {
        for (other, e) in map.iter().filter(|(h, _)| *h != hash) {
            if let Some(p) = files::overlap(paths, &e.paths) {
                return Err(EngineError::FilesInUse(format!(
                    "its files overlap those of torrent {other} ({})",
                    p.display()
                )));
            }
        }
        Ok(())
    }

    /// Adds a torrent for `actor`, in the actor's own folder.
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
                let fetch = || source::fetch_torrent_url(&url, &policy);
                file_record(
                    source::with_retries(cfg.retry, "fetching a torrent URL", fetch).await?,
                )?
            }
        };
        let save_dir = self.save_dir_for(actor, &opts)?;
        let stream_only = opts.options.stream_only || cfg.idle_mode;
        let mut rec = TorrentRecord {
            owner_id: actor.user_id.clone(),
            priority: opts.priority,
            paused: opts.paused || (opts.start_paused && !stream_only),
            added_at: crate::now_millis(),
            save_dir,
            options: opts.options.clone(),
            ..rec_base
        };
        for p in opts.peers.iter().map(|p| p.to_string()) {
            if !rec.initial_peers.contains(&p) {
                rec.initial_peers.push(p);
            }
        }
        let root = files::root_of(&cfg.download_path, &rec);
        source::check_layout_on_disk(&root, &files)?;
        let paths: Vec<PathBuf> = files.iter().map(|(p, _)| root.join(p)).collect();
        let hash = rec.info_hash;
        // Tracker names are resolved now, not under the operations lock.
        source::trackers::resolve_tracker_names(&rec, (&cfg).into()).await;
        let ops = self.ops.lock().await;
        if lock(&self.torrents).contains_key(&hash) {
            return Err(EngineError::AlreadyExists(hash));
        }
        let category = rec.options.category.as_deref();
        self.ensure_labels(&ops, &actor.user_id, category, &rec.options.tags)
            .await?;
        let view = {
            let mut map = lock(&self.torrents);
            if map.contains_key(&hash) {
                return Err(EngineError::AlreadyExists(hash));
            }
            Self::check_no_overlap(&map, &hash, &paths)?;
            self.preview(&mut map, &rec)
        };
        let change = Change {
            insert: vec![rec.clone()],
            events: vec![Draft::torrent(&hash, &rec.owner_id, Event::Added(view))],
            ..Change::default()
        };
        self.bus.commit(change).await.map_err(|e| match e {
            StoreError::Conflict(_) => EngineError::AlreadyExists(hash),
            e => e.into(),
        })?;
        let has_bytes = rec.torrent_bytes.is_some();
        let entry = Entry::new(rec, paths);
        if stream_only && !opts.start_paused {
            // Its first window: it downloads until IDLE_TIMEOUT passes without a read.
            entry.reading.touch();
        }
        lock(&self.torrents).insert(hash, entry);
        self.changed();
        if has_bytes {
            self.attach(&ops, &hash).await;
        }
        self.reconcile_locked(&ops).await;
        tracing::info!(info_hash = %hash, user = %actor.user_id, "torrent added");
        self.view_of(actor, &hash)
    }

    /// The folder (relative to `DOWNLOAD_PATH`) a new torrent's files go in: the one
    /// asked for, else its category's, else the owner's own; always inside the owner's.
    fn save_dir_for(&self, actor: &Actor, opts: &AddOptions) -> Result<String> {
        let user = files::user_dir(&actor.user_id).ok_or_else(|| {
            EngineError::Internal(anyhow::anyhow!(
                "user id {:?} is not a folder name",
                actor.user_id
            ))
        })?;
        let sub = match (&opts.save_path, &opts.options.category) {
            (Some(p), _) => labels::relative_save_path(p, &self.user_root(actor)?)?,
            (None, Some(c)) => self.category_folder(&actor.user_id, c).unwrap_or_default(),
            (None, None) => String::new(),
        };
        Ok(if sub.is_empty() {
            user
        } else {
            format!("{user}/{sub}")
        })
    }

    /// The view a torrent will have once `rec` is its record, queue plan included.
    /// Puts `rec` in the map for the look and takes it out again, all under the map
    /// lock, so nobody sees it before it is written.
    fn preview(&self, map: &mut Torrents, rec: &TorrentRecord) -> TorrentView {
        let max = self.config().max_concurrent;
        let hash = rec.info_hash;
        let old = match map.get_mut(&hash) {
            Some(e) => Some(std::mem::replace(&mut e.rec, rec.clone())),
            None => {
                map.insert(hash, Entry::new(rec.clone(), Vec::new()));
                None
            }
        };
        orchestrate::assign_slots(map, max);
        let view = map.get(&hash).map(|e| e.view(e.stats().as_ref()));
        match old {
            Some(old) => {
                if let Some(e) = map.get_mut(&hash) {
                    e.rec = old;
                }
            }
            None => {
                map.remove(&hash);
            }
        }
        orchestrate::assign_slots(map, max);
        view.expect("the previewed torrent is in the map")
    }

    /// Writes `records` with `events` in one durable step, then puts the records in
    /// memory. The only way a record already in memory changes.
    async fn save(
        &self,
        _ops: &Ops<'_>,
        records: Vec<TorrentRecord>,
        events: Vec<Draft>,
    ) -> Result<()> {
        let change = Change {
            save: records.clone(),
            events,
            ..Change::default()
        };
        self.bus.commit(change).await?;
        self.changed();
        let mut map = lock(&self.torrents);
        for rec in records {
            if let Some(e) = map.get_mut(&rec.info_hash) {
                e.rec = rec;
            }
        }
        Ok(())
    }

    /// Changes a record the actor may see: writes it with the event `kind` (its
    /// payload the torrent's view after the change) and re-plans the queue.
    async fn update(
        self: &Arc<Self>,
        actor: &Actor,
        hash: &InfoHash,
        event: fn(TorrentView) -> Event,
        f: impl FnOnce(&mut TorrentRecord),
    ) -> Result<TorrentView> {
        let hash = *hash;
        let ops = self.ops.lock().await;
        let (rec, event) = {
            let mut map = lock(&self.torrents);
            let e = map
                .get(&hash)
                .filter(|e| actor.may_see(&e.rec.owner_id))
                .ok_or_else(|| EngineError::NotFound(hash))?;
            let mut rec = e.rec.clone();
            f(&mut rec);
            let view = self.preview(&mut map, &rec);
            let event = Draft::torrent(&hash, &rec.owner_id, event(view));
            (rec, event)
        };
        self.save(&ops, vec![rec], vec![event]).await?;
        self.reconcile_locked(&ops).await;
        self.view_of(actor, &hash)
    }

    pub async fn pause(self: &Arc<Self>, actor: &Actor, hash: &InfoHash) -> Result<TorrentView> {
        let paused = |torrent| Event::Paused(Paused::by_user(torrent));
        self.update(actor, hash, paused, |r| r.paused = true).await
    }

    /// Resumes a paused torrent. A failed one is retried; one the seeding policy stopped
    /// seeds again until the policy next applies.
    pub async fn resume(self: &Arc<Self>, actor: &Actor, hash: &InfoHash) -> Result<TorrentView> {
        let view = self
            .update(actor, hash, Event::Resumed, |r| {
                r.paused = false;
                r.error = None;
                r.seeding_stopped_at = None;
            })
            .await?;
        let ops = self.ops.lock().await;
        self.retry_failed(&ops, &view.info_hash).await;
        drop(ops);
        self.view_of(actor, &view.info_hash)
    }

    pub async fn set_priority(
        self: &Arc<Self>,
        actor: &Actor,
        hash: &InfoHash,
        priority: Priority,
    ) -> Result<TorrentView> {
        self.update(actor, hash, Event::Priority, |r| r.priority = priority)
            .await
    }

    /// Removes a torrent, and its downloaded files when `delete_files`: all of it, or
    /// nothing (an error, and the torrent as it was).
    pub async fn remove(
        self: &Arc<Self>,
        actor: &Actor,
        hash: &InfoHash,
        delete_files: bool,
    ) -> Result<()> {
        let hash = *hash;
        let ops = self.ops.lock().await;
        let (rec, handle) = {
            let map = lock(&self.torrents);
            let e = map
                .get(&hash)
                .filter(|e| actor.may_see(&e.rec.owner_id))
                .ok_or_else(|| EngineError::NotFound(hash))?;
            (e.rec.clone(), e.handle.clone())
        };
        // Stopped first, so nothing writes to the files while they move.
        if let Some(h) = handle.as_ref().filter(|h| !h.is_paused())
            && let Err(err) = self.session.pause(h).await
        {
            tracing::debug!(error = %err, "pause before removal");
        }
        let root = files::root_of(&self.download_path(), &rec);
        let trashed = match self.trash_files(&rec, &root, delete_files) {
            Ok(t) => t,
            Err(e) => {
                self.reconcile_locked(&ops).await;
                return Err(e);
            }
        };
        let removed = Removed {
            name: rec.name.clone(),
            delete_files,
        };
        let change = Change {
            delete: vec![hash],
            events: vec![Draft::torrent(
                &hash,
                &rec.owner_id,
                Event::Removed(removed),
            )],
            ..Change::default()
        };
        if let Err(e) = self.bus.commit(change).await {
            if let Some(mut t) = trashed {
                t.restore();
            }
            self.reconcile_locked(&ops).await;
            return Err(e.into());
        }
        self.forget(&hash).await;
        if let Some(t) = trashed {
            t.purge(&root);
        }
        self.reconcile_locked(&ops).await;
        tracing::info!(info_hash = %hash, delete_files, "torrent removed");
        Ok(())
    }

    /// Moves the torrent's own files aside when they are to be deleted.
    fn trash_files(
        &self,
        rec: &TorrentRecord,
        root: &std::path::Path,
        delete_files: bool,
    ) -> Result<Option<files::Trashed>> {
        if !delete_files {
            return Ok(None);
        }
        let rels: Vec<PathBuf> = match &rec.torrent_bytes {
            Some(bytes) => source::inspect_torrent(bytes)?
                .files
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
            None => Vec::new(),
        };
        files::Trashed::move_in(&self.download_path(), &rec.info_hash, root, &rels)
            .map(Some)
            .map_err(|e| EngineError::DeleteFiles(e.to_string()))
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

    /// One page of the torrents the actor may see (see [`list::ListQuery`]).
    pub fn list_page(&self, actor: &Actor, query: &list::ListQuery) -> list::Page {
        list::select(self.list(actor), query)
    }

    /// One torrent's list view (`NotFound` when the actor may not see it).
    pub fn view_of(&self, actor: &Actor, hash: &InfoHash) -> Result<TorrentView> {
        let map = lock(&self.torrents);
        map.get(hash)
            .filter(|e| actor.may_see(&e.rec.owner_id))
            .map(|e| e.view(e.stats().as_ref()))
            .ok_or_else(|| EngineError::NotFound(hash.to_owned()))
    }

    pub fn details(&self, actor: &Actor, hash: &InfoHash) -> Result<TorrentDetails> {
        let hash = *hash;
        let root = self.download_path();
        let policy = source::trackers::TrackerPolicy::from(&self.config());
        let map = lock(&self.torrents);
        let e = map
            .get(&hash)
            .filter(|e| actor.may_see(&e.rec.owner_id))
            .ok_or_else(|| EngineError::NotFound(hash))?;
        let pieces = e
            .handle
            .as_ref()
            .map(|h| self.pieces(h))
            .unwrap_or_default();
        let mut details = e.details(pieces, &root);
        details.dropped_trackers = source::trackers::dropped_trackers(&e.rec, policy);
        if let Some(h) = &e.handle {
            details.peer_list = self.peer_list(h);
        }
        Ok(details)
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
        s.disk = fs4::statvfs(self.download_path()).ok().map(|st| DiskSpace {
            free_bytes: st.available_space(),
            total_bytes: st.total_space(),
        });
        s
    }

    /// Saves every torrent's totals and stops librqbit. Bounded by the caller.
    pub async fn shutdown(self: &Arc<Self>) {
        sampler::flush_all(self).await;
        // Stopping pauses every torrent, which flushes its bitfield to the resume writer.
        self.session.stop().await;
        self.resume.drain().await;
        self.cancel.cancel();
    }

    /// A number that grows with every change written to a torrent's record (added,
    /// changed, removed): equal readings mean no record changed in between. Live
    /// figures (speeds, peers) change without it.
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Acquire)
    }

    fn changed(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Every torrent's state, whoever owns it (for health).
    pub fn torrent_states(&self) -> Vec<TorrentState> {
        lock(&self.torrents)
            .values()
            .map(|e| e.view(e.stats().as_ref()).state)
            .collect()
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

fn magnet_record(input: &str) -> Result<TorrentRecord> {
    let mut link = MagnetLink::parse(input)?;
    let peers: Vec<String> = link.peers.drain(..).map(|p| p.to_string()).collect();
    Ok(TorrentRecord {
        name: link.name.clone(),
        magnet: Some(link.to_uri()),
        initial_peers: peers,
        ..TorrentRecord::new(link.info_hash, String::new(), 0)
    })
}

fn file_record(bytes: Vec<u8>) -> Result<(TorrentRecord, Vec<(PathBuf, u64)>)> {
    let info = source::inspect_torrent(&bytes)?;
    Ok((
        TorrentRecord {
            name: info.name,
            total_bytes: info.total_bytes,
            torrent_bytes: Some(bytes.into()),
            ..TorrentRecord::new(info.info_hash, String::new(), 0)
        },
        info.files,
    ))
}
