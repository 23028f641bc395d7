//! L2: `CACHE_DIR/<hash>.torrent` and `CACHE_DIR/<hash>.json`, each written to a
//! temporary name and renamed, so a crash never leaves half a file under the real name.

use std::path::PathBuf;

use super::Metadata;
use crate::InfoHash;

pub struct Disk {
    dir: PathBuf,
}

impl Disk {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, hash: &InfoHash, ext: &str) -> PathBuf {
        // A hash is 40 hex characters: always a plain file name.
        self.dir.join(format!("{hash}.{ext}"))
    }

    pub async fn metadata(&self, hash: &InfoHash) -> Option<Metadata> {
        let bytes = tokio::fs::read(self.path(hash, "json")).await.ok()?;
        match serde_json::from_slice::<Metadata>(&bytes) {
            Ok(m) if m.info_hash == *hash => Some(m),
            _ => {
                tracing::warn!(info_hash = %hash, "ignoring an unreadable cached metadata file");
                None
            }
        }
    }

    pub async fn torrent(&self, hash: &InfoHash) -> Option<Vec<u8>> {
        tokio::fs::read(self.path(hash, "torrent")).await.ok()
    }

    /// Writes the `.torrent` first: a JSON on disk always has its `.torrent`.
    pub async fn keep(&self, m: &Metadata, torrent: &[u8]) -> std::io::Result<()> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let json = serde_json::to_vec_pretty(m).map_err(std::io::Error::other)?;
        self.write(&m.info_hash, "torrent", torrent).await?;
        self.write(&m.info_hash, "json", &json).await
    }

    async fn write(&self, hash: &InfoHash, ext: &str, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.path(hash, &format!("{ext}.tmp-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&tmp, bytes).await?;
        let done = tokio::fs::rename(&tmp, self.path(hash, ext)).await;
        if done.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        done
    }
}
