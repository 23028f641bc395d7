//! The media library: each user's movies, shows and episodes, and which file of which
//! torrent plays each of them.
//!
//! [`Library`] owns the rules; records live in the [`Store`](crate::store::Store)
//! ([`MediaItem`]) and torrents in the [`Engine`], reached only through its public
//! operations (add, details, remove). It knows nothing about HTTP: the REST edge
//! (`api::library`) maps [`LibraryError`] to statuses.
//!
//! - Items belong to their owner: a user sees and changes their own, an administrator
//!   everyone's (as [`Actor::may_see`] says for torrents). Anything else is
//!   [`LibraryError::NotFound`], so ids of others' items are not confirmed.
//! - An episode belongs to its show's owner, whoever adds it.
//! - Assigning ([`Library::assign`]) adds the torrent when it is not there yet, waits
//!   (bounded) for its metadata, and takes the file's index and size from it. A movie
//!   or episode has at most one active assignment: a new one replaces it.
//! - A torrent no item uses any more is removed with its files when an assignment ends
//!   (unassigning, replacing, deleting the item), unless the caller keeps it. "Uses"
//!   counts every user's library, not only the caller's.
//!
//! [`validate`] checks what enters; [`pick`] chooses the file; [`assign`] holds the
//! operations that touch torrents.

mod assign;
pub mod pick;
pub mod validate;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::InfoHash;
use crate::engine::{Actor, Engine, EngineError};
use crate::store::{DynStore, MediaItem, MediaKind, StoreError};
pub use assign::{AssignRequest, TorrentRef, Unassigned};
pub use pick::Candidate;

/// Library errors. Each variant maps to one HTTP status in the API layer.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// A title, year, season, episode or label out of bounds, or a request that makes
    /// no sense (a file assigned to a show).
    #[error("{0}")]
    Invalid(String),
    /// No such item, or one the caller may not see.
    #[error("{0} not found")]
    NotFound(String),
    /// The show has this season and episode already.
    #[error("{0}")]
    DuplicateEpisode(String),
    /// The path asked for is no file of the torrent; `files` lists them all.
    #[error("the torrent has no file {path:?}")]
    NoSuchFile { path: String, files: Vec<Candidate> },
    /// No path given and the torrent has no video file (`videos` 0: `candidates` are
    /// all its files) or several (`candidates` are those).
    #[error("{}", no_single_video(.videos))]
    NoSingleVideo {
        videos: usize,
        candidates: Vec<Candidate>,
    },
    /// The torrent's metadata did not arrive in time (the torrent stays, still looking).
    #[error("the metadata of torrent {hash} did not arrive within {} s", .waited.as_secs())]
    MetadataTimeout { hash: InfoHash, waited: Duration },
    /// The torrent failed before its files were known.
    #[error("torrent {hash} failed: {message}")]
    TorrentFailed { hash: InfoHash, message: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn no_single_video(videos: &usize) -> String {
    if *videos == 0 {
        "the torrent has no video file: give a filePath".to_owned()
    } else {
        format!("the torrent has {videos} video files: give a filePath")
    }
}

type Result<T, E = LibraryError> = std::result::Result<T, E>;

/// Which item a request is about. Episodes are addressed through their show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemRef<'a> {
    Movie(&'a str),
    Show(&'a str),
    Episode {
        show_id: &'a str,
        episode_id: &'a str,
    },
}

impl ItemRef<'_> {
    fn id(&self) -> &str {
        match self {
            Self::Movie(id) | Self::Show(id) => id,
            Self::Episode { episode_id, .. } => episode_id,
        }
    }

    fn kind(&self) -> MediaKind {
        match self {
            Self::Movie(_) => MediaKind::Movie,
            Self::Show(_) => MediaKind::Show,
            Self::Episode { .. } => MediaKind::Episode,
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.kind().as_str(), self.id())
    }
}

/// A new movie or show.
#[derive(Debug, Clone, Default)]
pub struct NewTitle {
    pub title: String,
    /// Checked against [`validate::YEARS`].
    pub year: Option<i64>,
}

/// A new episode of a show.
#[derive(Debug, Clone, Default)]
pub struct NewEpisode {
    /// Checked against [`validate::SEASONS`] (0: specials).
    pub season: i64,
    /// Checked against [`validate::EPISODES`].
    pub episode: i64,
    pub title: Option<String>,
}

/// A show with its episodes, in season and episode order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShowDetails {
    #[serde(flatten)]
    pub show: MediaItem,
    pub episodes: Vec<MediaItem>,
}

/// The media library service. Cheap to share behind an `Arc`.
pub struct Library {
    store: DynStore,
    engine: Arc<Engine>,
    /// How long an assignment waits for a new torrent's metadata (`METADATA_TIMEOUT`).
    metadata_timeout: Duration,
    /// Held by every change that ends or makes an assignment, or adds an episode, from
    /// its check to its write: "no other item uses this torrent" and "the show has no
    /// such episode" stay true until the write. A tokio mutex: it is held across store
    /// and engine calls. Waiting for metadata happens before it is taken.
    writes: tokio::sync::Mutex<()>,
}

impl Library {
    pub fn new(store: DynStore, engine: Arc<Engine>, metadata_timeout: Duration) -> Self {
        Self {
            store,
            engine,
            metadata_timeout,
            writes: tokio::sync::Mutex::new(()),
        }
    }

    // --- creating --------------------------------------------------------------------

    pub async fn create_movie(&self, actor: &Actor, new: NewTitle) -> Result<MediaItem> {
        self.create_title(actor, MediaKind::Movie, new).await
    }

    pub async fn create_show(&self, actor: &Actor, new: NewTitle) -> Result<MediaItem> {
        self.create_title(actor, MediaKind::Show, new).await
    }

    async fn create_title(
        &self,
        actor: &Actor,
        kind: MediaKind,
        new: NewTitle,
    ) -> Result<MediaItem> {
        let item = MediaItem {
            title: validate::title(&new.title, true)?,
            year: validate::year(new.year)?,
            kind,
            ..blank(&actor.user_id)
        };
        self.store.put_media(&item).await?;
        Ok(item)
    }

    /// Adds an episode to a show; the show may not have that season and episode yet.
    pub async fn add_episode(
        &self,
        actor: &Actor,
        show_id: &str,
        new: NewEpisode,
    ) -> Result<MediaItem> {
        let season = validate::season(new.season)?;
        let episode = validate::episode(new.episode)?;
        let title = validate::title(new.title.as_deref().unwrap_or(""), false)?;
        let _writes = self.writes.lock().await;
        let show = self.resolve(actor, ItemRef::Show(show_id)).await?;
        let taken = self
            .episodes_of(&show)
            .await?
            .iter()
            .any(|e| e.season == Some(season) && e.episode == Some(episode));
        if taken {
            return Err(LibraryError::DuplicateEpisode(format!(
                "{:?} has season {season} episode {episode} already",
                show.title
            )));
        }
        let item = MediaItem {
            kind: MediaKind::Episode,
            title,
            show_id: Some(show.id.clone()),
            season: Some(season),
            episode: Some(episode),
            ..blank(&show.owner_id)
        };
        self.store.put_media(&item).await?;
        Ok(item)
    }

    // --- reading ---------------------------------------------------------------------

    /// Every item the actor may see (an administrator: everyone's), in the store's
    /// order (oldest first).
    pub async fn items(&self, actor: &Actor) -> Result<Vec<MediaItem>> {
        if actor.admin {
            self.all_items().await
        } else {
            Ok(self.store.list_media(&actor.user_id).await?)
        }
    }

    /// The movies the actor may see, by title (ignoring case), then year.
    pub async fn movies(&self, actor: &Actor) -> Result<Vec<MediaItem>> {
        self.titles(actor, MediaKind::Movie).await
    }

    /// The shows the actor may see, by title (ignoring case), then year.
    pub async fn shows(&self, actor: &Actor) -> Result<Vec<MediaItem>> {
        self.titles(actor, MediaKind::Show).await
    }

    async fn titles(&self, actor: &Actor, kind: MediaKind) -> Result<Vec<MediaItem>> {
        let mut out: Vec<MediaItem> = self
            .items(actor)
            .await?
            .into_iter()
            .filter(|m| m.kind == kind)
            .collect();
        out.sort_by_cached_key(|m| (m.title.to_lowercase(), m.year, m.created_at, m.id.clone()));
        Ok(out)
    }

    pub async fn movie(&self, actor: &Actor, id: &str) -> Result<MediaItem> {
        self.resolve(actor, ItemRef::Movie(id)).await
    }

    pub async fn show(&self, actor: &Actor, id: &str) -> Result<ShowDetails> {
        let show = self.resolve(actor, ItemRef::Show(id)).await?;
        let episodes = self.episodes_of(&show).await?;
        Ok(ShowDetails { show, episodes })
    }

    /// A show's episodes, by season, then episode.
    pub async fn episodes(&self, actor: &Actor, show_id: &str) -> Result<Vec<MediaItem>> {
        let show = self.resolve(actor, ItemRef::Show(show_id)).await?;
        self.episodes_of(&show).await
    }

    pub async fn episode(
        &self,
        actor: &Actor,
        show_id: &str,
        episode_id: &str,
    ) -> Result<MediaItem> {
        self.resolve(
            actor,
            ItemRef::Episode {
                show_id,
                episode_id,
            },
        )
        .await
    }

    /// The item `r` names, when the actor may see it and it is of the kind named (an
    /// episode: of the show named).
    async fn resolve(&self, actor: &Actor, r: ItemRef<'_>) -> Result<MediaItem> {
        let found = self.store.media(r.id()).await?.filter(|m| {
            m.kind == r.kind()
                && actor.may_see(&m.owner_id)
                && match r {
                    ItemRef::Episode { show_id, .. } => m.show_id.as_deref() == Some(show_id),
                    _ => true,
                }
        });
        found.ok_or_else(|| LibraryError::NotFound(r.describe()))
    }

    async fn episodes_of(&self, show: &MediaItem) -> Result<Vec<MediaItem>> {
        let mut eps: Vec<MediaItem> = self
            .store
            .list_media(&show.owner_id)
            .await?
            .into_iter()
            .filter(|m| m.kind == MediaKind::Episode && m.show_id.as_deref() == Some(&show.id))
            .collect();
        eps.sort_by_key(|e| (e.season, e.episode, e.created_at));
        Ok(eps)
    }

    /// Every user's items. A self-hosted server has few users; one listing each keeps
    /// the store's interface to what every backend answers alike.
    async fn all_items(&self) -> Result<Vec<MediaItem>> {
        let mut out = Vec::new();
        for user in self.store.list_users().await? {
            out.extend(self.store.list_media(&user.id).await?);
        }
        Ok(out)
    }

    // --- deleting --------------------------------------------------------------------

    /// Deletes an item (a show with its episodes). The torrents their assignments used
    /// are removed with their files when nothing else uses them, unless
    /// `keep_torrents`.
    pub async fn delete(&self, actor: &Actor, r: ItemRef<'_>, keep_torrents: bool) -> Result<()> {
        let _writes = self.writes.lock().await;
        let item = self.resolve(actor, r).await?;
        let mut doomed = vec![item.clone()];
        if item.kind == MediaKind::Show {
            doomed.extend(self.episodes_of(&item).await?);
        }
        if !keep_torrents {
            let ids: HashSet<&str> = doomed.iter().map(|m| m.id.as_str()).collect();
            let hashes: Vec<InfoHash> = doomed
                .iter()
                .filter_map(|m| m.assignment.as_ref().map(|a| a.info_hash))
                .collect();
            // Before the records go: a failure leaves everything to try again.
            self.release(actor, &hashes, &ids).await?;
        }
        self.store.delete_media(&item.id).await?;
        tracing::info!(id = %item.id, kind = item.kind.as_str(), "library item deleted");
        Ok(())
    }
}

/// A new item of `owner` with a fresh id, created now, every optional field empty.
fn blank(owner: &str) -> MediaItem {
    MediaItem {
        id: uuid::Uuid::new_v4().to_string(),
        owner_id: owner.to_owned(),
        kind: MediaKind::Movie,
        title: String::new(),
        year: None,
        show_id: None,
        season: None,
        episode: None,
        assignment: None,
        created_at: crate::now_millis(),
    }
}
