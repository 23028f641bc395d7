//! Assignments: a movie or episode to one file of a torrent, and back.
//!
//! The torrent comes in through the engine like any other (added for the item's
//! owner, in their folder, under the queue), so its metadata arrives once it holds a
//! download slot: with every slot taken by other downloads an assignment of a new
//! magnet waits for one, up to the metadata timeout.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use super::{ItemRef, Library, LibraryError, Result, pick, validate};
use crate::InfoHash;
use crate::engine::source::MagnetLink;
use crate::engine::{Actor, AddOptions, EngineError, FileView, TorrentInput};
use crate::store::{Assignment, MediaItem, MediaKind};
use crate::view::TorrentState;

/// How often the engine's view of a torrent is looked at while its metadata is
/// awaited (a look is a map lookup in memory).
const METADATA_POLL: Duration = Duration::from_millis(200);

/// The torrent an assignment is to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentRef {
    /// A magnet link (or a bare info hash): the torrent is added when it is not there.
    Magnet(String),
    /// A torrent that must be there already (added by upload, say).
    InfoHash(InfoHash),
}

/// What [`Library::assign`] is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignRequest {
    pub torrent: TorrentRef,
    /// A file's path as in the torrent's details; `None`: its only video file.
    pub file_path: Option<String>,
    pub resolution: Option<String>,
    pub source: Option<String>,
}

/// What [`Library::unassign`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unassigned {
    pub item: MediaItem,
    /// Whether the torrent was removed (with its files): nothing else used it, and the
    /// caller did not keep it.
    pub torrent_removed: bool,
}

impl Library {
    /// Assigns a file of a torrent to a movie or episode, replacing its assignment.
    ///
    /// A magnet not yet there is added for the item's owner; then the torrent's
    /// metadata is awaited for up to the metadata timeout
    /// ([`LibraryError::MetadataTimeout`]; the torrent stays, so asking again later
    /// finds it). The file is the one `file_path` names, else the torrent's only video
    /// file (see [`pick::choose`]); its index and size come from the metadata. The
    /// torrent a replaced assignment used is released as by [`Library::unassign`].
    pub async fn assign(
        &self,
        actor: &Actor,
        r: ItemRef<'_>,
        req: AssignRequest,
    ) -> Result<MediaItem> {
        let item = self.resolve(actor, r).await?;
        if item.kind == MediaKind::Show {
            return Err(show_has_no_file());
        }
        let resolution = validate::label(req.resolution, "resolution")?;
        let source = validate::label(req.source, "source")?;
        let hash = self
            .ensure_torrent(actor, &item.owner_id, &req.torrent)
            .await?;
        let files = self.files_of(actor, &hash).await?;
        let file = pick::choose(&files, req.file_path.as_deref())?;
        let assignment = Assignment {
            info_hash: hash,
            file_index: file.index,
            file_path: file.path.clone(),
            size: file.length,
            resolution,
            source,
            assigned_at: crate::now_millis(),
        };
        let _writes = self.writes.lock().await;
        // Read again: the item may have changed or gone while the metadata came, and
        // the torrent may have been released by another item meanwhile.
        let mut item = self.resolve(actor, r).await?;
        self.engine.view_of(actor, &hash)?;
        let old = item.assignment.replace(assignment);
        self.store.put_media(&item).await?;
        tracing::info!(id = %item.id, info_hash = %hash, file = file.index, "library item assigned");
        if let Some(old) = old.filter(|o| o.info_hash != hash) {
            // The new assignment stands whatever happens to the old torrent.
            if let Err(e) = self.release(actor, &[old.info_hash], &HashSet::new()).await {
                tracing::warn!(info_hash = %old.info_hash, error = %e, "releasing a replaced assignment's torrent");
            }
        }
        Ok(item)
    }

    /// Ends an item's assignment. Its torrent is removed with its files when no other
    /// item (of any user) is assigned to it, unless `keep_torrent`. An item with no
    /// assignment is left as it is.
    pub async fn unassign(
        &self,
        actor: &Actor,
        r: ItemRef<'_>,
        keep_torrent: bool,
    ) -> Result<Unassigned> {
        if let ItemRef::Show(_) = r {
            return Err(show_has_no_file());
        }
        let _writes = self.writes.lock().await;
        let mut item = self.resolve(actor, r).await?;
        let Some(old) = item.assignment.take() else {
            return Ok(Unassigned {
                item,
                torrent_removed: false,
            });
        };
        let torrent_removed = if keep_torrent {
            false
        } else {
            // Before the record changes: a failure leaves the assignment to try again.
            let me = HashSet::from([item.id.as_str()]);
            self.release(actor, &[old.info_hash], &me).await? > 0
        };
        self.store.put_media(&item).await?;
        tracing::info!(id = %item.id, info_hash = %old.info_hash, torrent_removed, "library item unassigned");
        Ok(Unassigned {
            item,
            torrent_removed,
        })
    }

    /// Removes (with their files) those of `hashes` no item outside `except` is
    /// assigned to; returns how many were removed. A torrent already gone, or one the
    /// actor may not touch, is left alone. Called with `writes` held.
    pub(super) async fn release(
        &self,
        actor: &Actor,
        hashes: &[InfoHash],
        except: &HashSet<&str>,
    ) -> Result<usize> {
        if hashes.is_empty() {
            return Ok(0);
        }
        let used: HashSet<InfoHash> = self
            .all_items()
            .await?
            .into_iter()
            .filter(|m| !except.contains(m.id.as_str()))
            .filter_map(|m| m.assignment.map(|a| a.info_hash))
            .collect();
        let mut removed = 0;
        for hash in hashes.iter().collect::<HashSet<_>>() {
            if used.contains(hash) {
                continue;
            }
            match self.engine.remove(actor, hash, true).await {
                Ok(()) => removed += 1,
                Err(EngineError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }

    /// The info hash of the torrent `r` names, adding a magnet's torrent for `owner`
    /// when the actor sees no torrent of that hash.
    async fn ensure_torrent(&self, actor: &Actor, owner: &str, r: &TorrentRef) -> Result<InfoHash> {
        let magnet = match r {
            TorrentRef::InfoHash(hash) => {
                self.engine.view_of(actor, hash)?;
                return Ok(*hash);
            }
            TorrentRef::Magnet(m) => m,
        };
        let hash = MagnetLink::parse(magnet)?.info_hash;
        if self.engine.view_of(actor, &hash).is_ok() {
            return Ok(hash);
        }
        // The owner's, in the owner's folder, also when an administrator assigns.
        let for_owner = Actor {
            user_id: owner.to_owned(),
            admin: false,
        };
        let input = TorrentInput::Magnet(magnet.clone());
        // A library's torrent plays on demand: stream-only, and nothing downloaded until
        // a player reads it (its metadata is still fetched, to check the file).
        let opts = AddOptions {
            start_paused: true,
            options: crate::store::TorrentOptions {
                stream_only: true,
                ..Default::default()
            },
            ..AddOptions::default()
        };
        match self.engine.add(&for_owner, input, opts).await {
            Ok(_) => {
                tracing::info!(info_hash = %hash, user = owner, "torrent added for the library");
                Ok(hash)
            }
            // Added by someone else in the meantime: fine when the actor sees it.
            Err(EngineError::AlreadyExists(_)) if self.engine.view_of(actor, &hash).is_ok() => {
                Ok(hash)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The torrent's files, once its metadata is there, waiting up to the timeout.
    async fn files_of(&self, actor: &Actor, hash: &InfoHash) -> Result<Vec<FileView>> {
        let deadline = tokio::time::Instant::now() + self.metadata_timeout;
        loop {
            let details = self.engine.details(actor, hash)?;
            if !details.files.is_empty() {
                return Ok(details.files);
            }
            if details.summary.state == TorrentState::Error {
                return Err(LibraryError::TorrentFailed {
                    hash: *hash,
                    message: details.summary.error.unwrap_or_default(),
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LibraryError::MetadataTimeout {
                    hash: *hash,
                    waited: self.metadata_timeout,
                });
            }
            tokio::time::sleep(METADATA_POLL).await;
        }
    }
}

fn show_has_no_file() -> LibraryError {
    LibraryError::Invalid("a show has no file of its own: assign files to its episodes".into())
}
