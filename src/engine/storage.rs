//! Write-back piece storage: the blocks of a piece being downloaded are kept in memory
//! until librqbit has verified the piece, then the piece is written once.
//!
//! librqbit writes every 16 KiB block with its own `pwritev` and, when the last block
//! of a piece arrives, reads the whole piece back from disk to hash it. Here the blocks
//! land in a buffer, the read-back is answered from it, and the verified piece goes to
//! the file in one write per file it spans. A piece that fails its hash never touches
//! the disk; librqbit downloads it again into the same buffer.
//!
//! Memory is bounded by [`Budget`], shared by all torrents. A piece that starts when
//! the budget is spent is written through block by block, as librqbit would, so a
//! fast peer slows to disk speed instead of growing memory, and no writer ever waits
//! for memory held by another (which could deadlock librqbit's blocking threads).
//!
//! A verified piece that cannot be written is fatal for the torrent (librqbit is patched
//! to stop the torrent in the error state, see vendor/librqbit/PATCHES.md) and poisons
//! its fast-resume data, so nothing claims the piece was kept.

use std::any::TypeId;
use std::collections::HashMap;
use std::io::IoSlice;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use librqbit::storage::filesystem::FilesystemStorageFactory;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{FileInfos, ManagedTorrentShared, TorrentMetadata};
use librqbit_core::lengths::{Lengths, ValidPieceIndex};

use super::lock;
use super::resume::Resume;
use crate::InfoHash;

/// Free buffers kept for reuse, at most this many bytes: a fresh piece-sized
/// allocation is zeroed (and often mapped) anew, a reused one is not.
const POOL_BYTES: u64 = 32 << 20;

/// Bytes of piece buffers all torrents may hold at once, and the free buffers kept for
/// reuse (not counted: they are at most [`POOL_BYTES`]).
pub struct Budget {
    max: u64,
    used: AtomicU64,
    peak: AtomicU64,
    pool: Mutex<Vec<Box<[u8]>>>,
}

impl Budget {
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(Self {
            max,
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// A buffer of `len` bytes if the budget allows. A reused one holds an earlier
    /// piece's bytes: every byte is overwritten before librqbit reads any (it checks a
    /// piece only once all its blocks arrived).
    fn alloc(&self, len: usize) -> Option<Box<[u8]>> {
        if !self.try_take(len as u64) {
            return None;
        }
        let mut pool = lock(&self.pool);
        match pool.iter().position(|b| b.len() == len) {
            Some(i) => Some(pool.swap_remove(i)),
            None => Some(vec![0; len].into_boxed_slice()),
        }
    }

    fn free(&self, buf: Box<[u8]>) {
        self.give(buf.len() as u64);
        let mut pool = lock(&self.pool);
        let pooled: usize = pool.iter().map(|b| b.len()).sum();
        if (pooled + buf.len()) as u64 <= POOL_BYTES {
            pool.push(buf);
        }
    }

    /// Bytes held now, and the most ever held.
    pub fn usage(&self) -> (u64, u64) {
        (
            self.used.load(Ordering::Relaxed),
            self.peak.load(Ordering::Relaxed),
        )
    }

    /// Whether a piece of the largest usual size (16 MiB) would still fit.
    fn has_room(&self) -> bool {
        self.used.load(Ordering::Relaxed) + (16 << 20) <= self.max
    }

    fn try_take(&self, n: u64) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= self.max)
            });
        match taken {
            Ok(before) => {
                self.peak.fetch_max(before + n, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    fn give(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Makes [`WriteBack`] storages over librqbit's filesystem storage.
#[derive(Clone)]
pub struct WriteBackFactory {
    budget: Arc<Budget>,
    resume: Arc<Resume>,
}

impl WriteBackFactory {
    pub fn new(budget: Arc<Budget>, resume: Arc<Resume>) -> Self {
        Self { budget, resume }
    }
}

impl StorageFactory for WriteBackFactory {
    type Storage = WriteBack<<FilesystemStorageFactory as StorageFactory>::Storage>;

    fn create(
        &self,
        shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<Self::Storage> {
        let inner = FilesystemStorageFactory::default().create(shared, metadata)?;
        Ok(WriteBack::new(
            inner,
            *metadata.info.lengths(),
            metadata.file_infos.clone(),
            Context {
                hash: InfoHash::from_bytes(shared.info_hash.0),
                budget: self.budget.clone(),
                resume: Some(self.resume.clone()),
            },
        ))
    }

    // librqbit recognises the filesystem storage through wrappers (see its storage docs).
    fn is_type_id(&self, type_id: TypeId) -> bool {
        FilesystemStorageFactory::default().is_type_id(type_id)
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

/// What a storage shares with the rest of the engine.
#[derive(Clone)]
pub(super) struct Context {
    pub hash: InfoHash,
    pub budget: Arc<Budget>,
    pub resume: Option<Arc<Resume>>,
}

enum Slot {
    /// The piece's bytes so far.
    Buffered(Box<[u8]>),
    /// Started when the budget was spent: its blocks are on disk.
    Direct,
    /// Verified and being written out. librqbit marks a piece as had *before* it asks
    /// the storage to complete it, so reads (streams, uploads) are served from here
    /// until the bytes are on disk, never from the file before they reach it.
    Flushing(Arc<Box<[u8]>>),
}

/// The pieces in flight, shared by a storage and the one `take` makes of it; the budget
/// is given back when the last of them goes.
struct Slots {
    map: Mutex<HashMap<u32, Slot>>,
    budget: Arc<Budget>,
}

impl Drop for Slots {
    fn drop(&mut self) {
        let map = self.map.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, slot) in map.drain() {
            match slot {
                Slot::Buffered(b) => self.budget.free(b),
                Slot::Flushing(b) => {
                    if let Ok(b) = Arc::try_unwrap(b) {
                        self.budget.free(b)
                    }
                }
                Slot::Direct => {}
            }
        }
    }
}

pub struct WriteBack<S> {
    inner: S,
    lengths: Lengths,
    files: FileInfos,
    slots: Arc<Slots>,
    ctx: Context,
}

/// One stretch of a read or write that stays inside one piece.
struct Span {
    piece: ValidPieceIndex,
    /// Offset inside the piece.
    at: usize,
    len: usize,
}

impl<S: TorrentStorage> WriteBack<S> {
    pub(super) fn new(inner: S, lengths: Lengths, files: FileInfos, ctx: Context) -> Self {
        let slots = Arc::new(Slots {
            map: Mutex::new(HashMap::new()),
            budget: ctx.budget.clone(),
        });
        Self {
            inner,
            lengths,
            files,
            slots,
            ctx,
        }
    }

    /// Splits `len` bytes at `offset` of file `file_id` at piece boundaries.
    fn spans(&self, file_id: usize, offset: u64, len: usize) -> anyhow::Result<Vec<Span>> {
        let file = self.files.get(file_id).context("no such file")?;
        let mut out = Vec::with_capacity(1);
        let mut done = 0;
        while done < len {
            let cur = self
                .lengths
                .compute_current_piece(offset + done as u64, file.offset_in_torrent)
                .context("offset outside the torrent")?;
            let n = (cur.piece_remaining as usize).min(len - done);
            anyhow::ensure!(n > 0, "empty piece span");
            out.push(Span {
                piece: cur.id,
                at: cur.piece_offset as usize,
                len: n,
            });
            done += n;
        }
        Ok(out)
    }

    /// Copies `data` into the piece's buffer, creating it if the budget allows; false
    /// when the piece is written through instead.
    fn buffer(&self, span: &Span, data: &[&[u8]]) -> anyhow::Result<bool> {
        let mut map = lock(&self.slots.map);
        let slot = match map.get_mut(&span.piece.get()) {
            Some(slot) => slot,
            None => {
                let len = self.lengths.piece_length(span.piece) as usize;
                let slot = match self.ctx.budget.alloc(len) {
                    Some(buf) => Slot::Buffered(buf),
                    None => Slot::Direct,
                };
                map.entry(span.piece.get()).or_insert(slot)
            }
        };
        let Slot::Buffered(buf) = slot else {
            return Ok(false);
        };
        let mut at = span.at;
        for part in data {
            buf.get_mut(at..at + part.len())
                .context("write past the end of the piece")?
                .copy_from_slice(part);
            at += part.len();
        }
        Ok(true)
    }

    /// Writes a verified buffered piece to the files it spans (padding files skipped).
    fn write_piece(&self, piece: ValidPieceIndex, buf: &[u8]) -> anyhow::Result<()> {
        let mut abs = self.lengths.piece_offset(piece);
        let mut rest = buf;
        for (idx, f) in self.files.iter().enumerate() {
            let end = f.offset_in_torrent + f.len;
            if rest.is_empty() {
                break;
            }
            if abs >= end || f.len == 0 {
                continue;
            }
            let n = ((end - abs) as usize).min(rest.len());
            if !f.attrs.padding {
                self.inner
                    .pwrite_all(idx, abs - f.offset_in_torrent, &rest[..n])
                    .with_context(|| format!("writing {:?}", f.relative_filename))?;
            }
            abs += n as u64;
            rest = &rest[n..];
        }
        anyhow::ensure!(rest.is_empty(), "piece {piece} runs past the last file");
        Ok(())
    }
}

impl<S: TorrentStorage> TorrentStorage for WriteBack<S> {
    fn init(
        &mut self,
        shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<()> {
        self.inner.init(shared, metadata)
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        let mut done = 0;
        for span in self.spans(file_id, offset, buf.len())? {
            let out = &mut buf[done..done + span.len];
            let map = lock(&self.slots.map);
            let bytes: Option<&[u8]> = match map.get(&span.piece.get()) {
                Some(Slot::Buffered(b)) => Some(b),
                Some(Slot::Flushing(b)) => Some(b),
                _ => None,
            };
            let hit = match bytes {
                Some(b) => {
                    out.copy_from_slice(
                        b.get(span.at..span.at + span.len)
                            .context("read past the end of the piece")?,
                    );
                    true
                }
                None => false,
            };
            drop(map);
            if !hit {
                self.inner.pread_exact(file_id, offset + done as u64, out)?;
            }
            done += span.len;
        }
        Ok(())
    }

    fn pwrite_all(&self, file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        let mut done = 0;
        for span in self.spans(file_id, offset, buf.len())? {
            let part = &buf[done..done + span.len];
            if !self.buffer(&span, &[part])? {
                self.inner.pwrite_all(file_id, offset + done as u64, part)?;
            }
            done += span.len;
        }
        Ok(())
    }

    fn pwrite_all_vectored(
        &self,
        file_id: usize,
        offset: u64,
        bufs: [IoSlice<'_>; 2],
    ) -> anyhow::Result<usize> {
        let len = bufs[0].len() + bufs[1].len();
        let spans = self.spans(file_id, offset, len)?;
        // A block never crosses a piece boundary; anything else takes the general path.
        if let [span] = spans.as_slice() {
            if self.buffer(span, &[&bufs[0], &bufs[1]])? {
                return Ok(len);
            }
            return self.inner.pwrite_all_vectored(file_id, offset, bufs);
        }
        self.pwrite_all(file_id, offset, &bufs[0])?;
        self.pwrite_all(file_id, offset + bufs[0].len() as u64, &bufs[1])?;
        Ok(len)
    }

    fn remove_file(&self, file_id: usize, filename: &Path) -> anyhow::Result<()> {
        self.inner.remove_file(file_id, filename)
    }

    fn remove_directory_if_empty(&self, path: &Path) -> anyhow::Result<()> {
        self.inner.remove_directory_if_empty(path)
    }

    fn ensure_file_length(&self, file_id: usize, length: u64) -> anyhow::Result<()> {
        self.inner.ensure_file_length(file_id, length)
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(WriteBack {
            inner: self.inner.take()?,
            lengths: self.lengths,
            files: self.files.clone(),
            // Blocks of unfinished pieces survive a pause.
            slots: self.slots.clone(),
            ctx: self.ctx.clone(),
        }))
    }

    // A block lands in memory while there is room for its piece's buffer (a piece
    // already written through also goes on, but rarely: the budget is spent then).
    fn writes_to_memory(&self) -> bool {
        self.ctx.budget.has_room()
    }

    fn on_piece_completed(&self, piece: ValidPieceIndex) -> anyhow::Result<()> {
        let flushing = {
            let mut map = lock(&self.slots.map);
            match map.remove(&piece.get()) {
                Some(Slot::Buffered(buf)) => {
                    let buf = Arc::new(buf);
                    map.insert(piece.get(), Slot::Flushing(buf.clone()));
                    Some(buf)
                }
                _ => None,
            }
        };
        if let Some(buf) = flushing {
            let written = self.write_piece(piece, &buf);
            // Readers copy under the map lock: once the slot is gone, this is the
            // last reference.
            lock(&self.slots.map).remove(&piece.get());
            if let Ok(buf) = Arc::try_unwrap(buf) {
                self.ctx.budget.free(buf);
            }
            if let Err(e) = written {
                if let Some(r) = &self.ctx.resume {
                    r.poison(&self.ctx.hash);
                }
                return Err(e.context(format!("writing verified piece {piece}")));
            }
        }
        self.inner.on_piece_completed(piece)
    }
}

#[cfg(test)]
mod tests;
