//! Moving librqbit towards what the records say: attaching torrents, running and
//! stopping them by the queue plan, fetching magnets' metadata, and forgetting removed
//! torrents. Everything that changes a record goes through [`Engine::save`] under the
//! operations lock, like the user-facing operations do.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use librqbit::api::TorrentIdOrHash;
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, ConnectionOptions, ListenerMode,
    ListenerOptions, PeerConnectionOptions, SessionOptions,
};
use tokio_util::sync::CancellationToken;

use librqbit::storage::StorageFactoryExt;

use super::entry::{Desired, Handle};
use super::resume::Resume;
use super::storage::WriteBackFactory;
use super::{
    Engine, EngineError, Ops, PeerView, PieceCounts, Torrents, files, lock, queue, source,
};
use crate::InfoHash;
use crate::config::EngineConfig;
use crate::events::payload::{Failure, Metadata, Progress, QueueStats, QueueUpdated};
use crate::events::{Draft, Event};
use crate::view::TorrentState;

impl Engine {
    /// Hands a torrent whose metadata is known to librqbit, paused: it checks what is on
    /// disk, and [`Engine::reconcile`] decides whether it runs. Failures put the torrent
    /// in the error state rather than losing it.
    pub(super) async fn attach(&self, ops: &Ops<'_>, hash: &InfoHash) {
        let (bytes, peers, root, options) = {
            let map = lock(&self.torrents);
            let Some(e) = map.get(hash) else { return };
            let Some(bytes) = e.rec.torrent_bytes.clone() else {
                return;
            };
            let root = files::root_of(&self.download_path(), &e.rec);
            let options = e.rec.options.clone();
            (bytes, parse_peers(&e.rec.initial_peers), root, options)
        };
        let cfg = self.config();
        let result = async {
            let info = source::inspect_torrent(&bytes)?;
            source::check_layout_on_disk(&root, &info.files)?;
            // librqbit gets only the trackers the policy allows.
            let bytes = source::trackers::screen_torrent(&bytes, (&cfg).into()).await?;
            std::fs::create_dir_all(&root).map_err(|e| EngineError::Internal(e.into()))?;
            let folder = match &info.sub_folder {
                Some(sub) => root.join(sub),
                None => root.clone(),
            };
            let files = info.files.iter().map(|(p, _)| p.clone()).collect();
            self.resume.track(*hash, root.clone(), files);
            let opts = AddTorrentOptions {
                paused: true,
                // Our own files from an earlier run: librqbit checks them and goes on.
                // No other torrent's files can be here: adding refuses overlaps.
                overwrite: true,
                output_folder: Some(folder.to_string_lossy().into_owned()),
                initial_peers: Some(peers),
                peer_limit: Some(cfg.max_peer_connections),
                only_files: wanted_files(&options.skipped_files, info.files.len()),
                ratelimits: librqbit::limits::LimitsConfig {
                    download_bps: NonZeroU32::new(options.download_limit),
                    upload_bps: NonZeroU32::new(options.upload_limit),
                },
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
        match result {
            Ok(h) => {
                if let Some(e) = lock(&self.torrents).get_mut(hash) {
                    e.handle = Some(h);
                }
            }
            Err(err) => {
                tracing::warn!(info_hash = %hash, error = %err, "cannot start torrent");
                self.fail(ops, hash, err.to_string()).await;
            }
        }
    }

    /// Puts a torrent in the error state, with its `torrent:error` event.
    async fn fail(&self, ops: &Ops<'_>, hash: &InfoHash, message: String) {
        let Some(mut rec) = lock(&self.torrents).get(hash).map(|e| e.rec.clone()) else {
            return;
        };
        rec.error = Some(message.clone());
        let event = Draft::torrent(hash, &rec.owner_id, Event::Error(Failure { message }));
        if let Err(e) = self.save(ops, vec![rec], vec![event]).await {
            tracing::error!(info_hash = %hash, error = %e, "recording a torrent's failure");
        }
    }

    /// Moves librqbit towards what the records say. Takes the operations lock.
    pub async fn reconcile(self: &Arc<Self>) {
        let ops = self.ops.lock().await;
        self.reconcile_locked(&ops).await;
    }

    /// [`Engine::reconcile`] for callers already holding the operations lock.
    pub(super) async fn reconcile_locked(self: &Arc<Self>, ops: &Ops<'_>) {
        let cfg = self.config();
        let mut to_run = Vec::new();
        let mut to_stop = Vec::new();
        let mut to_resolve = Vec::new();
        let counts = {
            let mut map = lock(&self.torrents);
            for e in map.values_mut() {
                e.refresh_reading(cfg.idle_timeout, cfg.idle_mode);
            }
            let counts = assign_slots(&mut map, cfg.max_concurrent);
            let moves = queue_moves(&mut map);
            for (hash, e) in map.iter_mut() {
                let desired = e.desired();
                if desired == Desired::Stop || e.is_complete() {
                    if let Some(w) = e.completion_waiter.take() {
                        w.abort();
                    }
                } else if let (Some(h), None) = (&e.handle, &e.completion_waiter) {
                    e.completion_waiter = Some(self.spawn_completion_waiter(h.clone()));
                }
                match (desired, &e.handle) {
                    (Desired::Run, Some(h)) if h.is_paused() => {
                        to_run.push((h.clone(), e.rec.options.skipped_files.clone()))
                    }
                    // A magnet's metadata is fetched even while it is stream-only and
                    // idle: it is not payload, and it is what a player needs to list it.
                    (Desired::Run, None) if e.should_resolve() => to_resolve.push(*hash),
                    (Desired::Stop, None) if e.idle && !e.rec.paused && e.should_resolve() => {
                        to_resolve.push(*hash)
                    }
                    // Idle with a fetch in flight: let it finish.
                    (Desired::Stop, None) if e.idle && !e.rec.paused => {}
                    (Desired::Stop, Some(h)) if !h.is_paused() => to_stop.push(h.clone()),
                    (Desired::Stop, None) => {
                        if let Some(r) = e.resolver.take() {
                            r.abort();
                        }
                    }
                    _ => {}
                }
            }
            (counts, moves)
        };
        let (counts, moves) = counts;
        self.announce_queue(ops, counts, moves).await;
        for h in to_stop {
            if let Err(err) = self.session.pause(&h).await {
                tracing::debug!(error = %err, "pause");
            }
        }
        for (h, skipped) in to_run {
            let ready =
                h.with_state(|s| !matches!(s, librqbit::ManagedTorrentState::Initializing(_)));
            if !ready {
                continue;
            }
            // A file selection made while the torrent was checking its files did not
            // reach librqbit then.
            if !skipped.is_empty() {
                self.apply_file_selection(&h, &skipped).await;
            }
            if let Err(err) = self.session.unpause(&h).await {
                tracing::debug!(error = %err, "unpause");
            }
        }
        for hash in to_resolve {
            self.spawn_resolver(hash);
        }
    }

    /// Emits `queue:updated` when the number of downloading or waiting torrents changed,
    /// with a `torrent:progress` for each torrent that moved in the queue.
    async fn announce_queue(&self, _ops: &Ops<'_>, counts: (usize, usize), moves: Vec<Move>) {
        let counted = *lock(&self.last_queue) != Some(counts);
        let mut drafts: Vec<Draft> = moves.iter().map(|m| m.draft.clone()).collect();
        if counted {
            let stats = QueueStats {
                active_count: counts.0,
                queued_count: counts.1,
            };
            drafts.push(Draft::global(Event::QueueUpdated(QueueUpdated { stats })));
        }
        if drafts.is_empty() {
            return;
        }
        if let Err(e) = self.bus.emit(drafts).await {
            // Not marked as told: the next reconcile announces them again.
            tracing::warn!(error = %e, "announcing the queue; will retry");
            return;
        }
        if counted {
            *lock(&self.last_queue) = Some(counts);
        }
        let mut map = lock(&self.torrents);
        for m in moves {
            if let Some(e) = map.get_mut(&m.hash) {
                e.queue_place = Some(m.place);
            }
        }
    }

    fn spawn_completion_waiter(self: &Arc<Self>, h: Handle) -> tokio::task::AbortHandle {
        let engine = Arc::downgrade(self);
        let wake = move || engine.upgrade().map(|e| e.wake.notify_one()).is_some();
        tokio::spawn(async move {
            // A torrent still checking its files cannot be started yet: wake the sampler
            // the moment it can, instead of at its next tick.
            if h.wait_until_initialized().await.is_ok()
                && wake()
                && h.wait_until_completed().await.is_ok()
            {
                wake();
            }
        })
        .abort_handle()
    }

    /// Fetches a magnet's metadata from peers in the background, without downloading.
    fn spawn_resolver(self: &Arc<Self>, hash: InfoHash) {
        let (magnet, peers) = {
            let map = lock(&self.torrents);
            let Some(e) = map.get(&hash) else { return };
            (
                e.rec.magnet.clone().unwrap_or_default(),
                parse_peers(&e.rec.initial_peers),
            )
        };
        let engine = self.clone();
        let h2 = hash;
        let task = tokio::spawn(async move {
            // librqbit gets only the trackers the policy allows.
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

    async fn on_metadata(
        self: &Arc<Self>,
        hash: &InfoHash,
        res: anyhow::Result<AddTorrentResponse>,
    ) {
        let ops = self.ops.lock().await;
        let fetched = match res {
            Ok(AddTorrentResponse::ListOnly(l)) => Ok((l.torrent_bytes, l.seen_peers)),
            Ok(_) => Err(anyhow::anyhow!("unexpected answer to a metadata request")),
            Err(e) => Err(e),
        };
        let (bytes, seen) = {
            let mut map = lock(&self.torrents);
            let Some(e) = map.get_mut(hash) else { return };
            e.resolver = None;
            match fetched {
                Ok(ok) => {
                    e.resolve_failures = 0;
                    e.resolve_after = None;
                    e.resolve_error = None;
                    ok
                }
                Err(err) => {
                    // Transient: no peer answered. Keep the magnet and try again later.
                    e.resolve_failures += 1;
                    let backoff = resolve_backoff(e.resolve_failures);
                    e.resolve_after = Some(std::time::Instant::now() + backoff);
                    e.resolve_error = Some(format!("fetching metadata: {err:#}"));
                    tracing::info!(info_hash = %hash, error = %err, ?backoff, "metadata not found yet, will retry");
                    return;
                }
            }
        };
        if let Err(err) = self.take_metadata(&ops, hash, bytes, &seen).await {
            tracing::warn!(info_hash = %hash, error = %err, "refusing the metadata peers sent");
            self.fail(&ops, hash, err.to_string()).await;
        }
        self.reconcile_locked(&ops).await;
    }

    /// Keeps a magnet's metadata (checked as hostile as an uploaded file, and for
    /// overlaps with other torrents' files), with its `torrent:metadata` event, and
    /// attaches the torrent.
    async fn take_metadata(
        &self,
        ops: &Ops<'_>,
        hash: &InfoHash,
        bytes: bytes::Bytes,
        seen: &[SocketAddr],
    ) -> Result<(), EngineError> {
        let info = source::inspect_torrent(&bytes)?;
        let (rec, paths) = {
            let map = lock(&self.torrents);
            let Some(e) = map.get(hash) else {
                return Ok(());
            };
            let mut rec = e.rec.clone();
            rec.torrent_bytes = Some(bytes);
            rec.name = info.name.clone().or(rec.name);
            rec.total_bytes = info.total_bytes;
            for p in seen.iter().map(|p| p.to_string()) {
                if !rec.initial_peers.contains(&p) {
                    rec.initial_peers.push(p);
                }
            }
            let paths = self.paths_of(&rec);
            Self::check_no_overlap(&map, hash, &paths)?;
            (rec, paths)
        };
        let data = Metadata {
            name: rec.name.clone(),
            total_bytes: rec.total_bytes,
        };
        let event = Draft::torrent(hash, &rec.owner_id, Event::Metadata(data));
        self.save(ops, vec![rec.clone()], vec![event]).await?;
        if let Some(e) = lock(&self.torrents).get_mut(hash) {
            e.paths = paths;
        }
        tracing::info!(info_hash = %hash, name = ?rec.name, "magnet metadata received");
        self.attach(ops, hash).await;
        Ok(())
    }

    /// A torrent whose librqbit state is an error gets a fresh start; one that never got
    /// to librqbit (bad metadata, disk) is attached again.
    pub(super) async fn retry_failed(self: &Arc<Self>, ops: &Ops<'_>, hash: &InfoHash) {
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
            self.attach(ops, hash).await;
        }
        self.reconcile_locked(ops).await;
    }

    /// Drops a removed torrent from memory and from librqbit (its files stay: deleting
    /// them is the caller's, see [`files`]).
    pub(super) async fn forget(&self, hash: &InfoHash) {
        let Some(e) = lock(&self.torrents).remove(hash) else {
            return;
        };
        self.changed();
        for task in [e.resolver, e.completion_waiter].into_iter().flatten() {
            task.abort();
        }
        self.resume.forget(hash);
        if let Some(h) = e.handle
            && let Err(err) = self
                .session
                .delete(TorrentIdOrHash::Id(h.id()), false)
                .await
        {
            tracing::warn!(info_hash = %hash, error = %err, "removing from the engine");
        }
    }

    /// The connected peers of a live torrent (none while it is not live).
    pub(super) fn peer_list(&self, h: &Handle) -> Vec<PeerView> {
        // The default filter is live peers only (librqbit does not export its type).
        let id = TorrentIdOrHash::Id(h.id());
        let Ok(snapshot) = self.api.api_peer_stats(id, Default::default()) else {
            return Vec::new();
        };
        let mut peers: Vec<PeerView> = snapshot
            .peers
            .into_iter()
            .map(|(address, p)| PeerView {
                address,
                connection: p.conn_kind.map(|k| {
                    serde_json::to_value(k)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                }),
                client: p.client_name,
                downloaded: p.counters.fetched_bytes,
                uploaded: p.counters.uploaded_bytes,
            })
            .collect();
        peers.sort_by(|a, b| {
            b.downloaded
                .cmp(&a.downloaded)
                .then(a.address.cmp(&b.address))
        });
        peers
    }

    pub(super) fn pieces(&self, h: &Handle) -> PieceCounts {
        let length = h
            .with_metadata(|m| m.info.lengths().default_piece_length())
            .unwrap_or(0);
        match self.api.api_dump_haves(TorrentIdOrHash::Id(h.id())) {
            Ok((bits, total)) => PieceCounts {
                have: bits.count_ones() as u32,
                total,
                length,
                bitfield: Some(STANDARD.encode(bits.as_raw_slice())),
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
}

/// A torrent that entered, left or moved in the queue, and its announcement.
pub(super) struct Move {
    hash: InfoHash,
    place: (TorrentState, Option<usize>),
    draft: Draft,
}

/// The torrents whose place in the queue changed since it was last announced: demoted
/// to it, promoted out of it, or moved in it. A first sight is only remembered (the
/// torrent is in every client's list already, with its place).
fn queue_moves(map: &mut Torrents) -> Vec<Move> {
    let mut moves = Vec::new();
    for (hash, e) in map.iter_mut() {
        let view = e.view(e.stats().as_ref());
        let place = (view.state, view.queue_position);
        let Some(before) = e.queue_place else {
            e.queue_place = Some(place);
            continue;
        };
        let queued = |s: TorrentState| s == TorrentState::Queued;
        if before != place && (queued(before.0) || queued(place.0)) {
            let draft = Draft::torrent(
                hash,
                &e.rec.owner_id,
                Event::Progress(Progress::from(&view)),
            );
            moves.push(Move {
                hash: *hash,
                place,
                draft,
            });
        }
    }
    moves
}

/// Runs the queue plan over every torrent and marks which hold a download slot and
/// where the others wait. Returns (slots taken, torrents waiting).
pub(super) fn assign_slots(map: &mut Torrents, max: usize) -> (usize, usize) {
    let candidates: Vec<queue::Candidate<&InfoHash>> = map
        .values()
        .map(|e| queue::Candidate {
            info_hash: &e.rec.info_hash,
            priority: e.rec.priority,
            rank: e.rec.queue_rank(),
            wants_download: e.wants_download(),
            forced: e.rec.options.force_start,
            streamed: e.read_active,
        })
        .collect();
    let plan = queue::plan(&candidates, max);
    let counts = (plan.active.len(), plan.queued.len());
    let active: HashSet<InfoHash> = plan.active.iter().map(|h| **h).collect();
    let positions: std::collections::HashMap<InfoHash, usize> = plan
        .queued
        .iter()
        .enumerate()
        .map(|(i, h)| (**h, i + 1))
        .collect();
    for (hash, e) in map.iter_mut() {
        e.active = active.contains(hash);
        e.queue_position = positions.get(hash).copied();
    }
    counts
}

pub(super) fn session_options(
    cfg: &EngineConfig,
    cancel: &CancellationToken,
    storage: WriteBackFactory,
    resume: Arc<Resume>,
) -> SessionOptions {
    SessionOptions {
        default_storage_factory: Some(storage.boxed()),
        connect: Some(ConnectionOptions {
            peer_opts: Some(PeerConnectionOptions {
                max_request_window: Some(cfg.peer_request_window),
                ..Default::default()
            }),
            ..Default::default()
        }),
        bitv_factory: Some(resume),
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
        // Every open stream holds one permit for its whole life (see `stream`).
        runtime_worker_threads: Some(
            super::stream::BLOCKING_FOR_DOWNLOADS + cfg.stream_max_concurrent,
        ),
        cancellation_token: Some(cancel.child_token()),
        ..Default::default()
    }
}

/// Wait before the n-th retry of a metadata fetch: 2 s doubling up to 2 minutes.
fn resolve_backoff(failures: u32) -> std::time::Duration {
    std::time::Duration::from_secs((1u64 << failures.min(7)).min(120))
}

/// librqbit's `only_files` for a torrent of `count` files with `skipped` left out
/// (`None`: every file).
pub(super) fn wanted_files(skipped: &[usize], count: usize) -> Option<Vec<usize>> {
    if skipped.is_empty() {
        return None;
    }
    Some((0..count).filter(|i| !skipped.contains(i)).collect())
}

fn parse_peers(peers: &[String]) -> Vec<SocketAddr> {
    peers.iter().filter_map(|p| p.parse().ok()).collect()
}
