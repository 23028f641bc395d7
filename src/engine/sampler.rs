//! The sampler: once a tick it reads every torrent's librqbit stats and reports what it
//! saw — transfer counters, verified pieces, completion, errors, the seeding policy —
//! as new records and the events that tell of them. It changes nothing itself: the
//! engine writes the report in one durable step and only then applies it (the
//! one-writer rule in the engine's docs), all under the operations lock, then re-runs
//! the queue reconcile.
//!
//! Records whose only change is their byte totals are written in batches (every
//! [`FLUSH_EVERY`] ticks and at shutdown); every other change, and every event, is
//! written in the tick that saw it.

use std::collections::HashSet;
use std::sync::Arc;

use super::entry::{Entry, Handle, ratio};
use super::{Engine, HookPoint, Ops, TorrentState, TorrentView, lock};
use crate::InfoHash;
use crate::config::EngineConfig;
use crate::events::payload::{Complete, Failure, Paused, Pieces, Progress, Seeding};
use crate::events::{Change, Draft, Event};
use crate::store::TorrentRecord;
use librqbit::api::TorrentIdOrHash;
use librqbit::{TorrentStats, TorrentStatsState};

/// Ticks between writes of records whose only change is their byte totals.
const FLUSH_EVERY: u64 = 10;

pub(super) fn spawn(engine: Arc<Engine>) {
    let tick = engine.config().tick;
    let cancel = engine.cancel.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = interval.tick() => {}
                _ = engine.wake.notified() => {}
            }
            n += 1;
            let ops = engine.ops.lock().await;
            engine.tick(&ops, n.is_multiple_of(FLUSH_EVERY)).await;
            engine.reconcile_locked(&ops).await;
        }
    });
}

/// What the sampler saw of one torrent.
struct Seen {
    /// The record with what this tick saw folded in.
    rec: TorrentRecord,
    /// The record changed in more than its totals: write it now.
    urgent: bool,
    events: Vec<Draft>,
    last_fetched: u64,
    last_uploaded: u64,
    session_fetched: u64,
    last_progress: Option<Progress>,
    last_state: TorrentState,
}

impl Engine {
    /// One sample: observe, write, apply. `flush`: write totals-only changes too.
    async fn tick(&self, _ops: &Ops<'_>, flush: bool) {
        let (used, peak) = self.piece_buffers.usage();
        metrics::gauge!("torrentedge_piece_buffer_bytes").set(used as f64);
        metrics::gauge!("torrentedge_piece_buffer_peak_bytes").set(peak as f64);
        let seen = self.observe();
        self.hooks.at(HookPoint::SamplerObserved).await;
        let seen_hashes: HashSet<InfoHash> = seen.iter().map(|s| s.rec.info_hash).collect();
        let mut change = Change::default();
        if flush {
            let map = lock(&self.torrents);
            let dirty = map
                .values()
                .filter(|e| e.dirty && !seen_hashes.contains(&e.rec.info_hash));
            change.save.extend(dirty.map(|e| e.rec.clone()));
        }
        for s in &seen {
            if s.urgent || flush {
                change.save.push(s.rec.clone());
            }
            change.events.extend(s.events.iter().cloned());
        }
        let written: HashSet<InfoHash> = change.save.iter().map(|r| r.info_hash).collect();
        if let Err(e) = self.bus.commit(change).await {
            // Nothing applied: the next tick sees the same changes and tries again.
            tracing::error!(error = %e, "writing what the sampler saw; will retry");
            return;
        }
        self.changed();
        let mut map = lock(&self.torrents);
        for hash in &written {
            if let Some(e) = map.get_mut(hash) {
                e.dirty = false;
            }
        }
        for s in seen {
            let Some(e) = map.get_mut(&s.rec.info_hash) else {
                continue;
            };
            // Totals that changed without being written go out with a later flush.
            e.dirty |= !written.contains(&s.rec.info_hash) && e.rec != s.rec;
            count_payload(&e.rec, &s.rec);
            e.rec = s.rec;
            e.last_fetched = s.last_fetched;
            e.last_uploaded = s.last_uploaded;
            e.session_fetched = s.session_fetched;
            e.last_progress = s.last_progress;
            e.last_state = Some(s.last_state);
        }
    }

    /// Reads every torrent; reports those where something changed.
    fn observe(&self) -> Vec<Seen> {
        let cfg = self.config();
        let now = crate::now_millis();
        let map = lock(&self.torrents);
        map.values()
            .filter_map(|e| {
                let h = e.handle.clone()?;
                let stats = h.stats();
                let seen = self.observe_one(e, &h, &stats, &cfg, now);
                seen.filter(|s| {
                    s.urgent
                        || !s.events.is_empty()
                        || s.rec != e.rec
                        || s.last_fetched != e.last_fetched
                        || s.last_uploaded != e.last_uploaded
                        || Some(s.last_state) != e.last_state
                })
            })
            .collect()
    }

    fn observe_one(
        &self,
        e: &Entry,
        h: &Handle,
        stats: &TorrentStats,
        cfg: &EngineConfig,
        now: i64,
    ) -> Option<Seen> {
        let mut s = Seen {
            rec: e.rec.clone(),
            urgent: false,
            events: Vec::new(),
            last_fetched: e.last_fetched,
            last_uploaded: e.last_uploaded,
            session_fetched: e.session_fetched,
            last_progress: e.last_progress.clone(),
            last_state: e.last_state.unwrap_or(TorrentState::Queued),
        };
        fold_counters(&mut s, stats);
        self.note_pieces(&mut s, h);
        let stopped = note_transitions(&mut s, stats, cfg, now);
        // The view as it will be once this is applied.
        let view = e.view_as(&s.rec, Some(stats));
        if stopped {
            let reason = Some("seeding limit reached".to_owned());
            let paused = Paused {
                torrent: view.clone(),
                reason,
            };
            s.events.push(event(&s.rec, Event::Paused(paused)));
        }
        note_progress(&mut s, &view);
        if view.state == TorrentState::Seeding && e.last_state != Some(TorrentState::Seeding) {
            let seeding = Seeding {
                name: view.name.clone(),
                ratio: view.ratio,
                uploaded: view.uploaded,
            };
            s.events.push(event(&s.rec, Event::Seeding(seeding)));
        }
        s.last_state = view.state;
        Some(s)
    }

    /// The pieces verified since they were last announced, as one `torrent:piece`
    /// event; the record remembers them, so a restart never announces them again.
    fn note_pieces(&self, s: &mut Seen, h: &Handle) {
        if s.rec.completed_at.is_some() {
            return; // every piece was announced by the tick that saw completion
        }
        let Ok((bits, total)) = self.api.api_dump_haves(TorrentIdOrHash::Id(h.id())) else {
            return; // still checking: no piece state yet
        };
        let now = bits.as_raw_slice();
        let seen = &s.rec.announced_pieces;
        let mut fresh = Vec::new();
        for (i, &byte) in now.iter().enumerate() {
            let new_bits = byte & !seen.get(i).copied().unwrap_or(0);
            for bit in 0..8 {
                // Msb0: the first piece is the most significant bit of the first byte.
                let index = i * 8 + bit;
                if new_bits & (0x80 >> bit) != 0 && index < total as usize {
                    fresh.push(index as u32);
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        let have = bits.count_ones() as u32;
        let pieces = Pieces::new(fresh, have, total);
        s.events.push(event(&s.rec, Event::Piece(pieces)));
        s.rec.announced_pieces = now.to_vec();
        s.urgent = true;
    }
}

fn event(rec: &TorrentRecord, event: Event) -> Draft {
    Draft::torrent(&rec.info_hash, &rec.owner_id, event)
}

/// The payload bytes a tick added, for `/metrics` (once applied, so a tick whose
/// commit failed and is observed again is not counted twice).
fn count_payload(before: &TorrentRecord, after: &TorrentRecord) {
    let down = after
        .downloaded_bytes
        .saturating_sub(before.downloaded_bytes);
    let up = after.uploaded_bytes.saturating_sub(before.uploaded_bytes);
    metrics::counter!("torrentedge_payload_bytes_total", "direction" => "down").increment(down);
    metrics::counter!("torrentedge_payload_bytes_total", "direction" => "up").increment(up);
}

/// Adds librqbit's per-session transfer counters to the lifetime totals.
fn fold_counters(s: &mut Seen, stats: &TorrentStats) {
    let live = stats.live.as_ref();
    let fetched = live.map(|l| l.snapshot.fetched_bytes).unwrap_or(0);
    let uploaded = live.map(|_| stats.uploaded_bytes).unwrap_or(0);
    // A new live session restarts librqbit's counters at zero.
    let d_down = fetched.checked_sub(s.last_fetched).unwrap_or(fetched);
    let d_up = uploaded.checked_sub(s.last_uploaded).unwrap_or(uploaded);
    s.last_fetched = fetched;
    s.last_uploaded = uploaded;
    s.rec.downloaded_bytes += d_down;
    s.rec.uploaded_bytes += d_up;
    s.session_fetched += d_down;
    if stats.total_bytes > 0 {
        s.rec.total_bytes = stats.total_bytes;
    }
}

/// Failure and completion, each with its event, and the seeding policy: whether it
/// stopped the torrent now (its event carries the view after the change).
fn note_transitions(s: &mut Seen, stats: &TorrentStats, cfg: &EngineConfig, now: i64) -> bool {
    let hash = s.rec.info_hash;
    if matches!(stats.state, TorrentStatsState::Error) && s.rec.error.is_none() {
        let message = stats.error.clone().unwrap_or_else(|| "engine error".into());
        tracing::warn!(info_hash = %hash, error = %message, "torrent failed");
        let failure = Failure {
            message: message.clone(),
        };
        s.events.push(event(&s.rec, Event::Error(failure)));
        s.rec.error = Some(message);
        s.urgent = true;
    }
    if stats.finished && s.rec.completed_at.is_none() {
        s.rec.completed_at = Some(now);
        tracing::info!(info_hash = %hash, name = ?s.rec.name, "download complete");
        let complete = Complete {
            name: s.rec.name.clone(),
            total_bytes: s.rec.total_bytes,
            completed_at: now,
        };
        s.events.push(event(&s.rec, Event::Complete(complete)));
        s.urgent = true;
    }
    if seeding_limit_reached(&s.rec, cfg, now) {
        s.rec.seeding_stopped_at = Some(now);
        let ratio = ratio(&s.rec);
        tracing::info!(info_hash = %hash, ratio, "seeding limit reached");
        s.urgent = true;
        return true;
    }
    false
}

/// `torrent:progress` when something in it changed since the last one, while it moves
/// (moves in the queue are announced by the orchestrator, `queue_moves`).
fn note_progress(s: &mut Seen, view: &TorrentView) {
    let moving = matches!(
        view.state,
        TorrentState::Downloading | TorrentState::Seeding | TorrentState::Checking
    );
    let progress = Progress::from(view);
    if moving && s.last_progress.as_ref() != Some(&progress) {
        s.events
            .push(event(&s.rec, Event::Progress(progress.clone())));
        s.last_progress = Some(progress);
    }
}

fn seeding_limit_reached(rec: &TorrentRecord, cfg: &EngineConfig, now: i64) -> bool {
    let Some(done) = rec.completed_at else {
        return false;
    };
    if rec.paused || rec.error.is_some() || rec.seeding_stopped_at.is_some() {
        return false;
    }
    if !cfg.seeding_enabled {
        return true;
    }
    let ratio_limit = rec.options.ratio_limit.or_global(cfg.seed_ratio_limit);
    let global_secs = cfg.seed_time_limit.map(|t| t.as_secs());
    let time_limit = rec.options.seeding_time_limit.or_global(global_secs);
    let by_ratio = ratio_limit.is_some_and(|r| ratio(rec) >= r);
    let by_time =
        time_limit.is_some_and(|t| now.saturating_sub(done) >= (t as i64).saturating_mul(1000));
    by_ratio || by_time
}

/// Takes a last sample and writes every changed record (at shutdown).
pub(super) async fn flush_all(engine: &Arc<Engine>) {
    let ops = engine.ops.lock().await;
    engine.tick(&ops, true).await;
}
