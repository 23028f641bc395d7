//! [`dav_server`]'s read-only file system over a [`Tree`]: listings come from the tree,
//! reads from the engine's streams (pieces on demand, idle mode), opened at the first
//! read so that `PROPFIND` and `HEAD` never start a download.

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, FsError, FsFuture, FsResult, FsStream,
    OpenOptions, ReadDirMeta,
};
use futures::FutureExt as _;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::tree::{FileRef, Node, Tree};
use crate::engine::stream::FileStream;
use crate::engine::{Actor, Engine, EngineError};

/// One user's view of the tree, for one request.
#[derive(Clone)]
pub struct TreeFs {
    pub tree: Arc<Tree>,
    pub engine: Arc<Engine>,
    pub actor: Actor,
}

impl TreeFs {
    fn node(&self, path: &DavPath) -> FsResult<&Node> {
        let raw = path.as_bytes();
        let text = std::str::from_utf8(raw).map_err(|_| FsError::NotFound)?;
        let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
        self.tree.get(&parts).ok_or(FsError::NotFound)
    }

    fn meta(&self, node: &Node) -> Meta {
        match node {
            Node::Dir(_) => Meta {
                len: 0,
                dir: true,
                modified: self.tree.built_at,
                etag: None,
            },
            Node::File(f, modified) => Meta {
                len: f.length,
                dir: false,
                modified: *modified,
                etag: Some(format!("{}-{}-{}", f.info_hash, f.index, f.length)),
            },
        }
    }
}

impl DavFileSystem for TreeFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move {
            if options.write || options.append || options.create || options.create_new {
                return Err(FsError::Forbidden);
            }
            match self.node(path)? {
                Node::Dir(_) => Err(FsError::Forbidden),
                node @ Node::File(f, _) => Ok(Box::new(TorrentFileReader {
                    file: f.clone(),
                    meta: self.meta(node),
                    engine: self.engine.clone(),
                    actor: self.actor.clone(),
                    pos: 0,
                    stream: std::sync::Mutex::new(None),
                }) as Box<dyn DavFile>),
            }
        }
        .boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            let Node::Dir(children) = self.node(path)? else {
                return Err(FsError::Forbidden);
            };
            let entries: Vec<FsResult<Box<dyn DavDirEntry>>> = children
                .iter()
                .map(|(name, node)| {
                    Ok(Box::new(Entry {
                        name: name.clone(),
                        meta: self.meta(node),
                    }) as Box<dyn DavDirEntry>)
                })
                .collect();
            Ok(Box::pin(futures::stream::iter(entries)) as FsStream<Box<dyn DavDirEntry>>)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            let node = self.node(path)?;
            Ok(Box::new(self.meta(node)) as Box<dyn DavMetaData>)
        }
        .boxed()
    }
}

#[derive(Debug, Clone)]
struct Meta {
    len: u64,
    dir: bool,
    modified: SystemTime,
    etag: Option<String>,
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.len
    }

    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.modified)
    }

    fn is_dir(&self) -> bool {
        self.dir
    }

    fn etag(&self) -> Option<String> {
        self.etag.clone()
    }
}

struct Entry {
    name: String,
    meta: Meta,
}

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }

    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = self.meta.clone();
        async move { Ok(Box::new(meta) as Box<dyn DavMetaData>) }.boxed()
    }
}

/// A file of a torrent being read over WebDAV.
struct TorrentFileReader {
    file: FileRef,
    meta: Meta,
    engine: Arc<Engine>,
    actor: Actor,
    /// Where the next read starts.
    pos: u64,
    /// Opened at the first read. In a mutex only because `DavFile` must be `Sync`;
    /// every use has `&mut self`, so it is never contended.
    stream: std::sync::Mutex<Option<FileStream>>,
}

impl std::fmt::Debug for TorrentFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorrentFileReader")
            .field("file", &self.file)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

fn engine_error(e: EngineError) -> FsError {
    match e {
        EngineError::NotFound(_) | EngineError::FileNotFound(_) => FsError::NotFound,
        other => {
            tracing::info!(error = %other, "WebDAV read refused");
            FsError::GeneralFailure
        }
    }
}

impl TorrentFileReader {
    async fn read(&mut self, count: usize) -> FsResult<Bytes> {
        let remaining = self.file.length.saturating_sub(self.pos);
        let want = (count as u64).min(remaining) as usize;
        if want == 0 {
            return Ok(Bytes::new());
        }
        let pos = self.pos;
        let slot = self.stream.get_mut().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let s = self
                .engine
                .open_stream(&self.actor, &self.file.info_hash, self.file.index, pos)
                .await
                .map_err(engine_error)?;
            *slot = Some(s);
        }
        let stream = slot.as_mut().expect("just opened");
        stream
            .seek(SeekFrom::Start(pos))
            .await
            .map_err(|_| FsError::GeneralFailure)?;
        let mut buf = vec![0u8; want];
        let mut filled = 0;
        while filled < want {
            match stream.read(&mut buf[filled..]).await {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => {
                    tracing::info!(error = %e, "WebDAV read ended early");
                    return Err(FsError::GeneralFailure);
                }
            }
        }
        buf.truncate(filled);
        self.pos += filled as u64;
        Ok(Bytes::from(buf))
    }
}

impl DavFile for TorrentFileReader {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = self.meta.clone();
        async move { Ok(Box::new(meta) as Box<dyn DavMetaData>) }.boxed()
    }

    fn write_buf(&mut self, _buf: Box<dyn bytes::Buf + Send>) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn write_bytes(&mut self, _buf: Bytes) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        self.read(count).boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        let len = self.file.length as i128;
        let target = match pos {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => len + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        let result = if (0..=len).contains(&target) {
            self.pos = target as u64;
            Ok(self.pos)
        } else {
            Err(FsError::GeneralFailure)
        };
        async move { result }.boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        async { Ok(()) }.boxed()
    }
}
