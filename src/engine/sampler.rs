//! The sampler: once a tick it reads every torrent's librqbit stats, folds transfer
//! counters into lifetime totals, notices completion and errors, applies the seeding
//! policy, re-runs the queue reconcile and writes changed records.
//!
//! Totals change every tick while data flows, so they are written in batches (every
//! [`FLUSH_EVERY`] ticks and at shutdown); state changes (complete, error, seeding
//! stopped) are written at once.

use std::sync::Arc;

use librqbit::api::TorrentIdOrHash;
use librqbit::{TorrentStats, TorrentStatsState};
use serde_json::json;

use super::entry::{Entry, Handle};
use super::{Engine, TorrentState, TorrentView, lock};
use crate::config::EngineConfig;
use crate::events::EventType;
use crate::store::TorrentRecord;

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
            let urgent = sample(&engine);
            save(&engine, urgent).await;
            engine.reconcile().await;
            if n.is_multiple_of(FLUSH_EVERY) {
                save(&engine, take_dirty(&engine)).await;
            }
        }
    });
}

/// Samples every torrent, publishes what changed, and returns the records that must be
/// written now.
fn sample(engine: &Engine) -> Vec<TorrentRecord> {
    let cfg = engine.config();
    let now = crate::now_millis();
    let mut urgent = Vec::new();
    let mut map = lock(&engine.torrents);
    for e in map.values_mut() {
        let Some(h) = e.handle.clone() else { continue };
        let stats = h.stats();
        fold_counters(e, &stats);
        emit_pieces(engine, e, &h);
        if note_transitions(engine, e, &stats, &cfg, now) {
            e.dirty = false;
            urgent.push(e.rec.clone());
        }
        let view = e.view(Some(&stats));
        emit_progress(engine, e, &view);
        if view.state == TorrentState::Seeding && e.last_state != Some(TorrentState::Seeding) {
            let data = json!({ "name": view.name, "ratio": view.ratio, "uploaded": view.uploaded });
            engine.emit(EventType::Seeding, &e.rec.info_hash, &e.rec.owner_id, data);
        }
        e.last_state = Some(view.state);
    }
    urgent
}

/// Adds librqbit's per-session transfer counters to the lifetime totals.
fn fold_counters(e: &mut Entry, stats: &TorrentStats) {
    let live = stats.live.as_ref();
    let fetched = live.map(|l| l.snapshot.fetched_bytes).unwrap_or(0);
    let uploaded = live.map(|_| stats.uploaded_bytes).unwrap_or(0);
    // A new live session restarts librqbit's counters at zero.
    let d_down = fetched.checked_sub(e.last_fetched).unwrap_or(fetched);
    let d_up = uploaded.checked_sub(e.last_uploaded).unwrap_or(uploaded);
    e.last_fetched = fetched;
    e.last_uploaded = uploaded;
    if d_down + d_up > 0 {
        e.rec.downloaded_bytes += d_down;
        e.rec.uploaded_bytes += d_up;
        e.session_fetched += d_down;
        e.dirty = true;
    }
    if stats.total_bytes > 0 && e.rec.total_bytes != stats.total_bytes {
        e.rec.total_bytes = stats.total_bytes;
        e.dirty = true;
    }
}

/// Failure, completion and the seeding policy: records them and publishes each.
/// Returns whether the record changed.
fn note_transitions(
    engine: &Engine,
    e: &mut Entry,
    stats: &TorrentStats,
    cfg: &EngineConfig,
    now: i64,
) -> bool {
    let mut changed = false;
    let (hash, owner) = (e.rec.info_hash.clone(), e.rec.owner_id.clone());
    if matches!(stats.state, TorrentStatsState::Error) && e.rec.error.is_none() {
        let message = stats.error.clone().unwrap_or_else(|| "engine error".into());
        tracing::warn!(info_hash = %hash, error = %message, "torrent failed");
        engine.emit(
            EventType::Error,
            &hash,
            &owner,
            json!({ "message": message }),
        );
        e.rec.error = Some(message);
        changed = true;
    }
    if stats.finished && e.rec.completed_at.is_none() {
        e.rec.completed_at = Some(now);
        tracing::info!(info_hash = %hash, name = ?e.rec.name, "download complete");
        let data =
            json!({ "name": e.rec.name, "totalBytes": e.rec.total_bytes, "completedAt": now });
        engine.emit(EventType::Complete, &hash, &owner, data);
        changed = true;
    }
    if seeding_limit_reached(e, cfg, now) {
        e.rec.seeding_stopped_at = Some(now);
        tracing::info!(info_hash = %hash, ratio = e.ratio(), "seeding limit reached");
        let data =
            json!({ "reason": "seeding limit reached", "ratio": e.ratio(), "state": "completed" });
        engine.emit(EventType::Paused, &hash, &owner, data);
        changed = true;
    }
    changed
}

/// Publishes the pieces verified since the last tick, as one `torrent:piece` event.
fn emit_pieces(engine: &Engine, e: &mut Entry, h: &Handle) {
    let Some(seen) = e.pieces_seen.as_mut() else {
        return;
    };
    let Ok((bits, total)) = engine.api.api_dump_haves(TorrentIdOrHash::Id(h.id())) else {
        return; // still checking: no piece state yet
    };
    let now = bits.as_raw_slice();
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
    let have = bits.count_ones() as u32;
    if !fresh.is_empty() {
        let data = json!({ "index": fresh.last(), "indexes": fresh, "count": fresh.len(), "have": have, "total": total });
        engine.emit(EventType::Piece, &e.rec.info_hash, &e.rec.owner_id, data);
    }
    if have >= total {
        e.pieces_seen = None;
    } else {
        seen.clear();
        seen.extend_from_slice(now);
    }
}

/// Publishes `torrent:progress` when something in it changed since the last one.
fn emit_progress(engine: &Engine, e: &mut Entry, view: &TorrentView) {
    let moving = matches!(
        view.state,
        TorrentState::Downloading | TorrentState::Seeding | TorrentState::Checking
    );
    let payload = Entry::progress_payload(view);
    if moving && e.last_progress.as_ref() != Some(&payload) {
        engine.emit(
            EventType::Progress,
            &e.rec.info_hash,
            &e.rec.owner_id,
            payload.clone(),
        );
        e.last_progress = Some(payload);
    }
}

fn seeding_limit_reached(e: &Entry, cfg: &EngineConfig, now: i64) -> bool {
    let Some(done) = e.rec.completed_at else {
        return false;
    };
    if e.rec.paused || e.rec.error.is_some() || e.rec.seeding_stopped_at.is_some() {
        return false;
    }
    let by_ratio = cfg.seed_ratio_limit.is_some_and(|r| e.ratio() >= r);
    let by_time = cfg
        .seed_time_limit
        .is_some_and(|t| now.saturating_sub(done) >= t.as_millis() as i64);
    by_ratio || by_time
}

fn take_dirty(engine: &Engine) -> Vec<TorrentRecord> {
    let mut map = lock(&engine.torrents);
    map.values_mut()
        .filter(|e| e.dirty)
        .map(|e| {
            e.dirty = false;
            e.rec.clone()
        })
        .collect()
}

async fn save(engine: &Engine, records: Vec<TorrentRecord>) {
    for rec in records {
        // A store fault must not stop sampling: log it and mark the record dirty again
        // so the next flush retries.
        if let Err(err) = engine.store.save_torrent(&rec).await {
            tracing::error!(info_hash = %rec.info_hash, error = %err, "saving torrent");
            if let Some(e) = lock(&engine.torrents).get_mut(&rec.info_hash) {
                e.dirty = true;
            }
        }
    }
}

/// Takes a last sample and writes every changed record (at shutdown).
pub(super) async fn flush_all(engine: &Engine) {
    let urgent = sample(engine);
    save(engine, urgent).await;
    save(engine, take_dirty(engine)).await;
}
