//! The sampler: once a tick it reads every torrent's librqbit stats, folds transfer
//! counters into lifetime totals, notices completion and errors, applies the seeding
//! policy, re-runs the queue reconcile and writes changed records.
//!
//! Totals change every tick while data flows, so they are written in batches (every
//! [`FLUSH_EVERY`] ticks and at shutdown); state changes (complete, error, seeding
//! stopped) are written at once.

use std::sync::Arc;

use librqbit::TorrentStatsState;

use super::{Engine, lock};
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

/// Samples every torrent; returns the records that must be written now.
fn sample(engine: &Engine) -> Vec<TorrentRecord> {
    let cfg = engine.config();
    let now = crate::now_millis();
    let mut urgent = Vec::new();
    let mut map = lock(&engine.torrents);
    for e in map.values_mut() {
        let Some(h) = e.handle.clone() else { continue };
        let stats = h.stats();
        let live = stats.live.as_ref();
        let fetched = live.map(|l| l.snapshot.fetched_bytes).unwrap_or(0);
        let uploaded = live.map(|_| stats.uploaded_bytes).unwrap_or(0);
        // A new live session restarts librqbit's counters at zero.
        let d_down = if fetched >= e.last_fetched {
            fetched - e.last_fetched
        } else {
            fetched
        };
        let d_up = if uploaded >= e.last_uploaded {
            uploaded - e.last_uploaded
        } else {
            uploaded
        };
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
        let mut changed = false;
        if matches!(stats.state, TorrentStatsState::Error) && e.rec.error.is_none() {
            e.rec.error = Some(stats.error.clone().unwrap_or_else(|| "engine error".into()));
            tracing::warn!(info_hash = %e.rec.info_hash, error = ?e.rec.error, "torrent failed");
            changed = true;
        }
        if stats.finished && e.rec.completed_at.is_none() {
            e.rec.completed_at = Some(now);
            tracing::info!(info_hash = %e.rec.info_hash, name = ?e.rec.name, "download complete");
            changed = true;
        }
        if seeding_limit_reached(e, &cfg, now) {
            e.rec.seeding_stopped_at = Some(now);
            tracing::info!(info_hash = %e.rec.info_hash, ratio = e.ratio(), "seeding limit reached");
            changed = true;
        }
        if changed {
            e.dirty = false;
            urgent.push(e.rec.clone());
        }
    }
    urgent
}

fn seeding_limit_reached(e: &super::Entry, cfg: &crate::config::EngineConfig, now: i64) -> bool {
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
