//! One managed torrent: its stored record, its librqbit handle (when it has one) and the
//! observations the sampler keeps between ticks. Turning librqbit's stats into the
//! project's views happens here and nowhere else.

use std::path::{Path, PathBuf};

use librqbit::{ManagedTorrent, TorrentStats, TorrentStatsState};
use tokio::task::AbortHandle;

use super::types::{FileView, PeerCounts, PieceCounts, TorrentDetails, TorrentState, TorrentView};
use crate::store::TorrentRecord;

pub(crate) type Handle = std::sync::Arc<ManagedTorrent>;

/// What the engine wants librqbit to do with a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Desired {
    Run,
    Stop,
}

pub(crate) struct Entry {
    pub rec: TorrentRecord,
    pub handle: Option<Handle>,
    /// A magnet metadata fetch in flight.
    pub resolver: Option<AbortHandle>,
    /// Waits for a running download to finish checking its files, then to complete,
    /// and wakes the sampler each time, so both are acted on at once rather than on
    /// the next tick.
    pub completion_waiter: Option<AbortHandle>,
    /// Failed metadata fetches in a row, and when the next one may start: a magnet
    /// whose peers are unreachable keeps trying, with backoff, like other clients do.
    pub resolve_failures: u32,
    pub resolve_after: Option<std::time::Instant>,
    /// Why the last metadata fetch failed, shown while it retries.
    pub resolve_error: Option<String>,
    /// Set by the queue plan: this torrent holds a download slot.
    pub active: bool,
    pub queue_position: Option<usize>,
    /// librqbit's per-live-session counters as last seen, to add deltas to the totals.
    pub last_fetched: u64,
    pub last_uploaded: u64,
    /// Payload received since the server started.
    pub session_fetched: u64,
    /// The record's byte totals changed since it was last written (they are written in
    /// batches; every other change is written at once).
    pub dirty: bool,
    /// The torrent's files, absolute: no other torrent may claim one of them.
    pub paths: Vec<PathBuf>,
    /// What the last `torrent:progress` event said, to send only changes.
    pub last_progress: Option<crate::events::payload::Progress>,
    pub last_state: Option<TorrentState>,
    /// State and queue place as last announced for a move in the queue.
    pub queue_place: Option<(TorrentState, Option<usize>)>,
    /// Streams open on it and its last read, updated by the streams themselves.
    pub reading: std::sync::Arc<super::stream::Reading>,
    /// Being read (a stream open, or a read within `IDLE_TIMEOUT`), as of the last
    /// re-plan: it outranks the queue and runs even when paused.
    pub read_active: bool,
    /// A stream-only torrent that nobody reads: it neither downloads nor seeds.
    pub idle: bool,
}

impl Entry {
    pub fn new(rec: TorrentRecord, paths: Vec<PathBuf>) -> Self {
        Self {
            rec,
            handle: None,
            resolver: None,
            completion_waiter: None,
            resolve_failures: 0,
            resolve_after: None,
            resolve_error: None,
            active: false,
            queue_position: None,
            last_fetched: 0,
            last_uploaded: 0,
            session_fetched: 0,
            dirty: false,
            paths,
            last_progress: None,
            last_state: None,
            queue_place: None,
            reading: Default::default(),
            read_active: false,
            idle: false,
        }
    }

    pub fn is_complete(&self) -> bool {
        self.rec.completed_at.is_some()
    }

    /// Wants a download slot: not failed, not yet complete, and read or else neither
    /// paused nor idle.
    pub fn wants_download(&self) -> bool {
        self.rec.error.is_none()
            && !self.is_complete()
            && (self.read_active || !(self.rec.paused || self.idle))
    }

    /// Re-reads [`Self::reading`]: whether it is being read, and so whether a
    /// stream-only torrent (`stream_only`, or every torrent in idle mode) is idle.
    pub fn refresh_reading(&mut self, idle_timeout: std::time::Duration, idle_mode: bool) {
        self.read_active = self.reading.active(idle_timeout);
        self.idle = (idle_mode || self.rec.options.stream_only) && !self.read_active;
    }

    /// Whether librqbit should be running this torrent now.
    pub fn desired(&self) -> Desired {
        let seeding = self.is_complete()
            && !self.rec.paused
            && !self.idle
            && self.rec.error.is_none()
            && self.rec.seeding_stopped_at.is_none();
        if (self.active && self.wants_download()) || seeding {
            Desired::Run
        } else {
            Desired::Stop
        }
    }

    /// Whether a metadata fetch should start now.
    pub fn should_resolve(&self) -> bool {
        self.handle.is_none()
            && self.resolver.is_none()
            && self.rec.torrent_bytes.is_none()
            && self
                .resolve_after
                .is_none_or(|t| t <= std::time::Instant::now())
    }

    pub fn stats(&self) -> Option<TorrentStats> {
        self.handle.as_ref().map(|h| h.stats())
    }

    fn state(&self, rec: &TorrentRecord, stats: Option<&TorrentStats>) -> TorrentState {
        if rec.error.is_some() || matches!(stats.map(|s| s.state), Some(TorrentStatsState::Error)) {
            return TorrentState::Error;
        }
        let read = self.read_active && rec.completed_at.is_none();
        if (rec.paused || self.idle) && !read {
            return TorrentState::Paused;
        }
        if rec.seeding_stopped_at.is_some() {
            return TorrentState::Completed;
        }
        if rec.completed_at.is_none() && !self.active {
            return TorrentState::Queued;
        }
        match stats.map(|s| s.state) {
            None => TorrentState::Metadata,
            Some(TorrentStatsState::Initializing { .. }) => TorrentState::Checking,
            _ if rec.completed_at.is_some() => TorrentState::Seeding,
            _ => TorrentState::Downloading,
        }
    }

    /// The list view, from one stats sample.
    pub fn view(&self, stats: Option<&TorrentStats>) -> TorrentView {
        self.view_as(&self.rec, stats)
    }

    /// The list view as it will be once `rec` is the record.
    pub fn view_as(&self, rec: &TorrentRecord, stats: Option<&TorrentStats>) -> TorrentView {
        let live = stats.and_then(|s| s.live.as_ref());
        let total = stats
            .map(|s| s.total_bytes)
            .filter(|&t| t > 0)
            .unwrap_or(rec.total_bytes);
        let before_live = if rec.completed_at.is_some() { total } else { 0 };
        // While librqbit checks the files its progress is the bytes checked, not had:
        // shown as progress it read 100 % for a moment, then fell to what is had.
        let have = match stats {
            Some(s) if matches!(s.state, TorrentStatsState::Initializing { .. }) => before_live,
            Some(s) => s.progress_bytes,
            None => before_live,
        };
        let percentage = if total == 0 {
            0.0
        } else {
            (have as f64 / total as f64 * 100.0).min(100.0)
        };
        let state = self.state(rec, stats);
        let download_speed = live.map(|l| l.download_speed.as_bytes()).unwrap_or(0);
        TorrentView {
            info_hash: rec.info_hash,
            name: rec.name.clone(),
            state,
            priority: rec.priority,
            paused: rec.paused,
            queue_position: self.queue_position,
            percentage: (percentage * 100.0).round() / 100.0,
            total_bytes: total,
            completed_bytes: have,
            downloaded: rec.downloaded_bytes,
            uploaded: rec.uploaded_bytes,
            download_speed,
            upload_speed: live.map(|l| l.upload_speed.as_bytes()).unwrap_or(0),
            eta: (state == TorrentState::Downloading && download_speed > 0)
                .then(|| total.saturating_sub(have) / download_speed),
            ratio: (ratio(rec) * 1000.0).round() / 1000.0,
            peers: live
                .map(|l| PeerCounts {
                    connected: l.snapshot.peer_stats.live,
                    total: l.snapshot.peer_stats.seen,
                })
                .unwrap_or_default(),
            added_at: rec.added_at,
            completed_at: rec.completed_at,
            owner_id: rec.owner_id.clone(),
            error: self
                .rec
                .error
                .clone()
                .or_else(|| stats.and_then(|s| s.error.clone()))
                .or_else(|| self.resolve_error.clone()),
            category: rec.options.category.clone(),
            tags: rec.options.tags.clone(),
            stream_only: rec.options.stream_only,
            idle: self.idle,
            streams: self.reading.open_count(),
        }
    }

    /// The full view. `pieces` comes from the engine, which owns the librqbit API handle.
    pub fn details(&self, pieces: PieceCounts, download_root: &Path) -> TorrentDetails {
        let stats = self.stats();
        let summary = self.view(stats.as_ref());
        let mut files = Vec::new();
        let mut trackers = Vec::new();
        let mut save_path = None;
        if let Some(h) = &self.handle {
            trackers = h.shared().trackers.iter().map(|u| u.to_string()).collect();
            save_path = h
                .output_folder()
                .strip_prefix(download_root)
                .ok()
                .map(|p| p.to_string_lossy().into_owned());
            let progress = stats
                .as_ref()
                .map(|s| s.file_progress.clone())
                .unwrap_or_default();
            let _ = h.with_metadata(|m| {
                files = m
                    .file_infos
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !f.attrs.padding)
                    .map(|(index, f)| {
                        let downloaded = progress.get(index).copied().unwrap_or(0);
                        FileView {
                            index,
                            path: f.relative_filename.to_string_lossy().into_owned(),
                            offset: f.offset_in_torrent,
                            length: f.len,
                            downloaded,
                            percentage: if f.len == 0 {
                                100.0
                            } else {
                                downloaded as f64 / f.len as f64 * 100.0
                            },
                            wanted: !self.rec.options.skipped_files.contains(&index),
                        }
                    })
                    .collect();
            });
        }
        TorrentDetails {
            summary,
            magnet_uri: self.rec.magnet.clone(),
            files,
            trackers,
            pieces,
            peer_list: Vec::new(), // filled in by Engine::details
            downloaded_session: self.session_fetched,
            save_path,
            dropped_trackers: Vec::new(), // filled in by Engine::details
            options: self.rec.options.clone(),
        }
    }
}

/// Uploaded over size: the seeding ratio.
pub(crate) fn ratio(rec: &TorrentRecord) -> f64 {
    rec.uploaded_bytes as f64 / rec.total_bytes.max(1) as f64
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::InfoHash;

    fn entry(stream_only: bool, paused: bool) -> Entry {
        let mut rec = TorrentRecord::new(InfoHash::from_bytes([3; 20]), "u".into(), 0);
        rec.options.stream_only = stream_only;
        rec.paused = paused;
        Entry::new(rec, Vec::new())
    }

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn an_unread_stream_only_torrent_is_idle_and_wants_nothing() {
        let mut e = entry(true, false);
        e.refresh_reading(IDLE, false);
        assert!(e.idle && !e.read_active);
        assert!(!e.wants_download());
        assert_eq!(e.view(None).state, TorrentState::Paused);
        assert!(e.view(None).idle);
    }

    #[test]
    fn a_read_wakes_it_until_the_idle_timeout() {
        let mut e = entry(true, false);
        e.reading.touch();
        e.refresh_reading(IDLE, false);
        assert!(!e.idle && e.wants_download());
        // Read longer ago than the timeout: idle again.
        e.refresh_reading(Duration::ZERO, false);
        assert!(e.idle && !e.wants_download());
    }

    #[test]
    fn idle_mode_makes_every_torrent_stream_only() {
        let mut e = entry(false, false);
        e.refresh_reading(IDLE, true);
        assert!(e.idle && !e.wants_download());
        e.refresh_reading(IDLE, false);
        assert!(!e.idle && e.wants_download());
    }

    #[test]
    fn a_paused_torrent_being_read_downloads_and_stays_paused() {
        let mut e = entry(false, true);
        e.refresh_reading(IDLE, false);
        assert!(!e.wants_download());
        e.reading.touch();
        e.refresh_reading(IDLE, false);
        assert!(e.wants_download());
        assert!(e.view(None).paused, "the user's pause is kept");
    }
}
