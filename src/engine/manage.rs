//! What users change on torrents they have: category, tags, share and rate limits, the
//! files to download, the place in the queue, force start and a full re-check. Every
//! change is a record write with its `torrent:updated` event (the one-writer rule),
//! then applied to librqbit.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use super::entry::Handle;
use super::labels::{check_tag, updated};
use super::{Actor, Engine, EngineError, Result, TorrentView, lock, queue};
use crate::InfoHash;
use crate::store::{Priority, ShareLimit, TorrentRecord};

/// A move in the download queue (qBittorrent's `topPrio`, `bottomPrio`, `increasePrio`,
/// `decreasePrio`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMove {
    Top,
    Bottom,
    Up,
    Down,
}

impl Engine {
    /// Changes every torrent of `hashes` the actor may see with `f`, all in one commit
    /// with a `torrent:updated` each. Hashes the actor may not see are skipped (as
    /// qBittorrent ignores unknown hashes in a list); returns the changed views.
    pub async fn update_many(
        self: &Arc<Self>,
        actor: &Actor,
        hashes: &[InfoHash],
        f: impl Fn(&mut TorrentRecord),
    ) -> Result<Vec<TorrentView>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let ops = self.ops.lock().await;
        let (records, events) = {
            let mut map = lock(&self.torrents);
            let mut records = Vec::new();
            let mut events = Vec::new();
            for hash in hashes {
                let Some(e) = map.get(hash).filter(|e| actor.may_see(&e.rec.owner_id)) else {
                    continue;
                };
                let mut rec = e.rec.clone();
                f(&mut rec);
                if rec == e.rec {
                    continue;
                }
                let view = self.preview(&mut map, &rec);
                events.push(updated(&rec, view));
                records.push(rec);
            }
            (records, events)
        };
        let changed: Vec<InfoHash> = records.iter().map(|r| r.info_hash).collect();
        self.save(&ops, records, events).await?;
        self.apply_options(&changed).await;
        self.reconcile_locked(&ops).await;
        drop(ops);
        Ok(changed
            .iter()
            .filter_map(|h| self.view_of(actor, h).ok())
            .collect())
    }

    /// Puts records' rate limits and file selection in force in librqbit.
    pub(super) async fn apply_options(&self, hashes: &[InfoHash]) {
        for hash in hashes {
            let Some((h, opts)) = lock(&self.torrents)
                .get(hash)
                .and_then(|e| Some((e.handle.clone()?, e.rec.options.clone())))
            else {
                continue;
            };
            h.shared()
                .ratelimits
                .set_download_bps(NonZeroU32::new(opts.download_limit));
            h.shared()
                .ratelimits
                .set_upload_bps(NonZeroU32::new(opts.upload_limit));
            self.apply_file_selection(&h, &opts.skipped_files).await;
        }
    }

    /// Gives librqbit the files to download, when they differ from what it has. A
    /// torrent still checking its files refuses the change; [`Engine::reconcile`]
    /// applies it again before the torrent starts.
    pub(super) async fn apply_file_selection(&self, h: &Handle, skipped: &[usize]) {
        let count = h.with_metadata(|m| m.file_infos.len()).unwrap_or(0);
        let wanted: HashSet<usize> = (0..count).filter(|i| !skipped.contains(i)).collect();
        let current: HashSet<usize> = match h.only_files() {
            Some(f) => f.into_iter().collect(),
            None => (0..count).collect(),
        };
        if current != wanted
            && let Err(e) = self.session.update_only_files(h, &wanted).await
        {
            tracing::debug!(info_hash = %h.info_hash().as_string(), error = %e, "changing the files to download");
        }
    }

    /// Files torrents under one of the actor's categories (`None`: under none). The
    /// category must exist (qBittorrent answers 409 otherwise).
    pub async fn set_category(
        self: &Arc<Self>,
        actor: &Actor,
        hashes: &[InfoHash],
        category: Option<&str>,
    ) -> Result<Vec<TorrentView>> {
        if let Some(c) = category
            && !self.labels(actor).categories.contains_key(c)
        {
            return Err(EngineError::Conflict(format!("no category {c:?}")));
        }
        let category = category.map(str::to_owned);
        self.update_many(actor, hashes, |r| r.options.category = category.clone())
            .await
    }

    /// Adds tags to torrents (creating the tags the owner lacks).
    pub async fn add_tags(
        self: &Arc<Self>,
        actor: &Actor,
        hashes: &[InfoHash],
        tags: &[String],
    ) -> Result<Vec<TorrentView>> {
        let tags = tags
            .iter()
            .map(|t| check_tag(t))
            .collect::<Result<Vec<_>>>()?;
        {
            let ops = self.ops.lock().await;
            self.ensure_labels(&ops, &actor.user_id, None, &tags)
                .await?;
        }
        self.update_many(actor, hashes, |r| {
            r.options.tags.extend(tags.iter().cloned());
            r.options.tags.sort();
            r.options.tags.dedup();
        })
        .await
    }

    /// Takes tags off torrents (`None`: every tag). The tags themselves stay.
    pub async fn remove_tags(
        self: &Arc<Self>,
        actor: &Actor,
        hashes: &[InfoHash],
        tags: Option<&[String]>,
    ) -> Result<Vec<TorrentView>> {
        self.update_many(actor, hashes, |r| match tags {
            Some(tags) => r
                .options
                .tags
                .retain(|t| !tags.iter().any(|x| x.trim() == t)),
            None => r.options.tags.clear(),
        })
        .await
    }

    /// Sets the ratio and seeding-time limits of torrents (seconds), overriding the
    /// global ones. A torrent the policy stopped stays stopped until resumed.
    pub async fn set_share_limits(
        self: &Arc<Self>,
        actor: &Actor,
        hashes: &[InfoHash],
        ratio: ShareLimit<f64>,
        seeding_time: ShareLimit<u64>,
    ) -> Result<Vec<TorrentView>> {
        if let ShareLimit::Limit(r) = ratio
            && !(r.is_finite() && r >= 0.0)
        {
            return Err(EngineError::InvalidSetting(format!(
                "invalid ratio limit {r}"
            )));
        }
        self.update_many(actor, hashes, |r| {
            r.options.ratio_limit = ratio;
            r.options.seeding_time_limit = seeding_time;
        })
        .await
    }

    /// Sets torrents' own rate limits in bytes per second (`None`: unchanged, 0: none).
    pub async fn set_rate_limits(
        self: &Arc<Self>,
        actor: &Actor,
        hashes: &[InfoHash],
        download: Option<u32>,
        upload: Option<u32>,
    ) -> Result<Vec<TorrentView>> {
        self.update_many(actor, hashes, |r| {
            if let Some(d) = download {
                r.options.download_limit = d;
            }
            if let Some(u) = upload {
                r.options.upload_limit = u;
            }
        })
        .await
    }

    /// Chooses whether files (by index, as in the details' `files`) are downloaded.
    pub async fn set_files_wanted(
        self: &Arc<Self>,
        actor: &Actor,
        hash: &InfoHash,
        files: &[usize],
        wanted: bool,
    ) -> Result<TorrentView> {
        let count = {
            let map = lock(&self.torrents);
            let e = map
                .get(hash)
                .filter(|e| actor.may_see(&e.rec.owner_id))
                .ok_or(EngineError::NotFound(*hash))?;
            e.rec
                .torrent_bytes
                .as_ref()
                .map(|b| super::source::inspect_torrent(b).map(|i| i.files.len()))
                .transpose()?
                .ok_or_else(|| {
                    EngineError::InvalidSetting("the torrent's metadata is not known yet".into())
                })?
        };
        if let Some(bad) = files.iter().find(|&&i| i >= count) {
            return Err(EngineError::InvalidSetting(format!(
                "file index {bad} is out of range (the torrent has {count} files)"
            )));
        }
        if !wanted && (0..count).all(|i| files.contains(&i) || self.is_skipped(hash, i)) {
            return Err(EngineError::InvalidSetting(
                "at least one file must be downloaded".into(),
            ));
        }
        self.update_many(actor, &[*hash], |r| {
            let skipped = &mut r.options.skipped_files;
            if wanted {
                let before = skipped.len();
                skipped.retain(|i| !files.contains(i));
                // A complete torrent given more to fetch downloads again (and completes
                // again, with its event), as in qBittorrent.
                if skipped.len() < before {
                    r.completed_at = None;
                    r.seeding_stopped_at = None;
                }
            } else {
                skipped.extend(files);
                skipped.sort_unstable();
                skipped.dedup();
            }
        })
        .await?;
        self.view_of(actor, hash)
    }

    fn is_skipped(&self, hash: &InfoHash, index: usize) -> bool {
        lock(&self.torrents)
            .get(hash)
            .is_some_and(|e| e.rec.options.skipped_files.contains(&index))
    }

    /// Force start: the torrents download without waiting for a slot (and are resumed).
    pub async fn set_force_start(
        self: &Arc<Self>,
        actor: &Actor,
        hashes: &[InfoHash],
        force: bool,
    ) -> Result<Vec<TorrentView>> {
        self.update_many(actor, hashes, |r| {
            r.options.force_start = force;
            if force {
                r.paused = false;
            }
        })
        .await
    }

    /// Moves torrents in the download queue. The queue is one order (priority, then
    /// rank): moving to the top or bottom takes the highest or lowest priority, and a
    /// step up or down takes the neighbour's priority when it crosses into its tier.
    pub async fn move_in_queue(
        self: &Arc<Self>,
        actor: &Actor,
        hashes: &[InfoHash],
        how: QueueMove,
    ) -> Result<Vec<TorrentView>> {
        let mut out = Vec::new();
        // Each move sees the queue as the previous one left it; moving several to the
        // top keeps their order by moving the last first.
        let ordered: Vec<InfoHash> = match how {
            QueueMove::Top | QueueMove::Down => hashes.iter().rev().copied().collect(),
            QueueMove::Bottom | QueueMove::Up => hashes.to_vec(),
        };
        for hash in ordered {
            let Some((priority, rank)) = self.queue_target(actor, &hash, how) else {
                continue;
            };
            out.extend(
                self.update_many(actor, &[hash], |r| {
                    r.priority = priority;
                    r.options.queue_rank = Some(rank);
                })
                .await?,
            );
        }
        Ok(out)
    }

    /// Where a move puts a torrent: its new priority and rank. `None` for a torrent the
    /// actor may not see or that has nowhere to go.
    fn queue_target(
        &self,
        actor: &Actor,
        hash: &InfoHash,
        how: QueueMove,
    ) -> Option<(Priority, i64)> {
        let map = lock(&self.torrents);
        let me = map.get(hash).filter(|e| actor.may_see(&e.rec.owner_id))?;
        let mut order: Vec<(Priority, i64, InfoHash)> = map
            .values()
            .filter(|e| !e.is_complete())
            .map(|e| queue::order(&candidate(&e.rec)))
            .collect();
        order.sort();
        let at = order.iter().position(|k| k.2 == *hash)?;
        let key = |i: usize| order.get(i).map(|k| (k.0, k.1));
        let (first, last) = (key(0)?, key(order.len() - 1)?);
        Some(match how {
            QueueMove::Top => (Priority::High, first.1.min(me.rec.queue_rank()) - 1),
            QueueMove::Bottom => (Priority::Low, last.1.max(me.rec.queue_rank()) + 1),
            QueueMove::Up => {
                let before = at.checked_sub(1)?;
                let (p, r) = key(before)?;
                let beyond = before.checked_sub(1).and_then(key);
                (p, between(r, beyond.filter(|k| k.0 == p).map(|k| k.1), -1))
            }
            QueueMove::Down => {
                let (p, r) = key(at + 1)?;
                (
                    p,
                    between(r, key(at + 2).filter(|k| k.0 == p).map(|k| k.1), 1),
                )
            }
        })
    }

    /// Checks every piece on disk again, as if the torrent had just been added: its
    /// fast-resume bitfield is dropped and librqbit re-reads the files.
    pub async fn recheck(self: &Arc<Self>, actor: &Actor, hash: &InfoHash) -> Result<TorrentView> {
        let ops = self.ops.lock().await;
        let handle = {
            let mut map = lock(&self.torrents);
            let e = map
                .get_mut(hash)
                .filter(|e| actor.may_see(&e.rec.owner_id))
                .ok_or(EngineError::NotFound(*hash))?;
            if let Some(w) = e.completion_waiter.take() {
                w.abort();
            }
            e.handle.take()
        };
        if let Some(h) = handle {
            // Detached first: its pause flushes its bitfield, which is then dropped.
            if !h.is_paused() {
                let _ = self.session.pause(&h).await;
            }
            self.resume.forget(hash);
            if let Err(e) = self
                .session
                .delete(librqbit::api::TorrentIdOrHash::Id(h.id()), false)
                .await
            {
                tracing::warn!(info_hash = %hash, error = %e, "detaching for a re-check");
            }
            self.resume.drain().await;
            self.attach(&ops, hash).await;
        }
        self.reconcile_locked(&ops).await;
        drop(ops);
        tracing::info!(info_hash = %hash, "re-checking");
        self.view_of(actor, hash)
    }
}

/// A rank just past `next` (by `step`: -1 before it, 1 after it), halfway to `beyond`
/// (the rank past that, in the same priority) when there is room, so the torrent lands
/// between the two rather than level with one.
fn between(next: i64, beyond: Option<i64>, step: i64) -> i64 {
    match beyond {
        Some(b) if (b - next).abs() >= 2 => next + (b - next) / 2,
        _ => next + step,
    }
}

fn candidate(rec: &TorrentRecord) -> queue::Candidate<InfoHash> {
    queue::Candidate {
        info_hash: rec.info_hash,
        priority: rec.priority,
        rank: rec.queue_rank(),
        wants_download: true,
        forced: rec.options.force_start,
        streamed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::between;

    #[test]
    fn a_moved_torrent_lands_between_its_neighbours() {
        // Up past 20 with 10 before it: 15. Down past 20 with 30 after it: 25.
        assert_eq!(between(20, Some(10), -1), 15);
        assert_eq!(between(20, Some(30), 1), 25);
        // No room, or nothing beyond: one step past.
        assert_eq!(between(20, Some(19), -1), 19);
        assert_eq!(between(20, None, 1), 21);
    }
}
