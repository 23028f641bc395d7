//! Reading a file of a torrent while it downloads.
//!
//! A stream is librqbit's `FileStream`: it serves only verified pieces, and the pieces
//! from its read position onwards are fetched before any other. Around it the engine
//! keeps what the queue and idle mode need to know: how many streams a torrent has open
//! and when it was last read ([`Reading`]). A torrent being read outranks the queue
//! (it takes a download slot first), runs even when paused, and a stream-only torrent
//! downloads only while it is read, pausing `IDLE_TIMEOUT` after the last read.
//!
//! Each librqbit stream holds a permit of the session's blocking pool for its whole
//! life; the pool is sized to `STREAM_MAX_CONCURRENT` more than writes and hashing
//! use, and the engine's own semaphore refuses streams past that (`Busy`), so streams
//! never starve downloads.

use std::future::Future as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

use super::{Actor, Engine, EngineError, Result, lock};
use crate::InfoHash;

/// Blocking permits librqbit keeps for writes and hashing (its own default pool size).
pub(super) const BLOCKING_FOR_DOWNLOADS: usize = 8;

/// One file of a torrent, as far as its metainfo tells (known before any byte is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentFile {
    /// librqbit's file index (padding files count).
    pub index: usize,
    /// Path inside the torrent (without the torrent's folder), `/`-separated.
    pub path: String,
    pub length: u64,
}

impl TorrentFile {
    /// The last component of the path.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// How much a torrent is being read: open streams and the time of the last read.
#[derive(Debug, Default)]
pub(crate) struct Reading {
    open: AtomicUsize,
    /// Milliseconds since [`epoch`] of the last read (0: never).
    last: AtomicU64,
}

impl Reading {
    pub fn touch(&self) {
        self.last.store(since_epoch(), Ordering::Relaxed);
    }

    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Open now, or read within `idle`.
    pub fn active(&self, idle: Duration) -> bool {
        if self.open_count() > 0 {
            return true;
        }
        let last = self.last.load(Ordering::Relaxed);
        last != 0 && since_epoch().saturating_sub(last) < idle.as_millis() as u64
    }
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Never 0, so 0 can mean "never read".
fn since_epoch() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

/// Counts a stream as open on its torrent until dropped.
struct OpenGuard(Arc<Reading>);

impl OpenGuard {
    fn new(reading: Arc<Reading>) -> Self {
        reading.open.fetch_add(1, Ordering::Relaxed);
        reading.touch();
        Self(reading)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        // The idle timer starts when the last reader goes, not when it came.
        self.0.touch();
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A file being read: `AsyncRead + AsyncSeek` over verified bytes only. A read that
/// waits longer than `STREAM_READ_TIMEOUT` for a piece fails with `TimedOut`.
pub struct FileStream {
    inner: Pin<Box<dyn ReadSeek>>,
    len: u64,
    position: u64,
    guard: OpenGuard,
    timeout: Duration,
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
    _permit: OwnedSemaphorePermit,
}

/// librqbit's stream, whose type it does not export.
trait ReadSeek: AsyncRead + AsyncSeek + Send {}
impl<T: AsyncRead + AsyncSeek + Send> ReadSeek for T {}

impl FileStream {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsyncRead for FileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match this.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.waiting = None;
                this.guard.0.touch();
                this.position += (buf.filled().len() - before) as u64;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .waiting
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.waiting = None;
                        Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "no peer sent the piece at byte {} within {timeout:?}",
                                this.position
                            ),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncSeek for FileStream {
    fn start_seek(mut self: Pin<&mut Self>, position: std::io::SeekFrom) -> std::io::Result<()> {
        self.waiting = None;
        self.inner.as_mut().start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        let done = self.inner.as_mut().poll_complete(cx);
        if let Poll::Ready(Ok(p)) = done {
            self.position = p;
        }
        done
    }
}

impl Engine {
    /// The torrent's files from its metainfo (`Conflict` while a magnet has none yet).
    pub fn files_of(&self, actor: &Actor, hash: &InfoHash) -> Result<Vec<TorrentFile>> {
        let info = self.metainfo(actor, hash)?.ok_or_else(|| {
            EngineError::Conflict("the torrent's metadata is not known yet".into())
        })?;
        let strip = info.sub_folder.as_ref().map(PathBuf::from);
        Ok(info
            .files
            .into_iter()
            .enumerate()
            .filter_map(|(index, (path, length))| {
                let inner = match &strip {
                    Some(s) => path
                        .strip_prefix(s)
                        .map(|p| p.to_path_buf())
                        .unwrap_or(path),
                    None => path,
                };
                let parts: Vec<String> = inner
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                // BEP 47 padding files are not content.
                (parts.first().map(String::as_str) != Some(".pad")).then(|| TorrentFile {
                    index,
                    path: parts.join("/"),
                    length,
                })
            })
            .collect())
    }

    /// One file of the torrent (`NotFound` for an index it does not have).
    pub fn file_of(&self, actor: &Actor, hash: &InfoHash, index: usize) -> Result<TorrentFile> {
        self.files_of(actor, hash)?
            .into_iter()
            .find(|f| f.index == index)
            .ok_or_else(|| EngineError::FileNotFound(format!("torrent {hash} has no file {index}")))
    }

    /// Opens file `index` for reading from byte `start`. A torrent that is queued,
    /// paused or idle starts downloading (from the read position first) while the
    /// stream is open and until `IDLE_TIMEOUT` after its last read.
    pub async fn open_stream(
        self: &Arc<Self>,
        actor: &Actor,
        hash: &InfoHash,
        index: usize,
        start: u64,
    ) -> Result<FileStream> {
        let file = self.file_of(actor, hash, index)?;
        let permit = self
            .stream_permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                EngineError::Busy(format!(
                    "{} streams are open, the most allowed (STREAM_MAX_CONCURRENT)",
                    self.config().stream_max_concurrent
                ))
            })?;
        let (reading, handle) = {
            let map = lock(&self.torrents);
            let e = map.get(hash).ok_or(EngineError::NotFound(*hash))?;
            if e.rec.error.is_some() {
                return Err(EngineError::Conflict(
                    "the torrent is in the error state; resume it first".into(),
                ));
            }
            (e.reading.clone(), e.handle.clone())
        };
        let handle = handle.ok_or_else(|| {
            EngineError::Conflict("the torrent is not ready to stream yet".into())
        })?;
        let timeout = self.config().stream_read_timeout;
        let mut inner = tokio::time::timeout(timeout, handle.stream(index))
            .await
            .map_err(|_| EngineError::Timeout("the torrent did not get ready to stream".into()))?
            .map_err(|e| EngineError::Conflict(format!("cannot stream: {e:#}")))?;
        // At the read position before the torrent wakes: its first requests to peers
        // are then for the pieces this read needs, not for the start of the file.
        use tokio::io::AsyncSeekExt as _;
        inner
            .seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| EngineError::Conflict(format!("cannot seek to byte {start}: {e}")))?;
        let guard = OpenGuard::new(reading);
        // Being read now outranks the queue and a pause.
        self.reconcile().await;
        Ok(FileStream {
            inner: Box::pin(inner),
            len: file.length,
            position: start,
            guard,
            timeout,
            waiting: None,
            _permit: permit,
        })
    }
}

/// Files with these extensions are listed in playlists and picked as a torrent's video.
pub const MEDIA_EXTENSIONS: &[&str] = &[
    "mkv", "mp4", "m4v", "avi", "mov", "wmv", "webm", "ts", "m2ts", "mpg", "mpeg", "flv", "ogv",
    "mp3", "flac", "m4a", "aac", "ogg", "opus", "wav",
];

/// Whether the path names an audio or video file.
pub fn is_media(path: &str) -> bool {
    path.rsplit_once('.')
        .is_some_and(|(_, ext)| MEDIA_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}
