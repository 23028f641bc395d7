//! Torrents with what qBittorrent-style clients list beside the view: options, folders,
//! the limits in force and the place in the whole download order.

use std::path::PathBuf;

use super::entry::Entry;
use super::{Actor, Engine, EngineError, Result, TorrentInfo, files, lock, queue};
use crate::InfoHash;

impl Engine {
    /// Every torrent the actor may see, oldest first.
    pub fn infos(&self, actor: &Actor) -> Vec<TorrentInfo> {
        let cfg = self.config();
        let root = self.download_path();
        let map = lock(&self.torrents);
        let order = download_order(&map);
        let mut out: Vec<TorrentInfo> = map
            .values()
            .filter(|e| actor.may_see(&e.rec.owner_id))
            .map(|e| info(e, &root, &cfg, &order))
            .collect();
        out.sort_by(|a, b| {
            (a.view.added_at, &a.view.info_hash).cmp(&(b.view.added_at, &b.view.info_hash))
        });
        out
    }

    pub fn info(&self, actor: &Actor, hash: &InfoHash) -> Result<TorrentInfo> {
        let cfg = self.config();
        let root = self.download_path();
        let map = lock(&self.torrents);
        let e = map
            .get(hash)
            .filter(|e| actor.may_see(&e.rec.owner_id))
            .ok_or(EngineError::NotFound(*hash))?;
        Ok(info(e, &root, &cfg, &download_order(&map)))
    }
}

/// Incomplete torrents in the queue's order.
fn download_order(map: &super::Torrents) -> Vec<InfoHash> {
    let mut keys: Vec<_> = map
        .values()
        .filter(|e| !e.is_complete())
        .map(|e| {
            queue::order(&queue::Candidate {
                info_hash: e.rec.info_hash,
                priority: e.rec.priority,
                rank: e.rec.queue_rank(),
                wants_download: true,
                forced: false,
                streamed: false,
            })
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|k| k.2).collect()
}

fn info(
    e: &Entry,
    download_root: &std::path::Path,
    cfg: &crate::config::EngineConfig,
    order: &[InfoHash],
) -> TorrentInfo {
    let view = e.view(e.stats().as_ref());
    let save_path = files::root_of(download_root, &e.rec);
    let content_path: PathBuf = match (e.paths.as_slice(), &view.name) {
        ([one], _) => one.clone(),
        (_, Some(name)) => save_path.join(name),
        (_, None) => save_path.clone(),
    };
    let queue_order = order
        .iter()
        .position(|h| *h == e.rec.info_hash)
        .map_or(0, |i| i + 1);
    TorrentInfo {
        ratio_limit: e.rec.options.ratio_limit.or_global(cfg.seed_ratio_limit),
        seeding_time_limit: e
            .rec
            .options
            .seeding_time_limit
            .or_global(cfg.seed_time_limit.map(|t| t.as_secs())),
        options: e.rec.options.clone(),
        active: e.active,
        view,
        save_path,
        content_path,
        queue_order,
    }
}

impl Engine {
    /// What the torrent's metainfo says (pieces, trackers, creator), once it is known.
    pub fn metainfo(
        &self,
        actor: &Actor,
        hash: &InfoHash,
    ) -> Result<Option<super::source::TorrentFileInfo>> {
        let bytes = {
            let map = lock(&self.torrents);
            let e = map
                .get(hash)
                .filter(|e| actor.may_see(&e.rec.owner_id))
                .ok_or(EngineError::NotFound(*hash))?;
            e.rec.torrent_bytes.clone()
        };
        bytes
            .map(|b| super::source::inspect_torrent(&b))
            .transpose()
    }
}
