//! Magnet-to-metadata lookups: the torrent's metainfo fetched from peers or the DHT
//! without downloading content (librqbit's `list_only`). Nothing is written: the
//! lookup never reaches storage. Caching and sharing lookups is the caller's
//! ([`crate::metadata`]); this is the one fetch.

use std::time::Duration;

use bytes::Bytes;
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse};

use super::source::{self, MagnetLink, TorrentFileInfo};
use super::{Engine, EngineError, Result, lock};
use crate::InfoHash;

/// A torrent's metainfo: its `.torrent` and what it says.
#[derive(Debug, Clone)]
pub struct Metainfo {
    pub bytes: Bytes,
    pub info: TorrentFileInfo,
}

impl Engine {
    /// The metainfo of `magnet`: the `.torrent` of a managed torrent with that hash
    /// when there is one (an uploaded file says who created it), else fetched from
    /// peers within `timeout` (then [`EngineError::Timeout`]).
    pub async fn lookup_metadata(
        &self,
        magnet: &MagnetLink,
        timeout: Duration,
    ) -> Result<Metainfo> {
        if let Some(bytes) = self.known_torrent(&magnet.info_hash) {
            return metainfo(bytes, &magnet.info_hash);
        }
        metrics::counter!("torrentedge_metadata_lookups_total").increment(1);
        let uri = source::trackers::screen_magnet(&magnet.to_uri(), (&self.config()).into()).await;
        let opts = AddTorrentOptions {
            list_only: true,
            initial_peers: Some(magnet.peers.clone()),
            ..Default::default()
        };
        let fetch = self
            .session
            .add_torrent(AddTorrent::from_url(uri), Some(opts));
        let res = match tokio::time::timeout(timeout, fetch).await {
            Err(_) => {
                return Err(EngineError::Timeout(format!(
                    "no peer sent the metadata of {} within {} s",
                    magnet.info_hash,
                    timeout.as_secs()
                )));
            }
            Ok(res) => res,
        };
        match res {
            Ok(AddTorrentResponse::ListOnly(l)) => metainfo(l.torrent_bytes, &magnet.info_hash),
            Ok(_) => Err(EngineError::Internal(anyhow::anyhow!(
                "unexpected answer to a metadata request"
            ))),
            Err(e) => Err(EngineError::Fetch(format!("fetching metadata: {e:#}"))),
        }
    }

    fn known_torrent(&self, hash: &InfoHash) -> Option<Bytes> {
        lock(&self.torrents)
            .get(hash)
            .and_then(|e| e.rec.torrent_bytes.clone())
    }
}

/// Checks the bytes as hostile as an upload, and that they are the torrent asked for.
fn metainfo(bytes: Bytes, hash: &InfoHash) -> Result<Metainfo> {
    let info = source::inspect_torrent(&bytes)?;
    if info.info_hash != *hash {
        return Err(EngineError::InvalidTorrent(format!(
            "peers sent the metadata of {} for {hash}",
            info.info_hash
        )));
    }
    Ok(Metainfo { bytes, info })
}
