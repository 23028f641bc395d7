//! The torrent catalog: `.torrent` files users publish with a title, description,
//! category and tags, searched by full text, commented on, downloaded (announcing to
//! this server's tracker) or added to one's own downloads in one step.
//!
//! [`Catalog`] owns the rules; records live in the [`Store`](crate::store::Store), the
//! truth, and [`search::SearchIndex`] is a cache of them that is rebuilt from the store
//! at start when it is missing, unreadable or holds another number of entries. Writes go
//! to the store first, then the index; a failed index write is logged and repaired by
//! the next rebuild. The engine parses torrents and adds them; the [`Tracker`] serves
//! the catalog's torrents (allowed on upload, disallowed on delete) and counts their
//! peers. It
//! knows nothing about HTTP: `api::catalog` maps [`CatalogError`] to statuses.
//!
//! - Every signed-in user sees every entry; an entry is deleted by its uploader or an
//!   administrator, a comment by its author or an administrator.
//! - Names and paths inside a torrent are hostile: the engine refuses unsafe paths when
//!   parsing, and the download's file name is built from the title's safe characters.

mod files;
pub mod search;
pub mod validate;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::InfoHash;
use crate::engine::{Actor, AddOptions, Engine, EngineError, TorrentInput, TorrentView};
use crate::store::{CatalogComment, CatalogEntry, CatalogQuery, DynStore, Millis, StoreError};
use crate::tracker::{SwarmCounts, Tracker};
pub use files::download_name;
use search::SearchIndex;
pub use validate::Page;

/// Catalog errors. Each variant maps to one HTTP status in the API layer.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A field out of bounds, a bad page, or a file that is no (safe) torrent.
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The torrent is in the catalog already, as entry `id`.
    #[error("torrent {hash} is in the catalog already")]
    Duplicate { hash: InfoHash, id: String },
    /// Only the uploader (or author) or an administrator may do this.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index failed where the store cannot answer instead (a search).
    #[error(transparent)]
    Search(#[from] search::SearchError),
    /// The tracker could not give an announce URL.
    #[error("tracker: {0:#}")]
    Tracker(anyhow::Error),
}

type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// What an upload carries besides the file; `None` or empty fields take defaults.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub torrent: Vec<u8>,
    /// Default: the torrent's name.
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    /// Comma-separated.
    pub tags: Option<String>,
}

/// An entry in listings: everything but its files.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntrySummary {
    pub id: String,
    pub info_hash: InfoHash,
    pub title: String,
    pub description: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub uploader_id: String,
    pub created_at: Millis,
    pub total_bytes: u64,
    pub file_count: usize,
}

impl From<CatalogEntry> for EntrySummary {
    fn from(e: CatalogEntry) -> Self {
        Self {
            file_count: e.files.len(),
            id: e.id,
            info_hash: e.info_hash,
            title: e.title,
            description: e.description,
            category: e.category,
            tags: e.tags,
            uploader_id: e.uploader_id,
            created_at: e.created_at,
            total_bytes: e.total_bytes,
        }
    }
}

/// One page of entries and how many there are in all.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryPage {
    pub entries: Vec<EntrySummary>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// An entry with its files, its uploader's name and its swarm.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryDetails {
    #[serde(flatten)]
    pub entry: CatalogEntry,
    pub uploader_name: Option<String>,
    pub swarm: SwarmCounts,
}

/// A comment with its author's name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    #[serde(flatten)]
    pub comment: CatalogComment,
    pub author_name: Option<String>,
}

/// The catalog service. Cheap to share behind an `Arc`.
pub struct Catalog {
    store: DynStore,
    engine: Arc<Engine>,
    tracker: Arc<Tracker>,
    index: Arc<SearchIndex>,
}

/// How many entries a rebuild reads from the store at a time.
const REBUILD_BATCH: u64 = 500;
/// How many suggestions `suggest` gives.
const SUGGESTIONS: usize = 10;

/// How long opening the index waits for another writer to let go of it (a server
/// stopping in this process, as tests restart it).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn open_index(dir: &Path) -> anyhow::Result<(SearchIndex, bool)> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        let d = dir.to_owned();
        match tokio::task::spawn_blocking(move || SearchIndex::open(&d)).await? {
            Err(e) if e.is_locked() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return Ok(other?),
        }
    }
}

impl Catalog {
    /// Opens the index in `index_dir` and rebuilds it from the store when it was
    /// missing or unreadable or its count differs from the store's.
    pub async fn open(
        store: DynStore,
        engine: Arc<Engine>,
        tracker: Arc<Tracker>,
        index_dir: &Path,
    ) -> anyhow::Result<Self> {
        let (index, created) = open_index(index_dir).await?;
        let me = Self {
            store,
            engine,
            tracker,
            index: Arc::new(index),
        };
        let stored = me.store.list_catalog(&CatalogQuery::default()).await?.total;
        if created || me.index.len() != stored {
            let n = me.rebuild_index().await?;
            tracing::info!(entries = n, "catalog index rebuilt from the store");
        }
        Ok(me)
    }

    /// Refills the index with every entry of the store.
    pub async fn rebuild_index(&self) -> anyhow::Result<u64> {
        let mut batches = Vec::new();
        let mut offset = 0;
        loop {
            let q = CatalogQuery {
                category: None,
                offset,
                limit: REBUILD_BATCH,
            };
            let page = self.store.list_catalog(&q).await?.entries;
            if page.is_empty() {
                break;
            }
            offset += page.len() as u64;
            batches.push(page);
        }
        let index = self.index.clone();
        Ok(tokio::task::spawn_blocking(move || index.rebuild(batches)).await??)
    }

    /// Every entry's info hash, for the tracker's allow list at start.
    pub async fn info_hashes(&self) -> Result<Vec<InfoHash>> {
        Ok(self.store.catalog_info_hashes().await?)
    }

    /// Publishes a `.torrent`. The tracker serves it from now on.
    pub async fn upload(&self, actor: &Actor, up: Upload) -> Result<CatalogEntry> {
        let description = validate::description(up.description.as_deref().unwrap_or(""))?;
        let category = validate::category(up.category.as_deref().unwrap_or(""))?;
        let tags = validate::tags(up.tags.as_deref().unwrap_or(""))?;
        let info = crate::engine::source::inspect_torrent(&up.torrent).map_err(|e| match e {
            EngineError::InvalidTorrent(m) | EngineError::UnsafePath(m) => CatalogError::Invalid(m),
            other => other.into(),
        })?;
        let given = up.title.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let title = match given {
            Some(t) => validate::title(t)?,
            None => files::default_title(info.name.as_deref(), &info.info_hash),
        };
        let entry = CatalogEntry {
            id: uuid::Uuid::new_v4().to_string(),
            info_hash: info.info_hash,
            title,
            description,
            category,
            tags,
            uploader_id: actor.user_id.clone(),
            created_at: crate::now_millis(),
            total_bytes: info.total_bytes,
            files: files::listed(&info.files),
        };
        match self.store.insert_catalog_entry(&entry, &up.torrent).await {
            Err(StoreError::Conflict(_)) => return Err(self.duplicate(&info.info_hash).await),
            other => other?,
        }
        self.tracker.allow(entry.info_hash);
        self.index_write("put", {
            let e = entry.clone();
            move |i| i.put(&e)
        })
        .await;
        tracing::info!(id = %entry.id, hash = %entry.info_hash, "catalog entry published");
        Ok(entry)
    }

    async fn duplicate(&self, hash: &InfoHash) -> CatalogError {
        match self.store.catalog_entry_by_hash(hash).await {
            Ok(Some(e)) => CatalogError::Duplicate {
                hash: *hash,
                id: e.id,
            },
            // Deleted in between: still a conflict for this request.
            Ok(None) => CatalogError::Duplicate {
                hash: *hash,
                id: String::new(),
            },
            Err(e) => e.into(),
        }
    }

    /// Runs an index write on the blocking pool; a failure is logged, not returned:
    /// the store has the change, and the next rebuild brings the index back in line.
    async fn index_write<F>(&self, what: &'static str, op: F)
    where
        F: FnOnce(&SearchIndex) -> Result<(), search::SearchError> + Send + 'static,
    {
        let index = self.index.clone();
        match tokio::task::spawn_blocking(move || op(&index)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, what, "catalog index write failed"),
            Err(e) => tracing::error!(error = %e, what, "catalog index write panicked"),
        }
    }

    /// The catalog newest first, optionally one category only.
    pub async fn browse(&self, category: Option<&str>, page: Page) -> Result<EntryPage> {
        let category = match category {
            Some(c) => validate::category(c)?,
            None => None,
        };
        let q = CatalogQuery {
            category,
            offset: page.offset(),
            limit: page.per_page,
        };
        let found = self.store.list_catalog(&q).await?;
        Ok(EntryPage {
            entries: found.entries.into_iter().map(Into::into).collect(),
            page: page.page,
            per_page: page.per_page,
            total: found.total,
        })
    }

    /// Entries matching `query`, best first.
    pub async fn search(&self, query: &str, page: Page) -> Result<EntryPage> {
        let query = validate::query(query)?;
        // Searching reads memory-mapped segments: well under a millisecond for a
        // catalog of this size (see examples/bench_search.rs), so it stays inline.
        let (offset, limit) = (page.offset() as usize, page.per_page as usize);
        let hits = self.index.search(query, offset, limit)?;
        let found =
            futures::future::try_join_all(hits.ids.iter().map(|id| self.store.catalog_entry(id)));
        // An id the store no longer has is an index not yet repaired: left out.
        let entries = found.await?.into_iter().flatten().map(Into::into).collect();
        Ok(EntryPage {
            entries,
            page: page.page,
            per_page: page.per_page,
            total: hits.total as u64,
        })
    }

    /// Titles completing `prefix`, best first.
    pub async fn suggest(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = validate::query(prefix)?;
        Ok(self.index.suggest(prefix, SUGGESTIONS)?)
    }

    /// One entry as stored (no uploader name, no swarm: see [`Catalog::details`]).
    pub async fn entry(&self, id: &str) -> Result<CatalogEntry> {
        self.store
            .catalog_entry(id)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("catalog entry {id}")))
    }

    pub async fn details(&self, id: &str) -> Result<EntryDetails> {
        let entry = self.entry(id).await?;
        let uploader_name = self
            .store
            .user_by_id(&entry.uploader_id)
            .await?
            .map(|u| u.username);
        let swarm = self.tracker.counts(&entry.info_hash);
        Ok(EntryDetails {
            entry,
            uploader_name,
            swarm,
        })
    }

    /// Deletes an entry with its comments (its uploader or an administrator).
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<()> {
        let entry = self.entry(id).await?;
        if !actor.may_see(&entry.uploader_id) {
            return Err(CatalogError::Forbidden(
                "only the uploader or an administrator may delete an entry".into(),
            ));
        }
        self.store.delete_catalog_entry(id).await?;
        if let Err(e) = self.tracker.forget(&entry.info_hash).await {
            // The entry is gone and no longer tracked; only a stale count is left.
            tracing::warn!(error = %e, hash = %entry.info_hash, "clearing the torrent's completed count failed");
        }
        let id_owned = id.to_owned();
        self.index_write("remove", move |i| i.remove(&id_owned))
            .await;
        tracing::info!(id, hash = %entry.info_hash, "catalog entry deleted");
        Ok(())
    }

    /// The entry's `.torrent` for `actor`, announcing only to this server's tracker
    /// (`base_url`: how the client reaches the server), and a safe file name for it.
    pub async fn torrent_file(
        &self,
        actor: &Actor,
        id: &str,
        base_url: &str,
    ) -> Result<(String, Vec<u8>)> {
        let entry = self.entry(id).await?;
        let bytes = self
            .store
            .catalog_torrent(id)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("catalog entry {id}")))?;
        let announce = self
            .tracker
            .announce_url(base_url, &actor.user_id)
            .await
            .map_err(CatalogError::Tracker)?;
        let rewritten = crate::engine::source::announce::with_only_announce(&bytes, &announce)?;
        Ok((download_name(&entry.title, &entry.info_hash), rewritten))
    }

    /// Adds the entry's torrent to the actor's downloads, as uploading the file from
    /// [`Catalog::torrent_file`] to `POST /api/torrents` would.
    pub async fn add_to_downloads(
        &self,
        actor: &Actor,
        id: &str,
        base_url: &str,
        opts: AddOptions,
    ) -> Result<TorrentView> {
        let (_, bytes) = self.torrent_file(actor, id, base_url).await?;
        Ok(self
            .engine
            .add(actor, TorrentInput::File(bytes), opts)
            .await?)
    }

    // --- comments --------------------------------------------------------------------

    pub async fn comments(&self, entry_id: &str) -> Result<Vec<CommentView>> {
        self.entry(entry_id).await?;
        let comments = self.store.catalog_comments(entry_id).await?;
        let mut names = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(comments.len());
        for c in comments {
            if !names.contains_key(&c.author_id) {
                let name = self
                    .store
                    .user_by_id(&c.author_id)
                    .await?
                    .map(|u| u.username);
                names.insert(c.author_id.clone(), name);
            }
            let author_name = names.get(&c.author_id).cloned().flatten();
            out.push(CommentView {
                comment: c,
                author_name,
            });
        }
        Ok(out)
    }

    pub async fn add_comment(
        &self,
        actor: &Actor,
        entry_id: &str,
        body: &str,
    ) -> Result<CommentView> {
        let body = validate::comment(body)?;
        self.entry(entry_id).await?;
        let comment = CatalogComment {
            id: uuid::Uuid::new_v4().to_string(),
            entry_id: entry_id.to_owned(),
            author_id: actor.user_id.clone(),
            body,
            created_at: crate::now_millis(),
        };
        self.store.add_catalog_comment(&comment).await?;
        let author_name = self
            .store
            .user_by_id(&actor.user_id)
            .await?
            .map(|u| u.username);
        Ok(CommentView {
            comment,
            author_name,
        })
    }

    /// Deletes a comment (its author or an administrator).
    pub async fn delete_comment(
        &self,
        actor: &Actor,
        entry_id: &str,
        comment_id: &str,
    ) -> Result<()> {
        let found = self.store.catalog_comment(comment_id).await?;
        let comment = found
            .filter(|c| c.entry_id == entry_id)
            .ok_or_else(|| CatalogError::NotFound(format!("comment {comment_id}")))?;
        if !actor.may_see(&comment.author_id) {
            return Err(CatalogError::Forbidden(
                "only the author or an administrator may delete a comment".into(),
            ));
        }
        self.store.delete_catalog_comment(comment_id).await?;
        Ok(())
    }
}
