//! Fast resume: each torrent's have-bitfield is kept in the store with the size and
//! modification time of its files, so a restart trusts what was verified instead of
//! reading every byte back.
//!
//! librqbit asks [`Resume`] (its `BitVFactory`) for a torrent's bitfield when it starts
//! the torrent. The bitfield is handed over only while every file's stamp matches what
//! was recorded; librqbit then spot-checks a sample of the pieces it claims, and re-checks
//! everything when one fails. A torrent whose files changed, or that has no record, is
//! fully re-checked, and the result recorded.
//!
//! Writes go through one task, newest bitfield per torrent first, so a slow store never
//! holds up a download and a torrent's records cannot be reordered. A record can only
//! be too old, never claim more than the disk holds: librqbit sets a piece's bit after
//! the piece is written, and the stamps are taken after the bitfield was copied.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;
use bitvec::boxed::BitBox;
use bitvec::order::Msb0;
use bitvec::slice::BitSlice;
use bitvec::vec::BitVec;
use librqbit::api::TorrentIdOrHash;
use librqbit::bitv::BitV;
use librqbit::bitv_factory::BitVFactory;
use tokio::sync::{mpsc, oneshot};

use super::lock;
use crate::InfoHash;
use crate::store::{DynStore, FileStamp, ResumeRecord};

type Bits = BitBox<u8, Msb0>;

/// How long a shutdown waits for the last bitfields to reach the store.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The torrents fast resume knows, and the writer of their records.
pub struct Resume {
    store: DynStore,
    torrents: Mutex<HashMap<InfoHash, Tracked>>,
    jobs: mpsc::UnboundedSender<Job>,
}

struct Tracked {
    /// The torrent's folder, and its files relative to it, in torrent order.
    root: PathBuf,
    files: Vec<PathBuf>,
    /// Set when a verified piece could not be written: no bitfield of this torrent is
    /// trusted or recorded until a full check has run.
    poisoned: bool,
}

enum Job {
    Save(InfoHash, Vec<u8>),
    Delete(InfoHash),
    Drain(oneshot::Sender<()>),
}

impl Resume {
    pub fn new(store: DynStore) -> Arc<Self> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let resume = Arc::new(Self {
            store,
            torrents: Mutex::new(HashMap::new()),
            jobs,
        });
        tokio::spawn(writer(Arc::downgrade(&resume), rx));
        resume
    }

    /// Tells fast resume where a torrent's files are, before librqbit starts it.
    pub fn track(&self, hash: InfoHash, root: PathBuf, files: Vec<PathBuf>) {
        let mut map = lock(&self.torrents);
        let poisoned = map.get(&hash).is_some_and(|t| t.poisoned);
        map.insert(
            hash,
            Tracked {
                root,
                files,
                poisoned,
            },
        );
    }

    /// Deletes a removed torrent's record. It stays poisoned: a bitfield librqbit still
    /// flushes as it lets go is not recorded, and the same torrent added again is checked
    /// in full.
    pub fn forget(&self, hash: &InfoHash) {
        self.poison(hash);
    }

    /// A verified piece of `hash` did not reach the disk: its record goes, and nothing is
    /// recorded again before a full check.
    pub fn poison(&self, hash: &InfoHash) {
        if let Some(t) = lock(&self.torrents).get_mut(hash) {
            t.poisoned = true;
        }
        let _ = self.jobs.send(Job::Delete(*hash));
    }

    /// Waits (bounded) until every bitfield handed to the writer so far is stored.
    pub async fn drain(&self) {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Drain(tx)).is_ok()
            && tokio::time::timeout(DRAIN_TIMEOUT, rx).await.is_err()
        {
            tracing::warn!("fast-resume records were still being written at shutdown");
        }
    }

    fn stamps_of(&self, hash: &InfoHash) -> Option<Vec<FileStamp>> {
        let map = lock(&self.torrents);
        let t = map.get(hash).filter(|t| !t.poisoned)?;
        Some(stamps(&t.root, &t.files))
    }

    fn is_poisoned(&self, hash: &InfoHash) -> bool {
        lock(&self.torrents).get(hash).is_some_and(|t| t.poisoned)
    }

    fn bits(&self, hash: InfoHash, bits: Bits) -> Box<dyn BitV> {
        Box::new(StoredBits {
            bits,
            hash,
            jobs: self.jobs.clone(),
        })
    }

    async fn save(&self, hash: InfoHash, bitfield: Vec<u8>) {
        // Stamps are taken now, after the bitfield was copied: data written since only
        // makes them newer, so the record errs towards a re-check.
        let Some(files) = self.stamps_of(&hash) else {
            return;
        };
        let record = ResumeRecord {
            info_hash: hash,
            bitfield,
            files,
            saved_at: crate::now_millis(),
        };
        if let Err(e) = self.store.save_resume(&record).await {
            tracing::warn!(info_hash = %hash, error = %e, "cannot record fast-resume data");
        }
    }

    async fn delete(&self, hash: InfoHash) {
        if let Err(e) = self.store.delete_resume(&hash).await {
            tracing::warn!(info_hash = %hash, error = %e, "cannot delete fast-resume data");
        }
    }
}

/// The size and modification time of each file (`None` for one that is missing).
fn stamps(root: &Path, files: &[PathBuf]) -> Vec<FileStamp> {
    files
        .iter()
        .map(|rel| {
            let meta = std::fs::metadata(root.join(rel)).ok();
            let mtime_ns = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_nanos()).ok());
            FileStamp {
                path: rel.to_string_lossy().into_owned(),
                size: meta.map(|m| m.len()),
                mtime_ns,
            }
        })
        .collect()
}

fn hash_of(id: &TorrentIdOrHash) -> Option<InfoHash> {
    match id {
        TorrentIdOrHash::Hash(h) => Some(InfoHash::from_bytes(h.0)),
        TorrentIdOrHash::Id(_) => None,
    }
}

/// Writes records in order, keeping only the newest bitfield of each torrent when
/// several are waiting.
async fn writer(resume: std::sync::Weak<Resume>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(job) = rx.try_recv() {
            batch.push(job);
        }
        let Some(resume) = resume.upgrade() else {
            return;
        };
        let mut latest: HashMap<InfoHash, usize> = HashMap::new();
        for (i, job) in batch.iter().enumerate() {
            if let Job::Save(h, _) | Job::Delete(h) = job {
                latest.insert(*h, i);
            }
        }
        for (i, job) in batch.into_iter().enumerate() {
            match job {
                Job::Save(h, bits) if latest.get(&h) == Some(&i) => resume.save(h, bits).await,
                Job::Delete(h) if latest.get(&h) == Some(&i) => resume.delete(h).await,
                Job::Drain(done) => {
                    let _ = done.send(());
                }
                _ => {}
            }
        }
    }
}

#[async_trait::async_trait]
impl BitVFactory for Resume {
    async fn load(&self, id: TorrentIdOrHash) -> anyhow::Result<Option<Box<dyn BitV>>> {
        let Some(hash) = hash_of(&id) else {
            return Ok(None);
        };
        if self.is_poisoned(&hash) {
            return Ok(None);
        }
        let record = match self.store.resume(&hash).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(e) => {
                // Degrade to a full check rather than fail the torrent.
                tracing::warn!(info_hash = %hash, error = %e, "cannot read fast-resume data");
                return Ok(None);
            }
        };
        let Some(now) = self.stamps_of(&hash) else {
            return Ok(None);
        };
        if now != record.files {
            let changed = now
                .iter()
                .zip(&record.files)
                .find(|(a, b)| a != b)
                .map_or_else(|| "the list of files".to_owned(), |(a, _)| a.path.clone());
            tracing::info!(info_hash = %hash, changed = %changed, was = ?record.files, now = ?now,
                "files changed since the last run: checking all data");
            return Ok(None);
        }
        let bits = BitVec::<u8, Msb0>::from_vec(record.bitfield).into_boxed_bitslice();
        tracing::debug!(info_hash = %hash, pieces = bits.count_ones(), "resuming from the recorded bitfield");
        Ok(Some(self.bits(hash, bits)))
    }

    async fn clear(&self, id: TorrentIdOrHash) -> anyhow::Result<()> {
        let hash = hash_of(&id).context("fast resume is keyed by info hash")?;
        self.store
            .delete_resume(&hash)
            .await
            .map(drop)
            .map_err(Into::into)
    }

    async fn store_initial_check(
        &self,
        id: TorrentIdOrHash,
        b: Bits,
    ) -> anyhow::Result<Box<dyn BitV>> {
        let hash = hash_of(&id).context("fast resume is keyed by info hash")?;
        // A full check is the truth again, whatever happened before.
        if let Some(t) = lock(&self.torrents).get_mut(&hash) {
            t.poisoned = false;
        }
        self.save(hash, b.as_raw_slice().to_vec()).await;
        Ok(self.bits(hash, b))
    }
}

/// A torrent's have-bitfield as librqbit updates it; each flush (every 16 MiB verified,
/// at the end of the download, on pause) and the drop send a copy to the writer.
struct StoredBits {
    bits: Bits,
    hash: InfoHash,
    jobs: mpsc::UnboundedSender<Job>,
}

impl StoredBits {
    fn send(&self) {
        let _ = self
            .jobs
            .send(Job::Save(self.hash, self.bits.as_raw_slice().to_vec()));
    }
}

impl Drop for StoredBits {
    fn drop(&mut self) {
        self.send();
    }
}

impl BitV for StoredBits {
    fn as_slice(&self) -> &BitSlice<u8, Msb0> {
        &self.bits
    }

    fn as_slice_mut(&mut self) -> &mut BitSlice<u8, Msb0> {
        &mut self.bits
    }

    fn into_dyn(self) -> Box<dyn BitV> {
        Box::new(self)
    }

    fn as_bytes(&self) -> &[u8] {
        self.bits.as_raw_slice()
    }

    fn flush(&mut self, _flush_async: bool) -> anyhow::Result<()> {
        self.send();
        Ok(())
    }
}
